"""The grants of roles: what each one allows, and the roles every tenant starts with.

A grant is one string:
- a command area (`data:write`, `schema:write`, `access:manage`, …) or one command by its name
  (`create-entity`): the commands it allows;
- `read:<area>` (`read:entities`, `read:audit`, …) or `read:*`: what it may read;
- `*`: every command area and read area of the tenant (not the platform's `tenants:create`).

The built-in roles exist in every tenant from its start with the grants below; a tenant's admins
change them, or define their own, with the same commands. Zero trust: an actor's roles are the
token's plus those its membership binds; a role nobody defined grants nothing, and nothing
grants what no role names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any

from domain.errors import InvalidInput
from domain.row_rules import RECORDS, check_row_rule

EVERYTHING = "*"
READ_PREFIX = "read:"
COMMAND_AREAS: dict[str, str] = {
    "tenant:manage": "change the tenant's name and settings",
    "access:manage": "define roles and bind members to them",
    "schema:write": "define entity types and occurrence kinds",
    "data:write": "record entities, groups, processes, participants, documents, occurrences",
    "data:erase": "forget participants and entities' personal fields: destroy the key of their personal data",
    "automation:write": "define actions and process actions",
    "automation:operate": "retry, cancel and resend action runs",
    "automation:run": "plan and record action runs (the reactor's and scheduler's)",
}
READ_AREAS: dict[str, str] = {
    "entities": "entity types and entities",
    "processes": "processes and their stages",
    "occurrences": "occurrences",
    "participants": "participants",
    "groups": "groups",
    "documents": "documents",
    "imports": "import jobs and their error reports",
    "automation": "occurrence kinds, actions, process actions and action runs",
    "audit": "the audit trail and every record's history",
    "access": "roles and members",
}
_RECORDS = [f"{READ_PREFIX}{area}" for area in READ_AREAS if area not in ("audit", "access")]
_TENANT_AREAS = [area for area in COMMAND_AREAS if area != "automation:run"]
BUILT_IN_ROLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "admin": (
        "Everything, including roles and members.",
        (*_TENANT_AREAS, f"{READ_PREFIX}*"),
    ),
    "editor": (
        "Records and operates runs; reads all records.",
        ("data:write", "automation:operate", *_RECORDS),
    ),
    "viewer": ("Reads all records.", tuple(_RECORDS)),
    "automation": ("bsdflow's own reactor and scheduler.", ("automation:run",)),
}
PLATFORM_ROLES: dict[str, tuple[str, ...]] = {"platform": ("tenants:create",)}
"""Roles outside any tenant, which no tenant can change: the platform operator's."""
ROLE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


def role_name(value: str, path: tuple[str | int, ...] = ("name",)) -> str:
    if not ROLE_NAME.match(value):
        raise InvalidInput(
            "a role name is 1-63 lower-case letters, digits, '-' or '_', starting with a letter",
            path,
        )
    return value


Grant = str | dict[str, Any]
"""A grant as stored: a string, or a read grant with a row filter and hidden fields."""
SCOPED_AREAS = frozenset(RECORDS)
"""The read areas whose grants may name types (entity types, process kinds, occurrence kinds), a
row rule and hidden fields of `data` (for now)."""
_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True, slots=True)
class ReadGrant:
    """`{"read": "entities", "types": ["Site"], "where": {…}, "hide": ["salary"]}`: the
    records of an area it reads (of these types — the kinds, for processes and occurrences —,
    that pass the row rule) without these fields of their data."""

    area: str
    types: tuple[str, ...] = ()
    where: Any = None
    hide: tuple[str, ...] = ()

    @classmethod
    def of(cls, grant: Mapping[str, Any]) -> ReadGrant:
        return cls(
            grant["read"],
            tuple(grant.get("types", ())),
            grant.get("where"),
            tuple(grant.get("hide", ())),
        )


def checked_grants(
    grants: Iterable[Grant], command_names: Iterable[str], path: tuple[str | int, ...] = ("grants",)
) -> list[Grant]:
    """The grants in order without repeats; an unknown one is refused with the closest names."""
    known = {
        EVERYTHING,
        f"{READ_PREFIX}*",
        *COMMAND_AREAS,
        *command_names,
        *(f"{READ_PREFIX}{a}" for a in READ_AREAS),
    }
    kept: list[Grant] = []
    for i, given in enumerate(grants):
        grant = _checked_read_grant(given, (*path, i)) if isinstance(given, dict) else given
        if isinstance(grant, str) and grant not in known:
            close = get_close_matches(grant, sorted(known), n=3, cutoff=0.6)
            hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
            raise InvalidInput(
                f"unknown grant {grant!r}{hint}; a grant is a command area such as "
                "'data:write', a command name, 'read:<area>', '*', or a read grant "
                '{"read": "entities", "types": […], "where": {…}, "hide": […]}',
                (*path, i),
            )
        if grant not in kept:
            kept.append(grant)
    return kept


