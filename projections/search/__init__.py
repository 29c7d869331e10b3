"""Search: one weighted tsvector per live record of every kind, plus the words for typo tolerance.

Self-contained on purpose: it keeps its own copy of each entity type's searchable weights and
importance field, and of the source values of every row, so it never depends on the order in
which other projections apply. Vectors are computed in SQL (`{schema}.weighted`), the same way
at insert, update and schema revision, and every write also records its lexemes in `words`.
"""

# ruff: noqa: S608 - SQL here is assembled from module constants only; values are parameters.
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from domain.document import Document
from domain.entity import Entity
from domain.entity_type import EntityType
from domain.occurrence import Occurrence
from domain.participant import Participant
from domain.process import Process
from projections.base import Projection, RecordedEvent, Statement, event_class, handles, q
from projections.entities import title_field

TEXT_TYPES = ("text", "long_text", "email", "phone", "url", "enum", "multi_enum")
WEIGHTS = ("A", "B", "C")

WORDS = (
    " INSERT INTO {schema}.words (tenant_id, word) "
    "SELECT DISTINCT c.tenant_id, l.lexeme FROM changed c, unnest(c.tsv) l "
    "WHERE {schema}.is_word(l.lexeme) ON CONFLICT DO NOTHING"
)
"""Appended to every write (a CTE `changed` returning tenant_id, tsv): the new lexemes."""


def entity_columns(data: str, t: str) -> str:
    """title, body, tsv, importance of an entity from its data and its type's row (alias t)."""
    weights = f"{t}.weights"
    importance = (
        f"CASE WHEN jsonb_typeof({data} -> {t}.importance_field) = 'number' "
        f"THEN ({data} ->> {t}.importance_field)::float8 END"
    )
    return (
        f"coalesce({data} ->> {t}.title_field, ''), "
        f"{{schema}}.entity_text({data}, {weights}, ARRAY['A','B','C'], {t}.title_field), "
        f"{{schema}}.weighted({{schema}}.entity_text({data}, {weights}, ARRAY['A'], NULL), "
        f"{{schema}}.entity_text({data}, {weights}, ARRAY['B'], NULL), "
        f"{{schema}}.entity_text({data}, {weights}, ARRAY['C'], NULL)), {importance}"
    )


