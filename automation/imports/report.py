"""The error report of an import job: the rows that failed, as they were, plus an "error" column.

Every cell a spreadsheet program could take for a formula is escaped with a leading "'" (OWASP's
CSV injection advice): the report repeats what users uploaded, and opening it must not run
`=HYPERLINK(...)` or `=cmd|...` on the reader's machine.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

ERROR_COLUMN = "error"
SHEET_TITLE = "errors"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_EXCEL_MAX_TEXT = 32767  # characters in one cell; Excel calls a longer one a damaged file
_XLSX_AS_IS = (bool, int, float, Decimal, date, time, timedelta)

ReportRows = Iterable[tuple[Sequence[Any], str]]


def escape_cell(value: Any) -> Any:
    """A string a spreadsheet would read as a formula gets a leading "'"; the rest is unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(
    path_or_stream: Path | str | IO[str], header: Sequence[str], rows: ReportRows
) -> None:
    """UTF-8 with a BOM, so that Excel does not read it as cp1252; every cell escaped."""
    if isinstance(path_or_stream, (str, Path)):
        with Path(path_or_stream).open("w", encoding="utf-8-sig", newline="") as stream:
            _write_csv(stream, header, rows)
    else:
        path_or_stream.write("\ufeff")
        _write_csv(path_or_stream, header, rows)


def _write_csv(stream: IO[str], header: Sequence[str], rows: ReportRows) -> None:
    writer = csv.writer(stream)
    writer.writerow([escape_cell(name) for name in header] + [ERROR_COLUMN])
    for values, error in rows:
        writer.writerow(
            [escape_cell(value) for value in _fit(values, len(header))] + [escape_cell(error)]
        )


def write_xlsx(path: Path | str, header: Sequence[str], rows: ReportRows) -> None:
    """One sheet "errors", streamed (write-only); dates and numbers stay dates and numbers."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(SHEET_TITLE)
    sheet.append([_xlsx_value(name) for name in header] + [ERROR_COLUMN])
    for values, error in rows:
        sheet.append(
            [_xlsx_value(value) for value in _fit(values, len(header))] + [_xlsx_value(error)]
        )
    workbook.save(str(path))


def _fit(values: Sequence[Any], width: int) -> list[Any]:
    # The error has to land in the "error" column, whatever the row's length.
    return [*values[:width], *[None] * (width - len(values))]


def _xlsx_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.isoformat()  # Excel has no time zones; openpyxl refuses them
    elif isinstance(value, _XLSX_AS_IS):
        return value
    # openpyxl refuses control characters a CSV file may well hold; they are dropped.
    return escape_cell(ILLEGAL_CHARACTERS_RE.sub("", str(value)))[:_EXCEL_MAX_TEXT]
