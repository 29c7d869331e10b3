CREATE TABLE IF NOT EXISTS {schema}.roles (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    name text NOT NULL,
    description text NOT NULL DEFAULT '',
    grants jsonb NOT NULL,
    removed boolean NOT NULL DEFAULT false,
    version int NOT NULL,
    updated_at timestamptz NOT NULL,
    position bigint NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE IF NOT EXISTS {schema}.members (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    actor text NOT NULL,
    roles jsonb NOT NULL,
    participant_id uuid,
    version int NOT NULL,
    updated_at timestamptz NOT NULL,
    position bigint NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- Never the key's secret or its hash: nothing read from here can be used to sign in.
CREATE INDEX IF NOT EXISTS members_by_role ON {schema}.members USING gin (roles);

CREATE TABLE IF NOT EXISTS {schema}.api_keys (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    name text NOT NULL,
    roles jsonb NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz,
    revoked_at timestamptz,
    version int NOT NULL,
    position bigint NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
