"""Reading an uploaded spreadsheet or CSV file into sheets of rows, refusing unsafe files first.

Spreadsheets (.xlsx, .xlsm, .xls, .xlsb, .ods) are read with python-calamine (Rust): formulas are
never evaluated, a formula cell gives the value Excel cached when the file was last saved (none
when the file was written by a program that does not compute formulas), and macros are ignored
(an .xlsm is read as data). CSV files are streamed with the standard library.

Before anything is parsed, `check_container` looks at the file cheaply: its size, and for the
zip-based formats the zip directory (zip bombs), XML entity declarations (billion laughs), the
extent of every sheet and the shared strings a workbook announces. The last two matter because
calamine allocates what a file claims: each sheet becomes a dense grid from its first to its
last used cell, so a 5 KB file with cells at A1 and XFD1048576 asks for 512 GB, and Rust aborts
the whole process on a failed allocation, which no `except` can catch. Binary formats (.xls,
.xlsb) cannot be looked into this way and are only checked once calamine has loaded a sheet:
run imports in a process of their own, with a memory limit, if those come from people you do
not trust.
"""

from __future__ import annotations

import codecs
import csv
import html
import io
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePath
from typing import IO, Any

from defusedxml.ElementTree import fromstring  # type: ignore[import-untyped]
from python_calamine import CalamineSheet, CalamineWorkbook, PasswordError, SheetTypeEnum

from domain.errors import InvalidInput
from domain.import_job import FORMATS
from domain.import_job import file_format as domain_file_format

SUPPORTED_FORMATS = FORMATS
ZIP_FORMATS = frozenset({"xlsx", "xlsm", "xlsb", "ods"})

_MIB = 1024 * 1024
_CHUNK = _MIB
_XML_HEAD = 65536  # where a DOCTYPE has to be: before the root element, at the very start
_RATIO_FLOOR = _MIB  # members expanding to less cannot hurt, however well they compress
_MAX_DIRECTORY = 4 * _MIB  # each entry costs a ZipInfo; a workbook's directory takes KBs
_CSV_SAMPLE = 65536
_CSV_MAX_LINE = 8 * _MIB  # a line of commas alone would otherwise become millions of fields
_EXACT_INT = 2**53
_XML_SUFFIXES = (".xml", ".rels", ".vml")


@dataclass(frozen=True)
class Limits:
    """What a file may hold before it is refused unread."""

    max_file_bytes: int = 200 * _MIB
    max_uncompressed_bytes: int = 1024 * _MIB  # sum of zip members' declared sizes
    max_ratio: float = 200.0  # uncompressed/compressed for any one zip member (zip bomb)
    max_rows: int = 1_000_000  # data rows per sheet
    max_columns: int = 500
    # calamine holds a sheet as rows x columns cells of 32 bytes each, empty or not: this caps
    # that grid at about 800 MB, whatever the row and column limits allow on their own (and
    # the shared strings a workbook may announce, which calamine reserves room for).
    max_cells: int = 25_000_000


DEFAULT_LIMITS = Limits()


class FileRefused(Exception):
    """A file that is not read: `message` says why in one line a user understands, `path` is e.g. ("file",) or ("sheet",)."""

    def __init__(self, message: str, path: tuple[str | int, ...] = ("file",)) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


@dataclass(frozen=True)
class Sheet:
    """One sheet's header and its data rows, read lazily.

    `rows` yields (row number as Excel or the CSV file shows it, values) with the values padded
    or cut to the header's length; rows with nothing in them are skipped. Values are None for
    empty cells, str, int (a number without a fractional part), float, bool, datetime, date,
    time or timedelta; from a CSV file, str or None. Iterating may still raise FileRefused
    (a CSV file's row limits are only known while streaming it).
    """

    name: str
    header: tuple[str, ...]
    rows: Iterator[tuple[int, tuple[Any, ...]]]


# ---------------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------------


def file_format(filename: str) -> str:
    """The file's format from its extension (`domain.import_job.file_format`), else FileRefused."""
    try:
        return domain_file_format(filename)
    except InvalidInput as refused:
        raise FileRefused(refused.message) from None


def sheet_names(path: Path, fmt: str, limits: Limits = DEFAULT_LIMITS) -> list[str]:
    """The sheets a file offers, in workbook order (a CSV file is one sheet named after it)."""
    check_container(path, fmt, limits)
    if fmt == "csv":
        return [_csv_name(path)]
    return _worksheet_names(_open_workbook(path))


