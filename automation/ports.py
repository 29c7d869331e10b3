"""What automation needs from the outside world; implemented in infra/ and injected."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID


@dataclass(frozen=True)
class Outbound:
    """One rendered message for one attempt of one action run."""

    run_id: UUID
    tenant_id: UUID
    attempt: int
    idempotency_key: str
    """Stable across attempts of the same run, so a provider can drop a repeated send."""
    subject: str | None
    body: str
    recipients: list[str]
    config: Mapping[str, Any]
    credentials: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Sent:
    provider_message_id: str | None
    detail: str = ""


class DeliveryError(Exception):
    """A send that did not succeed; `retryable` says whether another attempt may."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


@dataclass(frozen=True)
class ConfigFault:
    path: tuple[str | int, ...]
    message: str


class Channel(Protocol):
    """A delivery channel (email, sms, webhook…), registered by name."""

    name: str

    def check_config(
        self, config: Mapping[str, Any], credentials: Mapping[str, str]
    ) -> list[ConfigFault]:
        """Faults in an action's channel config (paths relative to "config"/"credentials")."""

    async def send(self, message: Outbound) -> Sent:
        """Deliver, or raise DeliveryError."""


class Channels(Protocol):
    def get(self, name: str) -> Channel | None: ...

    def names(self) -> list[str]: ...
