"""The schema extensions: who may ask, how big a question may be, how fresh the answer is.

- `Gate`: no valid token → UNAUTHENTICATED before parsing (HTTP 401; 403 for a token whose
  roles may not read); a document over `max_document_bytes` → BAD_REQUEST (413) before
  parsing (websocket operations are measured earlier, in `read_api.broadcast`); a
  subscription over HTTP → BAD_REQUEST pointing at the websocket. It gives validation errors
  their code (`read_api.errors`) and ends the request's transaction.
- limits: tokens (parser), depth and aliases (validation, fragments included) — the rule
  classes are built once so the validation cache can hit;
- text no record can hold (NUL, a lone surrogate), in a string literal or a variable →
  BAD_USER_INPUT at its place, before anything is read: PostgreSQL would refuse it mid-query;
- `Cost`: what the operation costs (fields x page sizes, `read_api.cost`) against the tenant's
  limit for one query and its minute's budget (`read_api.quotas`), before execution;
- `Freshness`: the request's read-your-writes waits (`X-Min-Position`, `atLeast` fields) as
  one wait before execution (`read_api.waits`); the result says how it went under
  `extensions.freshness`, and with `report_statements` the SQL statement count under
  `extensions.sql`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, NoReturn

from graphql import GraphQLError, StringValueNode, ValidationRule
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.types.graphql import OperationType

from domain.storable import unstorable, why_unstorable
from read_api.config import ReadApiConfig
from read_api.context import Context
from read_api.cost import query_cost
from read_api.errors import (
    BAD_USER_INPUT,
    VALIDATION_FAILED,
    BadRequest,
    DocumentTooLarge,
    PublicError,
    RateLimited,
    Unauthenticated,
    as_graphql_error,
    tag,
)
from read_api.freshness import Freshness as Fresh
from read_api.waits import REFUSED, Wanted, header_position, wanted_in

MIN_POSITION_HEADER = "x-min-position"
CACHE_SIZE = 512
OVER_HTTP = (
    "subscriptions run over WebSocket: connect to /graphql with the graphql-transport-ws "
    "subprotocol (queries and mutations work over HTTP)"
)


def _context(extension: SchemaExtension) -> Context:
    ctx = extension.execution_context.context
    assert isinstance(ctx, Context)
    return ctx


def refuse(ctx: Context, error: PublicError) -> NoReturn:
    """Fail the whole request: its HTTP status (on HTTP) and a coded error."""
    if error.status is not None and not ctx.transient and ctx.response is not None:
        ctx.response.status_code = error.status
        if isinstance(error, RateLimited) and error.retry_after is not None:
            ctx.response.headers["Retry-After"] = str(error.retry_after)
    raise as_graphql_error(error)


def check_size(query: str | None, limit: int) -> None:
    """Parsing costs time in proportion to the text, comments included (which the parser's
    token limit does not count): measure before parsing. UTF-8 takes at most 4 bytes a
    character, so short documents are not encoded at all."""
    if query is not None and len(query) * 4 > limit:
        size = len(query.encode())
        if size > limit:
            raise DocumentTooLarge(f"the query document is {size} bytes; the limit is {limit}")


class Gate(SchemaExtension):
    async def on_operation(self) -> AsyncIterator[None]:
        ctx = _context(self)
        if ctx.viewer is None:
            refuse(ctx, ctx.refusal or Unauthenticated("not authenticated"))
        try:
            check_size(self.execution_context.query, ctx.api.config.max_document_bytes)
        except DocumentTooLarge as exc:
            refuse(ctx, exc)
        try:
            yield
        finally:
            await ctx.close()

    def on_validate(self) -> Iterator[None]:
        yield
        # graphql-core's validation errors carry no original error, as its coercion errors
        # of variables do: only the phase tells them apart (syntax errors have their type)
        tag(self.execution_context.pre_execution_errors or (), VALIDATION_FAILED)

    def on_execute(self) -> Iterator[None]:
        ctx = _context(self)
        faults = unstorable(self.execution_context.variables or {}, ("variables",))
        if faults:
            fault = faults[0]
            where = ".".join(str(part) for part in fault.path)
            refuse(ctx, PublicError(f"{where} {fault.message}"))
        if (
            not ctx.transient
            and self.execution_context.operation_type is OperationType.SUBSCRIPTION
        ):
            refuse(ctx, BadRequest(OVER_HTTP))
        yield


class Cost(SchemaExtension):
    """Before execution (and before any read-your-writes wait): the operation's cost against
    the tenant's quotas (`read_api.cost`, `read_api.quotas`). A refused one runs nothing."""

    async def on_execute(self) -> AsyncIterator[None]:
        ctx = _context(self)
        execution = self.execution_context
        document = execution.graphql_document
        if document is not None:
            cost = query_cost(
                execution.schema._schema,
                document,
                execution.operation_name,
                execution.variables,
                ctx.api.cost_rules,
            )
            try:
                await ctx.api.quotas.charge(
                    ctx.require_viewer().tenant_id,
                    cost,
                    per_minute_too=execution.operation_type is not OperationType.SUBSCRIPTION,
                )
            except PublicError as exc:
                refuse(ctx, exc)
        yield


