CREATE TABLE IF NOT EXISTS {schema}.processes (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    kind text NOT NULL,
    title text NOT NULL,
    stages text[] NOT NULL,
    stage text NOT NULL,
    status text NOT NULL DEFAULT 'open',
    outcome text,
    due_at timestamptz,
    data jsonb NOT NULL DEFAULT '{}',
    participants jsonb NOT NULL DEFAULT '{}',
    entity_ids uuid[] NOT NULL DEFAULT '{}',
    version int NOT NULL,
    opened_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    closed_at timestamptz,
    position bigint NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX IF NOT EXISTS processes_by_opened ON {schema}.processes (tenant_id, opened_at, id);
CREATE INDEX IF NOT EXISTS processes_by_kind
    ON {schema}.processes (tenant_id, kind, opened_at, id);
CREATE INDEX IF NOT EXISTS processes_by_stage
    ON {schema}.processes (tenant_id, stage, opened_at, id);
CREATE INDEX IF NOT EXISTS processes_by_status
    ON {schema}.processes (tenant_id, status, opened_at, id);
CREATE INDEX IF NOT EXISTS processes_by_due
    ON {schema}.processes (tenant_id, due_at) WHERE due_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS processes_entities ON {schema}.processes USING gin (entity_ids);
CREATE INDEX IF NOT EXISTS processes_participants ON {schema}.processes USING gin (participants);

-- One row per stage a process entered, the first stage included (entered when it opened).
CREATE TABLE IF NOT EXISTS {schema}.stage_history (
    tenant_id uuid NOT NULL,
    process_id uuid NOT NULL,
    position bigint NOT NULL,
    stage text NOT NULL,
    previous text,
    entered_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, process_id, position)
);
