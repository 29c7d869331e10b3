"""Roles and members: the commands that change them, and the book that answers "may it?".

Roles and members are addressed by name (a role's) and actor (a member's): their ids derive
from those, so a command never needs an id it would first have to look up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast
from uuid import UUID

from commands.auth import KEY_ACTOR, Forbidden, Principal
from commands.context import CommandContext, Recorded
from commands.registry import Command, CommandSpec
from domain.access import Member, Role
from domain.errors import Conflict, InvalidInput, NotFound
from domain.grants import (
    BUILT_IN_ROLES,
    PLATFORM_ROLES,
    Grant,
    Grants,
    checked_grants,
    grants_of,
    role_name,
)
from domain.participant import Participant
from eventstore import EventStore

T = TypeVar("T")
ACCESS_MANAGE = "access:manage"


class DefineRole(Command):
    """Define a role of the caller's organisation and what it grants."""

    name: str
    description: str = ""
    grants: list[Grant]


def define_role(cmd: DefineRole, ctx: CommandContext) -> Recorded:
    name = role_name(cmd.name)
    role_id = Role.create_id(ctx.tenant_id, name)
    existing = ctx.store.find(Role, role_id)
    if role_exists(ctx, name):
        raise Conflict(f"role {name!r} exists; change it with change-role", ("name",))
    grants = checked_grants(cmd.grants, _command_names())
    if existing is not None:
        existing.change(cmd.description, grants)
        return ctx.save(existing)
    return ctx.save(Role.define(ctx.tenant_id, name, cmd.description, grants))


class ChangeRole(Command):
    """Change a role's description or grants (the built-in ones too)."""

    name: str
    description: str | None = None
    grants: list[Grant] | None = None
    expected_version: int | None = None


def change_role(cmd: ChangeRole, ctx: CommandContext) -> Recorded:
    role = _role(ctx, cmd.name, cmd.expected_version)
    grants = None if cmd.grants is None else checked_grants(cmd.grants, _command_names())
    role.change(cmd.description, grants)
    return ctx.save(role)


class RemoveRole(Command):
    """Remove a role: it grants nothing from now on, to its members too."""

    name: str
    expected_version: int | None = None


def remove_role(cmd: RemoveRole, ctx: CommandContext) -> Recorded:
    role = _role(ctx, cmd.name, cmd.expected_version)
    role.remove()
    return ctx.save(role)


class SetMemberRoles(Command):
    """Bind an actor (a token's subject) to roles of the caller's organisation; `participant_id`
    names the participant who is its contact, which process actions addressing a role reach."""

    actor: str
    roles: list[str]
    participant_id: UUID | None = None
    expected_version: int | None = None


def set_member_roles(cmd: SetMemberRoles, ctx: CommandContext) -> Recorded:
    actor = _actor(cmd.actor)
    roles = list(dict.fromkeys(cmd.roles))
    if not roles:
        raise InvalidInput("name at least one role (remove-member unbinds all)", ("roles",))
    for i, name in enumerate(roles):
        if not role_exists(ctx, role_name(name, ("roles", i))):
            raise NotFound(f"no role {name!r}", ("roles", i))
    if cmd.participant_id is not None:
        ctx.load(Participant, cmd.participant_id, path=("participant_id",))
    member = ctx.store.find(Member, Member.create_id(ctx.tenant_id, actor))
    if member is None:
        member = Member(tenant_id=ctx.tenant_id, actor=actor, roles=roles)
    else:
        _check_version(member.version, cmd.expected_version)
        member.bind(roles)
    member.reach_at(cmd.participant_id)
    return ctx.save(member)


class RemoveMember(Command):
    """Unbind an actor from every role of the caller's organisation."""

    actor: str
    expected_version: int | None = None


def remove_member(cmd: RemoveMember, ctx: CommandContext) -> Recorded:
    member = ctx.store.find(Member, Member.create_id(ctx.tenant_id, _actor(cmd.actor)))
    if member is None or member.tenant_id != ctx.tenant_id:
        raise NotFound(f"no member {cmd.actor!r}", ("actor",))
    _check_version(member.version, cmd.expected_version)
    member.remove()
    return ctx.save(member)


def _actor(value: str) -> str:
    actor = value.strip()
    if not 1 <= len(actor) <= 200:
        raise InvalidInput("must be 1-200 characters", ("actor",))
    if actor.startswith(KEY_ACTOR):
        raise InvalidInput("an API key's roles are the key's own (create-api-key)", ("actor",))
    return actor


def _role(ctx: CommandContext, name: str, expected_version: int | None) -> Role:
    """The stored role, or a built-in one as it starts (stored once it is first changed)."""
    name = role_name(name)
    role = ctx.store.find(Role, Role.create_id(ctx.tenant_id, name))
    if role is None and name in BUILT_IN_ROLES:
        role = Role.built_in(ctx.tenant_id, name)
    if role is None or role.tenant_id != ctx.tenant_id:
        raise NotFound(f"no role {name!r}", ("name",))
    _check_version(role.version, expected_version)
    return role


