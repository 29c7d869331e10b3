"""The process board of a definition: its open cases by stage, overdue first."""

from __future__ import annotations

import strawberry

from projections.processes.queries import ProcessDefinitionReads, ProcessReads
from read_api.types.common import Info, field, page_size
from read_api.types.processes import Process
from read_api.types.workflows import ProcessDefinitionVersion, version_of


@strawberry.type(description="One stage of a board.")
class BoardColumn:
    stage: str
    count: int = strawberry.field(description="Open cases in this stage.")
    overdue: int = strawberry.field(description="Of those, the ones past their SLA.")
    processes: list[Process] = strawberry.field(
        description="The first of them: the earliest deadline first, then the longest waiting."
    )


@strawberry.type(description="A definition's open cases by stage.")
class ProcessBoard:
    definition: ProcessDefinitionVersion = strawberry.field(
        description="Its latest version, whose stages are the columns (a stage only older "
        "versions have, with cases in it, follows them)."
    )
    columns: list[BoardColumn]


@strawberry.type
class BoardQuery:
    @field("The board of a process definition (null: no such definition).")
    async def process_board(
        self, info: Info, definition: str, first: int = 20
    ) -> ProcessBoard | None:
        size = page_size(first)
        found = await info.context.run(lambda r: r.of(ProcessDefinitionReads).by_keys([definition]))
        if definition not in found:
            return None
        latest = version_of(found[definition], len(found[definition].versions))
        assert latest is not None
        board = await info.context.run(lambda r: r.of(ProcessReads).board(definition, size))
        stages = latest.workflow.stage_names
        stages += sorted(set(board.counts) - set(stages))
        columns = [
            BoardColumn(
                stage=stage,
                count=board.counts.get(stage, (0, 0))[0],
                overdue=board.counts.get(stage, (0, 0))[1],
                processes=[Process.of(row) for row in board.cases.get(stage, [])],
            )
            for stage in stages
        ]
        return ProcessBoard(definition=latest, columns=columns)
