"""Service accounts' API keys: the commands that create and revoke them, and the book that
tells who a key is.

A key reads `bsk_<key id>_<secret>`: recognisable at a glance (and by secret scanners), and it
carries its aggregate's id, so checking it is one lookup and one hash comparison.
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field

from commands.access import ACCESS_MANAGE, AccessBook, role_exists
from commands.auth import API_KEY_PREFIX as KEY_PREFIX
from commands.auth import KEY_ACTOR, Principal, Unauthenticated
from commands.context import CommandContext, Recorded
from commands.ports import KeyUsage
from commands.registry import Command, CommandSpec
from domain.api_key import ApiKey, key_name
from domain.errors import InvalidInput, NotFound
from domain.grants import BUILT_IN_ROLES, role_name

USED_EVERY_SECONDS = 60.0
"""A key's last use is noted at most this often per process: a busy key costs Redis one write
a minute, and `lastUsedAt` is accurate to that."""
MAX_REMEMBERED = 10_000
"""Keys (and unknown key ids) remembered at most, so made-up ids cannot grow the cache."""


def secret_hash(secret: str) -> str:
    """The secret's plain SHA-256. A salt or a slow hash (bcrypt, argon2) protects guessable
    passwords; a secret of 256 random bits cannot be guessed however fast each guess is, so a
    fast hash is as safe here and keeps each request's check to microseconds."""
    return hashlib.sha256(secret.encode()).hexdigest()


def key_of(key_id: UUID, secret: str) -> str:
    return f"{KEY_PREFIX}{key_id.hex}_{secret}"


class CreateApiKey(Command):
    """Create an API key for a service account, scoped to roles; its secret is answered once."""

    name: str = Field(description="Unique in the organisation; the key acts as `key:<name>`.")
    roles: list[str]
    expires_at: AwareDatetime | None = None
    ttl_seconds: int | None = Field(None, gt=0, description="Expires this long after creation.")


class ApiKeyCreated(BaseModel):
    id: UUID
    version: int
    position: int
    key: str | None = Field(
        None,
        description="The API key: in this reply only, never again (not in a replay of it for "
        "the same Idempotency-Key either: the secret is stored nowhere).",
    )


def create_api_key(cmd: CreateApiKey, ctx: CommandContext) -> Recorded:
    name = key_name(cmd.name)
    roles = _existing_roles(ctx, list(dict.fromkeys(cmd.roles)))
    key_id = ApiKey.create_id(ctx.tenant_id, name)
    ctx.reserve(key_id, f"API key name {name!r}", ("name",))
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        tenant_id=ctx.tenant_id,
        tenant_slug=ctx.principal.tenant_slug,
        name=name,
        roles=roles,
        created_by=ctx.principal.actor,
        expires_at=_expiry(cmd.expires_at, cmd.ttl_seconds),
        secret_hash=secret_hash(secret),
    )
    return replace(ctx.save(key), shown_once={"key": key_of(key_id, secret)})


class RevokeApiKey(Command):
    """Revoke an API key: it is refused from the next request on."""

    name: str


def revoke_api_key(cmd: RevokeApiKey, ctx: CommandContext) -> Recorded:
    key = ctx.store.find(ApiKey, ApiKey.create_id(ctx.tenant_id, key_name(cmd.name)))
    if key is None or key.tenant_id != ctx.tenant_id:
        raise NotFound(f"no API key {cmd.name!r}", ("name",))
    key.revoke()
    return ctx.save(key)


def _existing_roles(ctx: CommandContext, roles: list[str]) -> list[str]:
    if not roles:
        raise InvalidInput("name at least one role", ("roles",))
    for i, name in enumerate(roles):
        if not role_exists(ctx, role_name(name, ("roles", i))):
            # The event store lists no roles; the caller's own and the built-in ones are those
            # a typo most likely meant.
            known = sorted({*BUILT_IN_ROLES, *ctx.principal.roles})
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise InvalidInput(f"no role {name!r} in this organisation{hint}", ("roles", i))
    return roles


def _expiry(expires_at: datetime | None, ttl_seconds: int | None) -> int | None:
    if expires_at is not None and ttl_seconds is not None:
        raise InvalidInput("give expires_at or ttl_seconds, not both", ("ttl_seconds",))
    if ttl_seconds is not None:
        return int(time.time()) + ttl_seconds
    if expires_at is None:
        return None
    if expires_at.timestamp() <= time.time():
        raise InvalidInput("must be in the future", ("expires_at",))
    return int(expires_at.timestamp())


