"""A scripted transport for the Admin API clients: each request gets the next scripted reply (no sockets), and a
fake clock whose sleeps advance it (no real waiting)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

ADMIN_KEY = "sk-ant-admin01-" + "UnitTestSecret0" * 6 + "abc" + "AA"


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def build(self, request: requests.PreparedRequest) -> requests.Response:
        response = requests.Response()
        response.status_code = response.status = self.status
        raw = self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()
        response._content = raw
        response.headers = CaseInsensitiveDict({"request-id": f"req_{self.status}", **self.headers})
        response.url = request.url
        response.request = request
        return response


class ScriptedAdapter(BaseAdapter):
    """Answers each request with the next scripted Reply, or raises the next scripted exception."""

    def __init__(self, script: list[Reply | BaseException]) -> None:
        super().__init__()
        self.script = list(script)
        self.requests: list[requests.PreparedRequest] = []
        self.send_kwargs: list[dict[str, Any]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.requests.append(request)
        self.send_kwargs.append(kwargs)
        step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step.build(request)

    def close(self) -> None:
        pass

    def queries(self) -> list[list[tuple[str, str]]]:
        return [parse_qsl(urlsplit(r.url).query) for r in self.requests]


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def error_reply(status: int, error_type: str, message: str = "nope", **headers: str) -> Reply:
    body = {"type": "error", "error": {"type": error_type, "message": message}, "request_id": "req_body"}
    return Reply(status=status, body=body, headers=headers)
