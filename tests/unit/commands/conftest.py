"""Command handlers on the in-memory event store: given events, when a command, then events or
an error. Each command goes through the command service as over HTTP (roles, tenant, receipts),
with no server: the whole file runs in a fraction of a second."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from commands.auth import Principal
from commands.context import Recorded
from commands.ports import StagedBlob
from commands.registered import COMMANDS
from commands.service import CommandService
from domain.tenant import Tenant
from eventstore import RecordedEvent
from eventstore.memory import InMemoryEventStore
from infra.blobs import DiskBlobStore
from infra.secrets import FernetSecretBox

TENANT = "acme"
ACME = Tenant.create_id(TENANT)


class MemoryLocks:
    """The lock port without Redis: exclusive while held (a test never outlives a TTL)."""

    def __init__(self) -> None:
        self.held: dict[str, str] = {}

    def acquire(self, key: str, ttl_seconds: float) -> str | None:
        if key in self.held:
            return None
        self.held[key] = token = uuid4().hex
        return token

    def release(self, key: str, token: str) -> None:
        if self.held.get(key) == token:
            del self.held[key]


@dataclass
class Handle:
    """`handle("enter-stage", process_id=…, stage="done")` runs one command as an editor."""

    store: InMemoryEventStore
    service: CommandService
    blobs: DiskBlobStore
    locks: MemoryLocks

    def __call__(
        self,
        command: str,
        *,
        as_role: str | tuple[str, ...] = "editor",
        as_actor: str = "tester",
        claims: dict[str, Any] | None = None,
        tenant: str = TENANT,
        idempotency_key: str | None = None,
        upload: StagedBlob | None = None,
        **body: Any,
    ) -> Recorded:
        spec = COMMANDS[command]
        roles = frozenset((as_role,) if isinstance(as_role, str) else as_role) - {""}
        principal = Principal(actor=as_actor, tenant_slug=tenant, roles=roles, claims=claims or {})
        meta = {"command": command, "correlation_id": "test", "causation_id": "test"}
        return self.service.execute(
            spec, spec.model.model_validate(body), principal, meta, idempotency_key, upload
        )

    def given(self, command: str, *, as_role: str = "admin", **body: Any) -> Recorded:
        """Run a command as the past: `then` reports only what is stored after it."""
        recorded = self(command, as_role=as_role, **body)
        self.store.given()
        return recorded

    @property
    def then(self) -> list[str]:
        """The names of the events stored since the last `given` (`Process.StageEntered`, …)."""
        return self.store.new_event_names

    @property
    def events(self) -> list[RecordedEvent]:
        return self.store.new_events

    def staged(
        self, content: bytes, filename: str = "a.txt", content_type: str = "text/plain"
    ) -> StagedBlob:
        """An upload staged as the HTTP layer stages one (`attach-document`)."""
        return self.blobs.stage(io.BytesIO(content), filename, content_type)

    def load(self, cls: type[Any], aggregate_id: UUID | str) -> Any:
        return self.store.find(cls, UUID(str(aggregate_id)))


@pytest.fixture
def handle(tmp_path: Path) -> Iterator[Handle]:
    """A store holding one tenant, `acme`; commands run as its editor unless told otherwise."""
    store = InMemoryEventStore(given=[Tenant.create(TENANT, "Acme", {})])
    blobs = DiskBlobStore(tmp_path / "blobs", max_bytes=1 << 20)
    locks = MemoryLocks()
    service = CommandService(store, locks, blobs, FernetSecretBox("unit-test-key"))
    yield Handle(store, service, blobs, locks)
    assert locks.held == {}, "a command left locks held"
