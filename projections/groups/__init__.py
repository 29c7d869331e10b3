"""Groups and their members.

A group row keeps its members in the aggregate's order (for display); `members` has one row
per membership so that "which groups is X in" and "members of group G" are index lookups
(entity and participant pages filter through it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from domain.group import Group
from eventstore import RecordedEvent
from projections.base import Projection, Statement, event_class, handles, versioned_update
from projections.groups.queries import GROUP

# Membership changes apply only while the group row has not seen this event yet, so a replayed
# event cannot re-add a member that a later event removed.
UNSEEN = (
    "EXISTS (SELECT 1 FROM {schema}.groups g "
    "WHERE g.tenant_id = %s AND g.id = %s AND g.version < %s)"
)


class GroupsProjection(Projection):
    ddl = Path(__file__).with_name("schema.sql")
    tables = ("groups", "members")
    change_kinds = {"Group": "group"}
    feeds = (GROUP,)

    @handles(event_class(Group, "Created"))
    def created(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        yield Statement.of(
            "INSERT INTO {schema}.groups (tenant_id, id, name, description, version, created_at, "
            "updated_at, position) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (tenant_id, id) DO NOTHING",
            e.tenant_id,
            e.originator_id,
            d["name"],
            d["description"],
            e.version,
            e.timestamp,
            e.timestamp,
            e.position,
        )

    @handles(event_class(Group, "Renamed"))
    def renamed(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update("groups", "name = %s", e, e.data["name"])

    @handles(event_class(Group, "MembersAdded"))
    def members_added(self, e: RecordedEvent) -> Iterator[Statement]:
        entities, participants = e.data["entity_ids"], e.data["participant_ids"]
        yield Statement.of(
            "INSERT INTO {schema}.members (tenant_id, group_id, member_id, member_kind) "  # noqa: S608
            "SELECT %s, %s, m.id, m.kind FROM ("
            "  SELECT unnest(%s::uuid[]) AS id, 'entity' AS kind "
            "  UNION ALL SELECT unnest(%s::uuid[]), 'participant') m "
            f"WHERE {UNSEEN} ON CONFLICT DO NOTHING",
            e.tenant_id,
            e.originator_id,
            entities,
            participants,
            e.tenant_id,
            e.originator_id,
            e.version,
        )
        yield versioned_update(
            "groups",
            "entity_ids = entity_ids || %s::uuid[], "
            "participant_ids = participant_ids || %s::uuid[]",
            e,
            entities,
            participants,
        )

    @handles(event_class(Group, "MembersRemoved"))
    def members_removed(self, e: RecordedEvent) -> Iterator[Statement]:
        gone = [*e.data["entity_ids"], *e.data["participant_ids"]]
        yield Statement.of(
            "DELETE FROM {schema}.members WHERE tenant_id = %s AND group_id = %s "  # noqa: S608
            f"AND member_id = ANY(%s::uuid[]) AND {UNSEEN}",
            e.tenant_id,
            e.originator_id,
            gone,
            e.tenant_id,
            e.originator_id,
            e.version,
        )
        yield versioned_update(
            "groups",
            "entity_ids = ARRAY(SELECT m FROM unnest(entity_ids) WITH ORDINALITY AS u(m, i) "
            "  WHERE m <> ALL(%s::uuid[]) ORDER BY i), "
            "participant_ids = ARRAY(SELECT m FROM unnest(participant_ids) WITH ORDINALITY "
            "  AS u(m, i) WHERE m <> ALL(%s::uuid[]) ORDER BY i)",
            e,
            gone,
            gone,
        )
