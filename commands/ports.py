"""What the command side needs from the outside world, implemented in infra/."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from uuid import UUID


class RateLimiter(Protocol):
    """Token buckets shared by every process (a tenant's commands, its deliveries)."""

    def take(self, key: str, rate_per_second: float, burst: int) -> float:
        """0 if a token was taken now, else the seconds to wait before one is available."""


class KeyUsage(Protocol):
    """Where API keys' last use is noted, shared by every process (Redis in production)."""

    def used(self, tenant_id: UUID, key_id: UUID, at: float) -> None:
        """The key was used at `at` (Unix seconds); never raises (a use is not refused for it)."""


class AsyncRateLimiter(Protocol):
    """The same token buckets, awaited (the HTTP layer admits a command before reading it)."""

    async def take(self, key: str, rate_per_second: float, burst: int, tokens: int) -> float:
        """0 if `tokens` were taken now, else the seconds until they will be (none taken)."""


class Locks(Protocol):
    """Short-lived exclusive locks (Redis `SET NX PX` in production)."""

    def acquire(self, key: str, ttl_seconds: float) -> str | None:
        """Return a token if the lock was taken, None if someone else holds it."""

    def release(self, key: str, token: str) -> None:
        """Release the lock only if `token` still owns it."""


@dataclass(frozen=True)
class StagedBlob:
    """Uploaded bytes, hashed and written aside, not yet part of the store."""

    sha256: str
    size: int
    path: Path
    filename: str
    content_type: str


class BlobStore(Protocol):
    """Content-addressed storage for document bytes."""

    def stage(self, source: BinaryIO, filename: str, content_type: str) -> StagedBlob:
        """Copy an upload aside while hashing it (PayloadTooLarge past the size limit)."""

    def promote(self, staged: StagedBlob) -> bool:
        """Move staged bytes to their content address; True if they were not stored before.

        Content, once there, is never removed by a command: any tenant's document may share it.
        """

    def discard(self, staged: StagedBlob) -> None:
        """Drop a staged upload that will not be kept."""


class SecretBox(Protocol):
    """Seals provider credentials per tenant, so events and read models hold only ciphertext."""

    def seal(self, tenant_id: UUID, secrets: Mapping[str, str]) -> str: ...

    def open(self, tenant_id: UUID, sealed: str) -> dict[str, str]: ...

    def fingerprint(self, tenant_id: UUID, data: bytes) -> str:
        """A keyed hash of `data`: stored, it cannot be used to test guesses of what was hashed."""


class NoReply(Exception):
    """A request over the message bus got no answer in time."""


class RequestReply(Protocol):
    """Request-reply over the message bus (Kafka in production)."""

    async def request(
        self,
        topic: str,
        payload: dict[str, Any],
        timeout: float = 5.0,  # noqa: ASYNC109 - also the deadline the server is told
    ) -> dict[str, Any]:
        """The reply to `payload`; raises NoReply after `timeout` seconds."""