def read_sheets(
    path: Path, fmt: str, sheet: str | None, limits: Limits = DEFAULT_LIMITS
) -> Iterator[Sheet]:
    """Every sheet of the file that has something in it, or only `sheet`.

    The container is checked and the sheet looked up now, so that a refused file raises here;
    each sheet is then loaded when the iteration reaches it.
    """
    check_container(path, fmt, limits)
    if fmt == "csv":
        name = _csv_name(path)
        _choose([name], sheet)
        return _csv_sheets(path, name, limits)
    workbook = _open_workbook(path)
    return _calamine_sheets(workbook, _choose(_worksheet_names(workbook), sheet), limits)


def check_container(path: Path, fmt: str, limits: Limits) -> None:
    """Refuse a file that is too big, a zip bomb, declares XML entities or has a sheet too large.

    Nothing is parsed: the zip directory is read, and XML members are decompressed in chunks
    and scanned with regular expressions. A zip is checked as one whatever its extension says,
    since calamine opens a zip named .XLS as an .xlsx.
    """
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise FileRefused(
            f"the file is {_mb(size)}, more than the {_mb(limits.max_file_bytes)} allowed"
        )
    if fmt == "csv":
        return
    if fmt in ZIP_FORMATS or zipfile.is_zipfile(path):
        _check_zip(path, fmt, limits)


# ---------------------------------------------------------------------------------------------
# Zip containers
# ---------------------------------------------------------------------------------------------


def _check_zip(path: Path, fmt: str, limits: Limits) -> None:
    with path.open("rb") as raw:
        _check_member_count(raw, fmt)
        try:
            archive = zipfile.ZipFile(raw)
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
            raise FileRefused(f"not a valid .{fmt} file") from exc
        with archive:
            members = archive.infolist()
            _check_directory(members, limits)
            sheets = _SheetNames(archive)
            for member in members:
                suffix = PurePath(member.filename).suffix.lower()
                if suffix in _XML_SUFFIXES:
                    _check_xml_member(raw, member, limits, sheets)
                elif suffix == ".bin":  # .xlsb sheets: only their true size can be checked
                    for _ in _inflate(raw, member):
                        pass


def _check_member_count(raw: IO[bytes], fmt: str) -> None:
    """Refuse before zipfile reads a directory of millions of entries into memory."""
    head = raw.read(8)
    if head.startswith(b"\xd0\xcf\x11\xe0"):  # an OLE file: an encrypted workbook or an .xls
        raise FileRefused(
            f"not a valid .{fmt} file: it is password-protected or an old .xls file renamed"
        )
    size = _directory_size(raw)
    if size is not None and size > _MAX_DIRECTORY:
        raise FileRefused(f"not a valid .{fmt} file: its zip directory is {_mb(size)}")
    raw.seek(0)


def _directory_size(raw: IO[bytes]) -> int | None:
    """The central directory's size from the end-of-central-directory record (zip64 too).

    zipfile reads that many bytes of entries whatever count the record declares.
    """
    end = raw.seek(0, io.SEEK_END)
    raw.seek(max(0, end - 65536 - 22))  # the record plus its longest comment
    tail = raw.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) < at + 22:
        return None
    size: int = struct.unpack("<I", tail[at + 12 : at + 16])[0]
    locator = at - 20
    if locator >= 0 and tail[locator : locator + 4] == b"PK\x06\x07":
        record_at: int = struct.unpack("<Q", tail[locator + 8 : locator + 16])[0]
        raw.seek(record_at)
        record = raw.read(56)
        if len(record) == 56 and record.startswith(b"PK\x06\x06"):
            size = max(size, struct.unpack("<Q", record[40:48])[0])
    return size


def _check_directory(members: list[zipfile.ZipInfo], limits: Limits) -> None:
    """Zip bomb checks on the declared sizes alone: nothing is decompressed here."""
    total = sum(member.file_size for member in members)
    if total > limits.max_uncompressed_bytes:
        raise FileRefused(
            f"looks like a zip bomb: it would expand to {_mb(total)}, "
            f"more than the {_mb(limits.max_uncompressed_bytes)} allowed"
        )
    for member in members:
        if member.flag_bits & 0x1:
            raise FileRefused("the file has encrypted parts; save it without a password")
        if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise FileRefused(f"not a valid spreadsheet: {member.filename} is oddly compressed")
        if member.file_size <= _RATIO_FLOOR:
            continue
        ratio = member.file_size / max(member.compress_size, 1)
        if ratio > limits.max_ratio:
            raise FileRefused(
                f"looks like a zip bomb: {member.filename} expands {ratio:,.0f} times "
                f"(at most {limits.max_ratio:,.0f} allowed)"
            )


