"""ProcessDefinition: a tenant's workflow under a key, published in versions.

Each process pins the version it was opened with; publishing another never changes it
(`migrate-process` moves a case to a newer version explicitly).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict, InvalidInput, NotFound
from domain.ids import process_definition_id_for
from domain.workflow import KEY, Workflow
from domain.workflow_spec import checked_workflow, read_workflow, spec_of


class ProcessDefinition(Aggregate):
    @staticmethod
    def create_id(tenant_id: UUID, key: str) -> UUID:
        return process_definition_id_for(tenant_id, key)

    @event("Published")
    def __init__(self, tenant_id: UUID, key: str, description: str, spec: dict[str, Any]) -> None:
        self.tenant_id = tenant_id
        self.key = key
        self.description = description
        self.versions = [spec]
        self.retired = False

    @classmethod
    def publish_first(
        cls, tenant_id: UUID, key: str, description: str, spec: object
    ) -> ProcessDefinition:
        if not KEY.match(key):
            raise InvalidInput("1-63 lower-case letters, digits, '-' or '_'", ("key",))
        return cls(
            tenant_id=tenant_id,
            key=key,
            description=description.strip(),
            spec=spec_of(checked_workflow(spec)),
        )

    def publish(self, description: str, spec: object) -> None:
        """A new version, unless it is the latest one again (publishing is then a no-op)."""
        checked = spec_of(checked_workflow(spec))
        description = description.strip()
        if self.retired or checked != self.versions[-1] or description != self.description:
            self._published(len(self.versions) + 1, description, checked)

    @event("VersionPublished")
    def _published(self, number: int, description: str, spec: dict[str, Any]) -> None:
        self.versions = [*self.versions, spec]
        self.description = description
        self.retired = False

    @property
    def latest(self) -> int:
        return len(self.versions)

    def workflow(
        self, version: int | None = None, path: tuple[str | int, ...] = ("version",)
    ) -> Workflow:
        number = self.latest if version is None else version
        if not 1 <= number <= self.latest:
            raise NotFound(f"definition {self.key!r} has versions 1 to {self.latest}", path)
        return workflow_of(self.versions[number - 1])

    def retire(self) -> None:
        if self.retired:
            raise Conflict(f"definition {self.key!r} is retired")
        self._retired()

    @event("Retired")
    def _retired(self) -> None:
        self.retired = True


def workflow_of(spec: dict[str, Any]) -> Workflow:
    """A stored version, parsed once per process (versions never change once published)."""
    return _parsed(json.dumps(spec, sort_keys=True))


@lru_cache(maxsize=1024)
def _parsed(text: str) -> Workflow:
    return read_workflow(json.loads(text))
