"""The search projection's SQL: each write computes its vectors in SQL and records new words."""

# ruff: noqa: S608 - SQL here is assembled from module constants only; values are parameters.
from __future__ import annotations

from projections.base import Rows

VARIANT_DEPTH = "CASE WHEN length(n.word) >= 7 THEN 2 ELSE 1 END"
"""Two deletions from seven letters on, else one. A word needs its second deletion only when
the typed word has no letter the word lacks (each extra typed letter is one of its typos
deleted on the typed side), so when the typed word is at most as long as the word; two typos
need a typed word of seven letters at least (see `domain.tenant`: the smallest minimum word
size for two typos), so a word of five or six letters never does. One deletion serves every
word, as a tenant may allow one typo from three letters."""


def words_of(vectors: str) -> str:
    """Appended to every write (a CTE `vectors` returning tenant_id, tsv): the new lexemes, and
    the variants of those the tenant had not indexed yet (only they: a known word costs
    nothing)."""
    return (
        ", new_words AS (INSERT INTO {schema}.words (tenant_id, word) "
        f"SELECT DISTINCT c.tenant_id, l.lexeme FROM {vectors} c, unnest(c.tsv) l "
        "WHERE {schema}.is_word(l.lexeme) ON CONFLICT DO NOTHING RETURNING tenant_id, word) "
        "INSERT INTO {schema}.word_variants (tenant_id, variant, word) "
        "SELECT n.tenant_id, v.variant, n.word FROM new_words n, "
        f"{{schema}}.deletions(n.word, {VARIANT_DEPTH}) v(variant)"
    )


WORDS = words_of("changed")


def entity_values(data: str, t: str) -> str:
    """A query of an entity's title, body, tsv and importance from its data and its type's row
    (alias t), reading the data once: a row subquery in an UPDATE, LATERAL in an INSERT."""
    return (
        f"SELECT coalesce({data} ->> {t}.title_field, ''), e.body, "
        f"{{schema}}.weighted(e.a, e.b, e.c), {_importance(data, t)} "
        f"FROM {{schema}}.entity_texts({data}, {t}.weights, {t}.title_field) e"
    )


def entity_columns(data: str, t: str) -> str:
    """The same four as expressions, for a select list (each text one subquery)."""
    texts = f"FROM {{schema}}.entity_texts({data}, {t}.weights, {t}.title_field) e"
    return (
        f"coalesce({data} ->> {t}.title_field, ''), (SELECT e.body {texts}), "
        f"(SELECT {{schema}}.weighted(e.a, e.b, e.c) {texts}), {_importance(data, t)}"
    )


def _importance(data: str, t: str) -> str:
    return (
        f"CASE WHEN jsonb_typeof({data} -> {t}.importance_field) = 'number' "
        f"THEN ({data} ->> {t}.importance_field)::float8 END"
    )


# body and tsv of the other kinds, from a row `n` with columns title, f (jsonb) and text.
DERIVED = {
    # A process's data is indexed as its definition's version weighs its fields (`e`, see
    # TYPED_TEXTS); a process with free stages has no weights, so its data is not indexed.
    "process": (
        "concat_ws(' · ', nullif(e.body, ''), n.f ->> 'kind', n.f ->> 'stage', n.f ->> 'outcome')",
        "{schema}.weighted(concat_ws(' ', n.title, nullif(e.a, '')), concat_ws(' ', "
        "n.f ->> 'kind', nullif(e.b, '')), concat_ws(' ', n.f ->> 'stage', n.f ->> 'outcome', "
        "nullif(e.c, '')))",
    ),
    "participant": (
        "concat_ws(' · ', n.f ->> 'email', n.f ->> 'external_ref')",
        # the e-mail whole and in parts, so "ann" finds ann@example.com
        "{schema}.weighted(n.title, concat_ws(' ', n.f ->> 'email', "
        "translate(n.f ->> 'email', '@._-+', '     '), n.f ->> 'external_ref'), NULL)",
    ),
    "document": ("n.text", "{schema}.weighted(n.title, n.f ->> 'filename', n.text)"),
    "occurrence": ("n.text", "{schema}.weighted(n.title, NULL, n.text)"),
}


TYPED_TEXTS = {
    "process": " LEFT JOIN {schema}.entity_types t ON t.tenant_id = n.tenant_id AND t.id = n.type_id "
    "CROSS JOIN LATERAL {schema}.entity_texts(n.f -> 'data', coalesce(t.weights, '{}'::jsonb), "
    "NULL) e"
}
"""The weighted texts a kind's body and vector read (`e`), where its records are typed."""


