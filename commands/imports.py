"""Import commands: a file brought in as a job (`create-import`), started once checked
(`start-import`) or stopped (`cancel-import`); and the batch form in which the import runner
applies its rows (`ImportRows`, handed out by the command service).

Each row is the `create-entity` (or, by a key field, `update-entity`) command, run by the same
handler under the row's idempotency key — the id of the entity it creates derives from the key,
an update keeps a receipt of it —; rows are stored a batch per transaction. A row that
touches what an earlier row of the batch touched (the same key, the same unique value) is
applied after the batch so far is stored, so it sees that row's effect; a batch that collides
with another writer is redone row by row, where a row whose key is already stored is done.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar
from uuid import UUID

import orjson
from pydantic import ValidationError, field_validator

from commands.auth import Principal
from commands.context import CommandContext, ReceiptRequest, Recorded, command_metadata
from commands.entities import CreateEntity, UpdateEntity, create_entity, update_entity
from commands.ports import BlobStore, Locks, SecretBox
from commands.receipts import CommandReceipt
from commands.registry import Command, CommandSpec
from domain.entity import Entity
from domain.entity_type import EntityType
from domain.errors import DomainError, InvalidInput
from domain.fields import DataInvalid, strategy_for
from domain.import_job import ImportJob, file_format, row_entity_id, row_key
from domain.import_mapping import RowProblem
from domain.tenant import Tenant
from domain.unique import UniqueClaim
from eventstore import Aggregate, ConcurrentWrite, EventStore

A = TypeVar("A", bound=Aggregate)
RUNNER = "bsdflow-imports"


class CreateImport(Command):
    """Import a spreadsheet or CSV file (multipart field `file`) as entities of one type.

    It is checked first: every row validated, nothing written; `start-import` then applies it,
    or `start` does as soon as the check is done. The same file, sheet, type and mapping again
    answer with the first job: a file is never imported twice.
    """

    entity_type_id: UUID | None = None
    entity_type: str | None = None
    """The type by name, instead of its id."""
    sheet: str | None = None
    """Only this sheet of a workbook (by default every sheet)."""
    mapping: dict[str, str] = {}
    """Column header → field name, for headers that do not name their field (a JSON object)."""
    key_field: str | None = None
    """A unique field: a row whose value is taken updates that entity rather than failing."""
    start: bool = False
    source: Literal["upload", "cli", "inbox"] = "upload"

    @field_validator("mapping", mode="before")
    @classmethod
    def _json_object(cls, raw: Any) -> Any:
        # A multipart form carries the mapping as JSON text.
        if isinstance(raw, str):
            try:
                return orjson.loads(raw) if raw.strip() else {}
            except orjson.JSONDecodeError:
                raise ValueError("must be a JSON object of column → field") from None
        return raw


def _entity_type(ctx: CommandContext, cmd: CreateImport) -> EntityType:
    if cmd.entity_type_id is not None:
        return ctx.load(EntityType, cmd.entity_type_id, path=("entity_type_id",))
    if cmd.entity_type:
        type_id = EntityType.create_id(ctx.tenant_id, cmd.entity_type)
        return ctx.load(EntityType, type_id, path=("entity_type",))
    raise InvalidInput("name the entity type the rows become", ("entity_type",))


def create_import(cmd: CreateImport, ctx: CommandContext) -> Recorded:
    upload = ctx.upload
    if upload is None:
        raise InvalidInput("send the file as multipart field 'file'", ("file",))
    file_format(upload.filename)
    entity_type = _entity_type(ctx, cmd)
    fields = {spec.name: spec for spec in entity_type.fields}
    for column, name in cmd.mapping.items():
        if name not in fields:
            raise InvalidInput(f"{entity_type.name} has no field {name!r}", ("mapping", column))
    if cmd.key_field is not None and not (cmd.key_field in fields and fields[cmd.key_field].unique):
        raise InvalidInput(f"not a unique field of {entity_type.name}", ("key_field",))
    job_id = ImportJob.create_id(
        ctx.tenant_id, upload.sha256, cmd.sheet, entity_type.id, cmd.mapping, cmd.key_field
    )
    existing = ctx.store.find(ImportJob, job_id)
    if existing is not None:
        position = ctx.store.position_of(existing.id, existing.version)
        return Recorded(id=existing.id, version=existing.version, position=position)
    ctx.blobs.promote(upload)  # bytes first: no stored event names bytes that are not on disk
    job = ImportJob(
        tenant_id=ctx.tenant_id,
        source=cmd.source,
        filename=upload.filename,
        file_format=file_format(upload.filename),
        size=upload.size,
        sha256=upload.sha256,
        entity_type_id=entity_type.id,
        sheet=cmd.sheet,
        mapping=dict(cmd.mapping),
        key_field=cmd.key_field,
        auto_start=cmd.start,
        actor=ctx.principal.actor,
    )
    return ctx.save(job)


class StartImport(Command):
    """Apply a checked import (again, after it was cancelled: it resumes where it stopped)."""

    import_id: UUID


def start_import(cmd: StartImport, ctx: CommandContext) -> Recorded:
    return _changed(ctx, cmd.import_id, ImportJob.start)


class CancelImport(Command):
    """Stop an import after the batch it is applying; what it wrote stays."""

    import_id: UUID


def cancel_import(cmd: CancelImport, ctx: CommandContext) -> Recorded:
    return _changed(ctx, cmd.import_id, ImportJob.cancel)


def _changed(ctx: CommandContext, import_id: UUID, change: Callable[[ImportJob], None]) -> Recorded:
    job = ctx.load(ImportJob, import_id, path=("import_id",))
    change(job)
    return ctx.save(job)


SPECS: list[CommandSpec[Any]] = [
    CommandSpec(
        "create-import", CreateImport, create_import, "data:write", upload=True, alias="/v1/imports"
    ),
    CommandSpec("start-import", StartImport, start_import, "data:write"),
    CommandSpec("cancel-import", CancelImport, cancel_import, "data:write"),
]


# ---------------------------------------------------------------------------------------------
# The runner's batch form
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowOutcome:
    row: int
    problems: tuple[RowProblem, ...] = ()
    created: bool = False
    updated: bool = False
    """Neither, without problems: the row was stored before (a resumed batch)."""


class _NoLocks:
    """The batch needs no advisory locks: the store's own keys refuse a doomed write, and the
    batch is then redone row by row."""

    def acquire(self, key: str, ttl_seconds: float) -> str | None:
        return "batch"

    def release(self, key: str, token: str) -> None:
        return None


class _BatchReads:
    """The store, as a batch reads it: entity types and tenants once (every row needs them),
    and the unique claims its rows will ask for fetched together beforehand (`expect`), until
    the batch stores something (`stored`)."""

    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._found: dict[UUID, Aggregate | None] = {}
        self._claims: dict[UUID, UniqueClaim | None] = {}

    def find(self, cls: type[A], aggregate_id: UUID, version: int | None = None) -> A | None:
        if version is None and cls is UniqueClaim and aggregate_id in self._claims:
            return self._claims[aggregate_id]  # type: ignore[return-value]
        if cls not in (EntityType, Tenant) or version is not None:
            return self._store.find(cls, aggregate_id, version)
        if aggregate_id not in self._found:
            self._found[aggregate_id] = self._store.find(cls, aggregate_id)
        return self._found[aggregate_id]  # type: ignore[return-value]

    def expect(self, claim_ids: list[UUID]) -> None:
        found = {claim.id: claim for claim in self._store.find_many(UniqueClaim, claim_ids)}
        self._claims = {claim_id: found.get(claim_id) for claim_id in claim_ids}

    def stored(self) -> None:
        self._claims = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@dataclass
class _Collecting(CommandContext):
    """A context whose save keeps the row's changes for the batch's one transaction."""

    collected: list[Aggregate] = field(default_factory=list)

    def save(self, primary: Aggregate, *others: Aggregate | None) -> Recorded:
        self.collected = self.pending(primary, *others)
        return Recorded(id=primary.id, version=primary.version, position=0)


@dataclass
class PreparedBatch:
    """A batch of rows handled, not yet stored: its changes and its rows' outcomes so far."""

    job: ImportJob
    sheet: str
    rows: list[int]
    principal: Principal
    meta: dict[str, str]
    reads: _BatchReads
    pending: list[tuple[int, dict[str, Any], list[Aggregate]]] = field(default_factory=list)
    outcomes: dict[int, RowOutcome] = field(default_factory=dict)


