"""Connections answered as ready-made JSON when the client asks only for plain fields.

For `edges { cursor node { <columns> } } pageInfo { … }` (with aliases, fragments and
`__typename` anywhere) PostgreSQL renders each node as a JSON object keyed by the response
keys, and the connection around it is assembled here, so graphql-core never completes a row
field by field (`read_api.prebuilt`). Anything else (a field with a resolver, an argument, a
directive, a fragment on another type) plans nothing and the resolver takes the normal path.

The page query is the same (same transaction, so row-level security and the tenant are
unchanged), the cursors are the same, and errors (bad cursors, page sizes) are raised by the
same resolver at the same path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from weakref import WeakKeyDictionary

import orjson
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLObjectType,
    InlineFragmentNode,
    SelectionSetNode,
    get_named_type,
    is_leaf_type,
)
from strawberry.schema.schema_converter import GraphQLCoreConverter

from projections.paging import JSON_OBJECT_MAX_FIELDS, Constant, Page
from read_api.prebuilt import Prebuilt
from read_api.session import Reads
from read_api.types.common import Connection, Info, connection, page_info

TYPENAME = "__typename"
CURSORLESS = ("has_next_page", "has_previous_page")
"""`PageInfo` attributes known without cursors."""
Collected = dict[str, tuple[str, list[SelectionSetNode]]]
"""Response key → (field name, the selection sets asked of it), in response order."""


class _NotPlain(Exception):
    """The selection needs the normal executor."""


def collect(
    type_name: str,
    selection_sets: Iterable[SelectionSetNode],
    fragments: Mapping[str, FragmentDefinitionNode],
) -> Collected:
    """graphql-core's field collection for one object type, for the selections this module
    serves: fields merge by response key in first-seen order (validation made same-key
    fields the same field with the same arguments)."""
    found: Collected = {}

    def visit(selection_set: SelectionSetNode) -> None:
        for selection in selection_set.selections:
            if selection.directives or getattr(selection, "arguments", None):
                raise _NotPlain  # @skip/@include/@defer, arguments: the executor decides
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                _, subsets = found.setdefault(key, (selection.name.value, []))
                if selection.selection_set is not None:
                    subsets.append(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                if condition is not None and condition.name.value != type_name:
                    raise _NotPlain
                visit(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = fragments[selection.name.value]
                if fragment.type_condition.name.value != type_name:
                    raise _NotPlain
                visit(fragment.selection_set)
            else:
                raise _NotPlain

    for selection_set in selection_sets:
        visit(selection_set)
    return found


def _object_type(field: GraphQLField) -> GraphQLObjectType:
    named = get_named_type(field.type)
    if not isinstance(named, GraphQLObjectType):
        raise _NotPlain
    return named


def _python_name(field: GraphQLField) -> str | None:
    """The attribute behind a plain field (None: it has a resolver, or is not ours)."""
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if definition is None or getattr(definition, "base_resolver", True) is not None:
        return None
    name: str = definition.python_name
    return name


@dataclass(frozen=True)
class Shape:
    """A connection type's names, and which node fields are plain columns."""

    connection: str
    edge: str
    node: str
    page_info: str
    page_info_fields: dict[str, str]
    """pageInfo field → `PageInfo` attribute."""
    node_columns: dict[str, str]
    """Node field → row attribute (leaf fields without a resolver that the read model can
    render as JSON)."""


def plain_columns(node: GraphQLObjectType, columns: Collection[str]) -> dict[str, str]:
    """Node field → row attribute: the leaf fields without a resolver whose attribute the read
    model can render as JSON (`columns`)."""
    return {
        name: python
        for name, field in node.fields.items()
        if is_leaf_type(get_named_type(field.type))
        and (python := _python_name(field)) is not None
        and python in columns
    }


_SHAPES: WeakKeyDictionary[GraphQLObjectType, dict[frozenset[str], Shape]] = WeakKeyDictionary()


def shape_of(connection: GraphQLObjectType, columns: Collection[str]) -> Shape:
    by_columns = _SHAPES.setdefault(connection, {})
    key = frozenset(columns)
    shape = by_columns.get(key)
    if shape is None:
        edge = _object_type(connection.fields["edges"])
        node = _object_type(edge.fields["node"])
        info_type = _object_type(connection.fields["pageInfo"])
        node_columns = plain_columns(node, key)
        info_fields = {
            name: python
            for name, field in info_type.fields.items()
            if (python := _python_name(field)) is not None
        }
        shape = Shape(
            connection.name, edge.name, node.name, info_type.name, info_fields, node_columns
        )
        by_columns[key] = shape
    return shape


