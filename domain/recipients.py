"""Who a process action's runs address, when not the addresses its action's config names.

Each selector names participants, resolved when the run is planned:
- `{"participant": "<id>"}`: one participant;
- `{"process_role": "reviewer"}`: the triggering process's participants with that role;
- `{"group": "<id>"}`: a group's participants;
- `{"role": "lead"}`: the members bound to a tenant role (through the participant each member's
  binding names as its contact).

Every participant found gets a run of its own (and its own idempotency key), addressed at its
email for the email channel and its phone for SMS.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.errors import InvalidInput
from domain.grants import ROLE_NAME

KINDS = ("participant", "process_role", "group", "role")
MAX_SELECTORS = 20


def parse_recipients(
    raw: object, process_trigger: bool, path: tuple[str | int, ...] = ("recipients",)
) -> list[dict[str, str]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_SELECTORS:
        raise InvalidInput(f"a list of at most {MAX_SELECTORS} recipient selectors", path)
    parsed: list[dict[str, str]] = []
    for i, item in enumerate(raw):
        at = (*path, i)
        if not isinstance(item, dict) or len(item) != 1 or next(iter(item)) not in KINDS:
            raise InvalidInput(
                'a selector is one of {"participant": id}, {"process_role": name}, '
                '{"group": id}, {"role": name}',
                at,
            )
        kind, value = next(iter(item.items()))
        if kind in ("participant", "group"):
            try:
                value = str(UUID(str(value)))
            except ValueError:
                raise InvalidInput(f"must be a {kind} id", (*at, kind)) from None
        elif not isinstance(value, str) or not ROLE_NAME.match(value):
            raise InvalidInput("must be a role name", (*at, kind))
        if kind == "process_role" and not process_trigger:
            raise InvalidInput(
                "only a trigger about a process (stage_entered, sla_reminder, sla_breached, "
                "occurrence_recorded with process_kind) has a process's participants",
                (*at, kind),
            )
        selector = {kind: value}
        if selector not in parsed:
            parsed.append(selector)
    return parsed


def contact_for(channel: str, participant: dict[str, Any]) -> str | None:
    """The address a channel reaches a participant at (None: the participant has none)."""
    key = {"email": "email", "sms": "phone"}.get(channel)
    value = participant.get(key) if key else None
    return str(value) if value else None
