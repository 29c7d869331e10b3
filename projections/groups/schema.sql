CREATE TABLE IF NOT EXISTS {schema}.groups (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    name text NOT NULL,
    description text NOT NULL DEFAULT '',
    entity_ids uuid[] NOT NULL DEFAULT '{}',
    participant_ids uuid[] NOT NULL DEFAULT '{}',
    version int NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    position bigint NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX IF NOT EXISTS groups_by_created ON {schema}.groups (tenant_id, created_at, id);
CREATE INDEX IF NOT EXISTS groups_by_name
    ON {schema}.groups (tenant_id, lower(name) text_pattern_ops);

CREATE TABLE IF NOT EXISTS {schema}.members (
    tenant_id uuid NOT NULL,
    group_id uuid NOT NULL,
    member_id uuid NOT NULL,
    member_kind text NOT NULL CHECK (member_kind IN ('entity', 'participant')),
    PRIMARY KEY (tenant_id, group_id, member_id)
);
CREATE INDEX IF NOT EXISTS members_by_member ON {schema}.members (tenant_id, member_id);
