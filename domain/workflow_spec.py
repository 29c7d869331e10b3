"""Reading a process definition's version: the checks a published one passes (every fault with
its JSON path), its stored form, and that form read back (`domain.workflow` says what it means).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from domain.errors import InvalidInput
from domain.fields import DataInvalid, FieldError, FieldSpec, NestedValueError, check_schema
from domain.rules import check_rule
from domain.schedules.durations import Duration, parse_duration
from domain.workflow import (
    KEY,
    MAX_STAGES,
    MAX_TRANSITIONS,
    STAGE,
    Approval,
    Path,
    Sla,
    Stage,
    Transition,
    Workflow,
)

_STAGE_KEYS = {"name", "sla", "approval"}
_SLA_KEYS = {"within", "business_hours", "remind_at"}
_APPROVAL_KEYS = {"count", "role", "participant_role", "rejected_to", "approved_to"}
_TRANSITION_KEYS = {"name", "from", "to", "guard", "roles", "requires"}
_ROLE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


def read_workflow(spec: Mapping[str, Any]) -> Workflow:
    """A stored (already checked) version."""
    return _parse(spec, check=False)


def spec_of(workflow: Workflow) -> dict[str, Any]:
    """The stored form of a version."""
    return {
        "name": workflow.name,
        "fields": [spec.to_dict() for spec in workflow.fields],
        "stages": [_stage_dict(s) for s in workflow.stages],
        "transitions": [_transition_dict(t) for t in workflow.transitions],
    }


def checked_workflow(spec: object) -> Workflow:
    """A version as an author sent it: every fault is reported with its path."""
    if not isinstance(spec, Mapping):
        raise InvalidInput("a definition is an object with name, fields, stages, transitions")
    return _parse(spec, check=True)


class _Problems:
    def __init__(self, check: bool) -> None:
        self.check = check
        self.errors: list[FieldError] = []

    def add(self, path: Path, message: str) -> None:
        if self.check:
            self.errors.append(FieldError(path, message))


def _parse(spec: Mapping[str, Any], *, check: bool) -> Workflow:
    problems = _Problems(check)
    for key in sorted(set(spec) - {"name", "fields", "stages", "transitions"}):
        problems.add((key,), "unknown key (a definition has name, fields, stages, transitions)")
    name = spec.get("name")
    if check and (not isinstance(name, str) or not name.strip() or len(name) > 200):
        problems.add(("name",), "must be a name of 1-200 characters")
    fields = _fields(spec.get("fields", []), problems)
    stages = _stages(spec.get("stages"), problems)
    names = [s.name for s in stages]
    if check:
        _check_approvals(stages, names, problems)
    transitions = _transitions(spec.get("transitions", []), names, problems)
    workflow = Workflow(str(name or "").strip(), fields, tuple(stages), tuple(transitions))
    if check:
        _check_guards(spec.get("transitions", []), workflow, problems)
    if problems.errors:
        raise DataInvalid(problems.errors)
    return workflow


def _fields(raw: object, problems: _Problems) -> tuple[FieldSpec, ...]:
    if not isinstance(raw, list):
        problems.add(("fields",), "must be a list of field definitions")
        return ()
    fields: list[FieldSpec] = []
    for i, item in enumerate(raw):
        try:
            fields.append(FieldSpec.from_dict(item))
        except NestedValueError as exc:
            for path, message in exc.problems:
                problems.add(("fields", i, *path), message)
        except (TypeError, ValueError) as exc:
            problems.add(("fields", i), f"malformed field definition: {exc}")
    if problems.check and len(fields) == len(raw):
        try:
            check_schema(fields)
        except DataInvalid as invalid:
            problems.errors.extend(invalid.errors)
        for i, spec in enumerate(fields):
            if spec.unique:
                problems.add(("fields", i, "unique"), "process data fields cannot be unique")
            if spec.personal:
                problems.add(
                    ("fields", i, "personal"),
                    "process data cannot be personal; keep personal data on participants",
                )
    return tuple(fields)


def _stages(raw: object, problems: _Problems) -> list[Stage]:
    if not isinstance(raw, list) or not raw:
        problems.add(("stages",), "must be a list of at least one stage; the first is the start")
        return []
    if len(raw) > MAX_STAGES:
        problems.add(("stages",), f"at most {MAX_STAGES} stages")
    stages: list[Stage] = []
    for i, item in enumerate(raw):
        at: Path = ("stages", i)
        given = {"name": item} if isinstance(item, str) else item
        if not isinstance(given, Mapping):
            problems.add(at, 'a stage is a name or {"name": …, "sla": …, "approval": …}')
            continue
        for key in sorted(set(given) - _STAGE_KEYS):
            problems.add((*at, key), "unknown key (a stage has name, sla, approval)")
        name = given.get("name")
        if not isinstance(name, str) or not STAGE.match(name):
            problems.add(
                (*at, "name"), "1-63 letters, digits, space, '_' or '-', starting with one"
            )
            continue
        if name in (s.name for s in stages):
            problems.add((*at, "name"), f"stage {name!r} appears twice")
            continue
        stages.append(
            Stage(name, _sla(given.get("sla"), at, problems), _approval(given, at, problems))
        )
    return stages


def _sla(raw: object, at: Path, problems: _Problems) -> Sla | None:
    if raw is None:
        return None
    path = (*at, "sla")
    if not isinstance(raw, Mapping):
        problems.add(path, 'an SLA is {"within": "PT4H", "business_hours": true}')
        return None
    for key in sorted(set(raw) - _SLA_KEYS):
        problems.add((*path, key), "unknown key (an SLA has within, business_hours)")
    try:
        within = parse_duration(raw.get("within"), (*path, "within"))
    except InvalidInput as exc:
        problems.add(exc.path, exc.message)
        return None
    if within <= timedelta(0):
        problems.add((*path, "within"), "must be a positive duration")
    business = raw.get("business_hours", False)
    if not isinstance(business, bool):
        problems.add((*path, "business_hours"), "must be true or false")
    remind = raw.get("remind_at", [])
    fractions: list[float] = []
    if not isinstance(remind, list) or len(remind) > 10:
        problems.add((*path, "remind_at"), "a list of at most 10 fractions like 0.8")
        remind = []
    for i, value in enumerate(remind):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
            problems.add((*path, "remind_at", i), "a fraction of the SLA between 0 and 1, like 0.8")
        else:
            fractions.append(float(value))
    return Sla(within, bool(business), tuple(sorted(set(fractions))))


def _approval(stage: Mapping[str, Any], at: Path, problems: _Problems) -> Approval | None:
    raw = stage.get("approval")
    if raw is None:
        return None
    path = (*at, "approval")
    if not isinstance(raw, Mapping):
        problems.add(path, 'an approval is {"count": 2, "role": "reviewer", "rejected_to": …}')
        return None
    for key in sorted(set(raw) - _APPROVAL_KEYS):
        problems.add(
            (*path, key), f"unknown key (an approval has {', '.join(sorted(_APPROVAL_KEYS))})"
        )
    count = raw.get("count", 1)
    if type(count) is not int or not 1 <= count <= 100:
        problems.add((*path, "count"), "must be a whole number from 1 to 100")
        count = 1
    role, participant_role = raw.get("role"), raw.get("participant_role")
    if (role is None) == (participant_role is None):
        problems.add(path, "name exactly one of role (a tenant role) or participant_role")
    for key, value in (("role", role), ("participant_role", participant_role)):
        if value is not None and (not isinstance(value, str) or not _ROLE.match(value)):
            problems.add((*path, key), "must be a role name (lower-case letters, digits, - or _)")
    rejected_to = raw.get("rejected_to")
    if not isinstance(rejected_to, str):
        problems.add((*path, "rejected_to"), "name the stage a rejected case goes back to")
        rejected_to = None
    approved_to = raw.get("approved_to")
    if approved_to is not None and not isinstance(approved_to, str):
        problems.add((*path, "approved_to"), "must be a stage name")
    return Approval(count, role, participant_role, rejected_to or "", approved_to)


def _check_approvals(stages: list[Stage], names: list[str], problems: _Problems) -> None:
    for i, stage in enumerate(stages):
        if stage.approval is None:
            continue
        for key in ("rejected_to", "approved_to"):
            target = getattr(stage.approval, key) or None  # a missing one is reported already
            if target is not None and target not in names:
                problems.add(("stages", i, "approval", key), _unknown_stage(target, names))
            elif target == stage.name:
                problems.add(("stages", i, "approval", key), "must be another stage")


def _transitions(raw: object, names: list[str], problems: _Problems) -> list[Transition]:
    if not isinstance(raw, list):
        problems.add(("transitions",), "must be a list of transitions")
        return []
    if len(raw) > MAX_TRANSITIONS:
        problems.add(("transitions",), f"at most {MAX_TRANSITIONS} transitions")
    found: list[Transition] = []
    for i, item in enumerate(raw):
        at: Path = ("transitions", i)
        if not isinstance(item, Mapping):
            problems.add(at, 'a transition is {"name": …, "from": …, "to": …}')
            continue
        for key in sorted(set(item) - _TRANSITION_KEYS):
            problems.add(
                (*at, key), f"unknown key (a transition has {', '.join(sorted(_TRANSITION_KEYS))})"
            )
        name = item.get("name")
        if not isinstance(name, str) or not KEY.match(name):
            problems.add((*at, "name"), "1-63 lower-case letters, digits, '-' or '_'")
            continue
        if name in (t.name for t in found):
            problems.add((*at, "name"), f"transition {name!r} appears twice")
        given = item.get("from")
        sources = tuple(given if isinstance(given, list) else [given])
        for j, source in enumerate(sources):
            if source not in names:
                where = (*at, "from", j) if isinstance(given, list) else (*at, "from")
                problems.add(where, _unknown_stage(source, names))
        target = item.get("to")
        if target not in names:
            problems.add((*at, "to"), _unknown_stage(target, names))
        elif target in sources:
            problems.add((*at, "to"), "a transition leads to another stage than it leaves")
        roles = _names(item.get("roles", []), (*at, "roles"), _ROLE, problems)
        requires = _names(item.get("requires", []), (*at, "requires"), None, problems)
        found.append(
            Transition(
                name, tuple(map(str, sources)), str(target), item.get("guard"), roles, requires
            )
        )
    return found


def _names(
    raw: object, path: Path, shape: re.Pattern[str] | None, problems: _Problems
) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        problems.add(path, "must be a list of names")
        return ()
    for j, value in enumerate(raw):
        if shape is not None and not shape.match(value):
            problems.add((*path, j), "must be a role name (lower-case letters, digits, - or _)")
    return tuple(dict.fromkeys(raw))


def _check_guards(raw: object, workflow: Workflow, problems: _Problems) -> None:
    field_names = {spec.name for spec in workflow.fields}
    variables = workflow.variables()
    for i, item in enumerate(raw if isinstance(raw, list) else []):
        if not isinstance(item, Mapping):
            continue
        for j, name in enumerate(
            item.get("requires", []) if isinstance(item.get("requires"), list) else []
        ):
            if name not in field_names:
                known = ", ".join(sorted(field_names)) or "none"
                problems.add(
                    ("transitions", i, "requires", j),
                    f"not a field of this definition (fields: {known})",
                )
        if item.get("guard") is not None:
            try:
                check_rule(
                    item["guard"], variables, changes=False, path=("transitions", i, "guard")
                )
            except InvalidInput as exc:
                problems.add(exc.path, exc.message)


def _unknown_stage(name: object, names: list[str]) -> str:
    return f"unknown stage {name!r}; stages are {', '.join(names) or 'none'}"


def _stage_dict(stage: Stage) -> dict[str, Any] | str:
    if stage.sla is None and stage.approval is None:
        return stage.name
    out: dict[str, Any] = {"name": stage.name}
    if stage.sla is not None:
        out["sla"] = {"within": _iso(stage.sla.within), "business_hours": stage.sla.business_hours}
        if stage.sla.remind_at:
            out["sla"]["remind_at"] = list(stage.sla.remind_at)
    if stage.approval is not None:
        a = stage.approval
        out["approval"] = {
            k: v
            for k, v in {
                "count": a.count,
                "role": a.role,
                "participant_role": a.participant_role,
                "rejected_to": a.rejected_to,
                "approved_to": a.approved_to,
            }.items()
            if v is not None
        }
    return out


def _transition_dict(t: Transition) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": t.name,
        "from": t.sources[0] if len(t.sources) == 1 else list(t.sources),
        "to": t.target,
    }
    if t.guard is not None:
        out["guard"] = t.guard
    if t.roles:
        out["roles"] = list(t.roles)
    if t.requires:
        out["requires"] = list(t.requires)
    return out


def _iso(value: timedelta) -> str:
    return Duration(0, value).to_iso()
