"""The read API's limits and switches (a plain dataclass: reading it imports nothing heavy)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReadApiConfig:
    freshness_timeout: float = 5.0
    """Default longest wait for read-your-writes, in seconds."""
    max_freshness_timeout: float = 30.0
    """The longest a request waits, however many waits it asks for."""
    max_waits_per_tenant: int = 32
    """Read-your-writes waits a tenant may have in progress in one process (more: refused)."""
    max_document_bytes: int = 65_536
    """Query documents above this size are refused before parsing (HTTP and websocket)."""
    statement_timeout_ms: int = 5_000
    max_depth: int = 10
    max_tokens: int = 2_000
    max_aliases: int = 15
    introspection: bool = True
    graphiql: bool = True
    report_statements: bool = False
    """Add `extensions.sql.statements` to responses (diagnostics: how tests see N+1)."""
    response_cache_entries: int = 2_048
    """Whole answers kept for repeated queries (0: off; off while statements are reported)."""
    response_cache_max_bytes: int = 262_144
    subscriber_queue: int = 256
    max_subscriptions_per_connection: int = 20
    fast_lists: bool = True
    """Connections of plain fields as JSON built by PostgreSQL (`read_api.fast_lists`)."""
