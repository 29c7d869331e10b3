"""DataLoaders: every reference in a response is fetched in one query per kind, not one per row.

Loaders live on the request context. Entities and the entity-type list go through the Redis
hot cache; everything else reads the request's transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar
from uuid import UUID

from strawberry.dataloader import DataLoader

from projections.automation.queries import ActionRow, OccurrenceKindRow, ProcessActionRow
from projections.automation.runs import ActionRunRow, AttemptRow
from projections.documents.queries import DocumentRow
from projections.entities.queries import EntityRow, EntityTypeRow
from projections.groups.queries import GroupRow
from projections.occurrences.queries import OccurrenceRow
from projections.participants.queries import ParticipantRow
from projections.processes.queries import ProcessRow, StageVisit
from read_api.cache import ENTITY, ENTITY_TYPES
from read_api.session import Reads

if TYPE_CHECKING:
    from read_api.context import Context

V = TypeVar("V")
Load = Callable[[list[UUID]], Awaitable[Sequence[V]]]


class Loaders:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        cache = not ctx.transient  # a websocket's loaders must not serve old states later
        self.entity = DataLoader[UUID, EntityRow | None](self._entities, cache=cache)
        self.entity_type = DataLoader[UUID, EntityTypeRow | None](self._entity_types, cache=cache)
        self.documents = DataLoader[UUID, list[DocumentRow]](self._documents, cache=cache)
        self.document: DataLoader[UUID, DocumentRow | None] = self._by_id(
            lambda r, ids: r.documents.by_ids(ids), cache
        )
        self.group: DataLoader[UUID, GroupRow | None] = self._by_id(
            lambda r, ids: r.groups.by_ids(ids), cache
        )
        self.groups_of = DataLoader[UUID, list[UUID]](self._groups_of, cache=cache)
        self.participant: DataLoader[UUID, ParticipantRow | None] = self._by_id(
            lambda r, ids: r.participants.by_ids(ids), cache
        )
        self.process: DataLoader[UUID, ProcessRow | None] = self._by_id(
            lambda r, ids: r.processes.by_ids(ids), cache
        )
        self.occurrence: DataLoader[UUID, OccurrenceRow | None] = self._by_id(
            lambda r, ids: r.occurrences.by_ids(ids), cache
        )
        self.stage_history = DataLoader[UUID, list[StageVisit]](self._stages, cache=cache)
        self.occurrence_kind: DataLoader[UUID, OccurrenceKindRow | None] = self._by_id(
            lambda r, ids: r.automation.occurrence_kinds_by_ids(ids), cache
        )
        self.action: DataLoader[UUID, ActionRow | None] = self._by_id(
            lambda r, ids: r.automation.actions_by_ids(ids), cache
        )
        self.process_action: DataLoader[UUID, ProcessActionRow | None] = self._by_id(
            lambda r, ids: r.automation.process_actions_by_ids(ids), cache
        )
        self.action_run: DataLoader[UUID, ActionRunRow | None] = self._by_id(
            lambda r, ids: r.action_runs.by_ids(ids), cache
        )
        self.run_attempts = DataLoader[UUID, list[AttemptRow]](self._run_attempts, cache=cache)
        self._all_types: list[EntityTypeRow] | None = None

    def _by_id(
        self, read: Callable[[Reads, list[UUID]], Awaitable[dict[UUID, V]]], cache: bool
    ) -> DataLoader[UUID, V | None]:
        async def load(ids: list[UUID]) -> list[V | None]:
            found = await self.ctx.run(lambda reads: read(reads, ids))
            return [found.get(i) for i in ids]

        return DataLoader[UUID, V | None](load, cache=cache)

    @property
    def tenant_id(self) -> UUID:
        return self.ctx.require_viewer().tenant_id

    async def _entities(self, ids: list[UUID]) -> list[EntityRow | None]:
        async def from_db(missing: list[UUID]) -> dict[UUID, EntityRow]:
            return await self.ctx.run(lambda reads: reads.entities.by_ids(missing))

        found = await self.ctx.api.cache.many("entity", self.tenant_id, ids, ENTITY, from_db)
        return [found.get(i) for i in ids]

    async def entity_types(self) -> list[EntityTypeRow]:
        """The tenant's entity types, by name (cached in Redis, invalidated on any change)."""
        if self._all_types is None or self.ctx.transient:

            async def from_db() -> list[EntityTypeRow]:
                return await self.ctx.run(lambda reads: reads.entities.types())

            self._all_types = await self.ctx.api.cache.one(
                "entity_types", self.tenant_id, "all", ENTITY_TYPES, from_db
            )
        return self._all_types

    async def _entity_types(self, ids: list[UUID]) -> list[EntityTypeRow | None]:
        by_id = {row.id: row for row in await self.entity_types()}
        missing = [i for i in ids if i not in by_id]
        if missing:  # defined after the list was cached, before its invalidation arrived
            by_id.update(await self.ctx.run(lambda reads: reads.entities.types_by_ids(missing)))
        return [by_id.get(i) for i in ids]

    async def _documents(self, target_ids: list[UUID]) -> list[list[DocumentRow]]:
        found = await self.ctx.run(lambda reads: reads.documents.for_targets(target_ids))
        return [found.get(i, []) for i in target_ids]

    async def _groups_of(self, member_ids: list[UUID]) -> list[list[UUID]]:
        found = await self.ctx.run(lambda reads: reads.groups.groups_of(member_ids))
        return [found.get(i, []) for i in member_ids]

    async def _stages(self, process_ids: list[UUID]) -> list[list[StageVisit]]:
        found = await self.ctx.run(lambda reads: reads.processes.stage_history(process_ids))
        return [found.get(i, []) for i in process_ids]

    async def _run_attempts(self, run_ids: list[UUID]) -> list[list[AttemptRow]]:
        found = await self.ctx.run(lambda reads: reads.action_runs.attempts(run_ids))
        return [found.get(i, []) for i in run_ids]

    async def many(self, loader: DataLoader[UUID, V | None], ids: Sequence[UUID]) -> list[V]:
        """The rows that exist, in the order of `ids`."""
        rows = await loader.load_many(list(ids))
        return [row for row in rows if row is not None]
