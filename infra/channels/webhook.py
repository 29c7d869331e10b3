"""Webhooks signed the Standard Webhooks way (https://www.standardwebhooks.com).

The idempotency key is the `webhook-id`, so a receiver can drop the repeat of a retried delivery;
the signature covers id, timestamp and body, so a captured request cannot be replayed later or
altered.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from automation.ports import ConfigFault, Outbound, Sent
from infra.channels.http_post import (
    destination_fault,
    guarded_client,
    origin_of,
    post,
    raise_for_status,
    require_valid,
    url_fault,
)
from infra.channels.network import OutboundPolicy

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_RESERVED_HEADERS = frozenset(
    {"host", "content-type", "content-length", "transfer-encoding", "connection"}
)


def signing_key(secret: str) -> bytes:
    """`whsec_<base64>` decodes to the key; any other string is the key itself (UTF-8)."""
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    return secret.encode()


def sign(key: bytes, message_id: str, timestamp: int, body: str) -> str:
    digest = hmac.new(key, f"{message_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def payload(message: Outbound) -> str:
    """The rendered body as is when it is a JSON object or array, else subject and body wrapped."""
    if message.body.strip().startswith(("{", "[")):
        try:
            json.loads(message.body)
        except ValueError:
            pass
        else:
            return message.body
    return json.dumps({"subject": message.subject, "body": message.body}, ensure_ascii=False)


def _header_faults(headers: object) -> list[ConfigFault]:
    path: tuple[str | int, ...] = ("config", "headers")
    if headers is None:
        return []
    if not isinstance(headers, Mapping):
        return [ConfigFault(path, "headers must be an object of strings")]
    faults: list[ConfigFault] = []
    for name, value in headers.items():
        here = (*path, str(name))
        if not isinstance(name, str) or not _TOKEN.match(name):
            faults.append(ConfigFault(here, "not a valid header name"))
        elif name.lower().startswith("webhook-") or name.lower() in _RESERVED_HEADERS:
            faults.append(ConfigFault(here, f"the {name} header is set by the channel"))
        elif not isinstance(value, str) or any(c in value for c in "\r\n\0"):
            faults.append(ConfigFault(here, "header values must be single-line strings"))
    return faults


def _secret_faults(credentials: Mapping[str, str]) -> list[ConfigFault]:
    path: tuple[str | int, ...] = ("credentials", "secret")
    secret = credentials.get("secret")
    if not isinstance(secret, str) or not secret:
        return [ConfigFault(path, "a signing secret is required")]
    try:
        key = signing_key(secret)
    except (binascii.Error, ValueError):
        return [ConfigFault(path, f"a {SECRET_PREFIX} secret must be base64 after the prefix")]
    return [] if key else [ConfigFault(path, "the signing secret is empty")]


class WebhookChannel:
    name: str = "webhook"

    def __init__(self, policy: OutboundPolicy, *, clock: Callable[[], float] = time.time) -> None:
        self.policy = policy
        self.clock = clock

    def check_config(
        self, config: Mapping[str, Any], credentials: Mapping[str, str]
    ) -> list[ConfigFault]:
        destination = destination_fault(config.get("url"), ("config", "url"), self.policy)
        return self._format_faults(config, credentials) + ([destination] if destination else [])

    def _format_faults(
        self, config: Mapping[str, Any], credentials: Mapping[str, str]
    ) -> list[ConfigFault]:
        faults = [f for f in [url_fault(config.get("url"), ("config", "url"))] if f]
        return faults + _header_faults(config.get("headers")) + _secret_faults(credentials)

    async def send(self, message: Outbound) -> Sent:
        # The destination is judged when connecting, after resolution (see network.py).
        require_valid(self._format_faults(message.config, message.credentials))
        url: str = message.config["url"]
        body = payload(message)
        timestamp = int(self.clock())
        key = signing_key(message.credentials["secret"])
        headers = {
            **dict(message.config.get("headers") or {}),
            "content-type": "application/json",
            "webhook-id": message.idempotency_key,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(key, message.idempotency_key, timestamp, body),
        }
        async with guarded_client(self.policy) as client:
            reply = await post(client, url, body.encode(), headers)
        raise_for_status(reply, origin_of(url))
        provider_id = reply.headers.get("x-message-id") or reply.json_id()
        return Sent(provider_id, detail=f"HTTP {reply.status}")
