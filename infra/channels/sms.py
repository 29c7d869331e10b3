"""SMS through a generic HTTP provider: one JSON POST per recipient, bearer-authenticated.

Each recipient gets an idempotency key of its own (`<key>-<n>`, n counting from 1), so when a
run is retried after a partial failure the provider drops the messages it already accepted and
only the missing ones go out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from automation.ports import ConfigFault, DeliveryError, Outbound, Sent
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

E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")


class SmsChannel:
    name: str = "sms"

    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy

    def check_config(
        self, config: Mapping[str, Any], credentials: Mapping[str, str]
    ) -> list[ConfigFault]:
        path = ("config", "provider_url")
        destination = destination_fault(config.get("provider_url"), path, self.policy)
        return self._format_faults(config, credentials) + ([destination] if destination else [])

    def _format_faults(
        self, config: Mapping[str, Any], credentials: Mapping[str, str]
    ) -> list[ConfigFault]:
        faults: list[ConfigFault] = []
        url = url_fault(config.get("provider_url"), ("config", "provider_url"))
        if url:
            faults.append(url)
        sender = config.get("from")
        if not isinstance(sender, str) or not sender.strip():
            faults.append(ConfigFault(("config", "from"), "a sender number or name is required"))
        api_key = credentials.get("api_key")
        if not isinstance(api_key, str) or not api_key or any(c in api_key for c in "\r\n"):
            faults.append(ConfigFault(("credentials", "api_key"), "an API key is required"))
        return faults

    async def send(self, message: Outbound) -> Sent:
        # The destination is judged when connecting, after resolution (see network.py).
        require_valid(self._format_faults(message.config, message.credentials))
        if not message.recipients:
            raise DeliveryError("no recipients", retryable=False)
        # Refuse before sending anything: a half-sent run is harder to reason about.
        bad = [r for r in message.recipients if not E164.match(r)]
        if bad:
            raise DeliveryError(
                f"not E.164 phone numbers (+<country><number>): {', '.join(bad)}",
                retryable=False,
            )
        url: str = message.config["provider_url"]
        where = origin_of(url)
        ids: list[str] = []
        async with guarded_client(self.policy) as client:
            for n, recipient in enumerate(message.recipients, start=1):
                body = {"to": recipient, "from": message.config["from"], "body": message.body}
                headers = {
                    "content-type": "application/json",
                    "authorization": f"Bearer {message.credentials['api_key']}",
                    "idempotency-key": f"{message.idempotency_key}-{n}",
                }
                reply = await post(client, url, json.dumps(body).encode(), headers)
                raise_for_status(reply, where)
                ids.append(reply.json_id() or "")
        provider_ids = ",".join(ids) if any(ids) else None
        return Sent(provider_ids, detail=f"{len(ids)} message(s) accepted")
