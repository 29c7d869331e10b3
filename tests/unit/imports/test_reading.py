"""Uploaded spreadsheets and CSV files read back as a user sees them in Excel, and unsafe files
refused quickly, before anything parses them, with a message a user understands."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from automation.imports.reading import (
    DEFAULT_LIMITS,
    FileRefused,
    Limits,
    Sheet,
    check_container,
    file_format,
    read_sheets,
    sheet_names,
)

QUICK = 2.0  # seconds a refusal may take


def read_all(path: Path, sheet: str | None = None, limits: Limits = DEFAULT_LIMITS) -> list[Sheet]:
    return list(read_sheets(path, file_format(path.name), sheet, limits))


def rows_of(sheet: Sheet) -> list[tuple[int, tuple[Any, ...]]]:
    return list(sheet.rows)


def refused(call: Callable[[], object]) -> FileRefused:
    started = time.perf_counter()
    with pytest.raises(FileRefused) as caught:
        call()
    assert time.perf_counter() - started < QUICK
    return caught.value


# ---------------------------------------------------------------------------------------------
# xlsx, as written by openpyxl
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    book = openpyxl.Workbook()
    people = book.active
    assert people is not None
    people.title = "People"
    # Row 1 left empty: the header is the first row with something in it, row 2.
    people.append([])
    people.append([" Name ", "Born", "Count", "Active", "Sum", None, "Name"])
    people.append(["Ann", date(1990, 5, 17), 3, True, "=1+1", None, "dup"])
    people.append([])  # an empty row in the middle
    people.append(["Bob", datetime(2024, 1, 2, 3, 4, 5), 2.5, False, None, None, None])
    people.append(["  ", None, None, None, None, None, None])  # blank, skipped too
    people.append(["Cy"])
    book.create_sheet("Empty")
    other = book.create_sheet("Other")
    other.append(["code"])
    other.append(["A-1"])
    path = tmp_path / "people.xlsx"
    book.save(path)
    return path


def test_an_xlsx_reads_back_as_excel_shows_it(workbook: Path) -> None:
    sheets = read_all(workbook)

    assert [sheet.name for sheet in sheets] == ["People", "Other"]  # the empty sheet skipped
    people = sheets[0]
    assert people.header == ("Name", "Born", "Count", "Active", "Sum", "", "Name")
    assert rows_of(people) == [
        # Excel's row numbers; 3 not 3.0; the formula =1+1 is not evaluated: openpyxl saved no
        # cached value, so there is none to read.
        (3, ("Ann", date(1990, 5, 17), 3, True, None, None, "dup")),
        (5, ("Bob", datetime(2024, 1, 2, 3, 4, 5), 2.5, False, None, None, None)),
        (7, ("Cy", None, None, None, None, None, None)),  # padded to the header
    ]
    assert rows_of(sheets[1]) == [(2, ("A-1",))]


def test_only_the_chosen_sheet_is_read(workbook: Path) -> None:
    sheets = read_all(workbook, "Other")

    assert [(sheet.name, sheet.header) for sheet in sheets] == [("Other", ("code",))]


def test_an_unknown_sheet_is_refused_naming_the_sheets_there_are(workbook: Path) -> None:
    error = refused(lambda: read_all(workbook, "Staff"))

    assert error.path == ("sheet",)
    assert "'Staff'" in error.message
    assert all(f"'{name}'" in error.message for name in ("People", "Empty", "Other"))


def test_sheet_names_lists_every_sheet_in_order(workbook: Path, tmp_path: Path) -> None:
    assert sheet_names(workbook, "xlsx") == ["People", "Empty", "Other"]
    csv_file = tmp_path / "clients.csv"
    csv_file.write_text("a\n1\n")
    assert sheet_names(csv_file, "csv") == ["clients"]


def test_an_uppercase_extension_reads_the_same(workbook: Path, tmp_path: Path) -> None:
    upper = tmp_path / "PEOPLE.XLSX"
    upper.write_bytes(workbook.read_bytes())

    assert file_format(upper.name) == "xlsx"
    assert [sheet.name for sheet in read_all(upper)] == ["People", "Other"]


# ---------------------------------------------------------------------------------------------
# .ods, written by hand (no LibreOffice needed)
# ---------------------------------------------------------------------------------------------

ODS_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
)
ODS_MANIFEST = (
    '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
    'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
    '<manifest:file-entry manifest:full-path="/" '
    'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
    '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
    "</manifest:manifest>"
)
# What LibreOffice writes after the data: empty rows and cells repeated to the sheet's end.
ODS_PADDING = (
    '<table:table-row table:number-rows-repeated="1048570">'
    '<table:table-cell table:number-columns-repeated="1024"/></table:table-row>'
)


def ods_cell(value: object) -> str:
    if value is None:
        return "<table:table-cell/>"
    if isinstance(value, bool):
        kind = f'office:value-type="boolean" office:boolean-value="{str(value).lower()}"'
    elif isinstance(value, int | float):
        kind = f'office:value-type="float" office:value="{value}"'
    elif isinstance(value, datetime | date):
        kind = f'office:value-type="date" office:date-value="{value.isoformat()}"'
    else:
        kind = 'office:value-type="string"'
    return f"<table:table-cell {kind}><text:p>{value}</text:p></table:table-cell>"


def ods_table(name: str, rows: list[list[object]], padding: str = ODS_PADDING) -> str:
    body = "".join(
        "<table:table-row>" + "".join(ods_cell(v) for v in row) + "</table:table-row>"
        for row in rows
    )
    return f'<table:table table:name="{name}">{body}{padding}</table:table>'


def write_ods(path: Path, *tables: str) -> Path:
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ODS_NS} '
        'office:version="1.2"><office:body><office:spreadsheet>'
        + "".join(tables)
        + "</office:spreadsheet></office:body></office:document-content>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        mimetype = zipfile.ZipInfo("mimetype")
        archive.writestr(mimetype, "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("META-INF/manifest.xml", ODS_MANIFEST)
        archive.writestr("content.xml", content)
    return path


def test_an_ods_reads_back_as_libreoffice_shows_it(tmp_path: Path) -> None:
    path = write_ods(
        tmp_path / "visits.ods",
        ods_table(
            "Visites",
            [
                [None],
                ["name", "n", "when", "ok"],
                [None, None],
                ["Zoé", 3, date(2024, 5, 6), True],
                ["Yan", 2.5, datetime(2024, 5, 6, 10, 30), False],
            ],
        ),
        ods_table("Vide", []),
    )

    sheets = read_all(path)

    assert [(sheet.name, sheet.header) for sheet in sheets] == [
        ("Visites", ("name", "n", "when", "ok"))
    ]
    assert rows_of(sheets[0]) == [
        (4, ("Zoé", 3, date(2024, 5, 6), True)),
        (5, ("Yan", 2.5, datetime(2024, 5, 6, 10, 30), False)),
    ]


def test_an_ods_table_repeating_a_value_over_a_huge_grid_is_refused(tmp_path: Path) -> None:
    # 6,000 rows x 16,384 columns of the same number: a few hundred bytes asking for 3 GB.
    bomb = (
        '<table:table table:name="Big"><table:table-row table:number-rows-repeated="6000">'
        '<table:table-cell office:value-type="float" office:value="1" '
        'table:number-columns-repeated="16384"><text:p>1</text:p></table:table-cell>'
        "</table:table-row></table:table>"
    )
    path = write_ods(tmp_path / "bomb.ods", bomb)

    error = refused(lambda: read_all(path))

    assert error.path == ("sheet",)
    assert "'Big'" in error.message
    assert "16,384 columns" in error.message


def test_an_ods_sheet_is_measured_exactly_across_many_chunks(tmp_path: Path) -> None:
    # Megabytes of content.xml: counted a megabyte at a time, mostly in bulk.
    header: list[object] = ["n", "text"]
    rows = [header] + [[i, f"row {i}"] for i in range(30_000)]
    path = write_ods(tmp_path / "long.ods", ods_table("Long", rows))

    check_container(path, "ods", Limits(max_rows=30_000))
    error = refused(lambda: check_container(path, "ods", Limits(max_rows=29_999)))

    assert (
        error.message
        == "sheet 'Long' has 30,000 rows below its header, more than the 29,999 allowed"
    )


# ---------------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------------


def test_a_semicolon_csv_is_split_on_semicolons(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("nom;ville;montant\nAnn;Lyon;12,50\n\n;;\nBob;;3\n", encoding="utf-8")

    (sheet,) = read_all(path)

    assert (sheet.name, sheet.header) == ("export", ("nom", "ville", "montant"))
    # Values stay text (the decimal comma is for the mapping to read); empty ones are None.
    assert rows_of(sheet) == [(2, ("Ann", "Lyon", "12,50")), (5, ("Bob", None, "3"))]


def test_a_utf8_bom_is_not_part_of_the_first_column_name(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("email,name\r\nzoé@example.org,Zoé\r\n".encode("utf-8-sig"))

    (sheet,) = read_all(path)

    assert sheet.header == ("email", "name")
    assert rows_of(sheet) == [(2, ("zoé@example.org", "Zoé"))]


def test_a_utf16_file_from_excel_unicode_text_reads(tmp_path: Path) -> None:
    path = tmp_path / "unicode.csv"
    path.write_bytes("name\tcity\nZoé\tSète\n".encode("utf-16"))

    (sheet,) = read_all(path)

    assert rows_of(sheet) == [(2, ("Zoé", "Sète"))]


def test_a_cp1252_file_is_read_as_cp1252(tmp_path: Path) -> None:
    path = tmp_path / "ansi.csv"
    # Valid UTF-8 for thousands of lines, then one cp1252 "é": the guess must cover the file.
    lines = ["name,city"] + [f"n{i},Paris" for i in range(5000)] + ["René,Besançon"]
    path.write_bytes("\r\n".join(lines).encode("cp1252"))

    (sheet,) = read_all(path)

    assert rows_of(sheet)[-1] == (5002, ("René", "Besançon"))


def test_a_quoted_newline_stays_in_its_cell_and_rows_count_as_excel_does(tmp_path: Path) -> None:
    path = tmp_path / "notes.csv"
    path.write_text('id,note\n1,"first line\nsecond line"\n2,plain\n', encoding="utf-8")

    (sheet,) = read_all(path)

    assert rows_of(sheet) == [(2, ("1", "first line\nsecond line")), (3, ("2", "plain"))]


def test_an_empty_csv_has_no_sheet(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("\n,,\n\n")

    assert read_all(path) == []


def test_a_csv_with_too_many_rows_is_refused_while_reading(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text("a\n" + "x\n" * 11)
    (sheet,) = read_all(path, limits=Limits(max_rows=10))

    error = refused(lambda: rows_of(sheet))

    assert error.path == ("sheet",)
    assert "'long'" in error.message
    assert "10 rows" in error.message


def test_a_csv_with_too_many_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(6)) + "\n")

    error = refused(lambda: read_all(path, limits=Limits(max_columns=5)))

    assert error.path == ("sheet",)
    assert "6 columns" in error.message


# ---------------------------------------------------------------------------------------------
# Unsafe and unreadable files
# ---------------------------------------------------------------------------------------------


def xlsx_rewritten(path: Path, member: str, change: Callable[[bytes], bytes]) -> Path:
    """An openpyxl workbook whose `member` is replaced by change(member)."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Data"
    sheet.append(["name", "n"])
    sheet.append(["lol", 1])
    original = io.BytesIO()
    book.save(original)
    with (
        zipfile.ZipFile(original) as source,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out,
    ):
        names = source.namelist()
        assert member in names
        for name in names:
            data = source.read(name)
            out.writestr(name, change(data) if name == member else data)
    return path


