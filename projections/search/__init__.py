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
from projections.base import (
    Projection,
    RecordedEvent,
    Rows,
    Statement,
    event_class,
    handles,
    q,
)
from projections.entities import title_field, with_changes

TEXT_TYPES = ("text", "long_text", "email", "phone", "url", "enum", "multi_enum")
WEIGHTS = ("A", "B", "C")

WORDS = (
    " INSERT INTO {schema}.words (tenant_id, word) "
    "SELECT DISTINCT c.tenant_id, l.lexeme FROM changed c, unnest(c.tsv) l "
    "WHERE {schema}.is_word(l.lexeme) ON CONFLICT DO NOTHING"
)
"""Appended to every write (a CTE `changed` returning tenant_id, tsv): the new lexemes."""


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


def insert_sql(kind: str) -> Rows:
    body, tsv = DERIVED[kind]
    return Rows(
        "WITH n AS (SELECT r.tenant_id, r.id, r.title, r.f, coalesce(r.text, '') AS text, "
        "r.version, r.ts, r.position FROM {rows}), "
        "changed AS (INSERT INTO {schema}.items (tenant_id, kind, id, title, body, fields, tsv, "
        f"version, updated_at, position) SELECT n.tenant_id, '{kind}', n.id, n.title, {body}, "
        f"n.f, {tsv}, n.version, n.ts, n.position FROM n "
        "ON CONFLICT (tenant_id, kind, id) DO NOTHING RETURNING tenant_id, tsv)" + WORDS,
        tenant_id="uuid", id="uuid", title="text", f="jsonb", text="text", version="int",
        ts="timestamptz", position="bigint",
    )  # fmt: skip


def update_sql(kind: str, title: str, fields: str, value: str = "text") -> Rows:
    """`title` and `fields` are expressions over the current row `x` and the event's `r.value`."""
    body, tsv = DERIVED[kind]
    return Rows(
        f"WITH n AS (SELECT x.tenant_id, x.kind, x.id, {title} AS title, {fields} AS f, "
        "x.body AS text, r.version, r.ts, r.position FROM {rows} JOIN {schema}.items x "
        f"ON x.tenant_id = r.tenant_id AND x.kind = '{kind}' AND x.id = r.id "
        "WHERE x.version < r.version), "
        f"changed AS (UPDATE {{schema}}.items x SET title = n.title, fields = n.f, body = {body}, "
        f"tsv = {tsv}, version = n.version, updated_at = n.ts, position = n.position FROM n "
        "WHERE x.tenant_id = n.tenant_id AND x.kind = n.kind AND x.id = n.id "
        "RETURNING x.tenant_id, x.tsv)" + WORDS,
        tenant_id="uuid", id="uuid", value=value, version="int", ts="timestamptz",
        position="bigint",
    )  # fmt: skip


def delete_sql(kind: str) -> Rows:
    return Rows(
        "DELETE FROM {schema}.items x USING {rows} "
        f"WHERE x.tenant_id = r.tenant_id AND x.kind = '{kind}' AND x.id = r.id",
        tenant_id="uuid", id="uuid",
    )  # fmt: skip


