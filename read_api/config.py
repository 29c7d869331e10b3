"""The read API's limits and switches. `infra.settings.GraphQLSettings` is this model read from
the `BSDFLOW_GRAPHQL_*` environment, so each setting is declared once, here."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ReadApiConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    timeout: float = 5.0
    """Default longest wait for read-your-writes, in seconds."""
    max_timeout: float = 30.0
    """The longest a request waits, however many waits it asks for."""
    max_waits_per_tenant: int = 32
    """Read-your-writes waits a tenant may have in progress in one process (more: refused)."""
    max_document_bytes: int = 65_536
    """Query documents above this size are refused before parsing (HTTP and websocket)."""
    statement_timeout_ms: int = 5_000
    max_depth: int = 10
    max_tokens: int = 2_000
    max_aliases: int = 15
    unpaged_list_cost: int = 10
    """A list field without a page size argument counts as this many items in a query's cost."""
    introspection: bool | None = None
    """None: on in development, off in production (`for_env`)."""
    graphiql: bool | None = None
    """None: on in development, off in production (`for_env`)."""
    report_statements: bool = False
    """Add `extensions.sql.statements` to responses (diagnostics: how tests see N+1)."""
    response_cache_entries: int = 2_048
    """Whole answers kept for repeated queries (0: off; off while statements are reported)."""
    response_cache_max_bytes: int = 262_144
    subscriber_queue: int = 256
    max_subscriptions_per_connection: int = 20
    connection_init_timeout: float = 10.0
    """Seconds a websocket may take to send `connection_init` before it is closed with 4408."""
    fast_lists: bool = True
    """Connections of plain fields as JSON built by PostgreSQL (`read_api.fast_lists`)."""
    cache_ttl: int = 300
    """Seconds an entry of the shared hot cache lives (changes drop entries sooner)."""
    pool_min: int = 2
    pool_max: int = 16
    """Reader connections of one API process."""

    def for_env(self, *, dev: bool) -> ReadApiConfig:
        """The switches left unset decided by the environment (development or production)."""
        return self.model_copy(
            update={
                "introspection": dev if self.introspection is None else self.introspection,
                "graphiql": dev if self.graphiql is None else self.graphiql,
            }
        )

    @property
    def kept_responses(self) -> int:
        """Entries of the response cache: none while statements are reported (a kept answer
        would report the statements of the request that built it)."""
        return 0 if self.report_statements else self.response_cache_entries
