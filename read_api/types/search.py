"""Search across every kind in one ranked list, typo-tolerant, each hit with its object."""

from __future__ import annotations

from enum import Enum
from typing import Annotated
from uuid import UUID

import strawberry

from projections.documents.queries import DOCUMENT
from projections.entities.queries import ENTITY
from projections.occurrences.queries import OCCURRENCE
from projections.paging import decode_cursor, encode_cursor
from projections.participants.queries import PARTICIPANT
from projections.processes.queries import PROCESS
from projections.search.queries import SearchHit as SearchRow
from projections.search.queries import SearchReads
from read_api.areas import readable_kinds
from read_api.errors import PublicError
from read_api.types.common import Connection, Edge, Info, PageInfo, RowType, field, page_size
from read_api.types.documents import Document
from read_api.types.entities import Entity
from read_api.types.occurrences import Occurrence
from read_api.types.participants import Participant
from read_api.types.processes import Process

MAX_QUERY_CHARS = 500


@strawberry.enum(name="SearchKind", description="The kinds of object search can return.")
class Kind(Enum):
    ENTITY = "entity"
    PROCESS = "process"
    OCCURRENCE = "occurrence"
    PARTICIPANT = "participant"
    DOCUMENT = "document"


SEARCH_KINDS = [kind.value for kind in Kind]
Node = Annotated[
    Entity | Process | Occurrence | Participant | Document, strawberry.union("SearchNode")
]


async def node_of(info: Info, kind: Kind, id: UUID) -> Node | None:
    """The object behind a hit, batched per kind across the whole response."""
    loaders = info.context.loaders
    if kind is Kind.ENTITY:
        entity = await loaders.of(ENTITY).load(id)
        return Entity.of(entity) if entity else None
    if kind is Kind.PROCESS:
        process = await loaders.of(PROCESS).load(id)
        return Process.of(process) if process else None
    if kind is Kind.OCCURRENCE:
        occurrence = await loaders.of(OCCURRENCE).load(id)
        return Occurrence.of(occurrence) if occurrence else None
    if kind is Kind.PARTICIPANT:
        participant = await loaders.of(PARTICIPANT).load(id)
        return Participant.of(participant) if participant else None
    document = await loaders.of(DOCUMENT).load(id)
    return Document.of(document) if document else None


@strawberry.type(description="One search result; `snippet` marks matched words with <b>…</b>.")
class SearchHit(SearchRow, RowType[SearchRow]):
    kind: str = strawberry.field(graphql_type=Kind)

    @field("The object found (null if it went away meanwhile).")
    async def node(self, info: Info) -> Node | None:
        return await node_of(info, Kind(self.kind), self.id)


@strawberry.type
class SearchQuery:
    @field(
        "Best matches first across the chosen kinds (all by default). "
        "Words need not be exact: 'wrkflow' finds 'workflow'."
    )
    async def search(
        self,
        info: Info,
        query: str,
        kinds: list[Kind] | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[SearchHit]:
        size = page_size(first)
        if len(query) > MAX_QUERY_CHARS:
            raise PublicError(f"query must be at most {MAX_QUERY_CHARS} characters")
        wanted = readable_kinds(
            info.context.require_viewer().grants,
            [kind.value for kind in kinds] if kinds is not None else None,
            SEARCH_KINDS,
        )
        page = await info.context.run(
            lambda reads: reads.of(SearchReads).search(
                query, wanted, size, after, reads.seen(wanted)
            )
        )
        offset = int(decode_cursor(after)[0]) if after else 0
        edges = [
            Edge(cursor=encode_cursor([offset + n + 1]), node=SearchHit.of(row))
            for n, row in enumerate(page.items)
        ]
        return Connection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next,
                end_cursor=page.end_cursor,
                start_cursor=edges[0].cursor if edges else None,
            ),
        )
