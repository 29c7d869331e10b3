-- Reading. Row-level security keeps any operator that is not LEAKPROOF out of index scans (it
-- may only run after the policy's filter), and `@@` is not: as the API's reader role, every
-- search would read the whole table. `matches` runs as the owner (the role that writes every
-- tenant's rows, so it bypasses RLS) and applies the policy's own predicate — the tenant set
-- with SET LOCAL in this transaction, none set: no rows — so the indexes serve the query.
-- Only the reader role may call it. Bodies name the live schema `rm_search` (not {schema}):
-- after a rebuild renames `rm_search__next` into place they still read the live tables.

-- Typos between `a` and `b` (Damerau–Levenshtein, optimal string alignment: a swap of two
-- adjacent letters is one typo), or k + 1 if more than k. Banded, with an early exit.
CREATE OR REPLACE FUNCTION {schema}.osa(a text, b text, k int) RETURNS int
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    la int := length(a);
    lb int := length(b);
    x text[] := string_to_array(a, NULL);
    y text[] := string_to_array(b, NULL);
    before int[];
    prev int[] := array_fill(k + 1, ARRAY[lb + 1], ARRAY[0]);
    cur int[];
    best int;
    v int;
BEGIN
    IF abs(la - lb) > k THEN
        RETURN k + 1;
    END IF;
    FOR j IN 0..least(lb, k) LOOP
        prev[j] := j;
    END LOOP;
    FOR i IN 1..la LOOP
        cur := array_fill(k + 1, ARRAY[lb + 1], ARRAY[0]);
        IF i <= k THEN
            cur[0] := i;
        END IF;
        best := cur[0];
        FOR j IN greatest(1, i - k)..least(lb, i + k) LOOP
            v := least(prev[j] + 1, cur[j - 1] + 1,
                       prev[j - 1] + CASE WHEN x[i] = y[j] THEN 0 ELSE 1 END);
            IF i > 1 AND j > 1 AND x[i] = y[j - 1] AND x[i - 1] = y[j] THEN
                v := least(v, before[j - 2] + 1);
            END IF;
            cur[j] := v;
            best := least(best, v);
        END LOOP;
        IF best > k THEN
            RETURN k + 1;
        END IF;
        before := prev;
        prev := cur;
    END LOOP;
    RETURN least(prev[lb], k + 1);
END $$;

-- The same, cheaply where it can be: Levenshtein (C, fuzzystrmatch) equals it up to one edit,
-- and is at most twice it; only the rest (a swap may count) goes through `osa`.
CREATE OR REPLACE FUNCTION {schema}.typos(a text, b text, k int) RETURNS int
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN a = b THEN 0
                WHEN abs(length(a) - length(b)) > k THEN k + 1
                WHEN lev <= 1 THEN lev
                WHEN lev > 2 * k THEN k + 1
                ELSE rm_search.osa(a, b, k) END
    FROM (SELECT public.levenshtein_less_equal(a, b, 2 * k) AS lev) l
$$;

-- How unlikely a one-typo slip from `word` to `typed` is, finer than counting typos: 0 if they
-- are equal; 1 for a slip that adds no letter of its own (a letter left out, two neighbours
-- swapped, a letter doubled); 2 for one that does (another letter in place of the right one,
-- or a stray letter: it had to be that letter of the 25 others); 4 more if it is at the first
-- letter, which people seldom miss. Two typos: 3, or 7 at the first letter. A typed word is
-- far likelier to come from a word it reaches without inventing a letter, so "Picps" is
-- Picpus before Picos, and "Doren" Doreen before Düren.
CREATE OR REPLACE FUNCTION {schema}.slip(typed text, word text, typos int) RETURNS int
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN typos = 0 THEN 0
                ELSE CASE WHEN d.i = 1 THEN 4 ELSE 0 END + CASE
                    WHEN typos > 1 THEN 3
                    WHEN length(word) > length(typed) THEN 1
                    WHEN length(word) < length(typed) THEN
                        CASE WHEN substr(typed, d.i, 1)
                                  IN (substr(typed, d.i - 1, 1), substr(typed, d.i + 1, 1))
                             THEN 1 ELSE 2 END
                    WHEN substr(typed, d.i, 2) = reverse(substr(word, d.i, 2)) THEN 1
                    ELSE 2 END END
    FROM (
        SELECT coalesce(min(n), 1) AS i
        FROM generate_series(1, greatest(length(typed), length(word))) n
        WHERE substr(typed, n, 1) <> substr(word, n, 1)
    ) d
$$;

-- A tsquery operand that is exactly `word` (quoted: never parsed as operators).
CREATE OR REPLACE FUNCTION {schema}.operand(word text, prefix boolean) RETURNS tsquery
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT ('''' || replace(replace(word, '\', '\\'), '''', '''''') || ''''
            || CASE WHEN prefix THEN ':*' ELSE '' END)::tsquery
$$;

-- What each query word may match, with its cost (2 × typos, + 1 for a completion of a prefix):
-- the word itself; if it is the last word and still being typed, every word it begins; the
-- tenant's words within its typo budget; and, last word, those whose beginning is within it.
-- The budget: none below the tenant's minimum word size for one typo, two from its minimum
-- for two. At most `p_each` alternatives per word, cheapest first. Every lookup is a few B-tree
-- probes; the planner is told so (no sequential scans, hash or merge joins), as statistics of
-- a freshly filled table would have it scan word_variants whole, once per query word.
DROP FUNCTION IF EXISTS {schema}.alternatives(uuid, text, boolean, int, int);
CREATE OR REPLACE FUNCTION {schema}.alternatives(
    p_tenant uuid, p_query text, p_prefix boolean, p_words int, p_each int
) RETURNS TABLE (term int, alternative tsquery, cost int, slip int)
    LANGUAGE sql STABLE SET search_path = pg_catalog, public SET enable_seqscan = off
    SET enable_hashjoin = off SET enable_mergejoin = off AS $$
    WITH tolerance AS (
        SELECT coalesce(s.typo_tolerance, true) AS enabled,
               coalesce(s.min_word_size_for_one_typo, 5) AS one,
               coalesce(s.min_word_size_for_two_typos, 9) AS two
        FROM (SELECT) x LEFT JOIN rm_search.tenant_settings s ON s.tenant_id = p_tenant
    ), words AS (
        SELECT l.lexeme, l.positions[1] AS at
        FROM unnest(to_tsvector('simple', public.bsdflow_unaccent(p_query))) l
        ORDER BY l.positions[1] LIMIT p_words
    ), budget AS (
        SELECT (row_number() OVER (ORDER BY w.at))::int AS term, w.lexeme,
               p_prefix AND w.at = max(w.at) OVER () AS last,
               CASE WHEN NOT t.enabled OR NOT rm_search.is_word(w.lexeme)
                         OR length(w.lexeme) > 24 THEN 0
                    WHEN length(w.lexeme) >= t.two THEN 2
                    WHEN length(w.lexeme) >= t.one THEN 1
                    ELSE 0 END AS k
        FROM words w, tolerance t
    ), found AS (
        SELECT b.term, rm_search.operand(b.lexeme, false) AS alternative, 0 AS cost, 0 AS slip
        FROM budget b
        UNION ALL
        SELECT b.term, rm_search.operand(b.lexeme, true), 1, 0 FROM budget b WHERE b.last
        UNION ALL
        SELECT b.term, rm_search.operand(c.word, false), 2 * c.typos,
               rm_search.slip(b.lexeme, c.word, c.typos)
        FROM budget b CROSS JOIN LATERAL (
            SELECT m.word, rm_search.typos(b.lexeme, m.word, b.k) AS typos
            FROM (
                SELECT DISTINCT v.word FROM rm_search.word_variants v
                WHERE v.tenant_id = p_tenant
                  AND v.variant = ANY (ARRAY(SELECT rm_search.deletions(b.lexeme, b.k)))
                  AND length(v.word) - length(v.variant) <= b.k AND v.word <> b.lexeme
            ) m
        ) c
        WHERE b.k > 0 AND c.typos <= b.k
        UNION ALL
        SELECT b.term, rm_search.operand(c.prefix, true), 2 * c.typos + 1,
               rm_search.slip(b.lexeme, c.prefix, c.typos) + 2
        FROM budget b CROSS JOIN LATERAL (
            -- per word, its closest beginning (the longest of those as close)
            SELECT DISTINCT ON (m.word) left(m.word, n) AS prefix,
                   rm_search.typos(b.lexeme, left(m.word, n), b.k) AS typos
            FROM (
                SELECT DISTINCT v.word
                FROM unnest(ARRAY(SELECT rm_search.deletions(b.lexeme, b.k))) s(variant)
                CROSS JOIN LATERAL (
                    -- a LIMIT keeps this a range scan per variant, whatever the statistics
                    SELECT w.word FROM rm_search.word_variants w
                    WHERE w.tenant_id = p_tenant AND w.variant >= s.variant COLLATE "C"
                      AND w.variant < (s.variant || U&'\+10FFFF') COLLATE "C"
                      AND length(w.word) - length(w.variant) <= b.k
                    LIMIT 1000
                ) v
            ) m,
            generate_series(greatest(1, length(b.lexeme) - b.k),
                            least(length(m.word), length(b.lexeme) + b.k)) n
            ORDER BY m.word, 2, n DESC
        ) c
        WHERE b.last AND b.k > 0 AND c.typos <= b.k
    ), cheapest AS (
        -- by text: tsquery's equality ignores the prefix mark ('dep' = 'dep':*)
        SELECT DISTINCT ON (f.term, f.alternative::text) f.term,
               f.alternative::text AS alternative, f.cost, f.slip
        FROM found f ORDER BY f.term, f.alternative::text, f.cost, f.slip
    )
    SELECT r.term, r.alternative::tsquery, r.cost, r.slip FROM (
        SELECT c.*, row_number() OVER (
            PARTITION BY c.term ORDER BY c.cost, c.slip, c.alternative) AS n
        FROM cheapest c
    ) r WHERE r.n <= p_each
    ORDER BY 1, 3, 4, 2
$$;

-- One page of matches, best first. Rows must match every query word if any row does;
-- otherwise every word is optional and rows match one word at least. The order, as
-- Meilisearch's ranking rules: most words matched; fewest typos; attribute (most words found
-- in a field of weight A, then in A or B); exactness (fewest words in the A fields: "Newport"
-- before "Newport News" for "newport"); fewest words matched only as a prefix; importance.
-- Not `ts_rank`: a word matched through two alternatives, or a compound ("chapelle-sur-erdre"
-- is also "chapelle"), would count twice; it is only the `score` shown, lower with typos and
-- missing words. Planned per call (EXECUTE), so the plan always sees the actual query.
-- `query`, the OR of every alternative, is what the caller highlights.
-- `p_words_matched` 'all' or 'any' asks for one of the two steps alone: a reader who sees only
-- some rows decides between them on the rows it sees (that hidden rows match every word must
-- not change what it is shown); anything else, both as above.
-- `p_hidden`: fields of occurrences hidden from the reader (NULL: none). An occurrence's text
-- is every string of its data, so for such a reader it is matched, ranked and returned as the
-- text of its other fields alone (`fields` holds each field's strings): the index finds the
-- candidates, and a word only a hidden field holds neither finds nor ranks nor shows one.
CREATE OR REPLACE FUNCTION {schema}.matches(
    p_query text, p_prefix boolean, p_kinds text[], p_words int, p_each int, p_offset int,
    p_limit int, p_words_matched text, p_hidden text[]
) RETURNS TABLE (kind text, id uuid, title text, body text, score float8, importance float8,
                 query tsquery)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    v_tenant uuid := nullif(current_setting('bsdflow.tenant_id', true), '')::uuid;
    v_terms int[];
    v_alternatives tsquery[];
    v_costs int[];
    v_slips int[];
    v_count int;
    v_all tsquery;
    v_any tsquery;
    v_page text := $q$
        SELECT s.kind, s.id, s.title, s.body,
               (ts_rank(s.tsv, $1) * s.matched / $7 / (1 + s.typos + 0.5 * s.prefixes))::float8,
               s.importance, $8
        FROM (
            SELECT i.kind, i.id, i.title, h.body, i.importance, v.tsv, length(f.a) AS a_words,
                   m.matched, m.typos, m.slips, m.prefixes, m.in_a, m.in_ab
            FROM rm_search.items i
            CROSS JOIN LATERAL (
                SELECT CASE WHEN $12 IS NULL OR i.kind <> 'occurrence' THEN i.body ELSE (
                    SELECT coalesce(string_agg(e.value, ' · ' ORDER BY e.key), '')
                    FROM jsonb_each_text(i.fields) e WHERE e.key <> ALL($12)
                ) END AS body
            ) h
            CROSS JOIN LATERAL (
                SELECT CASE WHEN $12 IS NULL OR i.kind <> 'occurrence' THEN i.tsv ELSE (
                    SELECT ts_filter(i.tsv, '{a}') || coalesce(rm_search.concatenated(f.vector
                        ORDER BY f.at), '')
                    FROM unnest(i.field_keys, i.field_vectors) WITH ORDINALITY f(key, vector, at)
                    WHERE f.key <> ALL($12)
                ) END AS tsv
            ) v
            CROSS JOIN LATERAL (
                SELECT ts_filter(v.tsv, '{a}') AS a, ts_filter(v.tsv, '{a,b}') AS ab
            ) f
            CROSS JOIN LATERAL (
                SELECT count(*)::int AS matched, coalesce(sum(b.best / 32), 0)::int AS typos,
                       coalesce(sum(b.best / 16 % 2), 0)::int AS prefixes,
                       coalesce(sum(b.best % 16), 0)::int AS slips,
                       count(*) FILTER (WHERE b.in_a) AS in_a,
                       count(*) FILTER (WHERE b.in_ab) AS in_ab
                FROM (
                    SELECT min(a.cost * 16 + a.slip) AS best, bool_or(f.a @@ a.alternative) AS in_a,
                           bool_or(f.ab @@ a.alternative) AS in_ab
                    FROM unnest($3, $4, $5, $11) a(term, alternative, cost, slip)
                    WHERE v.tsv @@ a.alternative GROUP BY a.term
                ) b
            ) m
            WHERE i.tenant_id = $6 AND i.tsv @@ $1 AND i.kind = ANY($2) AND v.tsv @@ $1
        ) s
        ORDER BY s.matched DESC, s.typos, s.slips, s.in_a DESC, s.in_ab DESC, s.a_words, s.prefixes,
                 s.importance DESC NULLS LAST, s.id
        OFFSET $9 LIMIT $10
    $q$;
BEGIN
    IF v_tenant IS NULL THEN
        RETURN;
    END IF;
    SELECT array_agg(a.term), array_agg(a.alternative), array_agg(a.cost), array_agg(a.slip),
           max(a.term)
    INTO v_terms, v_alternatives, v_costs, v_slips, v_count
    FROM rm_search.alternatives(v_tenant, p_query, p_prefix, p_words, p_each) a;
    IF v_count IS NULL THEN
        RETURN;
    END IF;
    SELECT string_agg(g.alternatives, ' & ')::tsquery, string_agg(g.alternatives, ' | ')::tsquery
    INTO v_all, v_any
    FROM (
        SELECT '(' || string_agg(a.alternative::text, ' | ') || ')' AS alternatives
        FROM unnest(v_terms, v_alternatives) a(term, alternative) GROUP BY a.term
    ) g;
    IF p_words_matched IS DISTINCT FROM 'any' THEN
        RETURN QUERY EXECUTE v_page USING v_all, p_kinds, v_terms, v_alternatives, v_costs,
            v_tenant, v_count, v_any, p_offset, p_limit, v_slips, p_hidden;
    END IF;
    IF p_words_matched = 'all' THEN
        RETURN;
    END IF;
    IF p_words_matched IS DISTINCT FROM 'any' AND (FOUND OR v_count = 1 OR EXISTS (
        SELECT 1 FROM rm_search.items i
        WHERE i.tenant_id = v_tenant AND i.tsv @@ v_all AND i.kind = ANY(p_kinds)
    )) THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE v_page USING v_any, p_kinds, v_terms, v_alternatives, v_costs,
        v_tenant, v_count, v_any, p_offset, p_limit, v_slips, p_hidden;
END
$$;

DROP FUNCTION IF EXISTS {schema}.query_terms(text, int, int, real);
DROP FUNCTION IF EXISTS {schema}.ranked(
    tsquery, text[], int[], tsquery[], float8[], float8, int, int);
DROP FUNCTION IF EXISTS {schema}.matches(text, boolean, text[], int, int, float8, int, int);
DROP FUNCTION IF EXISTS {schema}.matches(text, boolean, text[], int, int, int, int);
DROP FUNCTION IF EXISTS {schema}.matches(text, boolean, text[], int, int, int, int, text);
REVOKE ALL ON FUNCTION {schema}.matches(text, boolean, text[], int, int, int, int, text, text[])
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION {schema}.matches(text, boolean, text[], int, int, int, int, text, text[])
    TO bsdflow_reader;
