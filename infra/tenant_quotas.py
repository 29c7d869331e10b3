"""The read API's view of a tenant's quotas: its settings, from the event store (the source
of truth, as the command side reads `commands_per_second`), on a worker thread."""

from __future__ import annotations

from uuid import UUID

from anyio import to_thread

from domain.tenant import DEFAULT_SETTINGS, Tenant
from eventstore import EventStore
from read_api.ports import ReadQuotas, TenantQuotas


def tenant_quotas(store: EventStore) -> TenantQuotas:
    def read(tenant_id: UUID) -> ReadQuotas:
        tenant = store.find(Tenant, tenant_id)
        setting = DEFAULT_SETTINGS.__getitem__ if tenant is None else tenant.setting
        return ReadQuotas(
            cost_per_request=int(setting("graphql_cost_per_request")),
            cost_per_minute=int(setting("graphql_cost_per_minute")),
            subscriptions=int(setting("subscriptions")),
        )

    async def quotas(tenant_id: UUID) -> ReadQuotas:
        return await to_thread.run_sync(read, tenant_id)

    return quotas
