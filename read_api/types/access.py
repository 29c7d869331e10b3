"""Roles, members, and what an actor may do and read (with the reasons)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from domain.grants import COMMAND_AREAS, EVERYTHING, READ_AREAS, Grants, grants_of
from projections.access.queries import AccessReads, ApiKeyRow, MemberRow, RoleRow
from read_api.types.common import (
    DEFAULT_PAGE,
    Connection,
    Info,
    RowType,
    connection,
    field,
    page_size,
)

GRANTS = "Strings ('data:write', 'read:entities', …) and read grants as objects."


@strawberry.type(description="A role of the tenant and what it grants.")
class Role(RoleRow, RowType[RoleRow]):
    grants: list[JSON] = strawberry.field(description=GRANTS)


@strawberry.type(description="An actor (a token's subject) bound to roles of the tenant.")
class Member(MemberRow, RowType[MemberRow]):
    pass


@strawberry.type(
    description="A service account's API key (its secret is shown only once, on creation)."
)
class ApiKey(ApiKeyRow, RowType[ApiKeyRow]):
    roles: list[str] = strawberry.field(description="The roles it acts with, and no others.")
    created_by: str = strawberry.field(description="The actor that created it.")
    last_used_at: datetime | None = strawberry.field(
        default=None, description="Accurate to a minute; null if it was never used."
    )


@strawberry.type(description="A role an actor holds, where it comes from, and its grants.")
class HeldRole:
    name: str
    sources: list[str] = strawberry.field(
        description="'membership' (set-member-roles) and/or 'token' (the token's roles claim)."
    )
    defined: bool = strawberry.field(
        description="False for a role the tenant does not have: it grants nothing."
    )
    grants: list[JSON] = strawberry.field(description=GRANTS)


@strawberry.type(description="What an actor may do and read, and which role gives it.")
class Access:
    actor: str
    roles: list[HeldRole]
    command_areas: list[str] = strawberry.field(
        description="The command areas it may use (data:write, …)."
    )
    commands: list[str] = strawberry.field(
        description="Single commands granted by name, beyond its areas."
    )
    reads: list[str] = strawberry.field(description="The read areas it may read.")


def explained(actor: str, granted: Grants) -> Access:
    return Access(
        actor=actor,
        roles=[
            HeldRole(
                name=name,
                sources=[
                    source
                    for source, held in (("membership", granted.bound), ("token", granted.claimed))
                    if name in held
                ],
                defined=grants is not None,
                grants=[JSON(g) for g in grants or ()],
            )
            for name, grants in granted.by_role
        ],
        command_areas=[area for area in COMMAND_AREAS if granted.allows(area)],
        commands=sorted(g for g in granted.allowed if g not in COMMAND_AREAS and ":" not in g)
        if EVERYTHING not in granted.allowed
        else [],
        reads=[area for area in READ_AREAS if granted.reads(area)],
    )


@strawberry.type
class AccessQuery:
    @field("The tenant's roles by name, the built-in ones included (needs read:access).")
    async def roles(self, info: Info, include_removed: bool = False) -> list[Role]:
        rows = await info.context.run(lambda r: r.of(AccessReads).roles(include_removed))
        return [Role.of(row) for row in rows]

    @field("Members by actor, optionally only those bound to `role` (needs read:access).")
    async def members(
        self,
        info: Info,
        role: str | None = None,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> Connection[Member]:
        size = page_size(first)
        page = await info.context.run(lambda r: r.of(AccessReads).members(size, after, role))
        return connection(page, Member.of)

    @field("The tenant's API keys by name, revoked ones if asked for (needs read:access).")
    async def api_keys(self, info: Info, include_revoked: bool = False) -> list[ApiKey]:
        rows = await info.context.run(lambda r: r.of(AccessReads).api_keys(include_revoked))
        usage = info.context.api.key_usage
        info.context.not_kept()  # last use is noted in Redis: no projection commit tells of it
        tenant_id = info.context.require_viewer().tenant_id
        used = await usage.last_used(tenant_id, [r.id for r in rows]) if usage and rows else {}
        keys = [ApiKey.of(row) for row in rows]
        for key, row in zip(keys, rows, strict=True):
            key.last_used_at = used.get(row.id)
        return keys

    @field(
        "What the caller may do and read and which role gives it; with `actor`, what that "
        "member's bound roles give (needs read:access)."
    )
    async def access(self, info: Info, actor: str | None = None) -> Access:
        viewer = info.context.require_viewer()
        if actor is None or actor == viewer.actor:
            return explained(viewer.actor, viewer.grants)

        async def read(reads: AccessReads) -> Grants:
            member = await reads.member(actor)
            bound = member.roles if member else []
            defined = {role.name: role.grants for role in await reads.roles()}
            return grants_of(bound, defined, bound)

        return explained(actor, await info.context.run(lambda r: read(r.of(AccessReads))))
