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
    -- The definition a case follows and the version it pins (null: free stages).
    definition_key text,
    definition_version int,
    approvals text[] NOT NULL DEFAULT '{}',
    stage_entered_at timestamptz NOT NULL,
    -- The current stage's SLA: its deadline, whether it was breached, and when its next
    -- timer (a reminder, or the breach) falls due, by which the scheduler finds due ones.
    sla_due_at timestamptz,
    sla_breached boolean NOT NULL DEFAULT false,
    next_timer_at timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX IF NOT EXISTS processes_board
    ON {schema}.processes (tenant_id, definition_key, stage, sla_due_at)
    WHERE definition_key IS NOT NULL AND status = 'open';
CREATE INDEX IF NOT EXISTS processes_timers
    ON {schema}.processes (next_timer_at) WHERE next_timer_at IS NOT NULL;
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
    transition text,
    entered_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, process_id, position)
);

-- One row per definition: every published version's spec, oldest first.
CREATE TABLE IF NOT EXISTS {schema}.process_definitions (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    key text NOT NULL,
    name text NOT NULL,
    description text NOT NULL,
    versions jsonb NOT NULL,
    published_at jsonb NOT NULL,
    retired boolean NOT NULL DEFAULT false,
    version int NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    position bigint NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX IF NOT EXISTS process_definitions_by_key
    ON {schema}.process_definitions (tenant_id, key);

-- Each tenant's clock, as its settings say: a guard's dates are read in its timezone, an SLA's
-- time left is counted in its working hours.
CREATE TABLE IF NOT EXISTS {schema}.tenant_calendars (
    tenant_id uuid NOT NULL PRIMARY KEY,
    timezone text NOT NULL,
    working_hours jsonb NOT NULL,
    holidays jsonb NOT NULL,
    version int NOT NULL,
    position bigint NOT NULL
);