def _check_xml_member(
    raw: IO[bytes], member: zipfile.ZipInfo, limits: Limits, sheets: _SheetNames
) -> None:
    name = member.filename
    # Every member gets the xlsx screen, content.xml included: a workbook's relationships may
    # name any member as a sheet, and the extension does not say which reader calamine picks.
    screen = _XlsxScreen(name, limits)
    ods = _OdsScan(name, limits) if name == "content.xml" else None
    head = b""
    for chunk in _inflate(raw, member):
        if len(head) < _XML_HEAD:
            head += chunk[: _XML_HEAD - len(head)]
            _check_entities(head, name)
        screen.feed(chunk)
        if ods is not None:
            ods.feed(chunk)
    screen.finish()
    too_big = ods.finish() if ods is not None else None
    if too_big is None and screen.suspicious:
        # Cells without references, or references beyond the cheap thresholds: do it exactly.
        exact = _XlsxExtent(name)
        for chunk in _inflate(raw, member):
            exact.feed(chunk)
        too_big = _grid_problem(exact.finish(), limits)
    if too_big is not None:
        sheet = too_big.sheet or sheets.name_of(name)
        raise FileRefused(f"sheet {sheet!r} {too_big.text}", ("sheet",))


def _check_entities(head: bytes, member: str) -> None:
    # The billion-laughs defence: entity declarations live in a DOCTYPE before the root element.
    lowered = head.lower()
    if b"<!doctype" in lowered or b"<!entity" in lowered:
        raise FileRefused(
            f"not a valid spreadsheet: {member} declares XML entities, which spreadsheets "
            "never need"
        )


def _inflate(raw: IO[bytes], member: zipfile.ZipInfo) -> Iterator[bytes]:
    """The member's bytes in chunks, refused as soon as they outgrow the size it declares.

    Decompressed here rather than with zipfile, which silently stops at the declared size: the
    reader that comes after might not, and a member lying about its size is a zip bomb too.
    """
    raw.seek(member.header_offset)
    local = raw.read(30)
    if len(local) < 30 or not local.startswith(b"PK\x03\x04"):
        raise FileRefused(f"not a valid spreadsheet: {member.filename} is damaged")
    name_length, extra_length = struct.unpack("<HH", local[26:30])
    raw.seek(member.header_offset + 30 + name_length + extra_length)
    chunks = (
        _stored(raw, member)
        if member.compress_type == zipfile.ZIP_STORED
        else _deflated(raw, member)
    )
    produced = 0
    for chunk in chunks:
        produced += len(chunk)
        if produced > member.file_size:
            raise FileRefused(
                f"looks like a zip bomb: {member.filename} expands beyond the "
                f"{_mb(member.file_size)} it declares"
            )
        yield chunk


def _stored(raw: IO[bytes], member: zipfile.ZipInfo) -> Iterator[bytes]:
    left = member.compress_size
    while left > 0 and (chunk := raw.read(min(_CHUNK, left))):
        left -= len(chunk)
        yield chunk


def _deflated(raw: IO[bytes], member: zipfile.ZipInfo) -> Iterator[bytes]:
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    left = member.compress_size
    pending = b""
    try:
        while not inflater.eof:
            if not pending and left > 0:
                pending = raw.read(min(_CHUNK, left))
                left = left - len(pending) if pending else 0
            chunk = inflater.decompress(pending, _CHUNK)
            pending = inflater.unconsumed_tail
            if not chunk and not pending and left <= 0:
                return
            yield chunk
    except zlib.error as exc:
        raise FileRefused(f"not a valid spreadsheet: {member.filename} is damaged") from exc


class _SheetNames:
    """Which xlsx member holds which sheet, looked up only when a refusal has to name one."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self._archive = archive

    def name_of(self, member: str) -> str:
        try:
            return self._names().get(member, member)
        except Exception:  # a damaged workbook.xml: calamine will say so; name the member
            return member

    def _names(self) -> dict[str, str]:
        rels_ns = "{http://schemas.openxmlformats.org/package/2006/relationships}"
        doc_ns = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
        targets: dict[Any, str] = {}
        rels = fromstring(self._small("xl/_rels/workbook.xml.rels"))
        for rel in rels.iter(f"{rels_ns}Relationship"):
            target = str(rel.get("Target", ""))
            path = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
            targets[rel.get("Id")] = path
        workbook = fromstring(self._small("xl/workbook.xml"))
        names: dict[str, str] = {}
        for element in workbook.iter():
            if element.tag.endswith("}sheet") and element.get(f"{doc_ns}id") in targets:
                names[targets[element.get(f"{doc_ns}id")]] = str(element.get("name"))
        return names

    def _small(self, name: str) -> bytes:
        with self._archive.open(name) as member:
            return member.read(4 * _MIB)


# ---------------------------------------------------------------------------------------------
# Sheet extents, before calamine allocates them
# ---------------------------------------------------------------------------------------------


class _Pieces:
    """Cuts a member's chunks into pieces of XML that never end inside a tag."""

    def __init__(self, member: str) -> None:
        self._member = member
        self._carry = b""

    def take(self, chunk: bytes) -> bytes:
        data = self._carry + chunk if self._carry else chunk
        cut = data.rfind(b"<")
        if cut < 0 or _WHOLE_TAG.match(data, cut):
            self._carry = b""
            return data
        if len(data) - cut > _MAX_TAG:
            raise FileRefused(f"not a valid spreadsheet: {self._member} has a tag over 16 MB")
        self._carry = data[cut:]
        return data[:cut]

    def rest(self) -> bytes:
        rest, self._carry = self._carry, b""
        return rest


