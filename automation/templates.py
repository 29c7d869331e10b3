"""Message templates: Jinja2 in a sandbox, checked against the trigger's record when saved.

Rendering is sandboxed (no attribute access to Python internals, no imports) and strict: a
placeholder that is missing from the context fails the run with a clear error rather than
sending a message with a hole in it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, TemplateError

from automation.bounded_jinja import MAX_OUTPUT, BoundedSandbox, OutputTooLarge, oversized
from domain.rules import VarType

ENV = BoundedSandbox(undefined=StrictUndefined, autoescape=False)

# Variables every message may use, whatever triggered it (`recipient`: the participant a run
# addresses, where its process action names recipients; `failed`: the dead run a fallback
# step follows, its id and error).
COMMON_ROOTS = frozenset(
    {"run", "action", "tenant", "trigger", "participants", "process", "recipient", "failed"}
)
SUBJECT_ROOTS = frozenset({"occurrence", "entity", "schedule"})


class TemplateFailed(Exception):
    """A template that cannot be rendered (or parsed); the message says where and why."""


@dataclass(frozen=True)
class Fault:
    path: tuple[str | int, ...]
    message: str


def _chain(node: nodes.Node) -> list[str] | None:
    """`occurrence.data.severity` / `occurrence["data"]["x"]` → ["occurrence", "data", "x"]."""
    parts: list[str] = []
    while True:
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            parts.append(str(node.arg.value))
            node = node.node
        elif isinstance(node, nodes.Name):
            parts.append(node.name)
            return parts[::-1]
        else:
            return None


def _references(tree: nodes.Template) -> list[list[str]]:
    """Every variable chain read by the template, outermost first, minus loop/set locals."""
    local = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    found: list[list[str]] = []
    seen: set[int] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name)):
        if id(node) in seen:
            continue
        chain = _chain(node)
        if chain is None or chain[0] in local:
            continue
        if isinstance(node, nodes.Name) and node.ctx != "load":
            continue
        for inner in node.find_all((nodes.Getattr, nodes.Getitem, nodes.Name)):
            seen.add(id(inner))
        found.append(chain)
    return found


def check_template(
    texts: Mapping[tuple[str | int, ...], str],
    subject: str | None,
    variables: Mapping[str, VarType] | None,
) -> list[Fault]:
    """Syntax and placeholders of each text (path → template source).

    `subject` is the trigger's record variable ("occurrence", "entity"…; None for any), and
    `variables` its rule variables ("data.severity"…; None when not yet bound to a trigger):
    `occurrence.data.sevrity` is refused when the kind has no such field.
    """
    faults: list[Fault] = []
    roots = COMMON_ROOTS | ({subject} if subject else SUBJECT_ROOTS)
    for path, text in texts.items():
        try:
            tree = ENV.parse(text)
        except TemplateSyntaxError as exc:
            faults.append(Fault(path, f"template syntax error on line {exc.lineno}: {exc.message}"))
            continue
        faults.extend(Fault(path, f"template too large: {why}") for why in oversized(tree))
        for chain in _references(tree):
            name = ".".join(chain)
            if chain[0] not in roots:
                faults.append(
                    Fault(path, f"unknown placeholder {name!r}; use {', '.join(sorted(roots))}")
                )
            elif variables is not None and chain[0] == subject and len(chain) > 1:
                fault = _check_field(chain[1:], variables)
                if fault:
                    faults.append(Fault(path, f"{name!r}: {fault}"))
    return faults


def _check_field(chain: Sequence[str], variables: Mapping[str, VarType]) -> str | None:
    if chain[0] in ("id",):
        return None
    for depth in range(len(chain), 0, -1):
        key = ".".join(chain[:depth])
        if key in variables:
            return (
                None
                if depth == len(chain) or variables[key] in ("any", "geo")
                else (f"{key!r} has no fields")
            )
    known = ", ".join(sorted(variables)) or "none"
    return f"not a field of this trigger's record; known: {known}"


@lru_cache(maxsize=1_024)
def _compiled(source: str) -> Template:
    """Compiling costs far more than rendering; an action's template is the same each send."""
    return ENV.from_string(source)


def render(source: str, context: Mapping[str, Any]) -> str:
    try:
        out = _compiled(source).render(context)
    except OutputTooLarge as exc:
        raise TemplateFailed(f"template error: {exc}") from None
    except (TemplateError, SecurityError) as exc:
        raise TemplateFailed(f"template error: {exc}") from None
    except Exception as exc:  # a filter fed the wrong type, a division by zero…
        raise TemplateFailed(f"template error: {type(exc).__name__}: {exc}") from None
    if len(out) > MAX_OUTPUT:
        raise TemplateFailed(f"rendered message exceeds {MAX_OUTPUT} characters")
    return out


@dataclass(frozen=True)
class Rendered:
    subject: str | None
    body: str
    recipients: list[str]


def render_message(
    template: Mapping[str, Any], recipients: Sequence[str], context: Mapping[str, Any]
) -> Rendered:
    subject = template.get("subject")
    rendered_to = [r.strip() for r in (render(t, context) for t in recipients) if r.strip()]
    return Rendered(
        subject=render(subject, context).strip() if subject else None,
        body=render(str(template["body"]), context),
        recipients=[addr for r in rendered_to for addr in r.split(",") if addr.strip()],
    )


def template_texts(
    template: Mapping[str, Any], config: Mapping[str, Any]
) -> dict[tuple[str | int, ...], str]:
    """Every templated text of an action, by the path a fault should name."""
    texts: dict[tuple[str | int, ...], str] = {}
    for key in ("subject", "body"):
        value = template.get(key)
        if isinstance(value, str):
            texts[("template", key)] = value
    for i, value in enumerate(recipients_of(config)):
        texts[("config", "to", i)] = value
    return texts


def recipients_of(config: Mapping[str, Any]) -> list[str]:
    to = config.get("to") or []
    return [to] if isinstance(to, str) else [str(t) for t in to]
