-- One searchable row per live entity, process, occurrence, participant and document.
-- Function bodies never name {schema}: a rebuild fills `rm_search__next` and renames it.

-- The search projection's own copy of what it needs from entity types.
CREATE TABLE IF NOT EXISTS {schema}.entity_types (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    weights jsonb NOT NULL,          -- field name → 'A' | 'B' | 'C'
    title_field text,
    importance_field text,
    version int NOT NULL,
    position bigint NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE IF NOT EXISTS {schema}.items (
    tenant_id uuid NOT NULL,
    kind text NOT NULL,              -- entity | process | occurrence | participant | document
    id uuid NOT NULL,
    type_id uuid,                    -- the entity type, for entities
    title text NOT NULL,
    body text NOT NULL,              -- the rest of the indexed text, for highlights
    fields jsonb NOT NULL,           -- the source values the vector is recomputed from
    tsv tsvector NOT NULL,
    importance double precision,     -- the entity type's search-importance field
    version int NOT NULL,
    updated_at timestamptz NOT NULL,
    position bigint NOT NULL,
    PRIMARY KEY (tenant_id, kind, id)
);
-- An occurrence's field names and the vector of each one's strings (see FIELD_VECTORS).
ALTER TABLE {schema}.items ADD COLUMN IF NOT EXISTS field_keys text[];
ALTER TABLE {schema}.items ADD COLUMN IF NOT EXISTS field_vectors tsvector[];
CREATE INDEX IF NOT EXISTS items_tsv ON {schema}.items USING gin (tsv);
CREATE INDEX IF NOT EXISTS items_by_type ON {schema}.items (tenant_id, type_id)
    WHERE type_id IS NOT NULL;

-- Every indexed lexeme of a tenant, for typo tolerance.
CREATE TABLE IF NOT EXISTS {schema}.words (
    tenant_id uuid NOT NULL,
    word text NOT NULL,
    PRIMARY KEY (tenant_id, word)
);
DROP INDEX IF EXISTS {schema}.words_trgm;  -- typo candidates come from word_variants now

-- Each word with up to one letter deleted (up to two from seven letters on), the word itself
-- included: two words within k typos share a variant with at most k deletions on each side
-- (symmetric deletion, as SymSpell), so a query word's candidates are a few B-tree probes
-- with its own deletions, and none is missed, swaps included. Ranges over `variant` ("C"
-- collation: byte order) find words whose beginning is within k typos of a prefix. Written
-- once per new word (so no key is needed: `words` admits each word once); words over 24
-- letters get none (no typo tolerance).
CREATE TABLE IF NOT EXISTS {schema}.word_variants (
    tenant_id uuid NOT NULL,
    variant text COLLATE "C" NOT NULL,
    word text NOT NULL
);
-- Until 2026-12 the table had a primary key and two deletions from five letters on: the
-- second deletion of a word under seven letters is never needed (see statements.py).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_constraint
               WHERE conrelid = '{schema}.word_variants'::regclass AND contype = 'p') THEN
        ALTER TABLE {schema}.word_variants DROP CONSTRAINT word_variants_pkey;
        DELETE FROM {schema}.word_variants
        WHERE length(word) < 7 AND length(word) - length(variant) = 2;
    END IF;
END $$;
CREATE INDEX IF NOT EXISTS word_variants_lookup
    ON {schema}.word_variants (tenant_id, variant, word);

-- Each tenant's typo tolerance (its settings); no row: the defaults (on, 5 and 9 letters).
CREATE TABLE IF NOT EXISTS {schema}.tenant_settings (
    tenant_id uuid PRIMARY KEY,
    typo_tolerance boolean NOT NULL,
    min_word_size_for_one_typo int NOT NULL,
    min_word_size_for_two_typos int NOT NULL,
    version int NOT NULL,
    position bigint NOT NULL
);

