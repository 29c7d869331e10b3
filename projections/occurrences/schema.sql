CREATE TABLE IF NOT EXISTS {schema}.occurrences (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    kind text NOT NULL,
    occurred_at timestamptz NOT NULL,
    data jsonb NOT NULL DEFAULT '{}',
    lat double precision,
    lon double precision,
    process_id uuid,
    entity_ids uuid[] NOT NULL DEFAULT '{}',
    participant_ids uuid[] NOT NULL DEFAULT '{}',
    retracted text,
    version int NOT NULL,
    recorded_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    position bigint NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX IF NOT EXISTS occurrences_by_time
    ON {schema}.occurrences (tenant_id, occurred_at, id);
CREATE INDEX IF NOT EXISTS occurrences_by_kind
    ON {schema}.occurrences (tenant_id, kind, occurred_at, id);
CREATE INDEX IF NOT EXISTS occurrences_by_process
    ON {schema}.occurrences (tenant_id, process_id, occurred_at, id) WHERE process_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS occurrences_entities ON {schema}.occurrences USING gin (entity_ids);
CREATE INDEX IF NOT EXISTS occurrences_participants
    ON {schema}.occurrences USING gin (participant_ids);
CREATE INDEX IF NOT EXISTS occurrences_geo ON {schema}.occurrences USING gist (ll_to_earth(lat, lon))
    WHERE lat IS NOT NULL;
