"""How many of something each tenant has in progress in this process, up to a limit: one more
is refused with RATE_LIMITED, never queued (a queue would only move the pile-up)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from uuid import UUID

from read_api.errors import RateLimited


class TenantSlots:
    def __init__(self) -> None:
        self._active: dict[UUID, int] = {}

    @contextlib.contextmanager
    def slot(self, tenant_id: UUID, limit: int, refusal: str) -> Iterator[None]:
        """Hold one of the tenant's `limit` slots; `refusal` explains a refusal."""
        active = self._active.get(tenant_id, 0)
        if active >= limit:
            raise RateLimited(refusal)
        self._active[tenant_id] = active + 1
        try:
            yield
        finally:
            left = self._active[tenant_id] - 1
            if left:
                self._active[tenant_id] = left
            else:
                del self._active[tenant_id]

    def active(self, tenant_id: UUID) -> int:
        return self._active.get(tenant_id, 0)
