CREATE TABLE IF NOT EXISTS {schema}.counts (
    tenant_id uuid NOT NULL,
    kind text NOT NULL,
    n bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, kind)
);
