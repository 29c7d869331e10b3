"""Connecting the event-sourced application to PostgreSQL."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlparse

from commands.application import Bsdflow


def eventstore_env(database_url: str, pool_size: int = 8, overflow: int = 8) -> dict[str, str]:
    """Translate a `postgresql://` URL (TCP or `?host=/socket/dir`) to eventsourcing's env."""
    url = urlparse(database_url)
    if url.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"DATABASE_URL must be postgresql://..., got {url.scheme!r}")
    query = parse_qs(url.query)
    host = query.get("host", [url.hostname or "localhost"])[0]
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(url.path.lstrip("/")) or "postgres",
        "POSTGRES_HOST": host,
        "POSTGRES_PORT": str(url.port or query.get("port", ["5432"])[0]),
        "POSTGRES_USER": unquote(url.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(url.password or ""),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(overflow),
        "POSTGRES_CONN_MAX_AGE": "600",
        "POSTGRES_PRE_PING": "y",
        "POSTGRES_LOCK_TIMEOUT": "5",
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "10",
        "CREATE_TABLE": "y",
    }


def open_application(database_url: str, pool_size: int = 8, overflow: int = 8) -> Bsdflow:
    """The write-side application; creating it also creates the event tables if missing."""
    return Bsdflow(env=eventstore_env(database_url, pool_size, overflow))
