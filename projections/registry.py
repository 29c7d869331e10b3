"""Every projection, in one list: the worker, the rebuild CLI and the tests iterate it."""

from __future__ import annotations

from projections.access import AccessProjection
from projections.audit import AuditProjection
from projections.automation import AutomationProjection
from projections.base import Projection
from projections.counts import CountsProjection
from projections.documents import DocumentsProjection
from projections.entities import EntitiesProjection
from projections.groups import GroupsProjection
from projections.imports import ImportsProjection
from projections.occurrences import OccurrencesProjection
from projections.participants import ParticipantsProjection
from projections.processes import ProcessesProjection
from projections.search import SearchProjection

PROJECTIONS: dict[str, Projection] = {
    p.name: p
    for p in (
        EntitiesProjection(),
        GroupsProjection(),
        ParticipantsProjection(),
        ProcessesProjection(),
        OccurrencesProjection(),
        DocumentsProjection(),
        CountsProjection(),
        SearchProjection(),
        AutomationProjection(),
        AuditProjection(),
        AccessProjection(),
        ImportsProjection(),
    )
}
