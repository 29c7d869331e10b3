"""Connecting the event-sourced application to PostgreSQL."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlparse

from eventsourcing.utils import get_topic

from commands.application import Bsdflow
from infra.group_commit import GroupCommitRecorder


def eventstore_env(
    database_url: str, pool_size: int = 8, overflow: int = 8, *, group_commit: bool = True
) -> dict[str, str]:
    """Translate a `postgresql://` URL (TCP or `?host=/socket/dir`) to eventsourcing's env."""
    url = urlparse(database_url)
    if url.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"DATABASE_URL must be postgresql://..., got {url.scheme!r}")
    query = parse_qs(url.query)
    host = query.get("host", [url.hostname or "localhost"])[0]
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(url.path.lstrip("/")) or "postgres",
        "POSTGRES_HOST": host,
        "POSTGRES_PORT": str(url.port or query.get("port", ["5432"])[0]),
        "POSTGRES_USER": unquote(url.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(url.password or ""),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(overflow),
        "POSTGRES_CONN_MAX_AGE": "600",
        # No ping before each use: it costs a round trip per command, and the recorder already
        # retries an operation whose connection turns out to be dead.
        "POSTGRES_PRE_PING": "n",
        "POSTGRES_LOCK_TIMEOUT": "5",
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "10",
        "CREATE_TABLE": "y",
    }
    if group_commit:
        env["APPLICATION_RECORDER_TOPIC"] = get_topic(GroupCommitRecorder)
    return env


def open_application(
    database_url: str, pool_size: int = 8, overflow: int = 8, *, group_commit: bool = True
) -> Bsdflow:
    """The write-side application; creating it also creates the event tables if missing."""
    return Bsdflow(env=eventstore_env(database_url, pool_size, overflow, group_commit=group_commit))
