"""Ranked, typo-tolerant search across every kind, for the tenant of the current transaction.

A query is cut into lexemes the way the index was built (unaccented, lower-cased, 'simple').
Each lexeme the tenant has indexed is kept as is; one it has not is replaced by the OR of its
nearest indexed words (pg_trgm similarity), so "wrkflow" looks for "workflow". Rows must match
every query word. The score is `ts_rank` times the similarity of each fuzzy word that matched
(an exact match outranks a fuzzy one); scores within RANK_BUCKET are a tie, broken by the
entity type's importance field, as Meilisearch's custom ranking does.

`ts_rank` rather than `ts_rank_cd`: cover density grows linearly with repetitions, so a long
document saying "Jerusalem" two hundred times in its body would outrank the city titled
Jerusalem forty to one; with `ts_rank` the weight of the field that matched dominates.

The work runs in two SQL functions of the projection (see schema.sql for why they, and not
plain queries under row-level security, read the tables): both take the tenant from the
transaction exactly as the RLS policy does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg

from projections.paging import BadCursorError, Page, clamp, decode_cursor, encode_cursor

SCHEMA = "rm_search"
KINDS = ("entity", "process", "occurrence", "participant", "document")
MAX_RESULTS = 1_000
MAX_QUERY_CHARS = 500
MAX_QUERY_WORDS = 10
MIN_FUZZY_LENGTH = 4
"""Shorter words have too few trigrams for a typo to leave a recognisable neighbour."""
NEAR_WORDS = 4
MIN_SIMILARITY = 0.3
RANK_BUCKET = 0.05
HEADLINE_CHARS = 20_000
"""ts_headline parses all it is given: long document bodies are cut, for the snippet only."""
HEADLINE = (
    'StartSel=<b>, StopSel=</b>, MaxWords=24, MinWords=8, MaxFragments=2, FragmentDelimiter=" … "'
)
ESCAPED_TEXT = (
    "replace(replace(replace(concat_ws(' — ', nullif(title, ''), "
    f"nullif(left(body, {HEADLINE_CHARS}), '')), '&', '&amp;'), '<', '&lt;'), '>', '&gt;')"
)
"""Escaped before highlighting, so the only markup in a snippet is the <b> it adds."""
TERMS_SQL = f"SELECT lexeme, exact, word, similarity FROM {SCHEMA}.query_terms(%s::text, %s::int, %s::int, %s::real)"  # noqa: S608
PAGE_SQL = (
    f"SELECT kind, id, title, ts_headline('{SCHEMA}.unaccented', {ESCAPED_TEXT}, %s::tsquery, "  # noqa: S608 - constants only
    f"'{HEADLINE}'), score, importance FROM {SCHEMA}.ranked(%s::tsquery, %s::text[], %s::int[], "
    "%s::tsquery[], %s::float8[], %s::float8, %s::int, %s::int)"
)


@dataclass(frozen=True)
class SearchHit:
    kind: str
    id: UUID
    title: str
    snippet: str
    """Title and body with the matched words in <b>…</b>; everything else HTML-escaped."""
    rank: float
    importance: float | None


@dataclass(frozen=True)
class Term:
    """One query word: the lexemes that satisfy it, each with its similarity (1.0 = exact)."""

    word: str
    alternatives: list[tuple[str, float]]

    @property
    def exact(self) -> bool:
        return self.alternatives == [(self.word, 1.0)]


def lexeme(word: str) -> str:
    """A tsquery operand that is exactly `word` (quoted: never parsed as operators)."""
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def tsquery_of(terms: list[Term]) -> str:
    return " & ".join(
        "(" + " | ".join(lexeme(word) for word, _ in term.alternatives) + ")" for term in terms
    )


def fuzzy_arrays(terms: list[Term]) -> tuple[list[int], list[str], list[float]]:
    """(term number, alternative, similarity) of every fuzzy term, as three parallel arrays."""
    numbers, words, similarities = [], [], []
    for number, term in enumerate(terms):
        if not term.exact:
            for word, similarity in term.alternatives:
                numbers.append(number)
                words.append(lexeme(word))
                similarities.append(similarity)
    return numbers, words, similarities


def offset_of(cursor: str) -> int:
    try:
        offset = int(decode_cursor(cursor)[0])
    except (IndexError, TypeError, ValueError) as exc:
        raise BadCursorError("not a search cursor") from exc
    if not 0 <= offset <= MAX_RESULTS:
        raise BadCursorError("not a search cursor")
    return offset


class SearchReads:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn

    async def search(
        self, query: str, kinds: list[str] | None = None, first: int = 20, after: str | None = None
    ) -> Page[SearchHit]:
        """Best first; the cursor is an offset, and results stop after MAX_RESULTS."""
        first = clamp(first)
        offset = offset_of(after) if after else 0
        if kinds is not None and (unknown := sorted(set(kinds) - set(KINDS))):
            raise ValueError(f"unknown kinds {unknown}; use {', '.join(KINDS)}")
        wanted = list(KINDS if kinds is None else kinds)
        limit = min(first, MAX_RESULTS - offset)
        if not wanted or limit <= 0:
            return Page([], False, None)
        terms = await self.terms(query)
        if not terms or any(not t.alternatives for t in terms):
            return Page([], False, None)
        tsquery = tsquery_of(terms)
        args = [tsquery, tsquery, wanted, *fuzzy_arrays(terms), RANK_BUCKET, offset, limit + 1]
        async with self.conn.cursor() as cur:
            await cur.execute(PAGE_SQL, args)
            rows = await cur.fetchall()
        hits = [SearchHit(r[0], r[1], r[2], r[3], float(r[4]), r[5]) for r in rows[:limit]]
        more = len(rows) > limit and offset + limit < MAX_RESULTS
        return Page(hits, more, encode_cursor([offset + len(hits)]) if hits else None)

    async def terms(self, query: str) -> list[Term]:
        """The query's words, each with the indexed lexemes that may stand for it."""
        params = (query[:MAX_QUERY_CHARS], MIN_FUZZY_LENGTH, NEAR_WORDS, MIN_SIMILARITY)
        async with self.conn.cursor() as cur:
            await cur.execute(TERMS_SQL, params)
            rows = await cur.fetchall()
        terms: dict[str, Term] = {}
        for word, exact, near, similarity in rows:
            term = terms.setdefault(word, Term(word, [(word, 1.0)] if exact else []))
            if not exact and near is not None:
                term.alternatives.append((near, float(similarity)))
        return list(terms.values())[:MAX_QUERY_WORDS]
