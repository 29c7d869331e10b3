"""Reading roles and members (the transaction carries the tenant: no query filters by it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row

from domain.grants import BUILT_IN_ROLES
from projections.base import schema_of
from projections.paging import Page, Sort, keyset_page

SCHEMA = schema_of(__name__)
ROLE_COLUMNS = "name, description, grants, removed, version, updated_at, name = ANY(%s) AS built_in"
MEMBER_COLUMNS = "id, actor, roles, participant_id, version, updated_at, position"
API_KEY_COLUMNS = "id, name, roles, created_by, created_at, expires_at, revoked_at, version"
BY_ACTOR: Sort[Any] = Sort("actor", False, "text", lambda row: row.actor, ("actor",))


@dataclass
class RoleRow:
    name: str
    description: str
    grants: list[Any]
    """Strings, and read grants as objects (`domain.grants`)."""
    removed: bool
    version: int
    """0 for a built-in role as it starts (never changed)."""
    updated_at: datetime | None
    built_in: bool
    """One of the roles every tenant starts with (admin, editor, viewer, automation)."""


@dataclass
class MemberRow:
    id: UUID
    actor: str
    roles: list[str]
    participant_id: UUID | None
    """The participant who is its contact."""
    version: int
    updated_at: datetime
    position: int


@dataclass
class ApiKeyRow:
    id: UUID
    name: str
    roles: list[str]
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    version: int


def starting_roles() -> dict[str, RoleRow]:
    """The built-in roles as every tenant has them before changing them."""
    return {
        name: RoleRow(name, description, list(grants), False, 0, None, True)
        for name, (description, grants) in BUILT_IN_ROLES.items()
    }


class AccessReads:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn

    async def roles(self, include_removed: bool = False) -> list[RoleRow]:
        """Every role by name: the stored ones, and the built-in ones never changed."""
        async with self.conn.cursor(row_factory=class_row(RoleRow)) as cur:
            await cur.execute(
                f"SELECT {ROLE_COLUMNS} FROM {SCHEMA}.roles",  # noqa: S608
                (list(BUILT_IN_ROLES),),
            )
            stored = {row.name: row for row in await cur.fetchall()}
        merged = {**starting_roles(), **stored}
        return [
            merged[name] for name in sorted(merged) if include_removed or not merged[name].removed
        ]

    async def members(
        self, first: int = 50, after: str | None = None, role: str | None = None
    ) -> Page[MemberRow]:
        """By actor; only those bound to `role` if given (an unbound member is left out)."""
        clauses = ["jsonb_array_length(roles) > 0"]
        params: list[Any] = []
        if role is not None:
            clauses.append("roles ? %s")
            params.append(role)
        return await keyset_page(
            self.conn,
            MemberRow,
            f"{SCHEMA}.members",
            MEMBER_COLUMNS,
            (clauses, params),
            BY_ACTOR,
            first,
            after,
        )

    async def member(self, actor: str) -> MemberRow | None:
        async with self.conn.cursor(row_factory=class_row(MemberRow)) as cur:
            await cur.execute(
                f"SELECT {MEMBER_COLUMNS} FROM {SCHEMA}.members WHERE actor = %s",  # noqa: S608
                (actor,),
            )
            return await cur.fetchone()

    async def api_keys(self, include_revoked: bool = False) -> list[ApiKeyRow]:
        """By name; revoked ones only if asked for (expired ones are listed: they may be why a
        caller is refused)."""
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        async with self.conn.cursor(row_factory=class_row(ApiKeyRow)) as cur:
            await cur.execute(
                f"SELECT {API_KEY_COLUMNS} FROM {SCHEMA}.api_keys{where} ORDER BY name"  # noqa: S608
            )
            return await cur.fetchall()