def test_a_zip_bomb_is_refused_without_decompressing_it(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (50 * 1024 * 1024))  # ~1000:1
    assert path.stat().st_size < 100 * 1024

    error = refused(lambda: read_all(path))

    assert "zip bomb" in error.message
    assert "xl/worksheets/sheet1.xml" in error.message


def test_a_zip_expanding_past_the_total_allowed_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.xml", b"<a/>" * 1000)
        archive.writestr("b.xml", b"<b/>" * 1000)

    error = refused(lambda: read_all(path, limits=Limits(max_uncompressed_bytes=6000)))

    assert "zip bomb" in error.message


def test_a_member_lying_about_its_size_is_refused(tmp_path: Path) -> None:
    path = xlsx_rewritten(tmp_path / "lie.xlsx", "xl/worksheets/sheet1.xml", lambda x: x)
    data = bytearray(path.read_bytes())
    # Shrink the sheet's declared uncompressed size in the central directory to 10 bytes.
    at = 0
    while (at := data.find(b"PK\x01\x02", at + 1)) > 0:
        name_length = int.from_bytes(data[at + 28 : at + 30], "little")
        if data[at + 46 : at + 46 + name_length] == b"xl/worksheets/sheet1.xml":
            data[at + 24 : at + 28] = (10).to_bytes(4, "little")
    path.write_bytes(bytes(data))

    error = refused(lambda: read_all(path))

    assert "zip bomb" in error.message
    assert "declares" in error.message


LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b"]>"
)


# openpyxl writes strings inline, so there is no sharedStrings.xml to rewrite; workbook.xml is
# read by calamine before any sheet.
@pytest.mark.parametrize("member", ["xl/worksheets/sheet1.xml", "xl/workbook.xml"])
def test_billion_laughs_is_refused(tmp_path: Path, member: str) -> None:
    def declare_entities(xml: bytes) -> bytes:
        body = xml.split(b"?>", 1)[1] if xml.startswith(b"<?xml") else xml
        return LAUGHS + body.replace(b"lol", b"&lol9;", 1)

    path = xlsx_rewritten(tmp_path / "laughs.xlsx", member, declare_entities)

    error = refused(lambda: read_all(path))

    assert "declares XML entities" in error.message
    assert member in error.message


def test_cells_far_apart_are_refused_before_calamine_builds_their_grid(tmp_path: Path) -> None:
    # A1 and XFD1048576: calamine would ask for a 512 GB grid and abort the process.
    path = tmp_path / "sparse.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Sparse"
    sheet["A1"] = "x"
    sheet["XFD1048576"] = "y"
    book.save(path)
    assert path.stat().st_size < 10_000

    # check_container alone: were it to let the file through, calamine would kill pytest.
    error = refused(lambda: check_container(path, "xlsx", Limits()))

    assert error.path == ("sheet",)
    assert "'Sparse'" in error.message
    assert "16,384 columns" in error.message


