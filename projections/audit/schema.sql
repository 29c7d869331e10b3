CREATE TABLE IF NOT EXISTS {schema}.changes (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    position bigint NOT NULL,
    aggregate_id uuid NOT NULL,
    aggregate_type text NOT NULL,
    event text NOT NULL,
    version int NOT NULL,
    at timestamptz NOT NULL,
    actor text,
    command text,
    correlation_id text,
    fields jsonb NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX IF NOT EXISTS changes_newest ON {schema}.changes (tenant_id, position DESC);
CREATE INDEX IF NOT EXISTS changes_of_record ON {schema}.changes (tenant_id, aggregate_id, position);
CREATE INDEX IF NOT EXISTS changes_by_actor ON {schema}.changes (tenant_id, actor, position DESC);
CREATE INDEX IF NOT EXISTS changes_by_command ON {schema}.changes (tenant_id, command, position DESC);
CREATE INDEX IF NOT EXISTS changes_by_correlation ON {schema}.changes (tenant_id, correlation_id);
