"""Which spreadsheet column fills which field, and a row as the data of one command.

Columns are matched to fields by header: exactly, then ignoring case, accents, spaces and
punctuation, then by trigram similarity (as PostgreSQL's pg_trgm measures it), each field to at
most one column. A mapping given by the user wins over every suggestion.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from domain.fields import DataInvalid, FieldSpec, strategy_for, validate_data
from domain.fields.cells import CellContext

SIMILAR_ENOUGH = 0.5
"""The trigram similarity from which a header is taken to name a field ('Site nme' ~ 'name')."""
_NOT_WORD = re.compile(r"[^0-9a-z]+")


@dataclass(frozen=True)
class ColumnMatch:
    column: str
    field: str
    how: str
    """given, exact, normalised or similar (then `score` says how similar)."""
    score: float = 1.0


def _folded(name: str) -> str:
    """Lower case without accents: 'Größe' → 'grosse'."""
    folded = unicodedata.normalize("NFKD", name.casefold().replace("ß", "ss"))
    return "".join(char for char in folded if not unicodedata.combining(char))


def normalised(name: str) -> str:
    """'Größe (m²)' → 'grossem2': what a header says once case, accents and punctuation go."""
    return _NOT_WORD.sub("", _folded(name))


def trigrams(text: str) -> set[str]:
    """pg_trgm's trigrams: each word padded with two spaces before and one after."""
    grams: set[str] = set()
    for word in _NOT_WORD.split(_folded(text)):
        if word:
            padded = f"  {word} "
            grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return grams


def similarity(a: str, b: str) -> float:
    left, right = trigrams(a), trigrams(b)
    if not left or not right:
        return 0.0
    return len(left & right) / len(left | right)


def suggest_mapping(
    header: Sequence[str], fields: Sequence[str], given: Mapping[str, str] | None = None
) -> list[ColumnMatch]:
    """The column each field is filled from; columns matching no field are left out."""
    given = dict(given or {})
    matches = [ColumnMatch(column, field, "given") for column, field in given.items()]
    taken_columns, taken_fields = set(given), set(given.values())
    free = [c for c in dict.fromkeys(header) if c and c not in taken_columns]

    def take(column: str, field: str, how: str, score: float = 1.0) -> None:
        matches.append(ColumnMatch(column, field, how, round(score, 3)))
        taken_columns.add(column)
        taken_fields.add(field)

    for column in free:
        if column in fields and column not in taken_fields:
            take(column, column, "exact")
    by_form = {normalised(f): f for f in fields}
    for column in free:
        field = by_form.get(normalised(column))
        if column not in taken_columns and field is not None and field not in taken_fields:
            take(column, field, "normalised")
    candidates = sorted(
        (
            (similarity(column, field), column, field)
            for column in free
            if column not in taken_columns
            for field in fields
            if field not in taken_fields
        ),
        reverse=True,
    )
    for score, column, field in candidates:
        if score < SIMILAR_ENOUGH:
            break
        if column not in taken_columns and field not in taken_fields:
            take(column, field, "similar", score)
    return matches


@dataclass(frozen=True)
class RowProblem:
    field: str
    """The field (or the column, where no field is to blame) the problem is with."""
    message: str


class RowReader:
    """Rows of one sheet as entity data, by a mapping checked against the entity type."""

    def __init__(
        self,
        header: Sequence[str],
        mapping: Mapping[str, str],
        fields: Sequence[FieldSpec],
        cells: CellContext,
    ) -> None:
        by_name = {spec.name: spec for spec in fields}
        self.fields = list(fields)
        self.cells = cells
        self.columns: list[tuple[int, FieldSpec]] = [
            (header.index(column), by_name[field])
            for column, field in mapping.items()
            if column in header and field in by_name
        ]
        self.unique = [spec.name for spec in fields if spec.unique]

    def data(self, values: Sequence[Any]) -> dict[str, Any]:
        """The row's cells as field values (an empty cell gives no value)."""
        data: dict[str, Any] = {}
        for index, spec in self.columns:
            value = values[index] if index < len(values) else None
            if value is not None and value != "":
                data[spec.name] = strategy_for(spec.type).from_cell(value, self.cells)
        return data

    def problems(self, data: Mapping[str, Any], *, partial: bool = False) -> list[RowProblem]:
        """What the fields' strategies say about `data` (nothing: it would be accepted)."""
        try:
            validate_data(self.fields, data, partial=partial)
        except DataInvalid as invalid:
            return [
                RowProblem(".".join(str(p) for p in error.path), error.message)
                for error in invalid.errors
            ]
        return []


def problem_text(problems: Sequence[RowProblem]) -> str:
    """'name: is required; size: must be a number' — the error report's column."""
    return "; ".join(f"{p.field}: {p.message}" if p.field else p.message for p in problems)
