"""Ranked, typo-tolerant search across every kind, for the tenant of the current transaction.

Matching follows Meilisearch's rules. A query is cut into words the way the index was built
(unaccented, lower-cased, 'simple'). Each word matches itself; words the tenant has indexed
within its typo budget (none under 5 letters, 1 typo from 5, 2 from 9: the tenant's settings;
a swap of two adjacent letters is one typo); and, for the last word while it is being typed
(the query does not end with a space), every word it begins, typos allowed there too, so
"jerusalem dep" finds "Jerusalem depot". Rows must match every word if any row does;
otherwise every word becomes optional. Best first: most words matched, fewest typos, the
likeliest slips among as many typos (a letter left out, swapped or doubled before a wrong or
stray one, the first letter last: see `slip` in matching.sql), most words in a field of weight
A (then B), fewest words in the A fields (the exact title first), fewest words matched only as
a prefix, then the entity type's importance (Meilisearch's custom ranking).

`ts_rank` rather than `ts_rank_cd`: cover density grows linearly with repetitions, so a long
document saying "Jerusalem" two hundred times in its body would outrank the city titled
Jerusalem forty to one; with `ts_rank` the weight of the field that matched dominates.

The work runs in one SQL function of the projection (see matching.sql for why it, and not a
plain query under row-level security, reads the tables): it takes the tenant from the
transaction exactly as the RLS policy does. Candidates for typos come from B-tree probes of
the words' deletion variants, rows from the GIN index of the vectors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg

from projections.base import schema_of
from projections.paging import BadCursorError, Page, clamp, decode_cursor, encode_cursor
from projections.seen import Seen, only_seen

SCHEMA = schema_of(__name__)
KINDS = ("entity", "process", "occurrence", "participant", "document")
MAX_RESULTS = 1_000
MAX_QUERY_CHARS = 500
MAX_QUERY_WORDS = 10
ALTERNATIVES_PER_WORD = 12
"""Cheapest first; bounds the work per row when a word has many neighbours."""
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
MATCHES = (
    f"{SCHEMA}.matches(%s::text, %s::boolean, %s::text[], %s::int, %s::int, %s::int, %s::int, "
    "%s::text, %s::text[])"
)
SELECTED = (
    f"SELECT kind, id, title, ts_headline('{SCHEMA}.unaccented', {ESCAPED_TEXT}, query, "
    f"'{HEADLINE}'), score, importance"
)
PAGE_SQL = f"{SELECTED} FROM {MATCHES}"
INDEXED_FIELDS_SHOWN = {
    "entity": f"EXISTS (SELECT 1 FROM {SCHEMA}.items i JOIN {SCHEMA}.entity_types t "  # noqa: S608
    "ON t.tenant_id = i.tenant_id AND t.id = i.type_id "
    "WHERE i.kind = 'entity' AND i.id = m.id AND NOT t.weights ?| %s::text[])",
    "process": f"EXISTS (SELECT 1 FROM {SCHEMA}.items i LEFT JOIN {SCHEMA}.entity_types t "  # noqa: S608
    "ON t.tenant_id = i.tenant_id AND t.id = i.type_id WHERE i.kind = 'process' "
    "AND i.id = m.id AND NOT coalesce(t.weights, '{}'::jsonb) ?| %s::text[])",
}
"""A hit whose type (an entity's, the version of a process's definition) indexes none of the
fields hidden from the reader: its words, and its snippet, come only from fields the reader
sees. (A process with free stages has none of its data indexed.)"""


# Not frozen: the read API's GraphQL types subclass the dataclasses here, and strawberry's
# (plain) dataclasses cannot inherit from frozen ones.
@dataclass
class SearchHit:
    kind: str
    id: UUID
    title: str
    snippet: str
    """Title and body with the matched words in <b>…</b>; everything else HTML-escaped."""
    rank: float
    importance: float | None


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
        self,
        query: str,
        kinds: list[str] | None = None,
        first: int = 20,
        after: str | None = None,
        only: Mapping[str, Seen] | None = None,
    ) -> Page[SearchHit]:
        """Best first; the cursor is an offset, and results stop after MAX_RESULTS. `only`:
        of these kinds, only what a restricted reader sees."""
        first = clamp(first)
        offset = offset_of(after) if after else 0
        if kinds is not None and (unknown := sorted(set(kinds) - set(KINDS))):
            raise ValueError(f"unknown kinds {unknown}; use {', '.join(KINDS)}")
        wanted = list(KINDS if kinds is None else kinds)
        limit = min(first, MAX_RESULTS - offset)
        if not wanted or limit <= 0:
            return Page([], False, None)
        text = query[:MAX_QUERY_CHARS]
        typing = bool(text) and not text[-1].isspace()  # the last word may be unfinished
        words = [text, typing, wanted, MAX_QUERY_WORDS, ALTERNATIVES_PER_WORD]
        if only:
            rows = await self._seen_rows(words, only, offset, limit + 1)
        else:
            rows = await self._rows(PAGE_SQL, [*words, offset, limit + 1, "auto", None])
        hits = [SearchHit(r[0], r[1], r[2], r[3], float(r[4]), r[5]) for r in rows[:limit]]
        more = len(rows) > limit and offset + limit < MAX_RESULTS
        return Page(hits, more, encode_cursor([offset + len(hits)]) if hits else None)

    async def document_text(self, document_id: UUID) -> str | None:
        """A document's indexed text (its text-like content, capped), if it has any."""
        async with self.conn.cursor() as cur:
            await cur.execute(
                f"SELECT body FROM {SCHEMA}.items WHERE kind = 'document' AND id = %s",  # noqa: S608
                (document_id,),
            )
            row = await cur.fetchone()
        return str(row[0]) if row and row[0] else None

    async def _rows(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        async with self.conn.cursor() as cur:
            await cur.execute(sql, args)
            return await cur.fetchall()

    async def _seen_rows(
        self, words: list[Any], only: Mapping[str, Seen], offset: int, limit: int
    ) -> list[tuple[Any, ...]]:
        """Matches filtered to what the reader sees, paged after filtering. Whether every word
        must match is decided on the rows it sees: the "all" step first, then, only if it shows
        the reader nothing at all, the "any" step."""
        shown: list[str] = []
        params: list[Any] = []
        for kind, seen in only.items():
            clause, ids = only_seen("m.id", seen)
            part = f"m.kind <> %s OR ({clause}"
            params += [kind, *ids]
            if seen.hidden and kind in INDEXED_FIELDS_SHOWN:
                part += f" AND {INDEXED_FIELDS_SHOWN[kind]}"
                params.append(list(seen.hidden))
            shown.append(f"({part}))")
        occurrences = only.get("occurrence")
        hidden = (
            list(occurrences.hidden) if occurrences is not None and occurrences.hidden else None
        )
        sql = (
            f"{SELECTED} FROM {MATCHES} WITH ORDINALITY AS m "
            f"WHERE {' AND '.join(shown)} ORDER BY m.ordinality OFFSET %s LIMIT %s"
        )

        def args(step: str, at: int, count: int) -> list[Any]:
            return [*words, 0, MAX_RESULTS + 1, step, hidden, *params, at, count]

        rows = await self._rows(sql, args("all", offset, limit))
        if rows or (offset > 0 and await self._rows(sql, args("all", 0, 1))):
            return rows
        return await self._rows(sql, args("any", offset, limit))
