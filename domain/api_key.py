"""A service account's API key: named, scoped to roles, expiring, revocable.

The key's secret is never part of the aggregate: only its hash is, so neither the event store
nor anything fed from it can hand the secret back.
"""

from __future__ import annotations

import re
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput
from domain.ids import api_key_id_for

KEY_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


def key_name(value: str) -> str:
    if not KEY_NAME.match(value):
        raise InvalidInput(
            "a key name is 1-63 lower-case letters, digits, '-' or '_', starting with a letter",
            ("name",),
        )
    return value


class ApiKey(Aggregate):
    """Named once per tenant (its id derives from the name, so `key:<name>` in the audit trail
    always means one key, even after it was revoked)."""

    @event("Created")
    def __init__(
        self,
        tenant_id: UUID,
        tenant_slug: str,
        name: str,
        roles: list[str],
        created_by: str,
        expires_at: int | None,
        secret_hash: str,
    ) -> None:
        self.tenant_id = tenant_id
        self.tenant_slug = tenant_slug
        self.name = name
        self.roles = roles
        self.created_by = created_by
        self.expires_at = expires_at
        """Unix seconds, or None for a key that never expires."""
        self.secret_hash = secret_hash
        self.revoked = False

    @classmethod
    def create_id(cls, tenant_id: UUID, name: str) -> UUID:
        return api_key_id_for(tenant_id, name)

    def revoke(self) -> None:
        if not self.revoked:
            self._revoked()

    @event("Revoked")
    def _revoked(self) -> None:
        self.revoked = True
