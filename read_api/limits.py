"""The schema extensions: who may ask, how big a question may be, how fresh the answer is.

- `Gate`: no valid token → an UNAUTHENTICATED error before parsing (HTTP 401; 403 for a
  token whose roles may not read); it also ends the request's transaction afterwards.
- limits: tokens (parser), depth and aliases (validation, fragments included) — the rule
  classes are built once so the validation cache can hit;
- `Freshness`: the `X-Min-Position` header makes execution wait until every projection has
  applied that position (woken by the workers' position messages); the result says how it went
  under `extensions.freshness`, and with `report_statements` the SQL statement count under
  `extensions.sql`;
- `MaskErrors`: internal failures become "Unexpected error."; validation and input errors keep
  their message and path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)

from read_api.context import Context, ReadApiConfig
from read_api.errors import Forbidden, PublicError, as_graphql_error, should_mask

MIN_POSITION_HEADER = "x-min-position"
CACHE_SIZE = 512


def _context(extension: SchemaExtension) -> Context:
    ctx = extension.execution_context.context
    assert isinstance(ctx, Context)
    return ctx


class Gate(SchemaExtension):
    async def on_operation(self) -> AsyncIterator[None]:
        ctx = _context(self)
        if ctx.viewer is None:
            refusal = ctx.refusal
            if ctx.response is not None:
                ctx.response.status_code = 403 if isinstance(refusal, Forbidden) else 401
            raise as_graphql_error(refusal or PublicError("not authenticated"))
        try:
            yield
        finally:
            await ctx.close()


class Freshness(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        ctx = _context(self)
        request = ctx.request
        raw = request.headers.get(MIN_POSITION_HEADER) if request is not None else None
        if raw is not None:
            if not raw.strip().isdigit():
                raise as_graphql_error(PublicError("X-Min-Position must be a whole number"))
            await at_least(ctx, int(raw), None)
        yield

    def get_results(self) -> dict[str, Any]:
        ctx = _context(self)
        results: dict[str, Any] = {}
        if ctx.freshness is not None:
            results["freshness"] = ctx.freshness.as_extension()
        if ctx.api.config.report_statements:
            results["sql"] = {"statements": ctx.stats.statements}
        return results


async def at_least(ctx: Context, position: int, timeout_ms: int | None) -> None:
    """Wait until every projection has applied `position` (or the timeout passes)."""
    config = ctx.api.config
    timeout = config.freshness_timeout if timeout_ms is None else timeout_ms / 1000
    timeout = max(0.0, min(timeout, config.max_freshness_timeout))
    ctx.freshness = await ctx.api.watermark.wait_for(position, timeout)


def extensions(config: ReadApiConfig) -> list[Callable[[], SchemaExtension]]:
    depth = QueryDepthLimiter(max_depth=config.max_depth).validation_rules
    aliases = MaxAliasesLimiter(max_alias_count=config.max_aliases).validation_rules
    rules = [*depth, *aliases]
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
        Freshness,
        lambda: MaskErrors(should_mask_error=should_mask),
    ]
    return found
