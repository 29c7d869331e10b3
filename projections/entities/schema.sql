CREATE TABLE IF NOT EXISTS {schema}.entity_types (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    name text NOT NULL,
    description text NOT NULL DEFAULT '',
    fields jsonb NOT NULL,
    search_importance text,
    location_field text,             -- a geo_point field that is the entity's location
    title_field text,
    schema_version int NOT NULL,
    retired boolean NOT NULL DEFAULT false,
    version int NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    position bigint NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
ALTER TABLE {schema}.entity_types ADD COLUMN IF NOT EXISTS location_field text;
CREATE UNIQUE INDEX IF NOT EXISTS entity_types_name ON {schema}.entity_types (tenant_id, lower(name));

CREATE TABLE IF NOT EXISTS {schema}.entities (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    entity_type_id uuid NOT NULL,
    version int NOT NULL,
    schema_version int NOT NULL,
    title text,
    importance double precision,
    data jsonb NOT NULL,
    lat double precision,            -- where geo queries find it: see `located`
    lon double precision,
    given_lat double precision,      -- the top-level location the commands gave
    given_lon double precision,
    archived boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    position bigint NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
ALTER TABLE {schema}.entities ADD COLUMN IF NOT EXISTS given_lat double precision,
    ADD COLUMN IF NOT EXISTS given_lon double precision;
CREATE INDEX IF NOT EXISTS entities_by_type ON {schema}.entities (tenant_id, entity_type_id, created_at, id);
CREATE INDEX IF NOT EXISTS entities_by_created ON {schema}.entities (tenant_id, created_at, id);
CREATE INDEX IF NOT EXISTS entities_data ON {schema}.entities USING gin (data jsonb_path_ops);
CREATE INDEX IF NOT EXISTS entities_geo ON {schema}.entities USING gist (ll_to_earth(lat, lon))
    WHERE lat IS NOT NULL;