SPECS: list[CommandSpec[Any]] = [
    CommandSpec("create-api-key", CreateApiKey, create_api_key, ACCESS_MANAGE, reply=ApiKeyCreated),
    CommandSpec("revoke-api-key", RevokeApiKey, revoke_api_key, ACCESS_MANAGE),
]


@dataclass(frozen=True)
class KeyOnFile:
    """What checking a key needs, as the event store held it when it was remembered."""

    tenant_id: UUID
    tenant_slug: str
    name: str
    roles: frozenset[str]
    expires_at: int | None
    secret_hash: str
    revoked: bool

    def principal(self, now: float) -> Principal:
        if self.revoked:
            raise Unauthenticated(f"API key {self.name!r} has been revoked")
        if self.expires_at is not None and now >= self.expires_at:
            raise Unauthenticated(f"API key {self.name!r} has expired")
        return Principal(
            actor=f"{KEY_ACTOR}{self.name}",
            tenant_slug=self.tenant_slug,
            roles=self.roles,
            expires_at=self.expires_at,
        )


@dataclass
class ApiKeyBook:
    """Tells the principal an API key stands for, from keys remembered like `AccessBook`'s roles:
    a key created or revoked through this process counts from its next request, one through
    another process within the book's TTL. The event store is read once per key per TTL."""

    book: AccessBook
    usage: KeyUsage | None = None
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    _cached: dict[UUID, tuple[float, KeyOnFile | None]] = field(default_factory=dict)
    _noted: dict[UUID, float] = field(default_factory=dict)
    """Key id → when its use was last noted in `usage`."""
    _generation: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.book.listeners.append(self.forget)

    def principal(self, token: str) -> Principal:
        key_id, secret = _parsed(token)
        on_file = self._on_file(key_id)
        # compare_digest: how long the comparison takes says nothing of how much matched.
        if on_file is None or not hmac.compare_digest(on_file.secret_hash, secret_hash(secret)):
            raise Unauthenticated("invalid API key: no such key, or a wrong secret")
        now = self.wall()
        principal = on_file.principal(now)
        self._note_use(on_file.tenant_id, key_id, now)
        return principal

    def forget(self, tenant_id: UUID) -> None:
        """The tenant's access changed: its keys (and ids not found) are read again."""
        with self._lock:
            self._generation += 1
            for key_id, (_, on_file) in list(self._cached.items()):
                if on_file is None or on_file.tenant_id == tenant_id:
                    del self._cached[key_id]

    def _on_file(self, key_id: UUID) -> KeyOnFile | None:
        now = self.clock()
        found = self._cached.get(key_id)
        if found is not None and now - found[0] < self.book.ttl_seconds:
            return found[1]
        generation = self._generation
        key = self.book.store.find(ApiKey, key_id)
        on_file = None
        if key is not None:
            on_file = KeyOnFile(
                key.tenant_id,
                key.tenant_slug,
                key.name,
                frozenset(key.roles),
                key.expires_at,
                key.secret_hash,
                key.revoked,
            )
        with self._lock:
            if generation == self._generation:
                if len(self._cached) >= MAX_REMEMBERED:
                    self._cached.clear()
                self._cached[key_id] = (now, on_file)
        return on_file

    def _note_use(self, tenant_id: UUID, key_id: UUID, now: float) -> None:
        last = self._noted.get(key_id)
        if self.usage is None or (last is not None and now - last < USED_EVERY_SECONDS):
            return
        if len(self._noted) >= MAX_REMEMBERED:
            self._noted.clear()
        self._noted[key_id] = now
        self.usage.used(tenant_id, key_id, now)


def _parsed(token: str) -> tuple[UUID, str]:
    hex_id, _, secret = token.removeprefix(KEY_PREFIX).partition("_")
    try:
        key_id = UUID(hex=hex_id)
    except ValueError:
        raise Unauthenticated("malformed API key: expected bsk_<key id>_<secret>") from None
    if not secret:
        raise Unauthenticated("malformed API key: expected bsk_<key id>_<secret>")
    return key_id, secret
