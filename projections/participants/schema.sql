CREATE TABLE IF NOT EXISTS {schema}.participants (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    kind text NOT NULL,
    name text,
    email text,
    phone text,
    external_ref text,
    erased boolean NOT NULL DEFAULT false,
    version int NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    position bigint NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX IF NOT EXISTS participants_by_created
    ON {schema}.participants (tenant_id, created_at, id);
CREATE INDEX IF NOT EXISTS participants_by_kind
    ON {schema}.participants (tenant_id, kind, created_at, id);
