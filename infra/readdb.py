"""Read-side database setup: extensions, the reader role, projection schemas, row-level security.

The API reads as `bsdflow_reader`, which owns nothing; every read table has RLS forced with a
policy on `bsdflow.tenant_id`, which the API sets with `SET LOCAL` in each transaction. With no
tenant set, the policy matches no row.
"""

from __future__ import annotations

from typing import Any

import psycopg

from projections.base import Projection
from projections.registry import PROJECTIONS
from projections.runtime import META_DDL, create_schema

READER_ROLE = "bsdflow_reader"
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


def migrate_read_side(database_url: str) -> None:
    """Idempotent: safe to run at every start, and by several processes at once."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK,))
        try:
            conn.execute(SETUP)
            conn.execute(META_DDL)
            conn.execute(f"GRANT {READER_ROLE} TO CURRENT_USER")
            for projection in PROJECTIONS.values():
                prepare_schema(conn, projection, projection.schema)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK,))
