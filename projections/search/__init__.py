"""Search: one weighted tsvector per live record of every kind, plus the words for typo tolerance.

Self-contained on purpose: it keeps its own copy of each entity type's searchable weights and
importance field, of each tenant's typo settings, and of the source values of every row, so it
never depends on the order in which other projections apply. Vectors are computed in SQL
(`{schema}.weighted`), the same way at insert, update and schema revision, and every write also
records its new lexemes in `words`, with their deletion variants in `word_variants`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid5

from domain.document import Document
from domain.entity import Entity
from domain.entity_type import EntityType
from domain.fields import STRATEGIES
from domain.ids import process_definition_id_for
from domain.occurrence import Occurrence
from domain.participant import Participant
from domain.process import Process
from domain.process_definition import ProcessDefinition
from domain.tenant import Tenant
from eventstore import RecordedEvent
from projections.base import Projection, Rows, Statement, event_class, handles, jsonb
from projections.entities import title_field, with_changes
from projections.search.statements import (
    DELETED,
    DOCUMENT_RENAMED,
    ENTITY_CREATED,
    ENTITY_UPDATED,
    INSERTED,
    PARTICIPANT_CHANGED,
    PARTICIPANT_FORGOTTEN,
    PROCESS_DATA_SET,
    PROCESS_MIGRATED,
    PROCESS_OUTCOME,
    PROCESS_REOPENED,
    PROCESS_STAGE,
    TYPE_REINDEXED,
)

TYPO_DEFAULTS = {
    "typo_tolerance": True,
    "min_word_size_for_one_typo": 5,
    "min_word_size_for_two_typos": 9,
}
"""A tenant's settings before it had these (older events): Meilisearch's defaults."""
WEIGHTS = ("A", "B", "C")


def weights_id(definition_id: UUID, version: int) -> UUID:
    """The weights row of one version of a process definition (beside the entity types')."""
    return uuid5(definition_id, f"version:{version}")


def _pinned_weights(e: RecordedEvent, d: dict[str, Any]) -> UUID | None:
    """The weights of the version a process pins (None: free stages, nothing of its data is
    indexed)."""
    key, version = d.get("definition_key"), d.get("definition_version")
    if key is None or version is None:
        return None
    return weights_id(process_definition_id_for(e.tenant_id, key), int(version))


def search_weights(fields: list[dict[str, Any]]) -> dict[str, str]:
    """The fields marked searchable, with their weight; none marked: every text field at C."""
    marked = {f["name"]: f["searchable"] for f in fields if f.get("searchable") in WEIGHTS}
    return marked or {f["name"]: "C" for f in fields if _text_like(f.get("type"))}


def _text_like(field_type: Any) -> bool:
    strategy = STRATEGIES.get(field_type) if isinstance(field_type, str) else None
    return strategy is not None and strategy.text_like


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


def _joined(value: Any) -> str:
    return " · ".join(strings_of(value))


class SearchProjection(Projection):
    version = 2  # 2: processes' data, weighed by the version of their definition
    ddl = Path(__file__).with_name("schema.sql")
    matching = Path(__file__).with_name("matching.sql")
    tables = ("entity_types", "items", "words", "word_variants", "tenant_settings")
    ordering_aggregates = frozenset({"EntityType", "ProcessDefinition"})

    def create_sql(self, schema: str) -> str:
        """Tables and index-side functions, then the query-side functions that read them."""
        return super().create_sql(schema) + self.matching.read_text().replace("{schema}", schema)

    @handles(event_class(Tenant, "Created"), event_class(Tenant, "SettingsChanged"))
    def tenant_settings(self, e: RecordedEvent) -> Iterator[Statement]:
        settings = e.data.get("settings") or {}  # v1 Created had none: the defaults
        typo = {key: settings.get(key, value) for key, value in TYPO_DEFAULTS.items()}
        yield Statement.of(
            "INSERT INTO {schema}.tenant_settings (tenant_id, typo_tolerance, "
            "min_word_size_for_one_typo, min_word_size_for_two_typos, version, position) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (tenant_id) DO UPDATE SET "
            "typo_tolerance = EXCLUDED.typo_tolerance, "
            "min_word_size_for_one_typo = EXCLUDED.min_word_size_for_one_typo, "
            "min_word_size_for_two_typos = EXCLUDED.min_word_size_for_two_typos, "
            "version = EXCLUDED.version, position = EXCLUDED.position "
            "WHERE tenant_settings.version < EXCLUDED.version",
            e.originator_id,
            *typo.values(),
            e.version,
            e.position,
        )

    @handles(event_class(EntityType, "Defined"), event_class(EntityType, "SchemaRevised"))
    def type_changed(self, e: RecordedEvent) -> Iterator[Statement]:
        """Upsert the type's weights, then reindex its entities (a revision changes weights)."""
        fields: list[dict[str, Any]] = e.data["fields"]
        yield Statement.of(
            "INSERT INTO {schema}.entity_types (tenant_id, id, weights, title_field, "
            "importance_field, version, position) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (tenant_id, id) DO UPDATE SET weights = EXCLUDED.weights, "
            "title_field = EXCLUDED.title_field, importance_field = EXCLUDED.importance_field, "
            "version = EXCLUDED.version, position = EXCLUDED.position "
            "WHERE entity_types.version < EXCLUDED.version",
            e.tenant_id,
            e.originator_id,
            jsonb(search_weights(fields)),
            title_field(fields),
            e.data["search_importance"],
            e.version,
            e.position,
        )
        yield Statement.of(TYPE_REINDEXED, e.tenant_id, e.originator_id)

    @handles(event_class(Entity, "Created"))
    def entity_created(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        yield ENTITY_CREATED.of(
            e.tenant_id,
            e.originator_id,
            d["entity_type_id"],
            d["data"],
            e.version,
            e.timestamp,
            e.position,
            None,
        )

    @handles(event_class(Entity, "Updated"))
    def entity_updated(self, e: RecordedEvent) -> Iterator[Statement]:
        yield ENTITY_UPDATED.of(
            e.data["changes"], e.tenant_id, e.originator_id, e.version, e.timestamp, e.position
        )

    @handles(event_class(Entity, "Forgotten"))
    def entity_forgotten(self, e: RecordedEvent) -> Iterator[Statement]:
        """Personal fields are never searchable nor the title: only the copy of the data goes."""
        erased = dict.fromkeys(e.data["fields"])
        yield ENTITY_UPDATED.of(
            erased, e.tenant_id, e.originator_id, e.version, e.timestamp, e.position
        )

    @handles(event_class(Entity, "Archived"))
    def entity_archived(self, e: RecordedEvent) -> Iterator[Statement]:
        yield DELETED["entity"].of(e.tenant_id, e.originator_id)

    @handles(
        event_class(ProcessDefinition, "Published"),
        event_class(ProcessDefinition, "VersionPublished"),
    )
    def definition_published(self, e: RecordedEvent) -> Iterator[Statement]:
        """A version's weights, as an entity type's: the processes that pin it read them."""
        number = e.data.get("number", 1)
        yield Statement.of(
            "INSERT INTO {schema}.entity_types (tenant_id, id, weights, title_field, "
            "importance_field, version, position) VALUES (%s, %s, %s, NULL, NULL, %s, %s) "
            "ON CONFLICT (tenant_id, id) DO NOTHING",
            e.tenant_id,
            weights_id(e.originator_id, number),
            jsonb(search_weights(e.data["spec"].get("fields", []))),
            e.version,
            e.position,
        )

    @handles(event_class(Process, "Opened"))
    def process_opened(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        fields = {"kind": d["kind"], "stage": d["stages"][0], "data": d["data"]}
        yield self._insert("process", e, d["title"], fields, type_id=_pinned_weights(e, d))

    @handles(event_class(Process, "DataSet"))
    def process_data_set(self, e: RecordedEvent) -> Iterator[Statement]:
        yield self._update(PROCESS_DATA_SET, e, e.data["changes"])

    @handles(event_class(Process, "Migrated"))
    def process_migrated(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        weights = _pinned_weights(e, {**d, "definition_version": d["version"]})
        change = {"stage": d["stage"], "type_id": str(weights) if weights else None}
        yield self._update(PROCESS_MIGRATED, e, change)

    @handles(event_class(Process, "StageEntered"))
    def process_stage_entered(self, e: RecordedEvent) -> Iterator[Statement]:
        yield self._update(PROCESS_STAGE, e, e.data["stage"])

    @handles(event_class(Process, "Closed"))
    def process_closed(self, e: RecordedEvent) -> Iterator[Statement]:
        yield self._update(PROCESS_OUTCOME, e, e.data["outcome"])

    @handles(event_class(Process, "Reopened"))
    def process_reopened(self, e: RecordedEvent) -> Iterator[Statement]:
        yield self._update(PROCESS_REOPENED, e, None)

    @handles(event_class(Occurrence, "Recorded"))
    def occurrence_recorded(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        # Each field's strings apart too: a reader from whom some are hidden is matched on the
        # others alone (matching.sql).
        fields = {key: text for key, value in d["data"].items() if (text := _joined(value))}
        yield self._insert("occurrence", e, d["kind"], fields, " · ".join(fields.values()))

    @handles(event_class(Occurrence, "Retracted"))
    def occurrence_retracted(self, e: RecordedEvent) -> Iterator[Statement]:
        yield DELETED["occurrence"].of(e.tenant_id, e.originator_id)

    @handles(event_class(Participant, "Registered"))
    def participant_registered(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        fields = {k: d[k] for k in ("email", "external_ref") if d.get(k) is not None}
        # A name is null in a rebuild once the participant was forgotten (its key destroyed);
        # the item it makes is deleted again at the forgetting.
        yield self._insert("participant", e, d["name"] or "", fields)

    @handles(event_class(Participant, "Updated"))
    def participant_updated(self, e: RecordedEvent) -> Iterator[Statement]:
        yield self._update(PARTICIPANT_CHANGED, e, e.data["changes"])

    @handles(event_class(Participant, "Forgotten"))
    def participant_forgotten(self, e: RecordedEvent) -> Iterator[Statement]:
        yield PARTICIPANT_FORGOTTEN.of(e.tenant_id, e.originator_id)

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
        kind: str,
        e: RecordedEvent,
        title: str,
        fields: dict[str, Any],
        text: str | None = None,
        type_id: UUID | None = None,
    ) -> Statement:
        return INSERTED[kind].of(
            e.tenant_id,
            e.originator_id,
            type_id,
            title,
            fields,
            text,
            e.version,
            e.timestamp,
            e.position,
        )

    def fold(self, earlier: Statement, later: Statement) -> Statement | None:
        """An entity created and updated in one batch is inserted as it is after the update."""
        if earlier.rows is not ENTITY_CREATED or later.rows is not ENTITY_UPDATED:
            return None
        row, update = ENTITY_CREATED.row(earlier), ENTITY_UPDATED.row(later)
        row |= {k: update[k] for k in ("version", "ts", "position")}
        before, changes = row["data"], update["changes"]
        # Words are never taken back, so the folded-away version's words must be recorded as
        # if it had been applied: only needed when a changed value had text (a number changed,
        # the earlier words are all in the later version).
        if any(next(strings_of(before.get(key)), None) is not None for key in changes):
            row["earlier"] = [*(row["earlier"] or []), before]
        row["data"] = with_changes(before, changes)
        return Statement(earlier.sql, row, ENTITY_CREATED)

    @staticmethod
    def _update(rows: Rows, e: RecordedEvent, value: Any) -> Statement:
        return rows.of(e.tenant_id, e.originator_id, value, e.version, e.timestamp, e.position)
