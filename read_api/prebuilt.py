"""Field values that a resolver hands back already in their response form.

graphql-core completes a list of objects field by field: for a page of a hundred entities that
is well over a thousand Python calls, most of the request's CPU. When a resolver can produce
exactly what completion would have produced (see `read_api.fast_lists`), it returns
`Prebuilt(value)` and the executor puts `value` into the response as is. `value` is a tree of
dicts, lists and scalars in which `orjson.Fragment`s carry JSON text made elsewhere (by
PostgreSQL), so only orjson can encode such a response: `ReadRouter` does, for HTTP and for
websocket frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import GraphQLOutputType, GraphQLResolveInfo
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import AwaitableOrValue, Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


@dataclass(frozen=True, slots=True)
class Prebuilt:
    """A completed field value: the executor does not walk it."""

    value: Any


class PrebuiltExecutor(StrawberryGraphQLCoreExecutionContext):
    def complete_value(
        self,
        return_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> AwaitableOrValue[Any]:
        if type(result) is Prebuilt:
            return result.value
        return super().complete_value(
            return_type, field_details_list, info, path, result, position_context
        )
