"""API Gateway HTTP API (payload 2.0) events, as the JWT authorizer hands them to our functions."""

from __future__ import annotations

from urllib.parse import parse_qs


def http_event(
    method: str,
    path: str,
    *,
    query: str = "",
    body: str | None = None,
    tenant: str | None = "tenant-1",
    content_type: str = "application/json",
) -> dict:
    parsed = parse_qs(query, keep_blank_values=True)
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"content-type": content_type} if body is not None else {},
        "queryStringParameters": {k: ",".join(v) for k, v in parsed.items()} or None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "test",
            "domainName": "localhost",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": 0,
            "authorizer": {"jwt": {"claims": {"tenant_id": tenant} if tenant else {}, "scopes": []}},
        },
        "body": body,
        "isBase64Encoded": False,
    }