FIELD_VECTORS = (
    "ARRAY(SELECT e.key FROM jsonb_each_text(n.f) e ORDER BY e.key), "
    "ARRAY(SELECT {schema}.weighted(NULL, NULL, e.value) FROM jsonb_each_text(n.f) e "
    "ORDER BY e.key)"
)
"""An occurrence's fields and the vector of each one's strings, in one order: a reader from whom
some are hidden is matched on the concatenation of the others' (matching.sql), not re-parsed."""


def insert_sql(kind: str) -> Rows:
    body, tsv = DERIVED[kind]
    vectors = FIELD_VECTORS if kind == "occurrence" else "NULL, NULL"
    return Rows(
        "WITH n AS (SELECT r.tenant_id, r.id, r.type_id, r.title, r.f, "
        "coalesce(r.text, '') AS text, r.version, r.ts, r.position FROM {rows}), "
        "changed AS (INSERT INTO {schema}.items (tenant_id, kind, id, type_id, title, body, "
        "fields, tsv, field_keys, field_vectors, version, updated_at, position) "
        f"SELECT n.tenant_id, '{kind}', n.id, n.type_id, n.title, {body}, n.f, {tsv}, {vectors}, "
        f"n.version, n.ts, n.position FROM n{TYPED_TEXTS.get(kind, '')} "
        "ON CONFLICT (tenant_id, kind, id) DO NOTHING RETURNING tenant_id, tsv)" + WORDS,
        tenant_id="uuid",
        id="uuid",
        type_id="uuid",
        title="text",
        f="jsonb",
        text="text",
        version="int",
        ts="timestamptz",
        position="bigint",
    )


def update_sql(
    kind: str, title: str, fields: str, value: str = "text", type_id: str = "x.type_id"
) -> Rows:
    """`title`, `fields` and `type_id` are expressions over the current row `x` and the
    event's `r.value`."""
    body, tsv = DERIVED[kind]
    return Rows(
        f"WITH n AS (SELECT x.tenant_id, x.kind, x.id, {type_id} AS type_id, {title} AS title, "
        f"{fields} AS f, x.body AS text, r.version, r.ts, r.position FROM {{rows}} "
        f"JOIN {{schema}}.items x ON x.tenant_id = r.tenant_id AND x.kind = '{kind}' "
        "AND x.id = r.id WHERE x.version < r.version), "
        f"computed AS (SELECT n.*, {body} AS body, {tsv} AS tsv "
        f"FROM n{TYPED_TEXTS.get(kind, '')}), "
        "changed AS (UPDATE {schema}.items x SET title = n.title, fields = n.f, "
        "type_id = n.type_id, body = n.body, tsv = n.tsv, version = n.version, "
        "updated_at = n.ts, position = n.position FROM computed n "
        "WHERE x.tenant_id = n.tenant_id AND x.kind = n.kind AND x.id = n.id "
        "RETURNING x.tenant_id, x.tsv)" + WORDS,
        tenant_id="uuid",
        id="uuid",
        value=value,
        version="int",
        ts="timestamptz",
        position="bigint",
    )


def delete_sql(kind: str) -> Rows:
    return Rows(
        "DELETE FROM {schema}.items x USING {rows} "
        f"WHERE x.tenant_id = r.tenant_id AND x.kind = '{kind}' AND x.id = r.id",
        tenant_id="uuid",
        id="uuid",
    )


