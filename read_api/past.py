"""Records as they were at a position, as the caller may see them: `recordAt` (any record,
as JSON) and `atPosition` on `entity`, `process` and `participant` (their own GraphQL types).

A past state is rebuilt from the event store (`infra/past_states.py`). The caller must read
the record's area; a reader of part of an area (a row rule, hidden fields) sees past states of
the records it sees now, without the hidden fields: the record's read model decides
(`shown_past`), and one that cannot shows nothing.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from projections.entities.queries import ENTITY_TYPE, EntityRow
from projections.participants.queries import ParticipantRow
from projections.processes.queries import ProcessRow
from read_api.areas import RECORD_AREAS, record_reads
from read_api.errors import PublicError
from read_api.ports import PastState
from read_api.session import Reads
from read_api.types.common import Info


async def past_state(info: Info, id: UUID, position: int, kind: str = "") -> PastState | None:
    """`id` as of `position` (of kind `kind` when given), or None: it did not exist yet, is of
    another kind, or the caller may not see it."""
    viewer = info.context.require_viewer()
    if position < 0:
        raise PublicError("position must be 0 or more")
    found = await info.context.api.past(viewer.tenant_id, id, position)
    if found is None or (kind and found.kind != kind):
        return None
    area = RECORD_AREAS[found.kind]
    if not viewer.grants.reads(area):
        return None
    if viewer.grants.scope(area) is None:
        return found
    state = await info.context.run(lambda reads: _shown(reads, found, id))
    return None if state is None else dataclasses.replace(found, state=state)


async def _shown(reads: Reads, found: PastState, id: UUID) -> dict[str, Any] | None:
    queries = record_reads(found.kind)
    shown = None if queries is None else getattr(reads.of(queries), "shown_past", None)
    return None if shown is None else await shown(found.kind, id, found.state)


async def past_entity(info: Info, id: UUID, position: int) -> EntityRow | None:
    """The entity as of `position`; title, importance and location as its type defines them
    now."""
    found = await past_state(info, id, position, "Entity")
    if found is None:
        return None
    state = found.state
    data: dict[str, Any] = state["data"]
    entity_type = await info.context.loaders.of(ENTITY_TYPE).load(UUID(state["entity_type_id"]))
    title_field = entity_type.title_field if entity_type else None
    importance_field = entity_type.search_importance if entity_type else None
    importance = data.get(importance_field) if importance_field else None
    location = state.get("location")
    if entity_type and entity_type.location_field:
        location = data.get(entity_type.location_field)
    return EntityRow(
        id=id,
        entity_type_id=UUID(state["entity_type_id"]),
        version=found.version,
        schema_version=state["schema_version"],
        title=_text(data.get(title_field)) if title_field else None,
        importance=float(importance) if isinstance(importance, int | float) else None,
        data=data,
        lat=location["lat"] if isinstance(location, dict) else None,
        lon=location["lon"] if isinstance(location, dict) else None,
        archived=bool(state.get("archived")),
        created_at=found.created_at,
        updated_at=found.at,
        position=found.position,
    )


async def past_process(info: Info, id: UUID, position: int) -> ProcessRow | None:
    """The process as of `position`."""
    found = await past_state(info, id, position, "Process")
    if found is None:
        return None
    state = found.state
    return ProcessRow(
        id=id,
        kind=state["kind"],
        title=state["title"],
        stages=state["stages"],
        stage=state["stage"],
        status=state["status"],
        outcome=state.get("outcome"),
        due_at=_time(state.get("due_at")),
        data=state["data"],
        participants=state["participants"],
        entity_ids=[UUID(e) for e in state["entity_ids"]],
        version=found.version,
        opened_at=found.created_at,
        updated_at=found.at,
        # A snapshot taken before the record kept its closing time has none: its last change's.
        closed_at=(
            _time(state.get("closed_at", str(found.at))) if state["status"] == "closed" else None
        ),
        position=found.position,
        definition_key=state.get("definition_key"),
        definition_version=state.get("definition_version"),
        approvals=list(state.get("approvals", ())),
        stage_entered_at=_time(state.get("stage_entered_at")) or found.created_at,
        sla_due_at=_time(state.get("sla_due_at")),
        sla_breached=bool(state.get("sla_breached")),
    )


async def past_participant(info: Info, id: UUID, position: int) -> ParticipantRow | None:
    """The participant as of `position` (its personal fields null once it was forgotten: the
    key that sealed them is gone, in the past as now)."""
    found = await past_state(info, id, position, "Participant")
    if found is None:
        return None
    state = found.state
    return ParticipantRow(
        id=id,
        kind=state["kind"],
        name=state.get("name"),
        email=state.get("email"),
        phone=state.get("phone"),
        external_ref=state.get("external_ref"),
        erased=bool(state.get("forgotten")) or state.get("name") is None,
        version=found.version,
        created_at=found.created_at,
        updated_at=found.at,
        position=found.position,
    )


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _text(value: Any) -> str | None:
    """As PostgreSQL's `->>` gives a JSON value (the read model's title)."""
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()
