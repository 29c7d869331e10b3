"""The audit trail: who changed what, through which command, when; and a record's history."""

from __future__ import annotations

from datetime import datetime
from typing import cast
from uuid import UUID

import orjson
import strawberry
from strawberry.scalars import JSON

from projections.audit.queries import CHANGE_JSON, AuditFilter, AuditReads, ChangeRow
from read_api.errors import Forbidden
from read_api.fast_lists import connection_of, plan_list
from read_api.past import past_state
from read_api.prebuilt import Prebuilt
from read_api.types.common import (
    DEFAULT_PAGE,
    Connection,
    FilterInput,
    Info,
    RowType,
    field,
    page_size,
)


@strawberry.type(
    description="One change of a record: its event, who made it through which command, when."
)
class Change(ChangeRow, RowType[ChangeRow]):
    aggregate_type: str = strawberry.field(
        description="The kind of record: Entity, Process, Participant, Occurrence, …"
    )
    actor: str | None = strawberry.field(description="The token's subject that issued it.")
    fields: list[str] = strawberry.field(
        description="The fields it set: an update's changed fields, a creation's given ones."
    )


@strawberry.input(name="AuditFilter")
class AuditWhere(AuditFilter, FilterInput[AuditFilter]):
    since: datetime | None = strawberry.field(
        default=None, name="from", description="Changes at or after this time."
    )
    until: datetime | None = strawberry.field(
        default=None, name="to", description="Changes before this time."
    )


def require_audit(info: Info) -> None:
    viewer = info.context.require_viewer()
    if not viewer.grants.reads("audit"):
        raise Forbidden("the audit trail needs a role that grants read:audit (admin does)")


@strawberry.type(description="A record as it was at a position of the log.")
class RecordState:
    id: UUID
    kind: str = strawberry.field(description="Entity, Process, Participant, Group, …")
    version: int = strawberry.field(description="Its version then.")
    position: int = strawberry.field(description="The position of that version's event.")
    at: datetime = strawberry.field(description="When that event was recorded.")
    state: JSON = strawberry.field(description="Its fields then, as the event store holds them.")


@strawberry.type
class AuditQuery:
    @field(
        "Every change in the tenant, newest first, filtered by actor, record, kind of record, "
        "command, correlation id and time (admin only)."
    )
    async def audit_log(
        self,
        info: Info,
        filter: AuditWhere | None = None,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> Connection[Change]:
        require_audit(info)
        size = page_size(first)
        where = filter.to_filter() if filter else AuditFilter()
        return await connection_of(
            info,
            CHANGE_JSON,
            lambda reads, fields, cursors: reads.of(AuditReads).page_json(
                where, fields, size, after, with_cursors=cursors
            ),
            lambda reads: reads.of(AuditReads).page(where, size, after),
            Change.of,
        )

    @field(
        "A record (entity, entity type, process, participant, group, document, occurrence) as "
        "it was at `position`, rebuilt from its events; null if it did not exist yet or its "
        "kind is not one the caller reads. With `history`, any record at any change."
    )
    async def record_at(self, info: Info, id: UUID, position: int) -> RecordState | None:
        found = await past_state(info, id, position)
        if found is None:
            return None
        return RecordState(
            id=id,
            kind=found.kind,
            version=found.version,
            position=found.position,
            at=found.at,
            state=JSON(found.state),
        )

    @field("Every change of one record (any kind), oldest first (needs read:audit).")
    async def history(self, info: Info, id: UUID) -> list[Change]:
        require_audit(info)
        fields = plan_list(info, CHANGE_JSON)
        if fields is not None:  # plain fields: PostgreSQL renders each change (1,000s of them)
            json = await info.context.run(
                lambda reads: reads.of(AuditReads).history_json(id, fields)
            )
            return cast("list[Change]", Prebuilt([orjson.Fragment(text) for text in json]))
        rows = await info.context.run(lambda reads: reads.of(AuditReads).history(id))
        return [Change.of(row) for row in rows]