def _checked_read_grant(grant: dict[str, Any], path: tuple[str | int, ...]) -> dict[str, Any]:
    unknown = sorted(set(grant) - {"read", "types", "where", "hide"})
    if unknown:
        raise InvalidInput(
            f"unknown key {unknown[0]!r} (a read grant has read, types, where, hide)",
            (*path, unknown[0]),
        )
    area = grant.get("read")
    if area not in SCOPED_AREAS:
        raise InvalidInput(
            f"a read grant with types, a row rule or hidden fields is for "
            f"{', '.join(sorted(SCOPED_AREAS))} (other areas: 'read:<area>')",
            (*path, "read"),
        )
    checked: dict[str, Any] = {"read": area}
    for key in ("types", "hide"):
        names = grant.get(key, [])
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise InvalidInput(f"{key!r} is a list of names", (*path, key))
        if key == "hide":
            for j, name in enumerate(names):
                if not _FIELD_NAME.match(name):
                    raise InvalidInput("not a field name", (*path, key, j))
        if names:
            checked[key] = list(dict.fromkeys(names))
    if grant.get("where") is not None:
        check_row_rule(grant["where"], area, (*path, "where"))
        checked["where"] = grant["where"]
    return checked


@dataclass(frozen=True, slots=True)
class Grants:
    """What an actor may do, from the roles it holds."""

    roles: tuple[str, ...]
    allowed: frozenset[str]
    by_role: tuple[tuple[str, tuple[Grant, ...] | None], ...] = ()
    """Each held role and its grants (None: the tenant has no such role)."""
    bound: frozenset[str] = frozenset()
    """The roles its membership binds."""
    claimed: frozenset[str] = frozenset()
    """The roles its token names."""
    scoped: tuple[ReadGrant, ...] = ()
    """Its read grants with types, a row rule or hidden fields."""

    def allows(self, area: str, command: str = "") -> bool:
        """May it run a command of `area` (named `command`)?"""
        granted = self.allowed
        if area in granted or (bool(command) and command in granted):
            return True
        return EVERYTHING in granted and area in COMMAND_AREAS  # not the platform's

    def reads(self, area: str) -> bool:
        return self._reads_all(area) or any(g.area == area for g in self.scoped)

    def scope(self, area: str) -> tuple[ReadGrant, ...] | None:
        """None when it reads the whole area; else the grants that say which of it."""
        if self._reads_all(area):
            return None
        return tuple(g for g in self.scoped if g.area == area)

    def _reads_all(self, area: str) -> bool:
        granted = self.allowed
        return (
            EVERYTHING in granted
            or f"{READ_PREFIX}*" in granted
            or f"{READ_PREFIX}{area}" in granted
        )

    @property
    def reads_anything(self) -> bool:
        return any(self.reads(area) for area in READ_AREAS)

    @property
    def fingerprint(self) -> str:
        """Equal for two readers granted the same reads (a response-cache key part; a row rule
        with session variables makes it the reader's own)."""
        plain = sorted(g for g in self.allowed if g == EVERYTHING or g[:5] == READ_PREFIX)
        return repr((plain, self.scoped))


def grants_of(
    roles: Iterable[str],
    definitions: Mapping[str, Iterable[Grant] | None],
    bound: Iterable[str] = (),
    claimed: Iterable[str] = (),
) -> Grants:
    """The grants of `roles`, each defined by `definitions` (a role it lacks grants nothing)."""
    held = tuple(sorted(set(roles)))
    by_role = tuple(
        (role, None if (found := definitions.get(role)) is None else tuple(found)) for role in held
    )
    every = [g for _, grants in by_role for g in grants or ()]
    allowed = frozenset(g for g in every if isinstance(g, str))
    scoped = tuple(ReadGrant.of(g) for g in every if isinstance(g, dict))
    return Grants(held, allowed, by_role, frozenset(bound), frozenset(claimed), scoped)
