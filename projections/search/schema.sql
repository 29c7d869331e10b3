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
CREATE INDEX IF NOT EXISTS items_tsv ON {schema}.items USING gin (tsv);
CREATE INDEX IF NOT EXISTS items_by_type ON {schema}.items (tenant_id, type_id)
    WHERE type_id IS NOT NULL;

-- Every indexed lexeme of a tenant, for typo tolerance: a query word with no exact lexeme is
-- replaced by its nearest words here (pg_trgm similarity).
CREATE TABLE IF NOT EXISTS {schema}.words (
    tenant_id uuid NOT NULL,
    word text NOT NULL,
    PRIMARY KEY (tenant_id, word)
);
CREATE INDEX IF NOT EXISTS words_trgm ON {schema}.words USING gin (word gin_trgm_ops);

-- Which lexemes go into `words`: long enough for trigrams, not bare numbers.
CREATE OR REPLACE FUNCTION {schema}.is_word(lexeme text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT length(lexeme) BETWEEN 3 AND 40 AND lexeme ~ '[[:alpha:]]'
$$;

-- The index vector: three weighted parts, unaccented, lower-cased, no stemming or stop words.
CREATE OR REPLACE FUNCTION {schema}.weighted(a text, b text, c text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('simple', public.bsdflow_unaccent(coalesce(a, ''))), 'A')
        || setweight(to_tsvector('simple', public.bsdflow_unaccent(coalesce(b, ''))), 'B')
        || setweight(to_tsvector('simple', public.bsdflow_unaccent(coalesce(c, ''))), 'C')
$$;

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

-- Reading. Row-level security keeps any operator that is not LEAKPROOF out of index scans (it
-- may only run after the policy's filter), and neither `@@` nor pg_trgm's `%` is: as the API's
-- reader role, every search would read the whole table. These two functions run as the
-- owner (the role that writes every tenant's rows, so it bypasses RLS) and apply the policy's
-- own predicate — the tenant set with SET LOCAL in this transaction, none set: no rows — so the
-- GIN indexes serve the query. Only the reader role may call them. Their bodies name the live
-- schema `rm_search` (not {schema}): after a rebuild renames `rm_search__next` into place they
-- still read the live tables.

-- Each lexeme of the query; whether the tenant has indexed it; if not, its nearest words.
CREATE OR REPLACE FUNCTION {schema}.query_terms(
    p_query text, p_min_fuzzy int, p_near int, p_min_similarity real
) RETURNS TABLE (lexeme text, exact boolean, word text, similarity real)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT q.lexeme, e.exact, near.word, near.similarity
    FROM (SELECT nullif(current_setting('bsdflow.tenant_id', true), '')::uuid AS id) tenant
    CROSS JOIN unnest(to_tsvector('simple', public.bsdflow_unaccent(p_query))) q
    CROSS JOIN LATERAL (
        SELECT NOT rm_search.is_word(q.lexeme) OR EXISTS (
            SELECT 1 FROM rm_search.words w WHERE w.tenant_id = tenant.id AND w.word = q.lexeme
        ) AS exact
    ) e
    LEFT JOIN LATERAL (
        SELECT w.word, similarity(w.word, q.lexeme) AS similarity FROM rm_search.words w
        WHERE NOT e.exact AND length(q.lexeme) >= p_min_fuzzy
          AND w.tenant_id = tenant.id AND w.word % q.lexeme
          AND similarity(w.word, q.lexeme) >= p_min_similarity
        ORDER BY 2 DESC, 1 LIMIT p_near
    ) near ON true
    WHERE tenant.id IS NOT NULL
    ORDER BY 1, 4 DESC, 3
$$;

-- One page of matches, best first: ts_rank times, for each fuzzy query word (p_terms numbers
-- them), the similarity of the best of its alternatives the row contains; scores within
-- p_bucket of each other are a tie broken by importance. Planned per call (EXECUTE), so the
-- plan always sees the actual query.
CREATE OR REPLACE FUNCTION {schema}.ranked(
    p_query tsquery, p_kinds text[], p_terms int[], p_words tsquery[], p_similarities float8[],
    p_bucket float8, p_offset int, p_limit int
) RETURNS TABLE (kind text, id uuid, title text, body text, score float8, importance float8)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    RETURN QUERY EXECUTE $q$
        SELECT s.kind, s.id, s.title, s.body, s.score, s.importance FROM (
            SELECT i.kind, i.id, i.title, i.body, i.importance,
                   ts_rank(i.tsv, $1) * coalesce((
                       SELECT exp(sum(ln(greatest(t.best, 1e-9)))) FROM (
                           SELECT max(CASE WHEN i.tsv @@ a.word THEN a.similarity ELSE 0 END) AS best
                           FROM unnest($3, $4, $5) a(term, word, similarity) GROUP BY a.term
                       ) t
                   ), 1.0)::float8 AS score
            FROM rm_search.items i
            WHERE i.tenant_id = nullif(current_setting('bsdflow.tenant_id', true), '')::uuid
              AND i.tsv @@ $1 AND i.kind = ANY($2)
        ) s
        ORDER BY round((s.score / $6)::numeric) DESC, s.importance DESC NULLS LAST, s.id
        OFFSET $7 LIMIT $8
    $q$ USING p_query, p_kinds, p_terms, p_words, p_similarities, p_bucket, p_offset, p_limit;
END
$$;

REVOKE ALL ON FUNCTION {schema}.query_terms(text, int, int, real) FROM PUBLIC;
REVOKE ALL ON FUNCTION {schema}.ranked(tsquery, text[], int[], tsquery[], float8[], float8, int, int)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION {schema}.query_terms(text, int, int, real) TO bsdflow_reader;
GRANT EXECUTE ON FUNCTION {schema}.ranked(tsquery, text[], int[], tsquery[], float8[], float8, int, int)
    TO bsdflow_reader;