-- Which lexemes go into `words`: long enough for trigrams, not bare numbers.
CREATE OR REPLACE FUNCTION {schema}.is_word(lexeme text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT length(lexeme) BETWEEN 3 AND 40 AND lexeme ~ '[[:alpha:]]'
$$;

-- The strings `word` becomes with up to `depth` letters deleted, itself included.
CREATE OR REPLACE FUNCTION {schema}.deletions(word text, depth int) RETURNS SETOF text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT DISTINCT v FROM (
        SELECT word AS v
        UNION ALL
        SELECT overlay(word PLACING '' FROM i FOR 1) FROM generate_series(1, length(word)) i
        WHERE depth >= 1
        UNION ALL
        SELECT overlay(overlay(word PLACING '' FROM j FOR 1) PLACING '' FROM i FOR 1)
        FROM generate_series(1, length(word)) i, generate_series(i + 1, length(word)) j
        WHERE depth >= 2
    ) d WHERE length(word) <= 24
$$;

-- The index vector: three weighted parts, unaccented, lower-cased, no stemming or stop words.
CREATE OR REPLACE FUNCTION {schema}.weighted(a text, b text, c text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('simple', public.bsdflow_unaccent(coalesce(a, ''))), 'A')
        || setweight(to_tsvector('simple', public.bsdflow_unaccent(coalesce(b, ''))), 'B')
        || setweight(to_tsvector('simple', public.bsdflow_unaccent(coalesce(c, ''))), 'C')
$$;

-- Vectors run together, as `||` does (their positions follow each other).
CREATE OR REPLACE AGGREGATE {schema}.concatenated(tsvector) (
    SFUNC = pg_catalog.tsvector_concat, STYPE = tsvector, INITCOND = ''
);

-- The strings of an entity's fields by weight (unknown type: every string counts as 'C'), and
-- those of every weight but the field `skip` (the title) for the body, in a stable order so a
-- rebuild produces identical rows. One pass over the document for all four (inlined by the
-- planner as a subquery in FROM / LATERAL).
CREATE OR REPLACE FUNCTION {schema}.entity_texts(data jsonb, weights jsonb, skip text)
    RETURNS TABLE (a text, b text, c text, body text)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(string_agg(v, ' · ' ORDER BY key, n) FILTER (WHERE w = 'A'), ''),
           coalesce(string_agg(v, ' · ' ORDER BY key, n) FILTER (WHERE w = 'B'), ''),
           coalesce(string_agg(v, ' · ' ORDER BY key, n) FILTER (WHERE w = 'C'), ''),
           coalesce(string_agg(v, ' · ' ORDER BY key, n)
               FILTER (WHERE key IS DISTINCT FROM skip AND w IN ('A', 'B', 'C')), '')
    FROM (
        SELECT f.key, s.n, s.value #>> '{}' AS v,
               coalesce(weights ->> f.key, CASE WHEN weights IS NULL THEN 'C' END) AS w
        FROM jsonb_each(data) f
        CROSS JOIN LATERAL jsonb_path_query(f.value, 'strict $.**') WITH ORDINALITY s(value, n)
        WHERE jsonb_typeof(s.value) = 'string'
    ) strings
$$;

-- Highlights parse the original text; this configuration unaccents each word as it goes, so
-- "Jerusalém" is highlighted for the lexeme "jerusalem" and keeps its accent in the snippet.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_ts_config
        WHERE cfgname = 'unaccented' AND cfgnamespace = '{schema}'::regnamespace
    ) THEN
        CREATE TEXT SEARCH CONFIGURATION {schema}.unaccented (COPY = pg_catalog.simple);
        ALTER TEXT SEARCH CONFIGURATION {schema}.unaccented
            ALTER MAPPING FOR hword, hword_part, word WITH public.unaccent, pg_catalog.simple;
    END IF;
END $$;

-- An index created before word_variants existed: derive them once from its words.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM {schema}.word_variants)
       AND EXISTS (SELECT 1 FROM {schema}.words) THEN
        INSERT INTO {schema}.word_variants (tenant_id, variant, word)
        SELECT w.tenant_id, v, w.word FROM {schema}.words w,
            {schema}.deletions(w.word, CASE WHEN length(w.word) >= 7 THEN 2 ELSE 1 END) v;
    END IF;
END $$;

