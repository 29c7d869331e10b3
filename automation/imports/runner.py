"""The import runner: checks each received job's file row by row, then applies started jobs
in batches through the command service, one checkpoint per batch.

Several runners may run (one per automation process): each job is worked by the one holding
its PostgreSQL advisory lock, which goes with a crashed runner's connection, so another takes
the job over and resumes after its last checkpoint.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time
from pathlib import Path
from time import monotonic
from typing import Any
from uuid import UUID

import psycopg
import structlog

from automation.imports.reading import FileRefused, Limits, Sheet, read_sheets
from commands.imports import ImportRows, PreparedBatch
from domain.entity_type import EntityType
from domain.fields import strategy_for
from domain.fields.cells import CellContext
from domain.import_job import FIRST_ERRORS, ImportJob
from domain.import_mapping import RowProblem, RowReader, problem_text, suggest_mapping
from domain.tenant import DEFAULT_SETTINGS, Tenant
from projections.imports.queries import rows_since, unfinished

log = structlog.get_logger("bsdflow.imports")
LOCK_SPACE = 0x696D  # "im": the advisory locks' first key, the job's hash the second
BATCH = 1_000
"""Rows per transaction: large enough that each commit carries many, small enough that a
cancel or a crash costs little."""


@dataclass
class ImportRunner:
    database_url: str
    rows: ImportRows
    blob_path: Callable[[str], Path]
    limits: Limits = field(default_factory=Limits)
    batch: int = BATCH
    tick: float = 0.5
    idle_tick: float = 5.0
    changes: Callable[[], int] | None = None
    """A counter that moves when events are written: an idle runner queries only then."""

    def run(self, stop: threading.Event) -> None:
        seen, worked = -1, 0.0
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            while not stop.is_set():
                rung = self.changes() if self.changes else seen + 1
                # A ring can come before the read model holds the job it announces: look
                # again every `idle_tick` even when nothing rings.
                if rung != seen or monotonic() - worked >= self.idle_tick:
                    seen, worked = rung, monotonic()
                    self._work_all(conn, stop)
                stop.wait(self.tick)

    def _work_all(self, conn: psycopg.Connection[Any], stop: threading.Event) -> None:
        try:
            jobs = unfinished(conn)
        except psycopg.errors.UndefinedTable:
            return  # the read side has not made its tables yet
        for _, job_id in jobs:
            if stop.is_set():
                return
            key = job_id.int & 0x7FFF_FFFF
            row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_SPACE, key)).fetchone()
            if not row or not row[0]:
                continue  # another runner has it
            try:
                self.work(job_id, stop)
            except Exception:
                log.exception("import job failed; it is tried again", job=str(job_id))
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_SPACE, key))

    def work(self, job_id: UUID, stop: threading.Event | None = None) -> ImportJob | None:
        """Take the job as far as it goes: checked, started if it starts itself, applied."""
        job = self.rows.store.find(ImportJob, job_id)
        if job is None or job.finished:
            return job
        if job.status == "received":
            job = self.check(job)
        if job.status == "checked" and job.auto_start:
            job = self.rows.record(job.id, ImportJob.start)
        if job.status == "applying":
            job = self.apply(job, stop)
        return job

    # -- checking --------------------------------------------------------------------------

    def check(self, job: ImportJob) -> ImportJob:
        """Every row validated, nothing written: the counts and the first errors."""
        entity_type = self._entity_type(job)
        names = [spec.name for spec in entity_type.fields]
        settings = self._settings(job)
        cells = _cells(settings)
        sheets: list[dict[str, Any]] = []
        total = valid = 0
        first_errors: list[dict[str, Any]] = []
        try:
            for sheet in self._sheets(job, settings):
                matches = suggest_mapping(sheet.header, names, job.mapping)
                if not matches:
                    raise FileRefused(
                        f"no column of sheet {sheet.name!r} names a field of "
                        f"{entity_type.name} ({', '.join(names)}); give a mapping",
                        ("mapping",),
                    )
                mapping = {m.column: m.field for m in matches}
                reader = RowReader(sheet.header, mapping, entity_type.fields, cells)
                count = 0
                for row, problems in self._checked_rows(job, entity_type, reader, sheet.rows):
                    count += 1
                    if not problems:
                        valid += 1
                    elif len(first_errors) < FIRST_ERRORS:
                        first_errors.append(_error(sheet.name, row, problems))
                total += count
                sheets.append(
                    {
                        "name": sheet.name,
                        "header": list(sheet.header),
                        "mapping": mapping,
                        "matches": [
                            {"column": m.column, "field": m.field, "how": m.how, "score": m.score}
                            for m in matches
                        ],
                        "rows": count,
                    }
                )
        except FileRefused as refused:
            return self._refuse(job, refused)
        over = self._over_quota(job, total, int(settings["import_rows_per_day"]))
        if over is not None:
            return self._refuse(job, over)
        mapping = {column: f for s in sheets for column, f in s["mapping"].items()}
        return self.rows.record(
            job.id, lambda j: j.checked(sheets, mapping, total, valid, first_errors)
        )

    def _checked_rows(
        self,
        job: ImportJob,
        entity_type: EntityType,
        reader: RowReader,
        rows: Iterator[tuple[int, tuple[Any, ...]]],
    ) -> Iterator[tuple[int, list[RowProblem]]]:
        """Each row's problems: its fields', and a unique value an earlier row has (by a key
        field, a repeated value is an update of the same entity, not a problem)."""
        unique = [f for f in entity_type.fields if f.unique and f.name != job.key_field]
        taken: dict[tuple[str, str], int] = {}
        for row, values in rows:
            data = reader.data(values)
            updating = job.key_field is not None and self.rows.owner(job, data) is not None
            problems = reader.problems(data, partial=updating)
            for spec in unique:
                value = data.get(spec.name)
                if value is None or any(p.field == spec.name for p in problems):
                    continue
                strategy = strategy_for(spec.type)
                key = (spec.name, strategy.unique_key(strategy.validate(value, spec)))
                if key in taken:
                    problems.append(RowProblem(spec.name, f"repeats row {taken[key]}"))
                else:
                    taken[key] = row
            yield row, problems

    # -- applying --------------------------------------------------------------------------

    def apply(self, job: ImportJob, stop: threading.Event | None = None) -> ImportJob:
        """The rows after the job's checkpoint, a batch per transaction; done when all are.

        Pipelined: while one batch is stored (and its checkpoint recorded) on a thread of its
        own, the next one is handled here; batches are stored in order, each after the one
        before it. A row of the next batch that depends on the one being stored (the same key
        or unique value) collides when stored and is redone on fresh state."""
        entity_type = self._entity_type(job)
        settings = self._settings(job)
        cells = _cells(settings)
        mappings = {s["name"]: s["mapping"] for s in job.sheets}
        try:
            sheets = list(self._sheets(job, settings))
        except FileRefused as refused:  # a reader's limit lowered since the check
            return self._refuse(job, refused)
        with ThreadPoolExecutor(1, thread_name_prefix="import-store") as storing:
            stored: Future[ImportJob] | None = None

            def hand_over(sheet: str, batch: list[tuple[int, dict[str, Any]]]) -> bool:
                """Handle `batch`, then store it once the batch before is: False to stop."""
                nonlocal stored, job
                prepared = self._prepare(job, sheet, batch)
                if stored is not None:
                    job = stored.result()
                    stored = None
                if prepared is None or job.status != "applying":
                    return False
                stored = storing.submit(self._store, prepared)
                return not (stop is not None and stop.is_set())

            for sheet in sheets:
                reader = RowReader(
                    sheet.header, mappings.get(sheet.name, {}), entity_type.fields, cells
                )
                after = job.checkpoint.get(sheet.name, 0)
                batch: list[tuple[int, dict[str, Any]]] = []
                for row, values in sheet.rows:
                    if row <= after:
                        continue
                    batch.append((row, reader.data(values)))
                    if len(batch) >= self.batch:
                        if not hand_over(sheet.name, batch):
                            return stored.result() if stored is not None else job
                        batch = []
                if batch and not hand_over(sheet.name, batch):
                    return stored.result() if stored is not None else job
            if stored is not None:
                job = stored.result()
        if job.status != "applying":
            return job
        return self.rows.record(job.id, ImportJob.completed)

    def _prepare(
        self, job: ImportJob, sheet: str, batch: list[tuple[int, dict[str, Any]]]
    ) -> PreparedBatch | None:
        current = self.rows.store.find(ImportJob, job.id)
        if current is None or current.status != "applying":
            return None  # cancelled meanwhile
        return self.rows.prepare(current, sheet, batch)

    def _store(self, prepared: PreparedBatch) -> ImportJob:
        outcomes = self.rows.store_batch(prepared)
        failed = [o for o in outcomes if o.problems]
        sheet = prepared.sheet

        def progressed(j: ImportJob) -> None:
            j.progressed(
                sheet,
                prepared.rows[-1],
                len(outcomes) - len(failed),
                len(failed),
                sum(o.created for o in outcomes),
                sum(o.updated for o in outcomes),
                [_error(sheet, o.row, list(o.problems)) for o in failed],
            )

        return self.rows.record(prepared.job.id, progressed)

    # -- shared ----------------------------------------------------------------------------

    def _refuse(self, job: ImportJob, refused: FileRefused) -> ImportJob:
        log.info("import refused", job=str(job.id), reason=refused.message)
        reason, path = refused.message, list(refused.path)
        return self.rows.record(job.id, lambda j: j.refused(reason, path))

    def _sheets(self, job: ImportJob, settings: dict[str, Any]) -> Iterator[Sheet]:
        limits = replace(
            self.limits,
            max_rows=min(self.limits.max_rows, int(settings["import_max_rows"])),
            max_columns=min(self.limits.max_columns, int(settings["import_max_columns"])),
        )
        return sheets_of(job, self.blob_path(job.sha256), limits)

    def _settings(self, job: ImportJob) -> dict[str, Any]:
        """The tenant's settings (locale, timezone, import limits), read once per check or
        application."""
        tenant = self.rows.store.find(Tenant, job.tenant_id)
        return {**DEFAULT_SETTINGS, **(tenant.settings if tenant else {})}

    def _over_quota(self, job: ImportJob, rows: int, quota: int) -> FileRefused | None:
        """The tenant's import_rows_per_day (`quota`), counting the imports started today."""
        today = datetime.combine(datetime.now(UTC).date(), time(), UTC)
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            try:
                used = rows_since(conn, job.tenant_id, today)
            except psycopg.errors.UndefinedTable:
                used = 0  # no read side yet, so no import has started
        if used + rows <= quota:
            return None
        return FileRefused(
            f"this organisation may import {quota:,} rows a day (import_rows_per_day); "
            f"{used:,} are started today and this file has {rows:,}"
        )

    def _entity_type(self, job: ImportJob) -> EntityType:
        entity_type = self.rows.store.find(EntityType, job.entity_type_id)
        if entity_type is None:
            raise LookupError(f"no entity type {job.entity_type_id}")
        return entity_type


