"""What a query costs, from its parsed document and variables, before anything runs.

Each field costs 1. A field with a page size argument (`first`, `limit`) multiplies what it
selects by that size: the argument given (a literal or a variable), else the field's default,
else the largest page; never more than the largest page, which is all it can return. The lists
directly inside a paged field's result (a connection's `edges`, a geo result's `hits`) are
that page, so they do not multiply again. Any other list of objects (a process's
participants, an entity's groups) multiplies by `unpaged_list`, an estimate of its length.
Fragments count where they are spread (each type condition in full: the cost is an upper
bound), and `@skip`/`@include` are ignored for the same reason. Introspection (`__schema`,
`__type`, `__typename`) costs 1 whatever it selects: tools ask for it once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLArgument,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    Undefined,
    get_named_type,
    get_nullable_type,
    is_list_type,
)
from graphql.utilities import get_operation_ast, value_from_ast_untyped

PAGE_ARGUMENTS = ("first", "limit")


@dataclass(frozen=True, slots=True)
class CostRules:
    max_page: int
    """The largest page any field returns (projections.paging.MAX_PAGE)."""
    unpaged_list: int
    """How many items a list without a page size argument is counted as."""


def query_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    rules: CostRules,
) -> int:
    """The cost of the operation `operation_name` of `document` (0 if there is none: the
    executor reports that itself)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    defaults = {
        d.variable.name.value: value_from_ast_untyped(d.default_value)
        for d in operation.variable_definitions or ()
        if d.default_value is not None
    }
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    walk = _Walk(schema, fragments, {**defaults, **(variables or {})}, rules)
    return walk.selections(root, operation.selection_set, paged=False, spread=frozenset())


@dataclass(frozen=True, slots=True)
class _Walk:
    schema: GraphQLSchema
    fragments: Mapping[str, FragmentDefinitionNode]
    variables: dict[str, Any]
    rules: CostRules

    def selections(
        self,
        parent: GraphQLNamedType | None,
        selection_set: SelectionSetNode,
        *,
        paged: bool,
        spread: frozenset[str],
    ) -> int:
        """`paged`: `parent` is the result of a paged field. `spread`: the fragments being
        expanded (a cycle is a validation error; it must not loop here meanwhile)."""
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field(parent, selection, paged=paged, spread=spread)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = parent if condition is None else self.schema.get_type(condition.name.value)
                total += self.selections(
                    target, selection.selection_set, paged=paged, spread=spread
                )
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in spread:
                    continue
                target = self.schema.get_type(fragment.type_condition.name.value)
                total += self.selections(
                    target, fragment.selection_set, paged=paged, spread=spread | {name}
                )
        return total

    def field(
        self,
        parent: GraphQLNamedType | None,
        node: FieldNode,
        *,
        paged: bool,
        spread: frozenset[str],
    ) -> int:
        if node.name.value.startswith("__") or node.selection_set is None:
            return 1
        definition = (
            parent.fields.get(node.name.value)
            if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType)
            else None
        )
        if definition is None:  # an unknown field: validation reports it
            return 1
        size = self.page_size(definition, node)
        if size is None:
            listed = is_list_type(get_nullable_type(definition.type))
            size = self.rules.unpaged_list if listed and not paged else 1
        child = get_named_type(definition.type)
        inner = self.selections(
            child, node.selection_set, paged=self.is_paged(definition), spread=spread
        )
        return 1 + size * inner

    @staticmethod
    def is_paged(definition: GraphQLField) -> bool:
        return any(name in definition.args for name in PAGE_ARGUMENTS)

    def page_size(self, definition: GraphQLField, node: FieldNode) -> int | None:
        for name in PAGE_ARGUMENTS:
            argument = definition.args.get(name)
            if argument is not None:
                return min(self.rules.max_page, max(0, self.argument(argument, name, node)))
        return None

    def argument(self, argument: GraphQLArgument, name: str, node: FieldNode) -> int:
        for given in node.arguments or ():
            if given.name.value == name:
                value = value_from_ast_untyped(given.value, self.variables)
                if isinstance(value, int) and not isinstance(value, bool):
                    return value
        default = argument.default_value
        if default is not Undefined and isinstance(default, int):
            return default
        return self.rules.max_page
