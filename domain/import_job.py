"""ImportJob: one file brought in as records, row by row, each row one command.

A job is identified by its file's content (sha256), the sheet and the entity type it goes into,
so the same file dropped or uploaded again finds its first job rather than importing twice.
It is checked first (every row validated, nothing written), then applied in batches; each batch
records a checkpoint, so a job interrupted mid-way resumes after the last one, and each row's
idempotency key (sha256, sheet, row) keeps a batch redone after a crash from writing twice.
"""

from __future__ import annotations

import json
from pathlib import PurePath
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict, InvalidInput

FORMATS = ("xlsx", "xlsm", "xlsb", "xls", "ods", "csv")
MAX_RECORDED_ERRORS = 10_000
"""Failed rows a job keeps (row, field, message) for its error report; more are only counted."""
FIRST_ERRORS = 20
"""Failed rows a check reports by name: enough to see what is wrong before starting."""


def file_format(filename: str) -> str:
    """The format a file is read as, by its extension."""
    extension = PurePath(filename).suffix.casefold().lstrip(".")
    if extension in FORMATS:
        return extension
    what = f".{extension} files are" if extension else "files without an extension are"
    supported = ", ".join(f".{name}" for name in FORMATS)
    raise InvalidInput(
        f"{what} not supported (not a spreadsheet); upload one of {supported}", ("file",)
    )


def row_key(sha256: str, sheet: str, row: int) -> str:
    """The idempotency key of one row's command."""
    return f"import:{sha256}:{sheet}:{row}"


def row_entity_id(tenant_id: UUID, key: str) -> UUID:
    """The entity a row creates, named by its key: recording it a second time is refused by
    the store, as a receipt would be, without an event of its own."""
    return uuid5(tenant_id, f"{key}:entity")


class ImportJob(Aggregate):
    @staticmethod
    def create_id(
        tenant_id: UUID,
        sha256: str,
        sheet: str | None,
        entity_type_id: UUID,
        mapping: dict[str, str],
        key_field: str | None,
    ) -> UUID:
        """The same file into the same place the same way is the same job."""
        how = json.dumps([sheet, str(entity_type_id), mapping, key_field], sort_keys=True)
        return uuid5(tenant_id, f"import:{sha256}:{how}")

    @event("Received")
    def __init__(
        self,
        tenant_id: UUID,
        source: str,
        filename: str,
        file_format: str,
        size: int,
        sha256: str,
        entity_type_id: UUID,
        sheet: str | None,
        mapping: dict[str, str],
        key_field: str | None,
        auto_start: bool,
        actor: str,
    ) -> None:
        self.tenant_id = tenant_id
        self.source = source
        self.filename = filename
        self.file_format = file_format
        self.size = size
        self.sha256 = sha256
        self.entity_type_id = entity_type_id
        self.sheet = sheet
        self.mapping = mapping
        """Column header → field name, as given; the check completes it from the headers."""
        self.key_field = key_field
        self.auto_start = auto_start
        self.actor = actor
        """Who brought the file in: its rows are recorded as theirs."""
        self.status = "received"
        self.rows = 0
        self.valid = 0
        self.checkpoint: dict[str, int] = {}
        """Sheet → the last row applied (rows are applied in file order)."""
        self.done = 0
        self.failed = 0
        self.created = 0
        self.updated = 0
        self.errors: list[dict[str, Any]] = []
        self.sheets: list[dict[str, Any]] = []
        self.refusal: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "refused", "cancelled")

    @event("Checked")
    def checked(
        self,
        sheets: list[dict[str, Any]],
        mapping: dict[str, str],
        rows: int,
        valid: int,
        first_errors: list[dict[str, Any]],
    ) -> None:
        """Every row was validated; `sheets` names each sheet with its header, its mapping
        (column → field) and its row count."""
        self.mapping = mapping
        self.sheets = sheets
        self.rows = rows
        self.valid = valid
        self.status = "checked"

    @event("Refused")
    def refused(self, reason: str, path: list[str | int]) -> None:
        """The file (or its mapping) cannot be imported at all: nothing was written."""
        self.status = "refused"
        self.refusal = reason

    def start(self) -> None:
        if self.status == "applying":
            return
        if self.status not in ("checked", "cancelled") or not self.rows:
            raise Conflict(f"an import can be started once checked; this one is {self.status}")
        self._started()

    @event("Started")
    def _started(self) -> None:
        self.status = "applying"

    @event("Progressed")
    def progressed(
        self,
        sheet: str,
        row: int,
        done: int,
        failed: int,
        created: int,
        updated: int,
        errors: list[dict[str, Any]],
    ) -> None:
        """A batch of rows up to `row` of `sheet` was applied; `errors` are its failed rows."""
        self.checkpoint = {**self.checkpoint, sheet: row}
        self.done += done
        self.failed += failed
        self.created += created
        self.updated += updated
        room = MAX_RECORDED_ERRORS - len(self.errors)
        if room > 0:
            self.errors = [*self.errors, *errors[:room]]

    @event("Completed")
    def completed(self) -> None:
        self.status = "completed"

    def cancel(self) -> None:
        if self.finished:
            raise Conflict(f"this import is {self.status} already")
        self._cancelled()

    @event("Cancelled")
    def _cancelled(self) -> None:
        self.status = "cancelled"