def test_cells_without_references_are_placed_as_calamine_would(tmp_path: Path) -> None:
    # No r="A1" attributes: positions follow from the order of the cells.
    wide = b"<row>" + b"<c><v>1</v></c>" * 600 + b"</row>"
    path = xlsx_rewritten(
        tmp_path / "noref.xlsx",
        "xl/worksheets/sheet1.xml",
        lambda xml: (
            xml.split(b"<sheetData>")[0] + b"<sheetData>" + wide + b"</sheetData></worksheet>"
        ),
    )

    error = refused(lambda: check_container(path, "xlsx", Limits()))

    assert "600 columns" in error.message


def test_an_absurd_shared_string_count_is_refused(tmp_path: Path) -> None:
    # calamine reserves memory for the strings <sst uniqueCount> announces: 96 GB here.
    path = tmp_path / "strings.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "xl/sharedStrings.xml",
            '<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
            '2006/main" count="4000000000" uniqueCount="4000000000"><si><t>a</t></si></sst>',
        )

    error = refused(lambda: check_container(path, "xlsx", Limits()))

    assert "4,000,000,000 distinct texts" in error.message


def test_styled_empty_cells_far_away_do_not_count(tmp_path: Path) -> None:
    # Formatting reaching the last row writes empty cells there; calamine drops them.
    styled = b'<row r="1048576"><c r="XFD1048576" s="1"/></row></sheetData>'
    path = xlsx_rewritten(
        tmp_path / "styled.xlsx",
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace(b"</sheetData>", styled),
    )

    (sheet,) = read_all(path)

    assert rows_of(sheet) == [(2, ("lol", 1))]


def test_too_many_rows_in_a_sheet_is_refused_naming_it(workbook: Path) -> None:
    error = refused(lambda: read_all(workbook, limits=Limits(max_rows=3)))

    assert error.path == ("sheet",)
    assert "'People'" in error.message
    assert "rows" in error.message


def test_too_many_columns_in_a_sheet_is_refused_naming_it(workbook: Path) -> None:
    error = refused(lambda: read_all(workbook, limits=Limits(max_columns=6)))

    assert error.path == ("sheet",)
    assert "'People'" in error.message
    assert "7 columns" in error.message


def test_a_file_over_the_size_limit_is_refused(workbook: Path) -> None:
    error = refused(lambda: read_all(workbook, limits=Limits(max_file_bytes=1000)))

    assert error.path == ("file",)
    assert "more than the 1000 bytes allowed" in error.message.replace(",", "")


def test_a_txt_file_is_refused_naming_the_supported_formats() -> None:
    error = refused(lambda: file_format("clients.txt"))

    assert error.message.startswith(".txt files are not supported")
    for extension in (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods", ".csv"):
        assert extension in error.message
    assert "without an extension" in refused(lambda: file_format("README")).message


@pytest.mark.parametrize("name", ["garbage.xlsx", "garbage.ods", "garbage.xlsb", "garbage.xls"])
def test_garbage_bytes_are_refused_in_one_line(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"\x00\x01this is not a spreadsheet\xff" * 100)

    error = refused(lambda: read_all(path))

    assert "\n" not in error.message
    assert error.message.startswith(("not a valid", "could not read the file"))


def test_a_truncated_xlsx_is_refused(workbook: Path) -> None:
    workbook.write_bytes(workbook.read_bytes()[:2000])

    error = refused(lambda: read_all(workbook))

    assert error.message.startswith(("not a valid", "could not read the file"))


def test_an_encrypted_workbook_says_so(tmp_path: Path) -> None:
    # Excel saves password-protected workbooks as OLE files, whatever their extension.
    path = tmp_path / "secret.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 4096)

    error = refused(lambda: read_all(path))

    assert "password-protected" in error.message