_ATTRIBUTES = rb"""((?:[^>"']|"[^"]*"|'[^']*')*)"""  # ">" may appear inside quoted values
_WHOLE_TAG = re.compile(rb"<" + _ATTRIBUTES + rb">")
_MAX_TAG = 16 * _MIB


@dataclass(frozen=True)
class _Extent:
    """The box calamine will allocate for a sheet: rows and columns from first to last cell."""

    rows: int
    columns: int
    sheet: str | None = None  # known for .ods; an xlsx member is named from workbook.xml


@dataclass(frozen=True)
class _TooBig:
    text: str
    sheet: str | None


def _grid_problem(extent: _Extent | None, limits: Limits) -> _TooBig | None:
    """What is wrong with a sheet's grid, if anything; its first row is taken as the header."""
    if extent is None:
        return None
    if extent.columns > limits.max_columns:
        text = f"has {extent.columns:,} columns, more than the {limits.max_columns:,} allowed"
    elif extent.rows - 1 > limits.max_rows:
        text = (
            f"has {extent.rows - 1:,} rows below its header, "
            f"more than the {limits.max_rows:,} allowed"
        )
    elif extent.rows * extent.columns > limits.max_cells:
        text = (
            f"spans {extent.rows:,} rows by {extent.columns:,} columns, more than the "
            f"{limits.max_cells:,} cells allowed"
        )
    else:
        return None
    return _TooBig(text, extent.sheet)


class _XlsxScreen:
    """A fast pass over an xlsx XML member: are all its cells within limits, for sure?

    When every cell tag starts `<c r="..."` (what Excel, LibreOffice and openpyxl write), the
    references are the cells' positions, and matching references beyond a row and a column
    threshold (whose product stays within max_cells) is enough. Anything else makes the
    member `suspicious`, and _XlsxExtent then reads its positions as calamine would.
    """

    def __init__(self, member: str, limits: Limits) -> None:
        self._member = member
        self._limits = limits
        narrow = min(26, limits.max_columns)
        self._tiers = [_beyond(limits, narrow), _beyond(limits, limits.max_columns)]
        self._tier = 0
        self._pieces = _Pieces(member)
        self._first = True
        self.suspicious = False

    def feed(self, chunk: bytes) -> None:
        self._screen(self._pieces.take(chunk))

    def finish(self) -> None:
        self._screen(self._pieces.rest())

    def _check_strings(self, data: bytes) -> None:
        # calamine reserves room for the shared strings an <sst uniqueCount> announces: four
        # billion of them is a 96 GB allocation, and an abort.
        if b"uniqueCount" not in data:
            return
        for found in _UNIQUE_COUNT.finditer(data):
            count = int(found.group(1))
            if count > self._limits.max_cells:
                raise FileRefused(
                    f"not a valid spreadsheet: {self._member} announces {count:,} distinct "
                    f"texts, more than the {self._limits.max_cells:,} allowed"
                )

    def _screen(self, data: bytes) -> None:
        self._check_strings(data)
        if self.suspicious or not data:
            return
        if _CELL_WITHOUT_LEADING_REF.search(data) or _PREFIXED_CELL.search(data):
            self.suspicious = True
            return
        while _matches(self._tiers[self._tier], data):
            # A wide sheet shows it in its first rows; later, the rows checked so far were
            # held to the narrow tier's row threshold only.
            if self._tier == len(self._tiers) - 1 or not self._first:
                self.suspicious = True
                return
            self._tier += 1
        self._first = False


_UNIQUE_COUNT = re.compile(rb"""\buniqueCount\s*=\s*["']\s*\+?([0-9]+)""")
_CELL_WITHOUT_LEADING_REF = re.compile(rb'<c(?! r=")(?=[\s/>])')
_PREFIXED_CELL = re.compile(rb":c(?=[\s/>])")


