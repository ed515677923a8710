"""Deterministic and random transport faults the simulator can answer with."""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass

ERROR_FAULTS = ("429", "500", "502", "503", "504", "529")
FAULT_KINDS = (*ERROR_FAULTS, "slow", "truncated", "invalid_json", "drop")

# status -> (error.type, message) of the JSON error body; 502 is answered as the CDN's HTML page instead.
ERROR_BODIES = {
    429: ("rate_limit_error", "Number of requests has exceeded your rate limit. Please try again later."),
    500: ("api_error", "Internal server error"),
    503: ("api_error", "Service temporarily unavailable"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}
BAD_GATEWAY_HTML = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>"
    "\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
)

INVALID_JSON_BODY = b'{"data": [{"starting_at": <html>'


@dataclass(frozen=True)
class Fault:
    kind: str
    retry_after: int = 0
    path: str | None = None  # only requests whose path starts with this get the fault

    def applies_to(self, path: str) -> bool:
        return self.path is None or path.startswith(self.path)


class FaultPlan:
    """Queued faults first (in order), then a random fault with probability `rate` from a seeded RNG."""

    def __init__(self, rate: float = 0.0, seed: int = 0, kinds: tuple[str, ...] = FAULT_KINDS) -> None:
        self.rate = rate
        self.kinds = kinds
        self._rng = random.Random(seed)
        self._queue: deque[Fault] = deque()
        self._lock = threading.Lock()

    def inject(self, kind: str, times: int = 1, retry_after: int = 0, path: str | None = None) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        if times < 0 or retry_after < 0:
            raise ValueError("times and retry_after must not be negative")
        with self._lock:
            self._queue.extend(Fault(kind, retry_after, path) for _ in range(times))

    def next(self, path: str = "/") -> Fault | None:
        with self._lock:
            for fault in self._queue:
                if fault.applies_to(path):
                    self._queue.remove(fault)
                    return fault
            if self.rate > 0 and self.kinds and self._rng.random() < self.rate:
                return Fault(self._rng.choice(self.kinds))
        return None

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)
