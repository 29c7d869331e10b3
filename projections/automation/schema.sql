-- The automation read model: what a tenant can trigger (occurrence kinds), what it can send
-- (the action catalog, never its credentials), what is attached (process actions) and what
-- happened (runs and their attempts). The scheduler polls action_runs across tenants as the
-- table owner, hence the partial indexes without tenant_id.

CREATE TABLE IF NOT EXISTS {schema}.occurrence_kinds (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    name text NOT NULL,
    description text NOT NULL DEFAULT '',
    fields jsonb NOT NULL,
    version int NOT NULL,
    position bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX IF NOT EXISTS occurrence_kinds_by_name
    ON {schema}.occurrence_kinds (tenant_id, lower(name));

CREATE TABLE IF NOT EXISTS {schema}.actions (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    name text NOT NULL,
    channel text NOT NULL,
    template jsonb NOT NULL,
    config jsonb NOT NULL DEFAULT '{}',
    has_credentials boolean NOT NULL DEFAULT false,
    retry jsonb NOT NULL,
    retired boolean NOT NULL DEFAULT false,
    version int NOT NULL,
    position bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX IF NOT EXISTS actions_by_name ON {schema}.actions (tenant_id, lower(name), id);

CREATE TABLE IF NOT EXISTS {schema}.process_actions (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    name text NOT NULL,
    action_id uuid NOT NULL,
    trigger jsonb NOT NULL,
    trigger_on text NOT NULL,
    condition jsonb,
    schedule jsonb NOT NULL,
    catch_up jsonb NOT NULL,
    paused boolean NOT NULL DEFAULT false,
    recipients jsonb NOT NULL DEFAULT '[]',
    steps jsonb NOT NULL DEFAULT '[]',
    version int NOT NULL,
    position bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX IF NOT EXISTS process_actions_by_name
    ON {schema}.process_actions (tenant_id, lower(name), id);
CREATE INDEX IF NOT EXISTS process_actions_by_action
    ON {schema}.process_actions (tenant_id, action_id);
CREATE INDEX IF NOT EXISTS process_actions_by_trigger
    ON {schema}.process_actions (tenant_id, trigger_on);

CREATE TABLE IF NOT EXISTS {schema}.action_runs (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    process_action_id uuid NOT NULL,
    action_id uuid NOT NULL,
    trigger_key text NOT NULL,
    status text NOT NULL,
    planned_at timestamptz NOT NULL,
    due_at timestamptz NOT NULL,
    attempts int NOT NULL DEFAULT 0,
    last_error text,
    provider_message_id text,
    context jsonb NOT NULL DEFAULT '{}',
    version int NOT NULL,
    position bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    finished_at timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX IF NOT EXISTS action_runs_by_planned
    ON {schema}.action_runs (tenant_id, planned_at, id);
-- A process's runs (its timeline): those whose triggering record was, or belonged to, it.
CREATE INDEX IF NOT EXISTS action_runs_by_process
    ON {schema}.action_runs (tenant_id, ((context -> 'process' ->> 'id')), planned_at)
    WHERE context -> 'process' ->> 'id' IS NOT NULL;
CREATE INDEX IF NOT EXISTS action_runs_by_process_action
    ON {schema}.action_runs (tenant_id, process_action_id, planned_at, id);
CREATE INDEX IF NOT EXISTS action_runs_by_action
    ON {schema}.action_runs (tenant_id, action_id, planned_at, id);
CREATE INDEX IF NOT EXISTS action_runs_by_status
    ON {schema}.action_runs (tenant_id, status, planned_at, id);
-- The scheduler's polls, across tenants: runs that are due, and sends that never finished.
CREATE INDEX IF NOT EXISTS action_runs_due
    ON {schema}.action_runs (due_at) WHERE status IN ('planned', 'retrying');
CREATE INDEX IF NOT EXISTS action_runs_sending
    ON {schema}.action_runs (status, updated_at) WHERE status = 'sending';

-- One row per attempt (a `Started` event), completed by its `Delivered` or `Failed` event.
CREATE TABLE IF NOT EXISTS {schema}.action_run_attempts (
    tenant_id uuid NOT NULL,
    run_id uuid NOT NULL,
    attempt int NOT NULL,
    started_at timestamptz NOT NULL,
    finished_at timestamptz,
    outcome text NOT NULL,
    error text,
    detail text,
    provider_message_id text,
    next_attempt_at timestamptz,
    PRIMARY KEY (tenant_id, run_id, attempt)
);
