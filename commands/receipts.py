"""CommandReceipt: the first response to an `Idempotency-Key`, stored with the command's events.

The receipt's id derives from (tenant, key) and it is saved in the same event-store transaction
as the command's own events, so a key is either bound to one committed command or to nothing.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.ids import receipt_id_for


class CommandReceipt(Aggregate):
    @staticmethod
    def create_id(tenant_id: UUID, key: str) -> UUID:
        return receipt_id_for(tenant_id, key)

    @event("Issued")
    def __init__(
        self,
        tenant_id: UUID,
        key: str,
        command: str,
        request_hash: str,
        result_id: UUID,
        result_version: int,
    ) -> None:
        self.tenant_id = tenant_id
        self.key = key
        self.command = command
        self.request_hash = request_hash
        self.result_id = result_id
        self.result_version = result_version
