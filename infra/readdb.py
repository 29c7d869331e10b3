"""Read-side database setup: extensions, the reader role, projection schemas, row-level security.

The API reads as `bsdflow_reader`, which owns nothing; every read table has RLS forced with a
policy on `bsdflow.tenant_id`, which the API sets with `SET LOCAL` in each transaction. With no
tenant set, the policy matches no row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog

from projections.apply import META_DDL, META_SCHEMA, create_schema
from projections.base import Projection
from projections.rebuild import Progress, RebuildResult, rebuild
from projections.registry import PROJECTIONS

log = structlog.get_logger("bsdflow.migrate")

READER_ROLE = "bsdflow_reader"
DERIVED_WRITES = "-c synchronous_commit=off"
"""Connection options of the relay and the workers: what they commit is derived from the event
store and written again after a server crash loses it, so it need not wait for the disk. The
relay then publishes some events again (consumers skip them by position); a worker's read
models and checkpoints roll back together and it applies the lost batches again. Commands, the
source of truth, always wait for the disk."""
TENANT_SETTING = "bsdflow.tenant_id"
_LOCK = 727_001  # advisory lock serialising concurrent migrations

SETUP = f"""
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE EXTENSION IF NOT EXISTS cube;
CREATE EXTENSION IF NOT EXISTS earthdistance;
CREATE EXTENSION IF NOT EXISTS fuzzystrmatch;
CREATE OR REPLACE FUNCTION public.bsdflow_unaccent(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$;
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{READER_ROLE}') THEN
        CREATE ROLE {READER_ROLE} NOLOGIN;
    END IF;
END $$;
"""  # noqa: S608 - a constant role name


def secure_tables(conn: psycopg.Connection[Any], projection: Projection, schema: str) -> None:
    conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {READER_ROLE}")
    for table in projection.tables:
        qualified = f"{schema}.{table}"
        conn.execute(f"ALTER TABLE {qualified} ENABLE ROW LEVEL SECURITY")
        conn.execute(f"ALTER TABLE {qualified} FORCE ROW LEVEL SECURITY")
        conn.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {qualified}")
        conn.execute(
            f"CREATE POLICY tenant_isolation ON {qualified} USING "
            f"(tenant_id = nullif(current_setting('{TENANT_SETTING}', true), '')::uuid)"
        )
        conn.execute(f"GRANT SELECT ON {qualified} TO {READER_ROLE}")


def prepare_schema(conn: psycopg.Connection[Any], projection: Projection, schema: str) -> None:
    create_schema(conn, projection, schema)
    secure_tables(conn, projection, schema)


VERSIONS_DDL = f"""
CREATE TABLE IF NOT EXISTS {META_SCHEMA}.projection_versions (
    projection text PRIMARY KEY,
    version int NOT NULL,
    ddl_sha256 text NOT NULL,
    migrated_at timestamptz NOT NULL DEFAULT now()
);
"""


@dataclass(frozen=True)
class Migrated:
    """What migrating did to one projection."""

    projection: str
    version: int
    rebuilt_from: int | None = None
    """The version whose tables were replaced by a rebuild, if there was one."""
    result: RebuildResult | None = None
    pending: int | None = None
    """A newer version that waits for `bsdflow migrate`."""


def migrate_read_side(
    database_url: str,
    projections: Mapping[str, Projection] = PROJECTIONS,
    progress: Callable[[str], Progress] | None = None,
    *,
    rebuild_changed: bool = True,
) -> list[Migrated]:
    """Idempotent: safe to run at every start, and by several processes at once.

    A projection whose declared version differs from the one its tables were built for is
    rebuilt from the event store in a shadow schema and swapped in (reads go on meanwhile).
    `progress(name)` gives each rebuild its progress callback. With `rebuild_changed` off
    (tools that only look), such a projection is left as it is, and reported as pending.
    """
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK,))
        try:
            conn.execute(SETUP)
            conn.execute(META_DDL)
            conn.execute(VERSIONS_DDL)
            conn.execute(f"GRANT {READER_ROLE} TO CURRENT_USER")
            return [_migrate(conn, p, progress, rebuild_changed) for p in projections.values()]
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK,))


def recorded_versions(conn: psycopg.Connection[Any]) -> dict[str, tuple[int, str]]:
    """Projection → (version, DDL hash) its live tables were built for."""
    if not _exists(conn, f"{META_SCHEMA}.projection_versions"):
        return {}
    rows = conn.execute(
        f"SELECT projection, version, ddl_sha256 FROM {META_SCHEMA}.projection_versions"  # noqa: S608
    ).fetchall()
    return {name: (version, sha) for name, version, sha in rows}


def _migrate(
    conn: psycopg.Connection[Any],
    projection: Projection,
    progress: Callable[[str], Progress] | None,
    rebuild_changed: bool,
) -> Migrated:
    recorded = recorded_versions(conn).get(projection.name)
    built = _exists(conn, f"{projection.schema}._checkpoint")
    migrated = Migrated(projection.name, projection.version)
    if recorded is None or not built or recorded[0] == projection.version:
        # New tables, tables from before versions were recorded, or the right version.
        prepare_schema(conn, projection, projection.schema)
        if recorded is not None and built and recorded[1] != projection.ddl_sha256:
            log.warning(
                "projection DDL changed but its version did not: raise `version` to rebuild",
                projection=projection.name,
                version=projection.version,
            )
    elif not rebuild_changed:
        return Migrated(projection.name, recorded[0], pending=projection.version)
    else:
        log.info(
            "rebuilding projection for its new version",
            projection=projection.name,
            version=projection.version,
            previous=recorded[0],
        )
        callback = progress(projection.name) if progress else (lambda done, total: None)
        result = rebuild(conn, projection, prepare_schema, progress=callback)
        migrated = Migrated(projection.name, projection.version, recorded[0], result)
    record_version(conn, projection)
    return migrated


def record_version(conn: psycopg.Connection[Any], projection: Projection) -> None:
    """The live tables of `projection` are now those of its declared version."""
    conn.execute(
        f"INSERT INTO {META_SCHEMA}.projection_versions (projection, version, ddl_sha256) "  # noqa: S608
        "VALUES (%s, %s, %s) ON CONFLICT (projection) DO UPDATE SET version = EXCLUDED.version, "
        "ddl_sha256 = EXCLUDED.ddl_sha256, migrated_at = now()",
        (projection.name, projection.version, projection.ddl_sha256),
    )


def _exists(conn: psycopg.Connection[Any], table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    return bool(row and row[0])
