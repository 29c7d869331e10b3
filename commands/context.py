"""CommandContext: what a handler may do — load within its tenant, reserve unique values, save."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID, uuid4

from commands.auth import Principal
from commands.ports import BlobStore, Locks, SecretBox, StagedBlob
from commands.receipts import CommandReceipt
from domain.entity import Entity
from domain.errors import Conflict, InvalidInput, NotFound
from domain.fields import FieldSpec
from domain.tenant import Tenant
from domain.unique import UniqueClaim
from domain.workflow import Actor
from eventstore import Aggregate, EventStore

A = TypeVar("A", bound=Aggregate)
LOCK_TTL_SECONDS = 10.0
NOUNS: dict[str, str] = {"ActionCatalogItem": "action"}
"""Where the class name is not what users call it (the commands say create-action)."""


def not_found_message(cls: type[Aggregate]) -> str:
    """'no entity type with this id': the aggregate in the words of the API."""
    noun = NOUNS.get(cls.__name__) or re.sub(r"(?<!^)(?=[A-Z])", " ", cls.__name__).lower()
    return f"no {noun} with this id"


def command_metadata(
    command: str, tenant_id: UUID, actor: str, request: Mapping[str, str] | None = None
) -> dict[str, str]:
    """What every event stored by one command carries: which command, when, for which tenant,
    by whom, and the request's own ids (correlation, causation) where there was a request."""
    return {
        **(request or {}),
        "command": command,
        "command_id": str(uuid4()),
        "issued_at": datetime.now(UTC).isoformat(),
        "tenant_id": str(tenant_id),
        "actor": actor,
    }


@dataclass(frozen=True)
class Recorded:
    """The answer to an accepted command: which aggregate, at which version, at which position."""

    id: UUID
    version: int
    position: int
    shown_once: Mapping[str, str] = field(default_factory=dict)
    """Said in this reply and never again: stored nowhere, not even in an idempotency receipt
    (a new API key's secret)."""


@dataclass(frozen=True)
class ReceiptRequest:
    key: str
    command: str
    request_hash: str
    """A keyed fingerprint of the request (its body may hold credentials)."""
    plain_hash: str = ""
    """The request's plain sha256, which receipts stored before fingerprints were keyed hold."""

    def matches(self, stored: str) -> bool:
        return stored in (self.request_hash, self.plain_hash)


@dataclass
class CommandContext:
    store: EventStore
    principal: Principal
    locks: Locks
    blobs: BlobStore
    metadata: dict[str, str]
    secrets: SecretBox
    receipt: ReceiptRequest | None = None
    upload: StagedBlob | None = None
    roles: frozenset[str] = frozenset()
    """The actor's roles in the tenant: its token's and its membership's."""
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _held: list[tuple[str, str]] = field(default_factory=list)

    @property
    def tenant_id(self) -> UUID:
        return self.principal.tenant_id

    @property
    def actor(self) -> Actor:
        """Who is acting, as a workflow's guards and approvals see it."""
        participant = self.principal.claims.get("participant_id")
        return Actor(
            self.principal.actor,
            self.roles or self.principal.roles,
            str(participant) if participant is not None else None,
        )

    def load(
        self,
        cls: type[A],
        aggregate_id: UUID,
        expected_version: int | None = None,
        path: tuple[str | int, ...] = ("id",),
    ) -> A:
        """Load an aggregate of this tenant; another tenant's id is indistinguishable from none."""
        aggregate = self.store.find(cls, aggregate_id)
        if aggregate is None or getattr(aggregate, "tenant_id", None) != self.tenant_id:
            raise NotFound(not_found_message(cls), path)
        if expected_version is not None and aggregate.version != expected_version:
            raise Conflict(
                f"expected version {expected_version}, but it is at {aggregate.version}",
                ("expected_version",),
            )
        return aggregate

    def tenant(self) -> Tenant:
        return self.load(Tenant, self.tenant_id, path=())

    def reserve(self, aggregate_id: UUID, what: str, path: tuple[str | int, ...]) -> None:
        """Fast refusal of a deterministic id that is taken or being taken right now.

        The Redis lock only spares the event store a doomed write; the store's own
        (id, version) key is what makes the rule hold.
        """
        key = f"reserve:{aggregate_id}"
        token = self.locks.acquire(key, LOCK_TTL_SECONDS)
        if token is None:
            raise Conflict(f"{what} is already taken", path)
        self._held.append((key, token))
        if self.store.exists(aggregate_id):
            raise Conflict(f"{what} is already taken", path)

    def claim(
        self,
        scope: str,
        value: str,
        owner_id: UUID,
        path: tuple[str | int, ...],
        still_held: Callable[[UUID], bool] | None = None,
    ) -> UniqueClaim:
        """Reserve `value` within `scope` for `owner_id`; save the returned claim with the owner.

        `still_held(owner)` tells whether the claim's current owner still holds the value; one
        that no longer does (a claim left behind by a schema change) is taken over."""
        claim_id = UniqueClaim.create_id(self.tenant_id, scope, value)
        key = f"reserve:{claim_id}"
        token = self.locks.acquire(key, LOCK_TTL_SECONDS)
        if token is None:
            raise Conflict(f"{value!r} is already taken", path)
        self._held.append((key, token))
        claim = self.store.find(UniqueClaim, claim_id)
        if claim is None:
            return UniqueClaim(
                tenant_id=self.tenant_id, scope=scope, value=value, owner_id=owner_id
            )
        try:
            claim.reclaim(owner_id)
        except Conflict as exc:
            holder = claim.owner_id
            if still_held is None or holder is None or still_held(holder):
                raise Conflict(exc.message, path) from None
            claim.release()
            claim.reclaim(owner_id)
        return claim

    def check_references(self, fields: list[FieldSpec], data: Mapping[str, Any]) -> None:
        """A reference must name an existing entity of this tenant, of the required type if
        its field says one (the field's strategy checked only the id's form)."""
        for spec in fields:
            value = data.get(spec.name)
            if spec.type != "reference" or value is None:
                continue
            target = self.load(Entity, UUID(str(value)), path=("data", spec.name))
            required_type = spec.constraints.get("entity_type_id")
            if required_type and str(target.entity_type_id) != str(required_type):
                raise InvalidInput("refers to an entity of another type", ("data", spec.name))

    def release(self, scope: str, value: str) -> UniqueClaim | None:
        claim_id = UniqueClaim.create_id(self.tenant_id, scope, value)
        claim = self.store.find(UniqueClaim, claim_id)
        if claim is None:
            return None
        claim.release()
        return claim

    def save(self, primary: Aggregate, *others: Aggregate | None) -> Recorded:
        """Store all pending events (and the idempotency receipt) in one transaction."""
        position = self.store.save(*self.pending(primary, *others), metadata=self.metadata)
        return Recorded(id=primary.id, version=primary.version, position=position)

    def pending(self, primary: Aggregate, *others: Aggregate | None) -> list[Aggregate]:
        """What `save` stores: the aggregates, and the idempotency receipt naming `primary`."""
        pending: list[Aggregate] = [primary, *(a for a in others if a is not None)]
        if self.receipt is not None:
            pending.append(
                CommandReceipt(
                    tenant_id=self.tenant_id,
                    key=self.receipt.key,
                    command=self.receipt.command,
                    request_hash=self.receipt.request_hash,
                    result_id=primary.id,
                    result_version=primary.version,
                )
            )
        return pending

    def release_locks(self) -> None:
        while self._held:
            key, token = self._held.pop()
            self.locks.release(key, token)
