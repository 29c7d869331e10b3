"""Deterministic identifiers.

Uniqueness rules (tenant slug, entity-type name, unique field values) are enforced by
deriving the aggregate id from the unique value: the event store refuses a second
aggregate at version 1 with the same id, so two concurrent writers can never both win.
"""

from __future__ import annotations

from functools import lru_cache
from uuid import UUID, uuid5

_NAMESPACE = UUID("6f1c3c2e-8a4b-4d0e-9a61-3b1f6d0c2b7a")


def tenant_id_for(slug: str) -> UUID:
    return uuid5(_NAMESPACE, f"tenant:{slug.casefold()}")


def entity_type_id_for(tenant_id: UUID, name: str) -> UUID:
    return uuid5(tenant_id, f"entity-type:{name.strip().casefold()}")


@lru_cache(maxsize=65_536)
def unique_claim_id_for(tenant_id: UUID, scope: str, value: str) -> UUID:
    # Cached: a batch asks for each row's claim ids two or three times (prefetch, claim, check).
    return uuid5(tenant_id, f"unique:{scope}:{value}")


def receipt_id_for(tenant_id: UUID, idempotency_key: str) -> UUID:
    return uuid5(tenant_id, f"receipt:{idempotency_key}")


def occurrence_kind_id_for(tenant_id: UUID, name: str) -> UUID:
    return uuid5(tenant_id, f"occurrence-kind:{name.strip().casefold()}")


def action_run_id_for(process_action_id: UUID, trigger_key: str) -> UUID:
    """One run per process action and trigger (an event, or a scheduled instant): a redelivered
    trigger finds its run already planned."""
    return uuid5(process_action_id, f"run:{trigger_key}")


def role_id_for(tenant_id: UUID, name: str) -> UUID:
    return uuid5(tenant_id, f"role:{name}")


def member_id_for(tenant_id: UUID, actor: str) -> UUID:
    return uuid5(tenant_id, f"member:{actor}")


def api_key_id_for(tenant_id: UUID, name: str) -> UUID:
    return uuid5(tenant_id, f"api-key:{name}")


def process_definition_id_for(tenant_id: UUID, key: str) -> UUID:
    return uuid5(tenant_id, f"process-definition:{key}")
