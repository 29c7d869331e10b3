"""Roles, members and API keys as they stand: a row per role a tenant stored (a built-in role
has one only once changed; the queries add the others as they start), per member, per key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from domain.access import Member, Role
from domain.api_key import ApiKey
from eventstore import RecordedEvent
from projections.base import Projection, Statement, event_class, handles, jsonb, versioned_update


class AccessProjection(Projection):
    ddl = Path(__file__).with_name("schema.sql")
    tables = ("roles", "members", "api_keys")
    version = 3  # 3: a member's contact (participant_id)

    @handles(event_class(Role, "Defined"))
    def role_defined(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        yield Statement.of(
            "INSERT INTO {schema}.roles (tenant_id, id, name, description, grants, version, "
            "updated_at, position) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (tenant_id, id) DO NOTHING",
            e.tenant_id,
            e.originator_id,
            d["name"],
            d["description"],
            jsonb(d["grants"]),
            e.version,
            e.timestamp,
            e.position,
        )

    @handles(event_class(Role, "Changed"))
    def role_changed(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update(
            "roles",
            "description = %s, grants = %s, removed = false",
            e,
            e.data["description"],
            jsonb(e.data["grants"]),
        )

    @handles(event_class(Role, "Removed"))
    def role_removed(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update("roles", "grants = '[]', removed = true", e)

    @handles(event_class(Member, "Bound"))
    def member_bound(self, e: RecordedEvent) -> Iterator[Statement]:
        yield Statement.of(
            "INSERT INTO {schema}.members (tenant_id, id, actor, roles, version, updated_at, "
            "position) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (tenant_id, id) DO NOTHING",
            e.tenant_id,
            e.originator_id,
            e.data["actor"],
            jsonb(e.data["roles"]),
            e.version,
            e.timestamp,
            e.position,
        )

    @handles(event_class(Member, "RolesChanged"))
    def member_roles_changed(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update("members", "roles = %s", e, jsonb(e.data["roles"]))

    @handles(event_class(Member, "ContactSet"))
    def member_contact_set(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update("members", "participant_id = %s", e, e.data["participant_id"])

    @handles(event_class(Member, "Removed"))
    def member_removed(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update("members", "roles = '[]'", e)

    @handles(event_class(ApiKey, "Created"))
    def api_key_created(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        yield Statement.of(
            "INSERT INTO {schema}.api_keys (tenant_id, id, name, roles, created_by, created_at, "
            "expires_at, version, position) VALUES (%s, %s, %s, %s, %s, %s, to_timestamp(%s), "
            "%s, %s) ON CONFLICT (tenant_id, id) DO NOTHING",
            e.tenant_id,
            e.originator_id,
            d["name"],
            jsonb(d["roles"]),
            d["created_by"],
            e.timestamp,
            d["expires_at"],
            e.version,
            e.position,
        )

    @handles(event_class(ApiKey, "Revoked"))
    def api_key_revoked(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update("api_keys", "", e, stamped="revoked_at")