def role_exists(ctx: CommandContext, name: str) -> bool:
    role = ctx.store.find(Role, Role.create_id(ctx.tenant_id, name))
    return (role is None and name in BUILT_IN_ROLES) or (role is not None and not role.removed)


def _check_version(version: int, expected: int | None) -> None:
    if expected is not None and version != expected:
        raise Conflict(
            f"expected version {expected}, but it is at {version}", ("expected_version",)
        )


def _command_names() -> list[str]:
    from commands.registered import COMMANDS  # the registry holds this module's commands too

    return list(COMMANDS)


SPECS: list[CommandSpec[Any]] = [
    CommandSpec("define-role", DefineRole, define_role, ACCESS_MANAGE),
    CommandSpec("change-role", ChangeRole, change_role, ACCESS_MANAGE),
    CommandSpec("remove-role", RemoveRole, remove_role, ACCESS_MANAGE),
    CommandSpec("set-member-roles", SetMemberRoles, set_member_roles, ACCESS_MANAGE),
    CommandSpec("remove-member", RemoveMember, remove_member, ACCESS_MANAGE),
]


@dataclass
class AccessBook:
    """Each tenant's roles and members as the event store holds them, cached in this process.

    A change made through this process is seen by its next request; one made through another
    process as soon as its announcement arrives (`announce`; Redis pub/sub in production), and
    within `ttl_seconds` should an announcement be lost.
    """

    store: EventStore
    ttl_seconds: float = 30.0
    clock: Callable[[], float] = time.monotonic
    _cached: dict[tuple[UUID, str], tuple[float, Any]] = field(default_factory=dict)
    listeners: list[Callable[[UUID], None]] = field(default_factory=list)
    """Told of each tenant whose roles or members changed through this process (from the
    thread that changed them)."""
    announce: Callable[[UUID], None] | None = None
    """Tells the other processes of a change made through this one."""
    hear: Callable[[], None] | None = None
    """Starts hearing the other processes' announcements, once something is first cached (a
    process that cached nothing has nothing to forget, and starts no listener)."""
    _generations: dict[UUID, int] = field(default_factory=dict)
    """Bumped by `forget`: a load that began before is not kept."""
    _everything: int = 0
    """Bumped by `forget_everything`, likewise."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def grants(self, principal: Principal) -> Grants:
        if principal.internal:
            built_in = {n: g for n, (_, g) in BUILT_IN_ROLES.items()}
            return grants_of(principal.roles, built_in, claimed=principal.roles)
        tenant_id = principal.tenant_id
        bound = self._member_roles(tenant_id, principal.actor)
        roles = {*principal.roles, *bound}
        return grants_of(
            roles,
            {n: PLATFORM_ROLES.get(n) or self._role_grants(tenant_id, n) for n in roles},
            bound,
            principal.roles,
        )

    def require(self, principal: Principal, area: str, command: str = "") -> Grants:
        granted = self.grants(principal)
        if not granted.allows(area, command):
            raise Forbidden(f"roles {list(granted.roles)} do not grant {area!r}")
        return granted

    def forget(self, tenant_id: UUID, *, heard: bool = False) -> None:
        """The tenant's roles or members changed: through this process, or (`heard`) through
        another, which announced it already."""
        with self._lock:
            self._generations[tenant_id] = self._generations.get(tenant_id, 0) + 1
            for key in [k for k in self._cached if k[0] == tenant_id]:
                del self._cached[key]
        for listener in self.listeners:
            listener(tenant_id)
        if not heard and self.announce is not None:
            self.announce(tenant_id)

    def forget_everything(self) -> None:
        """Announcements may have been missed: nothing cached is trusted any more."""
        with self._lock:
            self._everything += 1
            self._cached.clear()

    def _member_roles(self, tenant_id: UUID, actor: str) -> tuple[str, ...]:
        def load() -> tuple[str, ...]:
            member = self.store.find(Member, Member.create_id(tenant_id, actor))
            return tuple(member.roles) if member and member.tenant_id == tenant_id else ()

        return self._remembered((tenant_id, f"member:{actor}"), load)

    def _role_grants(self, tenant_id: UUID, name: str) -> tuple[Grant, ...] | None:
        """None for a role the tenant does not have."""

        def load() -> tuple[Grant, ...] | None:
            role = self.store.find(Role, Role.create_id(tenant_id, name))
            if role is None:
                return BUILT_IN_ROLES[name][1] if name in BUILT_IN_ROLES else None
            if role.tenant_id != tenant_id or role.removed:
                return None
            return tuple(role.grants)

        return self._remembered((tenant_id, f"role:{name}"), load)

    def _remembered(self, key: tuple[UUID, str], load: Callable[[], T]) -> T:
        now = self.clock()
        found = self._cached.get(key)
        if found is not None and now - found[0] < self.ttl_seconds:
            return cast("T", found[1])
        if self.hear is not None:
            with self._lock:
                hear, self.hear = self.hear, None
            if hear is not None:
                hear()  # its first news (a new subscription) is `forget_everything`
        generation = (self._everything, self._generations.get(key[0], 0))
        value = load()
        with self._lock:
            if (self._everything, self._generations.get(key[0], 0)) == generation:
                self._cached[key] = (now, value)
        return value
