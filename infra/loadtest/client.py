"""The load generator's view of the API: commands over HTTP and GraphQL over HTTP.

Failures become `OperationError`s whose `kind` is what the report groups by: `http_<status>`,
`graphql` (a 200 with errors), `stale` (a read that gave up waiting for a position),
`timeout`, `connection`.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson

MIN_POSITION = "X-Min-Position"


class OperationError(Exception):
    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


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
        response = await self._send("POST", f"/v1/commands/{name}", body, headers)
        if response.status_code != 200:
            raise OperationError(f"http_{response.status_code}", _problem(response))
        answer: dict[str, Any] = orjson.loads(response.content)
        return answer

    async def graphql(
        self, query: str, variables: dict[str, Any] | None = None, min_position: int | None = None
    ) -> dict[str, Any]:
        """The `data` of a query; GraphQL errors and freshness time-outs raise."""
        headers = {MIN_POSITION: str(min_position)} if min_position is not None else None
        body = {"query": query, "variables": variables or {}}
        response = await self._send("POST", "/graphql", body, headers)
        if response.status_code != 200:
            raise OperationError(f"http_{response.status_code}", _problem(response))
        result = orjson.loads(response.content)
        if result.get("errors"):
            first = result["errors"][0]
            raise OperationError("graphql", str(first.get("message", first))[:200])
        freshness = (result.get("extensions") or {}).get("freshness") or {}
        if freshness.get("timedOut"):
            raise OperationError("stale", f"position {min_position} not reached")
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
            raise OperationError("timeout", type(exc).__name__) from exc
        except httpx.TransportError as exc:
            raise OperationError("connection", f"{type(exc).__name__}: {exc}") from exc


def _problem(response: httpx.Response) -> str:
    """The problem+json title/detail, or the start of the body."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.text[:200]
    if isinstance(body, dict):
        if body.get("errors"):
            return str(body["errors"][0].get("message", ""))[:200]
        return str(body.get("detail") or body.get("title") or "")[:200]
    return str(body)[:200]
