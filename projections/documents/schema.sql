CREATE TABLE IF NOT EXISTS {schema}.documents (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    target_kind text NOT NULL,
    target_id uuid NOT NULL,
    title text NOT NULL,
    filename text NOT NULL,
    content_type text NOT NULL,
    size bigint NOT NULL,
    sha256 text NOT NULL,
    removed boolean NOT NULL DEFAULT false,
    version int NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    position bigint NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX IF NOT EXISTS documents_by_created ON {schema}.documents (tenant_id, created_at, id);
CREATE INDEX IF NOT EXISTS documents_by_target
    ON {schema}.documents (tenant_id, target_id, created_at, id);