def sheets_of(job: ImportJob, path: Path, limits: Limits) -> Iterator[Sheet]:
    """The job's sheets, read from its stored bytes (`path`, named by their hash): a CSV
    file's one sheet is named after the file as it was uploaded."""
    if not path.is_file():
        raise FileRefused("the file's bytes are no longer in the blob store; upload it again")
    if job.file_format != "csv":
        return read_sheets(path, job.file_format, job.sheet, limits)
    name = Path(job.filename).stem or "csv"
    return (replace(sheet, name=name) for sheet in read_sheets(path, "csv", None, limits))


def _cells(settings: dict[str, Any]) -> CellContext:
    return CellContext(str(settings["locale"]), str(settings["timezone"]))


def _error(sheet: str, row: int, problems: list[RowProblem]) -> dict[str, Any]:
    return {
        "sheet": sheet,
        "row": row,
        "field": problems[0].field,
        "message": problem_text(problems),
    }


def error_report(
    job: ImportJob, path: Path, limits: Limits | None = None
) -> tuple[list[str], Iterator[tuple[list[Any], str]]]:
    """The error report's header (every sheet's columns) and its rows: each failed row as it
    was in the file (`path`), with what was wrong with it."""
    by_row = {(e["sheet"], e["row"]): e for e in job.errors}
    wanted = {sheet for sheet, _ in by_row}
    sheets = sheets_of(job, path, limits or Limits())
    read = [sheet for sheet in sheets if sheet.name in wanted]
    header = list(dict.fromkeys(column for sheet in read for column in sheet.header))
    several = len(read) > 1

    def rows() -> Iterator[tuple[list[Any], str]]:
        for sheet in read:
            place = {column: header.index(column) for column in sheet.header}
            for row, values in sheet.rows:
                error = by_row.get((sheet.name, row))
                if error is None:
                    continue
                out: list[Any] = [None] * len(header)
                for column, value in zip(sheet.header, values, strict=False):
                    out[place[column]] = value
                where = f"{sheet.name} row {row}" if several else f"row {row}"
                yield out, f"{where}: {error['message']}"

    return header, rows()