# body and tsv of the other kinds, from a row `n` with columns title, f (jsonb) and text.
DERIVED = {
    "process": (
        "concat_ws(' · ', n.f ->> 'kind', n.f ->> 'stage', n.f ->> 'outcome')",
        "{schema}.weighted(n.title, n.f ->> 'kind', concat_ws(' ', n.f ->> 'stage', "
        "n.f ->> 'outcome'))",
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


def insert_sql(kind: str) -> str:
    body, tsv = DERIVED[kind]
    return (
        "WITH n AS (SELECT %s::uuid AS tenant_id, %s::uuid AS id, %s::text AS title, "
        "%s::jsonb AS f, coalesce(%s::text, '') AS text, %s::int AS version, "
        "%s::timestamptz AS ts, %s::bigint AS position), "
        "changed AS (INSERT INTO {schema}.items (tenant_id, kind, id, title, body, fields, tsv, "
        f"version, updated_at, position) SELECT n.tenant_id, '{kind}', n.id, n.title, {body}, "
        f"n.f, {tsv}, n.version, n.ts, n.position FROM n "
        "ON CONFLICT (tenant_id, kind, id) DO NOTHING RETURNING tenant_id, tsv)" + WORDS
    )


def update_sql(kind: str, title: str, fields: str) -> str:
    """`title` and `fields` are expressions over the current row `x` (their %s come first)."""
    body, tsv = DERIVED[kind]
    return (
        f"WITH n AS (SELECT x.tenant_id, x.kind, x.id, {title} AS title, {fields} AS f, "
        "x.body AS text FROM {schema}.items x "
        f"WHERE x.tenant_id = %s AND x.kind = '{kind}' AND x.id = %s AND x.version < %s), "
        f"changed AS (UPDATE {{schema}}.items x SET title = n.title, fields = n.f, body = {body}, "
        f"tsv = {tsv}, version = %s, updated_at = %s, position = %s FROM n "
        "WHERE x.tenant_id = n.tenant_id AND x.kind = n.kind AND x.id = n.id "
        "RETURNING x.tenant_id, x.tsv)" + WORDS
    )


def delete_sql(kind: str) -> str:
    return f"DELETE FROM {{schema}}.items WHERE tenant_id = %s AND kind = '{kind}' AND id = %s"


ENTITY_CREATED = (
    "WITH n AS (SELECT %s::uuid AS tenant_id, %s::uuid AS id, %s::uuid AS type_id, "
    "%s::jsonb AS data, %s::int AS version, %s::timestamptz AS ts, %s::bigint AS position), "
    "changed AS (INSERT INTO {schema}.items (tenant_id, kind, id, type_id, title, body, tsv, "
    "importance, fields, version, updated_at, position) "
    f"SELECT n.tenant_id, 'entity', n.id, n.type_id, {entity_columns('n.data', 't')}, "
    "n.data, n.version, n.ts, n.position FROM n LEFT JOIN {schema}.entity_types t "
    "ON t.tenant_id = n.tenant_id AND t.id = n.type_id "
    "ON CONFLICT (tenant_id, kind, id) DO NOTHING RETURNING tenant_id, tsv)" + WORDS
)
ENTITY_UPDATED = (
    "WITH n AS (SELECT x.tenant_id, x.id, jsonb_strip_nulls(x.fields || %s::jsonb) AS data, "
    "t.weights, t.title_field, t.importance_field FROM {schema}.items x "
    "LEFT JOIN {schema}.entity_types t ON t.tenant_id = x.tenant_id AND t.id = x.type_id "
    "WHERE x.tenant_id = %s AND x.kind = 'entity' AND x.id = %s AND x.version < %s), "
    "changed AS (UPDATE {schema}.items x SET (title, body, tsv, importance) = "
    f"(SELECT {entity_columns('n.data', 'n')}), fields = n.data, version = %s, "
    "updated_at = %s, position = %s FROM n "
    "WHERE x.tenant_id = n.tenant_id AND x.kind = 'entity' AND x.id = n.id "
    "RETURNING x.tenant_id, x.tsv)" + WORDS
)
TYPE_REINDEXED = (
    "WITH changed AS (UPDATE {schema}.items x SET (title, body, tsv, importance) = "
    f"(SELECT {entity_columns('x.fields', 't')}) FROM {{schema}}.entity_types t "
    "WHERE t.tenant_id = %s AND t.id = %s AND x.tenant_id = t.tenant_id "
    "AND x.kind = 'entity' AND x.type_id = t.id RETURNING x.tenant_id, x.tsv)" + WORDS
)


def search_weights(fields: list[dict[str, Any]]) -> dict[str, str]:
    """The fields marked searchable, with their weight; none marked: every text field at C."""
    marked = {f["name"]: f["searchable"] for f in fields if f.get("searchable") in WEIGHTS}
    return marked or {f["name"]: "C" for f in fields if f.get("type") in TEXT_TYPES}


def strings_of(value: Any) -> Iterator[str]:
    """Every string value in a JSON document (keys excluded), in document order."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_of(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_of(item)


def jsonb(value: Any) -> str:
    return orjson.dumps(value).decode()


class SearchProjection(Projection):
    name = "search"
    ddl = Path(__file__).with_name("schema.sql")
    tables = ("entity_types", "items", "words")

    @handles(event_class(EntityType, "Defined"), event_class(EntityType, "SchemaRevised"))
    def type_changed(self, e: RecordedEvent) -> Iterator[Statement]:
        """Upsert the type's weights, then reindex its entities (a revision changes weights)."""
        fields: list[dict[str, Any]] = e.data["fields"]
        yield q(
            "INSERT INTO {schema}.entity_types (tenant_id, id, weights, title_field, "
            "importance_field, version, position) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (tenant_id, id) DO UPDATE SET weights = EXCLUDED.weights, "
            "title_field = EXCLUDED.title_field, importance_field = EXCLUDED.importance_field, "
            "version = EXCLUDED.version, position = EXCLUDED.position "
            "WHERE entity_types.version < EXCLUDED.version",
            e.tenant_id, e.originator_id, jsonb(search_weights(fields)), title_field(fields),
            e.data["search_importance"], e.version, e.position,
        )  # fmt: skip
        yield q(TYPE_REINDEXED, e.tenant_id, e.originator_id)

    @handles(event_class(Entity, "Created"))
    def entity_created(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        yield q(
            ENTITY_CREATED, e.tenant_id, e.originator_id, d["entity_type_id"], jsonb(d["data"]),
            e.version, e.timestamp, e.position,
        )  # fmt: skip

    @handles(event_class(Entity, "Updated"))
    def entity_updated(self, e: RecordedEvent) -> Iterator[Statement]:
        yield q(
            ENTITY_UPDATED, jsonb(e.data["changes"]), e.tenant_id, e.originator_id, e.version,
            e.version, e.timestamp, e.position,
        )  # fmt: skip

    @handles(event_class(Entity, "Archived"))
    def entity_archived(self, e: RecordedEvent) -> Iterator[Statement]:
        yield q(delete_sql("entity"), e.tenant_id, e.originator_id)

    @handles(event_class(Process, "Opened"))
    def process_opened(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        fields = {"kind": d["kind"], "stage": d["stages"][0]}
        yield self._insert("process", e, d["title"], fields)

    @handles(event_class(Process, "StageEntered"))
    def process_stage_entered(self, e: RecordedEvent) -> Iterator[Statement]:
        sql = update_sql("process", "x.title", "x.fields || jsonb_build_object('stage', %s::text)")
        yield self._update(sql, e, e.data["stage"])

    @handles(event_class(Process, "Closed"))
    def process_closed(self, e: RecordedEvent) -> Iterator[Statement]:
        sql = update_sql(
            "process", "x.title", "x.fields || jsonb_build_object('outcome', %s::text)"
        )
        yield self._update(sql, e, e.data["outcome"])

    @handles(event_class(Occurrence, "Recorded"))
    def occurrence_recorded(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        yield self._insert("occurrence", e, d["kind"], {}, " · ".join(strings_of(d["data"])))

    @handles(event_class(Occurrence, "Retracted"))
    def occurrence_retracted(self, e: RecordedEvent) -> Iterator[Statement]:
        yield q(delete_sql("occurrence"), e.tenant_id, e.originator_id)

    @handles(event_class(Participant, "Registered"))
    def participant_registered(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        fields = {k: d[k] for k in ("email", "external_ref") if d.get(k) is not None}
        yield self._insert("participant", e, d["name"], fields)

    @handles(event_class(Participant, "Updated"))
    def participant_updated(self, e: RecordedEvent) -> Iterator[Statement]:
        sql = update_sql(
            "participant",
            "coalesce(%s::jsonb ->> 'name', x.title)",
            "jsonb_strip_nulls(x.fields || (%s::jsonb - 'name' - 'phone'))",
        )
        changes = jsonb(e.data["changes"])
        yield self._update(sql, e, changes, changes)

    @handles(event_class(Document, "Attached"))
    def document_attached(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        yield self._insert("document", e, d["title"], {"filename": d["filename"]}, d.get("text"))

    @handles(event_class(Document, "Renamed"))
    def document_renamed(self, e: RecordedEvent) -> Iterator[Statement]:
        yield self._update(update_sql("document", "%s::text", "x.fields"), e, e.data["title"])

    @handles(event_class(Document, "Removed"))
    def document_removed(self, e: RecordedEvent) -> Iterator[Statement]:
        yield q(delete_sql("document"), e.tenant_id, e.originator_id)

    @staticmethod
    def _insert(
        kind: str, e: RecordedEvent, title: str, fields: dict[str, Any], text: str | None = None
    ) -> Statement:
        return q(
            insert_sql(kind), e.tenant_id, e.originator_id, title, jsonb(fields), text,
            e.version, e.timestamp, e.position,
        )  # fmt: skip

    @staticmethod
    def _update(sql: str, e: RecordedEvent, *values: Any) -> Statement:
        return q(
            sql, *values, e.tenant_id, e.originator_id, e.version, e.version, e.timestamp,
            e.position,
        )  # fmt: skip