@dataclass(frozen=True)
class ConnectionPlan:
    """What to build for one connection field."""

    shape: Shape
    fields: Collected
    edges: dict[str, Collected]
    """Each `edges` response key → its edge fields."""
    node_fields: list[tuple[str, str | Constant]]
    """The node object: (response key, row attribute or a constant), in response order."""
    page_infos: dict[str, Collected]

    @property
    def needs_cursors(self) -> bool:
        """Cursors cost a key per row: made only when an edge's or the page's are asked."""
        edge_cursor = any(n == "cursor" for e in self.edges.values() for n, _ in e.values())
        page_cursor = any(
            self.shape.page_info_fields.get(n) not in CURSORLESS
            for p in self.page_infos.values()
            for n, _ in p.values()
            if n != TYPENAME
        )
        return edge_cursor or page_cursor

    def complete(self, page: Page[str]) -> Prebuilt:
        """The connection's response value, from a page of node JSON texts."""
        value: dict[str, Any] = {}
        for key, (name, _) in self.fields.items():
            if name == TYPENAME:
                value[key] = self.shape.connection
            elif name == "edges":
                value[key] = self._edges(self.edges[key], page)
            else:
                value[key] = self._page_info(self.page_infos[key], page)
        return Prebuilt(value)

    def _edges(self, fields: Collected, page: Page[str]) -> list[dict[str, Any]]:
        edges: list[dict[str, Any]] = [{} for _ in page.items]
        for key, (name, _) in fields.items():
            if name == "cursor":
                for edge, cursor in zip(edges, page.cursors, strict=True):
                    edge[key] = cursor
            elif name == "node":
                for edge, node in zip(edges, page.items, strict=True):
                    edge[key] = orjson.Fragment(node)
            else:
                for edge in edges:
                    edge[key] = self.shape.edge
        return edges

    def _page_info(self, fields: Collected, page: Page[str]) -> dict[str, Any]:
        info = page_info(page)
        return {
            key: self.shape.page_info
            if name == TYPENAME
            else getattr(info, self.shape.page_info_fields[name])
            for key, (name, _) in fields.items()
        }


NodeFields = list[tuple[str, str | Constant]]
R = TypeVar("R")
N = TypeVar("N")


async def connection_of(
    info: Info,
    columns: Collection[str],
    rendered: Callable[[Reads, NodeFields, bool], Awaitable[Page[str]]],
    rows: Callable[[Reads], Awaitable[Page[R]]],
    node: Callable[[R], N],
) -> Connection[N]:
    """A connection of a read model's rows: built by PostgreSQL when the selection is plain
    fields over `columns` (`rendered(reads, node fields, with cursors)` gives each node as
    JSON text), else executed from `rows`, each through `node`."""
    plan = plan_connection(info, columns)
    if plan is not None:
        fields, cursors = plan.node_fields, plan.needs_cursors
        nodes = await info.context.run(lambda reads: rendered(reads, fields, cursors))
        return cast("Connection[N]", plan.complete(nodes))
    return connection(await info.context.run(rows), node)


def plan_connection(info: Info, columns: Collection[str]) -> ConnectionPlan | None:
    """A plan when the connection's selection is plain fields over `columns` (the row
    attributes the read model can render as JSON), else None."""
    if not info.context.api.config.fast_lists:
        return None
    raw = info._raw_info  # graphql-core's info: the field's AST and the schema's types
    connection = get_named_type(raw.return_type)
    if not isinstance(connection, GraphQLObjectType):
        return None
    try:
        shape = shape_of(connection, columns)
        fragments = raw.fragments
        sets = [node.selection_set for node in raw.field_nodes if node.selection_set]
        fields = collect(shape.connection, sets, fragments)
        edges: dict[str, Collected] = {}
        page_infos: dict[str, Collected] = {}
        nodes: list[list[SelectionSetNode]] = []
        for key, (name, subsets) in fields.items():
            if name == "edges":
                edges[key] = collect(shape.edge, subsets, fragments)
                nodes += [s for n, s in edges[key].values() if n == "node"]
                if any(n not in (TYPENAME, "cursor", "node") for n, _ in edges[key].values()):
                    return None
            elif name == "pageInfo":
                page_infos[key] = collect(shape.page_info, subsets, fragments)
                if any(
                    n != TYPENAME and n not in shape.page_info_fields
                    for n, _ in page_infos[key].values()
                ):
                    return None
            elif name != TYPENAME:
                return None
        if len(nodes) > 1:
            return None  # two differently selected nodes per edge: rare, not worth a second object
        node_type = _object_type(_object_type(connection.fields["edges"]).fields["node"])
        node_fields = _node_fields(
            node_type, shape.node_columns, nodes[0] if nodes else [], fragments
        )
    except _NotPlain:
        return None
    if node_fields is None:
        return None
    return ConnectionPlan(shape, fields, edges, node_fields, page_infos)


def _node_fields(
    node: GraphQLObjectType,
    columns: dict[str, str],
    selections: list[SelectionSetNode],
    fragments: Mapping[str, FragmentDefinitionNode],
) -> list[tuple[str, str | Constant]] | None:
    """A node's JSON object fields, when every field selected of it is a plain column."""
    fields: list[tuple[str, str | Constant]] = []
    for key, (name, _) in collect(node.name, selections, fragments).items():
        if name == TYPENAME:
            fields.append((key, Constant(node.name)))
        elif name in columns:
            fields.append((key, columns[name]))
        else:
            return None
    return fields if len(fields) <= JSON_OBJECT_MAX_FIELDS else None


def plan_list(info: Info, columns: Collection[str]) -> list[tuple[str, str | Constant]] | None:
    """For a field returning a list of objects: each object's JSON fields when the selection
    is plain fields over `columns`, else None. The resolver then returns
    `Prebuilt([orjson.Fragment(text), …])` of the rows rendered so."""
    if not info.context.api.config.fast_lists:
        return None
    raw = info._raw_info
    node = get_named_type(raw.return_type)
    if not isinstance(node, GraphQLObjectType):
        return None
    sets = [n.selection_set for n in raw.field_nodes if n.selection_set]
    try:
        return _node_fields(node, plain_columns(node, columns), sets, raw.fragments)
    except _NotPlain:
        return None
