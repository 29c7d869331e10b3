"""Every projection, in one list: the worker, the rebuild CLI and the tests iterate it."""

from __future__ import annotations

from projections.base import Projection
from projections.entities import EntitiesProjection

PROJECTIONS: dict[str, Projection] = {p.name: p for p in (EntitiesProjection(),)}