def _matches(patterns: tuple[re.Pattern[bytes], re.Pattern[bytes]], data: bytes) -> bool:
    rough, exact = patterns
    return rough.search(data) is not None and exact.search(data) is not None


def _beyond(limits: Limits, columns: int) -> tuple[re.Pattern[bytes], re.Pattern[bytes]]:
    """References past `columns` or past the rows that many columns leave within the limits.

    Two patterns: a rough one (as many letters or digits as the thresholds) that costs a third
    of the exact one and clears most pieces alone, then the exact one.
    """
    rows = min(limits.max_rows + 1, limits.max_cells // max(columns, 1))
    return _beyond_patterns(columns, rows)


@lru_cache(maxsize=32)
def _beyond_patterns(columns: int, rows: int) -> tuple[re.Pattern[bytes], re.Pattern[bytes]]:
    limit = _column_letters(columns)
    letters = len(limit) + 1 if set(limit) == {"Z"} else len(limit)
    rough = rf' r="(?:[A-Za-z]{{{letters}}}|[A-Za-z]++0*+(?:[1-9][0-9]{{{len(str(rows)) - 1}}}|"))'
    exact = (  # the empty alternative is row 0, which calamine would wrap round to 4 billion
        rf' r="(?:{_letters_above(limit)}[0-9]|[A-Za-z]++0*+(?:{_digits_above(str(rows))}|)")'
    )
    return re.compile(rough.encode()), re.compile(exact.encode())


def _digits_above(limit: str) -> str:
    """A regex for decimal numbers without leading zeros greater than `limit`."""
    width = len(limit)
    parts = [f"[1-9][0-9]{{{width},}}"]
    for i, digit in enumerate(limit):
        if digit != "9":
            parts.append(f"{limit[:i]}[{int(digit) + 1}-9][0-9]{{{width - i - 1}}}")
    return "(?:" + "|".join(parts) + ")"


def _letters_above(limit: str) -> str:
    """A regex for column letters (any case) after `limit` in Excel's order: A..Z, AA.."""
    width = len(limit)
    parts = [f"[A-Za-z]{{{width + 1},}}"]
    for i, letter in enumerate(limit):
        if letter != "Z":
            after = chr(ord(letter) + 1)
            prefix = "".join(f"[{c}{c.lower()}]" for c in limit[:i])
            parts.append(f"{prefix}[{after}-Z{after.lower()}-z][A-Za-z]{{{width - i - 1}}}")
    return "(?:" + "|".join(parts) + ")"


def _column_letters(number: int) -> str:
    letters = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters or "A"


class _XlsxExtent:
    """The bounding box of an xlsx member's valued cells, positions found as calamine does.

    A `<c>` with an `r` reference sits there; without one, it follows the previous cell, and
    `</row>` moves to the next row unless the next `<row r>` says otherwise. Self-closing and
    childless cells hold nothing and calamine drops them.
    """

    def __init__(self, member: str) -> None:
        self._pieces = _Pieces(member)
        self._row = 0
        self._column = 0
        self._cell: tuple[int, int] | None = None
        self._valued = False
        self._box: list[int] | None = None  # first row, last row, first column, last column

    def feed(self, chunk: bytes) -> None:
        self._tokens(self._pieces.take(chunk))

    def finish(self) -> _Extent | None:
        self._tokens(self._pieces.rest())
        if self._box is None:
            return None
        first_row, last_row, first_column, last_column = self._box
        return _Extent(last_row - first_row + 1, last_column - first_column + 1)

    def _tokens(self, data: bytes) -> None:
        for token in _XLSX_TOKEN.finditer(data):
            closing, tag, attributes = token.group(1, 2, 3)
            if closing:
                self._close(tag)
            elif attributes.endswith(b"/"):
                continue
            elif tag == b"row":
                reference = _reference(attributes)
                if reference is not None:
                    self._row = _row_number(reference)
            elif tag == b"c":
                reference = _reference(attributes)
                if reference is not None:
                    row, self._column = _cell_position(reference)
                    self._cell = (row, self._column)
                else:
                    self._cell = (self._row, self._column)
                self._valued = False
            else:  # <v> or <is>: the cell holds something
                self._valued = True

    def _close(self, tag: bytes) -> None:
        if tag == b"row":
            self._row += 1
            self._column = 0
        elif tag == b"c" and self._cell is not None:
            if self._valued:
                self._grow(*self._cell)
            self._cell = None
            self._column += 1

    def _grow(self, row: int, column: int) -> None:
        if self._box is None:
            self._box = [row, row, column, column]
            return
        box = self._box
        box[0], box[1] = min(box[0], row), max(box[1], row)
        box[2], box[3] = min(box[2], column), max(box[3], column)


_XLSX_TOKEN = re.compile(
    rb"<(/?)(?:[A-Za-z_][\w.-]*:)?(row|c|v|is)(?=[\s/>])" + _ATTRIBUTES + rb">"
)
_R_ATTRIBUTE = re.compile(rb"""\sr\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_CELL_REFERENCE = re.compile(rb"([A-Za-z]+)([0-9]+)")


def _reference(attributes: bytes) -> bytes | None:
    found = _R_ATTRIBUTE.search(b" " + attributes)
    if found is None:
        return None
    return found.group(1) if found.group(1) is not None else found.group(2)


def _row_number(reference: bytes) -> int:
    if not reference.isdigit() or int(reference) < 1:
        raise FileRefused(f"could not read the file: bad row number {_text(reference)!r}")
    return int(reference) - 1


def _cell_position(reference: bytes) -> tuple[int, int]:
    found = _CELL_REFERENCE.fullmatch(reference)
    if found is None or int(found.group(2)) < 1:
        raise FileRefused(f"could not read the file: bad cell reference {_text(reference)!r}")
    column = 0
    for letter in found.group(1).upper():
        column = column * 26 + letter - ord("A") + 1
    return int(found.group(2)) - 1, column - 1


class _OdsScan:
    """The grid calamine will build for each table of an .ods content.xml, as an upper bound.

    A row counts from the first row holding a value to the last (empty rows between them are
    kept, repeats multiplied out); a row's width runs to its last cell that may hold a value.
    LibreOffice pads tables with empty rows and cells repeated a million times: those trail
    the values and do not count.
    """

    def __init__(self, member: str, limits: Limits) -> None:
        self._limits = limits
        self._pieces = _Pieces(member)
        self._table: str | None = None
        self._span = self._pending = self._width = 0
        self._row: list[int] | None = None  # repeats, columns so far, last valued column
        self.problem: _TooBig | None = None

    def feed(self, chunk: bytes) -> None:
        self._scan(self._pieces.take(chunk))

    def finish(self) -> _TooBig | None:
        self._scan(self._pieces.rest())
        self._end_table()
        return self.problem

    def _scan(self, data: bytes) -> None:
        if not any(marker in data for marker in _ODS_UNUSUAL):
            self._plain(data)
            return
        at = 0
        for tag in _ODS_ROW_OR_TABLE.finditer(data):
            self._cells(data[at : tag.start()])
            at = tag.end()
            self._end_row()
            attributes = tag.group(2)
            if tag.group(1) == b"table":
                self._end_table()
                self._table = _ods_attribute(attributes, b"table:name") or "?"
            else:
                self._row = [_repeats(attributes, b"table:number-rows-repeated"), 0, 0]
        self._cells(data[at:])

    def _plain(self, data: bytes) -> None:
        """Rows that repeat nothing, within one table: the usual piece, counted in bulk."""
        head, *rows = data.split(b"<table:table-row")
        self._cells(head)
        if not rows:
            return
        self._end_row()
        *complete, last = rows
        if self._table is not None:
            self._add_rows(
                [
                    row.count(b"<table:table-cell") + row.count(b"<table:covered-table-cell")
                    if b"office:value-type" in row or b"<text:p" in row
                    else 0
                    for row in complete
                ]
            )
        self._row = [1, 0, 0]  # the last row may go on in the next piece
        self._cells(last)

    def _add_rows(self, widths: list[int]) -> None:
        valued = [i for i, width in enumerate(widths) if width]
        if not valued:
            self._pending += len(widths) if self._span else 0
            return
        first, last = valued[0], valued[-1]
        self._span += self._pending + last + 1 if self._span else last - first + 1
        self._pending = len(widths) - last - 1
        self._width = max(self._width, *widths)

    def _cells(self, data: bytes) -> None:
        row = self._row
        if row is None or not data:
            return
        if b"columns-repeated" not in data:
            count = data.count(b"<table:table-cell") + data.count(b"<table:covered-table-cell")
            row[1] += count
            if b"office:value-type" in data or b"<text:p" in data:
                row[2] = row[1]  # an upper bound: every cell of this piece may hold a value
            return
        for cell in _ODS_CELL.finditer(data):
            attributes = cell.group(1)
            row[1] += _repeats(attributes, b"table:number-columns-repeated")
            if b"value-type" in attributes or not attributes.endswith(b"/"):
                row[2] = row[1]

    def _end_row(self) -> None:
        row, self._row = self._row, None
        if row is None or self._table is None:
            return
        repeats, _, width = row
        if width == 0:
            self._pending += repeats if self._span else 0
            return
        self._span += self._pending + repeats
        self._pending = 0
        self._width = max(self._width, width)

    def _end_table(self) -> None:
        self._end_row()
        if self._table is not None and self._span and self.problem is None:
            extent = _Extent(self._span, self._width, self._table)
            self.problem = _grid_problem(extent, self._limits)
        self._span = self._pending = self._width = 0
        self._table = None


# What _OdsScan._plain cannot count in bulk: repeats, a table starting, row groups.
_ODS_UNUSUAL = (
    b"repeated",
    b"<table:table ",
    b"<table:table>",
    b"<table:table-row-",
    b"<table:table-rows",
)
_ODS_ROW_OR_TABLE = re.compile(rb"<table:(table-row|table)(?=[\s/>])" + _ATTRIBUTES + rb">")
_ODS_CELL = re.compile(rb"<table:(?:covered-)?table-cell(?=[\s/>])" + _ATTRIBUTES + rb">")


def _repeats(attributes: bytes, name: bytes) -> int:
    text = _ods_attribute(attributes, name)
    if text is None:
        return 1
    if not text.isdigit():
        raise FileRefused(f"could not read the file: bad repeat count {text[:20]!r}")
    return int(text)


def _ods_attribute(attributes: bytes, name: bytes) -> str | None:
    if name not in attributes:  # most rows and cells have none: skip the regex
        return None
    found = _attribute_pattern(name).search(attributes)
    return html.unescape(found.group(1).decode("utf-8", "replace")) if found else None


@lru_cache(maxsize=8)
def _attribute_pattern(name: bytes) -> re.Pattern[bytes]:
    return re.compile(re.escape(name) + rb'\s*=\s*"([^"]*)"')


# ---------------------------------------------------------------------------------------------
# Spreadsheets, through calamine
# ---------------------------------------------------------------------------------------------


@contextmanager
def _calamine_errors() -> Iterator[None]:
    """Whatever calamine raises on a damaged file becomes a FileRefused."""
    try:
        yield
    except FileRefused:
        raise
    except PasswordError as exc:
        raise FileRefused("the file is password-protected; save it without a password") from exc
    except Exception as exc:
        raise FileRefused(f"could not read the file: {_short(exc)}") from exc
    except BaseException as exc:
        # pyo3 turns a Rust panic into PanicException, which derives from BaseException
        if type(exc).__name__ != "PanicException":
            raise
        raise FileRefused(f"could not read the file: {_short(exc)}") from exc


def _open_workbook(path: Path) -> CalamineWorkbook:
    with _calamine_errors():
        return CalamineWorkbook.from_path(str(path))


def _worksheet_names(workbook: CalamineWorkbook) -> list[str]:
    # Chart and macro sheets hold no rows; hidden sheets do and are offered like the others.
    with _calamine_errors():
        return [
            sheet.name
            for sheet in workbook.sheets_metadata
            if sheet.typ in (SheetTypeEnum.WorkSheet, SheetTypeEnum.DialogSheet)
        ]


def _choose(names: list[str], sheet: str | None) -> list[str]:
    if sheet is None:
        return names
    if sheet in names:
        return [sheet]
    offered = ", ".join(repr(name) for name in names) or "none"
    raise FileRefused(f"there is no sheet {sheet!r} in the file; its sheets: {offered}", ("sheet",))


def _calamine_sheets(
    workbook: CalamineWorkbook, names: list[str], limits: Limits
) -> Iterator[Sheet]:
    for name in names:
        with _calamine_errors():
            loaded = workbook.get_sheet_by_name(name)
        _check_loaded(loaded, name, limits)
        sheet = _sheet(name, _calamine_records(loaded), limits)
        if sheet is not None:
            yield sheet


def _check_loaded(loaded: CalamineSheet, name: str, limits: Limits) -> None:
    """The limits on the sheet as loaded, before a row of it is turned into Python values."""
    problem = _grid_problem(_Extent(loaded.height, loaded.width), limits)
    if problem is not None:
        raise FileRefused(f"sheet {name!r} {problem.text}", ("sheet",))


def _calamine_records(loaded: CalamineSheet) -> Iterator[tuple[int, list[Any]]]:
    # iter_rows starts at the sheet's first row even when its used range starts lower, so the
    # position is the row number Excel shows.
    for number, row in enumerate(loaded.iter_rows(), start=1):
        # Excel keeps every number as a float: 3.0 is the 3 the user typed. (Inline: this runs
        # for every cell, and a function call would double its cost.)
        yield (
            number,
            [
                (value or None)
                if value.__class__ is str
                else int(value)
                if value.__class__ is float
                and value.is_integer()
                and -_EXACT_INT < value < _EXACT_INT
                else value
                for value in row
            ],
        )


# ---------------------------------------------------------------------------------------------
# Rows of any source
# ---------------------------------------------------------------------------------------------


def _sheet(name: str, records: Iterator[tuple[int, list[Any]]], limits: Limits) -> Sheet | None:
    """The sheet whose header is the first row with something in it; None when there is none."""
    for _, values in records:
        if not _blank(values):
            header = tuple(_header_text(value) for value in values)
            return Sheet(name, header, _data_rows(name, records, len(header), limits))
    return None


def _data_rows(
    name: str, records: Iterator[tuple[int, list[Any]]], width: int, limits: Limits
) -> Iterator[tuple[int, tuple[Any, ...]]]:
    count = 0
    for number, values in records:
        if _blank(values):
            continue
        count += 1
        if count > limits.max_rows:
            raise FileRefused(
                f"sheet {name!r} has more than the {limits.max_rows:,} rows allowed", ("sheet",)
            )
        yield number, tuple(values if len(values) == width else (values + [None] * width)[:width])


def _blank(values: list[Any]) -> bool:
    for value in values:  # a loop, not all(): this runs for every row
        if value is not None and (value.__class__ is not str or value.strip()):
            return False
    return True


def _header_text(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return str(value.isoformat()).strip()
    return str(value).strip()


# ---------------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------------


def _csv_name(path: Path) -> str:
    return path.stem or "csv"


def _csv_sheets(path: Path, name: str, limits: Limits) -> Iterator[Sheet]:
    encoding = _csv_encoding(path)
    delimiter = _csv_delimiter(path, encoding)
    sheet = _sheet(name, _csv_records(path, name, encoding, delimiter, limits), limits)
    if sheet is not None:
        yield sheet


def _csv_encoding(path: Path) -> str:
    """A BOM says; else UTF-8 if the whole file decodes as such, else cp1252 (Excel's "ANSI").

    The whole file is decoded once to decide (in chunks, cheap next to parsing it): a stray
    "é" in cp1252 on the last line would otherwise fail the import halfway.
    """
    with path.open("rb") as raw:
        head = raw.read(4)
        for bom, encoding in _BOMS:
            if head.startswith(bom):
                return encoding
        raw.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := raw.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"
    return "utf-8"


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE, whose BOM it starts with
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _csv_delimiter(path: Path, encoding: str) -> str:
    """The delimiter csv.Sniffer finds in the first 64 KiB among , ; tab |, else ","."""
    with _open_text(path, encoding) as text:
        sample = text.read(_CSV_SAMPLE)
    if len(sample) == _CSV_SAMPLE and "\n" in sample:
        sample = sample[: sample.rindex("\n")]  # a cut last line would mislead the sniffer
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _open_text(path: Path, encoding: str) -> IO[str]:
    # cp1252 leaves five bytes undefined; they become U+FFFD rather than failing the import.
    errors = "replace" if encoding == "cp1252" else "strict"
    return path.open(encoding=encoding, errors=errors, newline="")


def _csv_records(
    path: Path, name: str, encoding: str, delimiter: str, limits: Limits
) -> Iterator[tuple[int, list[Any]]]:
    """(record number, fields): the record number is the row Excel shows for it, so a quoted
    value spanning three lines is still one row."""
    with _open_text(path, encoding) as text:
        reader = csv.reader(_lines(text), delimiter=delimiter)
        number = 0
        while True:
            try:
                fields = next(reader, None)
            except (csv.Error, UnicodeDecodeError) as exc:
                raise FileRefused(
                    f"could not read the file: row {number + 1}: {_short(exc)}"
                ) from exc
            if fields is None:
                return
            number += 1
            if len(fields) > limits.max_columns:
                raise FileRefused(
                    f"sheet {name!r} has {len(fields):,} columns in row {number}, "
                    f"more than the {limits.max_columns:,} allowed",
                    ("sheet",),
                )
            yield number, [field or None for field in fields]


def _lines(text: IO[str]) -> Iterator[str]:
    while line := text.readline(_CSV_MAX_LINE + 1):
        if len(line) > _CSV_MAX_LINE:
            raise FileRefused(
                f"could not read the file: a line is longer than {_mb(_CSV_MAX_LINE)}"
            )
        yield line


# ---------------------------------------------------------------------------------------------


def _mb(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size:,} bytes" if size < 1024 else f"{size / 1024:,.0f} KB"
    return f"{size / _MIB:,.1f} MB"


def _text(raw: bytes) -> str:
    return raw[:20].decode("utf-8", "replace")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    reason = text[0] if text else type(exc).__name__
    return reason if len(reason) <= 200 else reason[:197] + "..."
