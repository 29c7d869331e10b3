CREATE TABLE IF NOT EXISTS {schema}.process_actions (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    definition jsonb NOT NULL,
    position bigint NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
