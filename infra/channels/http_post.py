"""One guarded POST and the mapping of its outcome to Sent / DeliveryError, shared by HTTP channels."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from automation.ports import ConfigFault, DeliveryError
from infra.channels.guarded_http import GuardedTransport
from infra.channels.network import OutboundPolicy

MAX_REPLY_BYTES = 64 * 1024
"""Enough for any provider's acknowledgement; a hostile endpoint cannot make us buffer more."""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: httpx.Headers
    body: bytes

    def json_id(self) -> str | None:
        """The provider's id for the message when the reply is a JSON object with an "id"."""
        try:
            parsed: Any = json.loads(self.body)
        except ValueError:
            return None
        value = parsed.get("id") if isinstance(parsed, dict) else None
        return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


def guarded_client(policy: OutboundPolicy) -> httpx.AsyncClient:
    """A client that never follows redirects and ignores proxy/netrc settings from the environment.

    One client per send: nothing is bound to an event loop between sends and nothing needs closing
    at shutdown; deliveries are rare enough that connection reuse across sends does not matter.
    """
    return httpx.AsyncClient(
        transport=GuardedTransport(policy),
        timeout=policy.timeout(),
        follow_redirects=False,
        trust_env=False,
        # Raw bytes are read below, capped: a compressed reply could expand past the cap.
        headers={"accept-encoding": "identity"},
    )


def origin_of(url: str) -> str:
    """scheme://host[:port] only: paths and queries of webhook URLs often carry secrets."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


async def post(
    client: httpx.AsyncClient, url: str, content: bytes, headers: Mapping[str, str]
) -> Reply:
    """POST and read at most MAX_REPLY_BYTES; transport failures become DeliveryError."""
    where = origin_of(url)
    try:
        async with client.stream("POST", url, content=content, headers=dict(headers)) as response:
            body = bytearray()
            async for chunk in response.aiter_raw():
                body += chunk
                if len(body) >= MAX_REPLY_BYTES:
                    break
            return Reply(response.status_code, response.headers, bytes(body[:MAX_REPLY_BYTES]))
    except httpx.TimeoutException as exc:
        raise DeliveryError(f"{where} timed out ({type(exc).__name__})", retryable=True) from exc
    except (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL) as exc:
        raise DeliveryError(f"cannot send to {where}: {exc}", retryable=False) from exc
    except httpx.TransportError as exc:
        raise DeliveryError(f"{where} unreachable: {exc}", retryable=True) from exc


def raise_for_status(reply: Reply, where: str) -> None:
    """2xx passes; 408, 429 and 5xx may pass later; any other answer will not change."""
    status = reply.status
    if 200 <= status < 300:
        return
    if 300 <= status < 400:
        location = reply.headers.get("location", "nowhere")
        raise DeliveryError(
            f"{where} answered {status} redirecting to {location}; redirects are not followed",
            retryable=False,
        )
    excerpt = reply.body[:200].decode("utf-8", "replace").strip()
    message = f"{where} answered {status}" + (f": {excerpt}" if excerpt else "")
    retry_after = reply.headers.get("retry-after")
    if retry_after:
        message += f" (retry-after {retry_after})"
    raise DeliveryError(message, retryable=status in (408, 429) or 500 <= status < 600)


def url_fault(value: object, path: tuple[str | int, ...]) -> ConfigFault | None:
    if not isinstance(value, str) or not value:
        return ConfigFault(path, "a URL is required")
    try:
        parsed = httpx.URL(value)
    except httpx.InvalidURL as exc:
        return ConfigFault(path, f"not a valid URL: {exc}")
    if parsed.scheme not in ("http", "https"):
        return ConfigFault(path, "only http and https URLs are allowed")
    if not parsed.host:
        return ConfigFault(path, "the URL has no host")
    return None


def destination_fault(
    value: object, path: tuple[str | int, ...], policy: OutboundPolicy
) -> ConfigFault | None:
    """A configured URL whose host the guard would refuse, told when the action is saved."""
    if url_fault(value, path) is not None:
        return None  # reported as malformed already
    refusal = policy.destination_refusal(httpx.URL(str(value)).host)
    return ConfigFault(path, refusal) if refusal else None


def require_valid(faults: list[ConfigFault]) -> None:
    """At send time a config fault is final: the same config will fail the same way."""
    if faults:
        details = "; ".join(f"{'.'.join(map(str, f.path))}: {f.message}" for f in faults)
        raise DeliveryError(f"invalid channel configuration: {details}", retryable=False)