ENTITY_CREATED = Rows(
    "WITH changed AS (INSERT INTO {schema}.items (tenant_id, kind, id, type_id, title, body, "
    "tsv, importance, fields, version, updated_at, position) "
    "SELECT r.tenant_id, 'entity', r.id, r.type_id, v.title, v.body, v.tsv, v.importance, "
    "r.data, r.version, r.ts, r.position FROM {rows} LEFT JOIN {schema}.entity_types t "
    "ON t.tenant_id = r.tenant_id AND t.id = r.type_id "
    f"CROSS JOIN LATERAL ({entity_values('r.data', 't')}) v(title, body, tsv, importance) "
    "ON CONFLICT (tenant_id, kind, id) DO NOTHING RETURNING tenant_id, tsv)" + WORDS,
    tenant_id="uuid", id="uuid", type_id="uuid", data="jsonb", version="int",
    ts="timestamptz", position="bigint",
)  # fmt: skip
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
    changes="jsonb", tenant_id="uuid", id="uuid", version="int", ts="timestamptz",
    position="bigint",
)  # fmt: skip
INSERTED = {kind: insert_sql(kind) for kind in DERIVED}
DELETED = {kind: delete_sql(kind) for kind in (*DERIVED, "entity")}
PROCESS_STAGE = update_sql("process", "x.title", "x.fields || jsonb_build_object('stage', r.value)")
PROCESS_OUTCOME = update_sql(
    "process", "x.title", "x.fields || jsonb_build_object('outcome', r.value)"
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
    ordering_aggregates = frozenset({"EntityType"})

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
        yield ENTITY_CREATED.of(
            e.tenant_id, e.originator_id, d["entity_type_id"], d["data"], e.version, e.timestamp,
            e.position,
        )  # fmt: skip

    @handles(event_class(Entity, "Updated"))
    def entity_updated(self, e: RecordedEvent) -> Iterator[Statement]:
        yield ENTITY_UPDATED.of(
            e.data["changes"], e.tenant_id, e.originator_id, e.version, e.timestamp, e.position
        )

    @handles(event_class(Entity, "Archived"))
    def entity_archived(self, e: RecordedEvent) -> Iterator[Statement]:
        yield DELETED["entity"].of(e.tenant_id, e.originator_id)

    @handles(event_class(Process, "Opened"))
    def process_opened(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        fields = {"kind": d["kind"], "stage": d["stages"][0]}
        yield self._insert("process", e, d["title"], fields)

    @handles(event_class(Process, "StageEntered"))
    def process_stage_entered(self, e: RecordedEvent) -> Iterator[Statement]:
        yield self._update(PROCESS_STAGE, e, e.data["stage"])

    @handles(event_class(Process, "Closed"))
    def process_closed(self, e: RecordedEvent) -> Iterator[Statement]:
        yield self._update(PROCESS_OUTCOME, e, e.data["outcome"])

    @handles(event_class(Occurrence, "Recorded"))
    def occurrence_recorded(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        yield self._insert("occurrence", e, d["kind"], {}, " · ".join(strings_of(d["data"])))

    @handles(event_class(Occurrence, "Retracted"))
    def occurrence_retracted(self, e: RecordedEvent) -> Iterator[Statement]:
        yield DELETED["occurrence"].of(e.tenant_id, e.originator_id)

    @handles(event_class(Participant, "Registered"))
    def participant_registered(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        fields = {k: d[k] for k in ("email", "external_ref") if d.get(k) is not None}
        yield self._insert("participant", e, d["name"], fields)

    @handles(event_class(Participant, "Updated"))
    def participant_updated(self, e: RecordedEvent) -> Iterator[Statement]:
        yield self._update(PARTICIPANT_CHANGED, e, e.data["changes"])

    @handles(event_class(Document, "Attached"))
    def document_attached(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        yield self._insert("document", e, d["title"], {"filename": d["filename"]}, d.get("text"))

    @handles(event_class(Document, "Renamed"))
    def document_renamed(self, e: RecordedEvent) -> Iterator[Statement]:
        yield self._update(DOCUMENT_RENAMED, e, e.data["title"])

    @handles(event_class(Document, "Removed"))
    def document_removed(self, e: RecordedEvent) -> Iterator[Statement]:
        yield DELETED["document"].of(e.tenant_id, e.originator_id)

    @staticmethod
    def _insert(
        kind: str, e: RecordedEvent, title: str, fields: dict[str, Any], text: str | None = None
    ) -> Statement:
        return INSERTED[kind].of(
            e.tenant_id, e.originator_id, title, fields, text, e.version, e.timestamp, e.position
        )

    def fold(self, earlier: Statement, later: Statement) -> Statement | None:
        """An entity created and updated in one batch is inserted as it is after the update."""
        if earlier.rows is not ENTITY_CREATED or later.rows is not ENTITY_UPDATED:
            return None
        row, update = ENTITY_CREATED.row(earlier), ENTITY_UPDATED.row(later)
        row |= {k: update[k] for k in ("version", "ts", "position")}
        row["data"] = with_changes(row["data"], update["changes"])
        return Statement(earlier.sql, row, ENTITY_CREATED)

    @staticmethod
    def _update(rows: Rows, e: RecordedEvent, value: Any) -> Statement:
        return rows.of(e.tenant_id, e.originator_id, value, e.version, e.timestamp, e.position)
