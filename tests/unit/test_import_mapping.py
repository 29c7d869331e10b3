"""Columns matched to fields by header, and spreadsheet cells read as field values in the
tenant's locale and timezone."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from domain.fields import FieldSpec, strategy_for
from domain.fields.cells import CellContext
from domain.import_mapping import RowReader, similarity, suggest_mapping

FIELDS = ["code", "name", "population", "opened_on", "grosse"]


def matched(header: list[str], given: dict[str, str] | None = None) -> dict[str, tuple[str, str]]:
    return {m.column: (m.field, m.how) for m in suggest_mapping(header, FIELDS, given)}


def test_headers_match_exactly_then_ignoring_case_accents_and_punctuation_then_by_similarity():
    assert matched(["code", "NAME", "Größe", "Opened on", "Populaton", "colour"]) == {
        "code": ("code", "exact"),
        "NAME": ("name", "normalised"),
        "Größe": ("grosse", "normalised"),
        "Opened on": ("opened_on", "normalised"),
        "Populaton": ("population", "similar"),
    }


def test_a_given_mapping_wins_and_each_field_is_filled_from_one_column_only():
    assert matched(["Label", "name", "Name"], {"Label": "name"}) == {"Label": ("name", "given")}


def test_similarity_is_pg_trgm_s():
    assert similarity("word", "word") == 1.0
    assert similarity("Populaton", "population") == pytest.approx(8 / 13)
    assert similarity("colour", "code") < 0.5


def cell(type_name: str, value: object, locale: str = "en", tz: str = "UTC") -> object:
    return strategy_for(type_name).from_cell(value, CellContext(locale, tz))


@pytest.mark.parametrize(
    ("type_name", "value", "locale", "expected"),
    [
        ("integer", "1,200", "en", 1200),
        ("integer", "1.200", "de", 1200),
        ("integer", 42.0, "en", 42.0),  # the strategy takes 42.0 as 42
        ("number", "1.234,5", "de", 1234.5),
        ("number", "12 %", "en", "12 %"),  # not a number: the strategy says why
        ("boolean", "Ja", "de", True),
        ("boolean", "no", "en", False),
        ("boolean", 1, "en", True),
        ("date", datetime(2024, 1, 31, 0, 0), "en", "2024-01-31"),
        ("date", "31/01/2024", "en-GB", "2024-01-31"),
        ("date", "01/31/2024", "en", "2024-01-31"),
        ("text", 5551234.0, "en", "5551234"),
        ("multi_enum", "red; blue", "en", ["red", "blue"]),
        ("geo_point", "31.77, 35.21", "en", {"lat": 31.77, "lon": 35.21}),
    ],
)
def test_cells_become_the_values_each_field_type_takes(type_name, value, locale, expected):
    assert cell(type_name, value, locale) == expected


def test_a_workbook_time_without_an_offset_is_the_tenant_s_local_time():
    assert cell("datetime", datetime(2024, 7, 1, 9, 30), tz="Asia/Jerusalem") == (
        "2024-07-01T09:30:00+03:00"
    )
    assert cell("datetime", date(2024, 1, 1), tz="Europe/Paris") == "2024-01-01T00:00:00+01:00"


def test_a_row_reads_as_data_with_each_problem_named_by_field():
    fields = [
        FieldSpec.from_dict({"name": "code", "type": "text", "required": True}),
        FieldSpec.from_dict({"name": "population", "type": "integer"}),
    ]
    reader = RowReader(["Code", "Pop"], {"Code": "code", "Pop": "population"}, fields,
                       CellContext())  # fmt: skip
    assert reader.data(["S1", "1,000"]) == {"code": "S1", "population": 1000}
    data = reader.data([None, "lots"])
    assert [(p.field, p.message) for p in reader.problems(data)] == [
        ("code", "is required"),
        ("population", "must be a whole number"),
    ]