class Freshness(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        ctx = _context(self)
        ctx.freshness = None  # a websocket's context outlives each of its operations
        REFUSED.set(None)
        execution = self.execution_context
        wanted = wanted_in(
            execution.query or "",
            execution.graphql_document,
            execution.operation_name,
            execution.variables or {},
        )
        request = ctx.request
        raw = request.headers.get(MIN_POSITION_HEADER) if request is not None else None
        if raw is not None:
            try:
                wanted.append(Wanted(header_position(raw), None))
            except PublicError as exc:
                refuse(ctx, exc)
        if wanted:
            try:
                await wait_once(ctx, wanted)
            except RateLimited as refused:
                if raw is not None:
                    refuse(ctx, refused)
                REFUSED.set(refused)  # the atLeast fields report it where they stand
        yield

    def get_results(self) -> dict[str, Any]:
        ctx = _context(self)
        results: dict[str, Any] = {}
        if ctx.freshness is not None:
            results["freshness"] = ctx.freshness.as_extension()
        if ctx.api.config.report_statements:
            results["sql"] = {"statements": ctx.stats.statements}
        return results


async def wait_once(ctx: Context, wanted: list[Wanted]) -> None:
    """One wait for all the request asked: the highest position, the longest timeout asked
    for, at most the configured maximum. Before execution, so no connection is held."""
    config, watermark = ctx.api.config, ctx.api.watermark
    position = max(w.position for w in wanted)
    timeout = max(config.timeout if w.timeout_ms is None else w.timeout_ms / 1000 for w in wanted)
    timeout = max(0.0, min(timeout, config.max_timeout))
    reached = watermark.floor()
    if reached >= position:  # already there: no wait, no slot
        ctx.freshness = Fresh(position, False, reached)
        return
    with ctx.api.waits.slot(ctx.require_viewer().tenant_id):
        ctx.freshness = await watermark.wait_for(position, timeout)


class StorableStrings(ValidationRule):
    """String literals hold only text a record can hold (what no record holds matches none)."""

    def enter_string_value(self, node: StringValueNode, *_: object) -> None:
        why = why_unstorable(node.value)
        if why:
            code = {"code": BAD_USER_INPUT}
            self.report_error(GraphQLError(f"the string {why}", node, extensions=code))


def extensions(config: ReadApiConfig) -> list[Callable[[], SchemaExtension]]:
    depth = QueryDepthLimiter(max_depth=config.max_depth).validation_rules
    aliases = MaxAliasesLimiter(max_alias_count=config.max_aliases).validation_rules
    rules = [*depth, *aliases, StorableStrings]
    found: list[Callable[[], SchemaExtension]] = [
        Gate,
        lambda: MaxTokensLimiter(max_token_count=config.max_tokens),
        lambda: AddValidationRules(rules),
    ]
    if not config.introspection:
        found.append(DisableIntrospection)
    found += [
        lambda: ParserCache(maxsize=CACHE_SIZE),
        lambda: ValidationCache(maxsize=CACHE_SIZE),
        Cost,
        Freshness,
    ]
    return found
