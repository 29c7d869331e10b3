"""What a committed batch tells the rest of the system: which objects changed, at which position.

A worker publishes these on Redis after each batch, one message per tenant, then one with the
positions of all its projections; the read API fans them out to subscriptions and to
read-your-writes waiters, and the same keys name the cache entries to drop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson

POSITIONS_CHANNEL = "bsdflow:positions"
CACHE_PREFIX = "bsdflow:cache:"


def changes_channel(tenant_id: UUID | str) -> str:
    return f"bsdflow:changes:{tenant_id}"


@dataclass(frozen=True, slots=True)
class Change:
    kind: str
    tenant_id: UUID
    id: UUID
    type: str
    position: int

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "tenant_id": str(self.tenant_id),
            "id": str(self.id),
            "type": self.type,
            "position": self.position,
        }

    @classmethod
    def of_json(cls, d: dict[str, Any]) -> Change:
        return cls(d["kind"], UUID(d["tenant_id"]), UUID(d["id"]), d["type"], int(d["position"]))

    @property
    def cache_keys(self) -> list[str]:
        """Cache entries that this change makes stale."""
        keys = [cache_key(self.kind, self.tenant_id, self.id)]
        if self.kind == "entity_type":
            keys.append(cache_key("entity_types", self.tenant_id, "all"))
        return keys


def encode_changes(changes: Iterable[Change]) -> bytes:
    """One message for a batch's changes of one tenant, in position order.

    One per change cost the API's event loop a pub/sub message to parse for each event."""
    return orjson.dumps([change.as_json() for change in changes])


def decode_changes(raw: bytes | str) -> list[Change]:
    return [Change.of_json(d) for d in orjson.loads(raw)]


def cache_key(kind: str, tenant_id: UUID | str, key: UUID | str) -> str:
    return f"{CACHE_PREFIX}{kind}:{tenant_id}:{key}"


def positions_message(positions: Mapping[str, int]) -> bytes:
    """Where each projection of one worker stands: {"positions": {name: position, …}}."""
    return orjson.dumps({"positions": dict(positions)})
