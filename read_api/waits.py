"""Read-your-writes waits: one per request, before any read, a bounded number per tenant.

A request may ask to wait with the `X-Min-Position` header and with any number of `atLeast`
fields, nested or side by side. They are folded into one wait before execution starts: the
highest position, the longest of the timeouts asked for, never longer than the configured
maximum. So a waiting request holds no reader connection (its session takes one on the first
read, after the wait), nested waits do not add up, and the `atLeast` resolvers only answer.

Waits cost the server a pending request each, so a tenant may have only `max_waits_per_tenant`
of them in progress in one API process; one more is refused with RATE_LIMITED, never queued
(a queue would only move the pile-up).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeGuard
from uuid import UUID

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationType,
    SelectionSetNode,
)
from graphql.utilities import get_operation_ast, value_from_ast_untyped

from read_api.errors import PublicError, RateLimited
from read_api.slots import TenantSlots

AT_LEAST = "atLeast"
MAX_POSITION = 2**63 - 1
"""Positions are PostgreSQL bigints."""


REFUSED: ContextVar[RateLimited | None] = ContextVar("bsdflow_wait_refused", default=None)
"""The operation's refused wait, for its `atLeast` fields to report at their path. A context
variable, not the request context: a websocket's context is shared by all its operations."""


class BadPosition(PublicError):
    status = 400


@dataclass(frozen=True, slots=True)
class Wanted:
    position: int
    timeout_ms: int | None
    """None: the configured default."""


def header_position(raw: str) -> int:
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or int(text) > MAX_POSITION:
        raise BadPosition(f"X-Min-Position must be a whole number from 0 to {MAX_POSITION}")
    return int(text)


def wanted_in(
    query: str, document: DocumentNode | None, operation: str | None, variables: Mapping[str, Any]
) -> list[Wanted]:
    """The `atLeast` fields the operation will execute (fragments and nesting included).

    `atLeast` returns the query root and no other field does, so it can only stand in the
    operation's root selection, in another `atLeast`, or in fragments spread there. Arguments
    that are not whole numbers are left to execution, which refuses them."""
    if AT_LEAST not in query or document is None:  # the hot path: one substring search
        return []
    found = get_operation_ast(document, operation)
    if found is None or found.operation is not OperationType.QUERY:
        return []
    values = {
        d.variable.name.value: value_from_ast_untyped(d.default_value)
        for d in found.variable_definitions or ()
        if d.default_value is not None
    } | dict(variables)
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    wanted: list[Wanted] = []

    def visit(selections: SelectionSetNode | None, spread: frozenset[str]) -> None:
        for node in selections.selections if selections is not None else ():
            if not _included(node, values):
                continue
            if isinstance(node, FieldNode) and node.name.value == AT_LEAST:
                args = {
                    a.name.value: value_from_ast_untyped(a.value, values)
                    for a in node.arguments or ()
                }
                position, timeout = args.get("position"), args.get("timeoutMs")
                if _whole(position) and (timeout is None or _whole(timeout)):
                    wanted.append(Wanted(position, timeout))
                visit(node.selection_set, spread)
            elif isinstance(node, InlineFragmentNode):
                visit(node.selection_set, spread)
            elif isinstance(node, FragmentSpreadNode) and node.name.value not in spread:
                fragment = fragments.get(node.name.value)
                if fragment is not None:
                    visit(fragment.selection_set, spread | {node.name.value})

    visit(found.selection_set, frozenset())
    return wanted


def _whole(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _included(node: Any, values: dict[str, Any]) -> bool:
    for directive in node.directives or ():
        name = directive.name.value
        if name in ("skip", "include") and directive.arguments:
            flag = bool(value_from_ast_untyped(directive.arguments[0].value, values))
            if flag == (name == "skip"):
                return False
    return True


class Waits:
    """How many waits each tenant has in progress in this process."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._slots = TenantSlots()

    def slot(self, tenant_id: UUID) -> contextlib.AbstractContextManager[None]:
        return self._slots.slot(
            tenant_id,
            self.limit,
            f"this tenant already has {self.limit} read-your-writes waits in progress; "
            "retry shortly, or read without waiting",
        )

    def active(self, tenant_id: UUID) -> int:
        return self._slots.active(tenant_id)