ENTITY_CREATED = Rows(
    "WITH given AS (SELECT r.* FROM {rows}), "
    "changed AS (INSERT INTO {schema}.items (tenant_id, kind, id, type_id, title, body, "
    "tsv, importance, fields, version, updated_at, position) "
    "SELECT r.tenant_id, 'entity', r.id, r.type_id, v.title, v.body, v.tsv, v.importance, "
    "r.data, r.version, r.ts, r.position FROM given r LEFT JOIN {schema}.entity_types t "
    "ON t.tenant_id = r.tenant_id AND t.id = r.type_id "
    f"CROSS JOIN LATERAL ({entity_values('r.data', 't')}) v(title, body, tsv, importance) "
    "ON CONFLICT (tenant_id, kind, id) DO NOTHING RETURNING tenant_id, id, tsv), "
    # the earlier versions an update folded away (see `fold`) left their words too
    "vectors AS (SELECT c.tenant_id, c.tsv FROM changed c UNION ALL "
    "SELECT c.tenant_id, {schema}.weighted(e.a, e.b, e.c) FROM changed c "
    "JOIN given r ON r.earlier IS NOT NULL AND r.tenant_id = c.tenant_id AND r.id = c.id "
    "LEFT JOIN {schema}.entity_types t ON t.tenant_id = r.tenant_id AND t.id = r.type_id "
    "CROSS JOIN LATERAL jsonb_array_elements(r.earlier) d(data) "
    "CROSS JOIN LATERAL {schema}.entity_texts(d.data, t.weights, t.title_field) e)"
    + words_of("vectors"),
    tenant_id="uuid",
    id="uuid",
    type_id="uuid",
    data="jsonb",
    version="int",
    ts="timestamptz",
    position="bigint",
    earlier="jsonb",
)
ENTITY_UPDATED = Rows(
    "WITH n AS (SELECT x.tenant_id, x.id, jsonb_strip_nulls(x.fields || r.changes) AS data, "
    "t.weights, t.title_field, t.importance_field, r.version, r.ts, r.position "
    "FROM {rows} JOIN {schema}.items x "
    "ON x.tenant_id = r.tenant_id AND x.kind = 'entity' AND x.id = r.id "
    "LEFT JOIN {schema}.entity_types t ON t.tenant_id = x.tenant_id AND t.id = x.type_id "
    "WHERE x.version < r.version), "
    "changed AS (UPDATE {schema}.items x SET (title, body, tsv, importance) = "
    f"({entity_values('n.data', 'n')}), fields = n.data, version = n.version, "
    "updated_at = n.ts, position = n.position FROM n "
    "WHERE x.tenant_id = n.tenant_id AND x.kind = 'entity' AND x.id = n.id "
    "RETURNING x.tenant_id, x.tsv)" + WORDS,
    changes="jsonb",
    tenant_id="uuid",
    id="uuid",
    version="int",
    ts="timestamptz",
    position="bigint",
)
PARTICIPANT_FORGOTTEN = Rows(
    "WITH gone AS (DELETE FROM {schema}.items x USING {rows} "
    "WHERE x.tenant_id = r.tenant_id AND x.kind = 'participant' AND x.id = r.id "
    "RETURNING x.tenant_id, x.id, x.tsv), "
    "lexemes AS (SELECT DISTINCT g.tenant_id, l.lexeme AS word FROM gone g, unnest(g.tsv) l), "
    # All CTEs see the items as they were: the deleted one must be left out by hand.
    "unused AS (DELETE FROM {schema}.words w USING lexemes l "
    "WHERE w.tenant_id = l.tenant_id AND w.word = l.word AND NOT EXISTS ("
    "SELECT 1 FROM {schema}.items x WHERE x.tenant_id = l.tenant_id "
    "AND x.tsv @@ quote_literal(l.word)::tsquery AND x.id NOT IN (SELECT g.id FROM gone g)) "
    "RETURNING w.tenant_id, w.word) "
    "DELETE FROM {schema}.word_variants v USING unused u "
    "WHERE v.tenant_id = u.tenant_id AND v.word = u.word",
    tenant_id="uuid",
    id="uuid",
)
"""A forgotten participant's item goes, and with it the words (and their typo variants) that
no other item of the tenant holds: the vocabulary of typo tolerance keeps no erased name."""
INSERTED = {kind: insert_sql(kind) for kind in DERIVED}
DELETED = {kind: delete_sql(kind) for kind in (*DERIVED, "entity")}
PROCESS_STAGE = update_sql("process", "x.title", "x.fields || jsonb_build_object('stage', r.value)")
PROCESS_OUTCOME = update_sql(
    "process", "x.title", "x.fields || jsonb_build_object('outcome', r.value)"
)
PROCESS_REOPENED = update_sql("process", "x.title", "x.fields - 'outcome'")
PROCESS_DATA_SET = update_sql(
    "process",
    "x.title",
    "jsonb_set(x.fields, '{data}', "
    "jsonb_strip_nulls(coalesce(x.fields -> 'data', '{}'::jsonb) || r.value))",
    value="jsonb",
)
PROCESS_MIGRATED = update_sql(
    "process",
    "x.title",
    "x.fields || jsonb_build_object('stage', r.value ->> 'stage')",
    value="jsonb",
    type_id="(r.value ->> 'type_id')::uuid",
)
PARTICIPANT_CHANGED = update_sql(
    "participant",
    "coalesce(r.value ->> 'name', x.title)",
    "jsonb_strip_nulls(x.fields || (r.value - 'name' - 'phone'))",
    value="jsonb",
)
DOCUMENT_RENAMED = update_sql("document", "r.value", "x.fields")
TYPE_REINDEXED = (
    "WITH changed AS (UPDATE {schema}.items x SET (title, body, tsv, importance) = "
    f"({entity_values('x.fields', 't')}) FROM {{schema}}.entity_types t "
    "WHERE t.tenant_id = %s AND t.id = %s AND x.tenant_id = t.tenant_id "
    "AND x.kind = 'entity' AND x.type_id = t.id RETURNING x.tenant_id, x.tsv)" + WORDS
)
