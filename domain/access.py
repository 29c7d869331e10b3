"""Roles and members of a tenant, as aggregates (what their grants mean: `domain.grants`)."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput
from domain.grants import BUILT_IN_ROLES, EVERYTHING, Grant
from domain.ids import member_id_for, role_id_for


class Role(Aggregate):
    """A named set of grants in one tenant (the built-in ones are stored once first changed)."""

    @event("Defined")
    def __init__(self, tenant_id: UUID, name: str, description: str, grants: list[Grant]) -> None:
        self.tenant_id = tenant_id
        self.name = name
        self.description = description
        self.grants = grants
        self.removed = False

    @classmethod
    def create_id(cls, tenant_id: UUID, name: str) -> UUID:
        return role_id_for(tenant_id, name)

    @classmethod
    def define(cls, tenant_id: UUID, name: str, description: str, grants: list[Grant]) -> Role:
        _admin_keeps_access(name, grants)
        return cls(tenant_id=tenant_id, name=name, description=description.strip(), grants=grants)

    @classmethod
    def built_in(cls, tenant_id: UUID, name: str) -> Role:
        description, grants = BUILT_IN_ROLES[name]
        return cls(tenant_id=tenant_id, name=name, description=description, grants=list(grants))

    def change(self, description: str | None, grants: list[Grant] | None) -> None:
        description = self.description if description is None else description.strip()
        grants = self.grants if grants is None else grants
        _admin_keeps_access(self.name, grants)
        if self.removed or (description, grants) != (self.description, self.grants):
            self._changed(description, grants)

    @event("Changed")
    def _changed(self, description: str, grants: list[Grant]) -> None:
        self.description = description
        self.grants = grants
        self.removed = False

    def remove(self) -> None:
        if self.name == "admin":
            raise InvalidInput("the admin role cannot be removed", ("name",))
        if not self.removed:
            self._removed()

    @event("Removed")
    def _removed(self) -> None:
        self.removed = True
        self.grants = []


class Member(Aggregate):
    """An actor (a token's subject) bound to roles in one tenant."""

    @event("Bound")
    def __init__(self, tenant_id: UUID, actor: str, roles: list[str]) -> None:
        self.tenant_id = tenant_id
        self.actor = actor
        self.roles = roles

    @classmethod
    def create_id(cls, tenant_id: UUID, actor: str) -> UUID:
        return member_id_for(tenant_id, actor)

    participant_id: UUID | None = None
    """The participant who is this member's contact (role recipients are reached through it)."""

    def reach_at(self, participant_id: UUID | None) -> None:
        if participant_id != self.participant_id:
            self._contact_set(participant_id)

    @event("ContactSet")
    def _contact_set(self, participant_id: UUID | None) -> None:
        self.participant_id = participant_id

    def bind(self, roles: list[str]) -> None:
        if roles != self.roles:
            self._bound_again(roles)

    @event("RolesChanged")
    def _bound_again(self, roles: list[str]) -> None:
        self.roles = roles

    def remove(self) -> None:
        if self.roles:
            self._removed()

    @event("Removed")
    def _removed(self) -> None:
        self.roles = []


def _admin_keeps_access(name: str, grants: list[Grant]) -> None:
    """Somebody must always be able to repair the tenant's roles."""
    if name == "admin" and not {EVERYTHING, "access:manage"} & set(grants):
        raise InvalidInput("the admin role must keep '*' or 'access:manage'", ("grants",))
