"""Imports: jobs bringing spreadsheet rows in as entities, with their progress."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from projections.imports.queries import IMPORT, ImportReads, ImportRow
from read_api.types.common import (
    DEFAULT_PAGE,
    Connection,
    Info,
    RowType,
    connection,
    field,
    page_size,
)


@strawberry.type(description="A failed row: where, which field, and why.")
class ImportError:
    sheet: str
    row: int
    field: str
    message: str


@strawberry.type(
    description="An import job: one file's rows as entities of one type; checked first "
    "(status `checked`: counts and the first errors, nothing written), then applied "
    "(`applying`, `completed`), or `refused`, or `cancelled`."
)
class Import(ImportRow, RowType[ImportRow]):
    mapping: dict[str, Any] = strawberry.field(graphql_type=JSON)
    sheets: list[dict[str, Any]] = strawberry.field(
        graphql_type=JSON,
        description="Each sheet's name, header, row count, and how each column was matched "
        "to a field (given, exact, normalised, similar with its score).",
    )
    first_errors: strawberry.Private[list[dict[str, Any]]]

    @field("The first rows the check found fault with.", name="firstErrors")
    def check_errors(self) -> list[ImportError]:
        return [ImportError(**error) for error in self.first_errors]

    @field("Rows applied or failed so far.")
    def processed(self) -> int:
        return self.done + self.failed

    @field("Rows per second since it started (while applying, and once completed).")
    def rate(self) -> float | None:
        if self.started_at is None or not self.processed():
            return None
        until = self.finished_at or datetime.now(UTC)
        seconds = max((until - self.started_at).total_seconds(), 1e-3)
        return round(self.processed() / seconds, 1)

    @field("Seconds until done at the current rate, while applying.")
    def eta_seconds(self) -> float | None:
        rate = self.rate()
        if self.status != "applying" or not rate:
            return None
        return round(max(self.rows - self.processed(), 0) / rate, 1)

    @field(
        "The failed rows as they were, with an added `error` column: GET this path with the "
        "same bearer token; `?format=csv` for CSV."
    )
    def error_report_url(self) -> str:
        return f"/v1/imports/{self.id}/errors"


@strawberry.type
class ImportQuery:
    @field("One import job by id.")
    async def import_job(self, info: Info, id: UUID) -> Import | None:
        row = await info.context.loaders.of(IMPORT).load(id)
        return Import.of(row) if row else None

    @field("Import jobs, newest first; optionally of one status.")
    async def imports(
        self,
        info: Info,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        status: str | None = None,
    ) -> Connection[Import]:
        size = page_size(first)
        page = await info.context.run(
            lambda reads: reads.of(ImportReads).page(size, after, status=status)
        )
        return connection(page, Import.of)