@dataclass
class ImportRows:
    """Applying an import job's rows and recording its progress, as bsdflow's import runner."""

    store: EventStore
    locks: Locks
    blobs: BlobStore
    secrets: SecretBox
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def record(self, job_id: UUID, change: Callable[[ImportJob], None]) -> ImportJob:
        """Load the job, `change` it, store what changed (the runner's own events)."""
        job = self.store.find(ImportJob, job_id)
        if job is None:
            raise LookupError(f"no import job {job_id}")
        change(job)
        self.store.save(job, metadata=command_metadata("run-import", job.tenant_id, RUNNER))
        return job

    def apply(
        self,
        job: ImportJob,
        sheet: str,
        rows: Sequence[tuple[int, dict[str, Any]]],
    ) -> list[RowOutcome]:
        """Each row's command, stored together; the outcomes in row order."""
        return self.store_batch(self.prepare(job, sheet, rows))

    def prepare(
        self, job: ImportJob, sheet: str, rows: Sequence[tuple[int, dict[str, Any]]]
    ) -> PreparedBatch:
        """Each row's command handled, its changes kept for one transaction (`store_batch`).
        A row that changes what an earlier row of the batch changed is handled after those
        are stored, so it sees their effect."""
        tenant = self.store.find(Tenant, job.tenant_id)
        if tenant is None:
            raise LookupError(f"no tenant {job.tenant_id}")
        principal = Principal(job.actor, tenant.slug, frozenset({"automation"}), internal=True)
        meta = command_metadata("import-rows", job.tenant_id, job.actor, {"import_id": str(job.id)})
        store = _BatchReads(self.store)
        store.expect(self._claim_ids(job, store, rows))
        batch = PreparedBatch(job, sheet, [row for row, _ in rows], principal, meta, store)
        touched: set[UUID] = set()
        for row, data in rows:
            ctx = self._context(job, principal, sheet, row, data, meta, store)
            outcome = self._handle(job, row, data, ctx)
            if not outcome.problems and {a.id for a in ctx.collected} & touched:
                self.store_batch(batch, final=False)
                touched.clear()
                ctx = self._context(job, principal, sheet, row, data, meta, store)
                outcome = self._handle(job, row, data, ctx)
            batch.outcomes[row] = outcome
            if not outcome.problems:
                batch.pending.append((row, data, ctx.collected))
                touched |= {a.id for a in ctx.collected}
        return batch

    def store_batch(self, batch: PreparedBatch, *, final: bool = True) -> list[RowOutcome]:
        """Store what `prepare` kept, in one transaction (row by row after a collision);
        finally, a row refused because it was stored before is done."""
        pending = [aggregate for _, _, changed in batch.pending for aggregate in changed]
        try:
            if pending:
                self.store.save(*pending, metadata=batch.meta)
        except ConcurrentWrite:
            batch.reads.stored()  # what it read is stale: the rows are redone on fresh state
            for row, data, _ in batch.pending:
                batch.outcomes[row] = self._one(
                    batch.job, batch.principal, batch.sheet, row, data, batch.meta, batch.reads
                )
        batch.pending.clear()
        batch.reads.stored()
        if not final:
            return []
        # A row refused (its unique value taken, say) may be refused by its own earlier
        # application, of a batch redone after a crash: a row whose key is stored is done.
        refused = [row for row, outcome in batch.outcomes.items() if outcome.problems]
        for row in self._stored(batch.job, batch.sheet, refused):
            batch.outcomes[row] = RowOutcome(row)
        return [batch.outcomes[row] for row in batch.rows]

    def _stored(self, job: ImportJob, sheet: str, rows: list[int]) -> set[int]:
        """The rows stored already: their entity created, or their update's receipt kept."""
        if not rows:
            return set()
        keys = {row: row_key(job.sha256, sheet, row) for row in rows}
        receipts = {CommandReceipt.create_id(job.tenant_id, k): r for r, k in keys.items()}
        entities = {row_entity_id(job.tenant_id, k): r for r, k in keys.items()}
        found = self.store.find_many(CommandReceipt, list(receipts))
        created = self.store.find_many(Entity, list(entities))
        return {receipts[r.id] for r in found} | {entities[e.id] for e in created}

    def _context(
        self,
        job: ImportJob,
        principal: Principal,
        sheet: str,
        row: int,
        data: dict[str, Any],
        meta: dict[str, str],
        store: Any,
    ) -> _Collecting:
        key = row_key(job.sha256, sheet, row)
        receipt = ReceiptRequest(key, "import-row", _hash(data))
        return _Collecting(
            store, principal, _NoLocks(), self.blobs, meta, self.secrets, receipt, clock=self.clock
        )

    def _handle(
        self, job: ImportJob, row: int, data: dict[str, Any], ctx: CommandContext
    ) -> RowOutcome:
        """The row's command: an update under its key's receipt, or a creation of the entity
        its key names (which needs no receipt)."""
        key = ctx.receipt.key if ctx.receipt else ""
        try:
            owner = self.owner(job, data, ctx.store)
            if owner is not None:
                update_entity(UpdateEntity(entity_id=owner, data=data), ctx)
                return RowOutcome(row, updated=True)
            ctx.receipt = None
            create = CreateEntity(entity_type_id=job.entity_type_id, data=data)
            create_entity(create, ctx, row_entity_id(job.tenant_id, key))
            return RowOutcome(row, created=True)
        except DataInvalid as invalid:
            problems = [
                RowProblem(".".join(str(p) for p in e.path[1:] or e.path), e.message)
                for e in invalid.errors
            ]
            return RowOutcome(row, tuple(problems))
        except DomainError as refused:
            return RowOutcome(row, (RowProblem(_field_of(refused.path), refused.message),))
        except ValidationError as invalid:
            return RowOutcome(row, (RowProblem("", invalid.errors()[0]["msg"]),))

    def _claim_ids(
        self, job: ImportJob, store: _BatchReads, rows: Sequence[tuple[int, dict[str, Any]]]
    ) -> list[UUID]:
        """The unique claims the rows' values name (the values the type's fields accept)."""
        entity_type = store.find(EntityType, job.entity_type_id)
        if entity_type is None:
            return []
        ids: list[UUID] = []
        for spec in (f for f in entity_type.fields if f.unique):
            strategy = strategy_for(spec.type)
            scope = f"{entity_type.id}:{spec.name}"
            for _, data in rows:
                if data.get(spec.name) is None:
                    continue
                try:
                    value = strategy.unique_key(strategy.validate(data[spec.name], spec))
                except ValueError:
                    continue
                ids.append(UniqueClaim.create_id(job.tenant_id, scope, value))
        return list(dict.fromkeys(ids))

    def owner(self, job: ImportJob, data: dict[str, Any], store: Any = None) -> UUID | None:
        """The entity holding the row's key value, if the job has a key field and it is held."""
        store = store or self.store
        if job.key_field is None or data.get(job.key_field) is None:
            return None
        entity_type = store.find(EntityType, job.entity_type_id)
        spec = next((f for f in entity_type.fields if f.name == job.key_field), None)
        if spec is None:
            return None
        strategy = strategy_for(spec.type)
        try:
            value = strategy.unique_key(strategy.validate(data[job.key_field], spec))
        except ValueError:
            return None  # create-entity will say what is wrong with it
        claim_id = UniqueClaim.create_id(job.tenant_id, f"{entity_type.id}:{spec.name}", value)
        claim = store.find(UniqueClaim, claim_id)
        if claim is None or claim.owner_id is None:
            return None
        owner = store.find(Entity, claim.owner_id)
        return owner.id if owner is not None and not owner.archived else None

    def _one(
        self,
        job: ImportJob,
        principal: Principal,
        sheet: str,
        row: int,
        data: dict[str, Any],
        meta: dict[str, str],
        store: Any,
    ) -> RowOutcome:
        """A row on its own, after its batch collided: done if its key is stored already."""
        if self._stored(job, sheet, [row]):
            return RowOutcome(row)
        ctx = self._context(job, principal, sheet, row, data, meta, store)
        outcome = self._handle(job, row, data, ctx)
        if outcome.problems:
            return outcome
        try:
            self.store.save(*ctx.collected, metadata=meta)
        except ConcurrentWrite:
            if self._stored(job, sheet, [row]):
                return RowOutcome(row)
            message = "another change got there first; import the row again"
            return RowOutcome(row, (RowProblem("", message),))
        return outcome


def _hash(data: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _field_of(path: tuple[str | int, ...]) -> str:
    """A refusal's path as the field it names ('data', 'code' → 'code')."""
    parts = [str(p) for p in path if p not in ("data", "entity_id", "entity_type_id")]
    return ".".join(parts)
