"""The load generator's view of the API: commands over HTTP and GraphQL over HTTP.

Failures become `OperationError`s whose `kind` is what the report groups by: `http_<status>`,
`graphql` (a 200 with errors), `stale` (a read that gave up waiting for a position),
`timeout`, `connection`. Each carries a sample (status, problem title and detail, and the
request: method, path, the start of the body) so a report says why, not only how often.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson

MIN_POSITION = "X-Min-Position"
SAMPLE_BODY_CHARS = 500
"""Enough of a request body to see the offending field, not a whole import."""


class OperationError(Exception):
    def __init__(self, kind: str, detail: str = "", sample: dict[str, Any] | None = None) -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail
        self.sample: dict[str, Any] = sample or {"title": kind, "detail": detail}


def request_sample(method: str, path: str, body: Any) -> dict[str, Any]:
    """What was sent, without headers (the token stays out of reports)."""
    text = orjson.dumps(body).decode() if body is not None else ""
    if len(text) > SAMPLE_BODY_CHARS:
        text = text[:SAMPLE_BODY_CHARS] + f"… ({len(text):,} chars)"
    return {"method": method, "path": path, "body": text}


class RemoteTarget(ValueError):
    """The target is not on this machine and `--allow-remote` was not given."""


def is_loopback(url: str) -> bool:
    """True when every address the host resolves to is a loopback address."""
    host = urlsplit(url).hostname
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(found) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in found)


def check_target(url: str, allow_remote: bool) -> None:
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"{url!r}: the target is an http(s) URL")
    if not allow_remote and not is_loopback(url):
        raise RemoteTarget(
            f"{url} is not a loopback address: load tests hit this machine unless "
            "--allow-remote says otherwise"
        )


def websocket_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/graphql", "", ""))


class ApiClient:
    """One pooled HTTP client for the whole run, speaking as one token."""

    def __init__(self, base_url: str, token: str, *, timeout: float, connections: int) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def command(
        self, name: str, body: dict[str, Any], token: str | None = None
    ) -> dict[str, Any]:
        """`{"id", "version", "position"}` of an accepted command."""
        headers = {"Authorization": f"Bearer {token}"} if token else None
        path = f"/v1/commands/{name}"
        response = await self._send("POST", path, body, headers)
        if response.status_code != 200:
            raise _refused(response, request_sample("POST", path, body))
        answer: dict[str, Any] = orjson.loads(response.content)
        return answer

    async def graphql(
        self, query: str, variables: dict[str, Any] | None = None, min_position: int | None = None
    ) -> dict[str, Any]:
        """The `data` of a query; GraphQL errors and freshness time-outs raise."""
        headers = {MIN_POSITION: str(min_position)} if min_position is not None else None
        body = {"query": query, "variables": variables or {}}
        response = await self._send("POST", "/graphql", body, headers)
        sent = request_sample("POST", "/graphql", body)
        if response.status_code != 200:
            raise _refused(response, sent)
        result = orjson.loads(response.content)
        if result.get("errors"):
            first = result["errors"][0]
            message = str(first.get("message", first))[:200]
            sample = {"status": 200, "title": "GraphQL error", "detail": message, "request": sent}
            raise OperationError("graphql", message, sample)
        freshness = (result.get("extensions") or {}).get("freshness") or {}
        if freshness.get("timedOut"):
            detail = f"position {min_position} not reached"
            sample = {"status": 200, "title": "read timed out", "detail": detail, "request": sent}
            raise OperationError("stale", detail, sample)
        data: dict[str, Any] = result.get("data") or {}
        return data

    async def ready(self) -> None:
        response = await self._send("GET", "/ready", None, None)
        if response.status_code != 200:
            raise OperationError(f"http_{response.status_code}", "the API is not ready")

    async def _send(
        self, method: str, path: str, body: Any, headers: dict[str, str] | None
    ) -> httpx.Response:
        content = orjson.dumps(body) if body is not None else None
        try:
            return await self.http.request(method, path, content=content, headers=headers)
        except httpx.TimeoutException as exc:
            detail = type(exc).__name__
            sample = {"title": "timeout", "detail": detail}
            raise OperationError("timeout", detail, sample | _sent(method, path, body)) from exc
        except httpx.TransportError as exc:
            detail = f"{type(exc).__name__}: {exc}"
            sample = {"title": "connection", "detail": detail}
            raise OperationError("connection", detail, sample | _sent(method, path, body)) from exc


def describe_sample(sample: dict[str, Any]) -> str:
    """One line: what was sent and what came back (the report has the body too)."""
    request = sample.get("request") or {}
    sent = f"{request.get('method', '')} {request.get('path', '')}".strip()
    answer = " — ".join(str(p) for p in (sample.get("title"), sample.get("detail")) if p)
    status = sample.get("status")
    return f"{sent or sample.get('operation', '?')} → {f'{status} ' if status else ''}{answer}"


def _sent(method: str, path: str, body: Any) -> dict[str, Any]:
    return {"request": request_sample(method, path, body)}


def _refused(response: httpx.Response, sent: dict[str, Any]) -> OperationError:
    """A non-200 answer: the problem+json title and detail (with the first field errors)."""
    title, detail = response.reason_phrase, response.text[:200]
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict):
        title = str(body.get("title") or title)
        detail = str(body.get("detail") or "")
        faults = [
            f"{'.'.join(map(str, e.get('path') or [])) or '(body)'}: {e.get('message', '')}"
            for e in body.get("errors") or []
            if isinstance(e, dict)
        ]
        detail = "; ".join(filter(None, [detail, *faults[:5]]))[:300]
    sample = {"status": response.status_code, "title": title, "detail": detail, "request": sent}
    return OperationError(f"http_{response.status_code}", detail or title, sample)
