"""A tenant's read quotas: what one query may cost, what its queries may cost a minute, how
many subscriptions it may have open.

- Cost (`read_api.cost`) is checked before execution: over `cost_per_request`, the query is
  refused with COST_LIMIT and nothing runs; otherwise its cost is taken from the tenant's
  minute budget, a token bucket in Redis shared by every API process (`cost_per_minute`
  tokens, refilled evenly over the minute); an empty bucket refuses it with RATE_LIMITED
  (HTTP 429, `Retry-After`). Subscriptions are not charged against the minute: they are
  counted instead.
- Subscriptions are counted per tenant in this process: one more than `subscriptions` is
  refused on its subscribe message with RATE_LIMITED.

A tenant's settings are read again after `SETTINGS_SECONDS`, so a change applies then. If
Redis does not answer, queries run uncharged (logged), as reads go on without the hot cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Iterator
from uuid import UUID

from read_api.errors import PublicError, RateLimited
from read_api.ports import Budget, ReadQuotas, TenantQuotas
from read_api.slots import TenantSlots

log = logging.getLogger("bsdflow.read_api.quotas")
SETTINGS_SECONDS = 5.0
COST_LIMIT = "COST_LIMIT"


class CostLimitExceeded(PublicError):
    code = COST_LIMIT
    status = 400

    def __init__(self, cost: int, limit: int) -> None:
        super().__init__(
            f"this query costs {cost}; the limit is {limit} (each field 1, times the page size "
            "of each list it is in): ask for smaller pages or fewer fields"
        )
        self.extensions |= {"cost": cost, "limit": limit}


class BudgetExhausted(RateLimited):
    def __init__(self, cost: int, per_minute: int, wait: float) -> None:
        self.retry_after = max(1, math.ceil(wait))
        super().__init__(
            f"this query costs {cost} and the organisation's queries have spent their "
            f"{per_minute} a minute; retry in {self.retry_after} s"
        )
        self.extensions |= {"cost": cost, "limit": per_minute, "retryAfter": self.retry_after}


class Quotas:
    def __init__(self, read: TenantQuotas, budget: Budget | None) -> None:
        self._read = read
        self._budget = budget
        self._known: dict[UUID, tuple[float, ReadQuotas]] = {}
        self._reading: dict[UUID, asyncio.Future[ReadQuotas]] = {}
        self._open = TenantSlots()

    async def of(self, tenant_id: UUID) -> ReadQuotas:
        known = self._known.get(tenant_id)
        if known is not None and time.monotonic() - known[0] <= SETTINGS_SECONDS:
            return known[1]
        reading = self._reading.get(tenant_id)
        if reading is None:  # one read for every request that finds the entry stale
            reading = self._reading[tenant_id] = asyncio.ensure_future(self._read(tenant_id))
            reading.add_done_callback(lambda _: self._reading.pop(tenant_id, None))
        quotas = await asyncio.shield(reading)
        self._known[tenant_id] = (time.monotonic(), quotas)
        return quotas

    async def charge(self, tenant_id: UUID, cost: int, *, per_minute_too: bool) -> None:
        """Refuse an operation over the tenant's limit for one; take its cost from the
        minute's budget (`per_minute_too`: subscriptions are counted, not charged)."""
        quotas = await self.of(tenant_id)
        if cost > quotas.cost_per_request:
            raise CostLimitExceeded(cost, quotas.cost_per_request)
        if self._budget is None or cost == 0 or not per_minute_too:
            return
        per_minute = quotas.cost_per_minute
        try:
            wait = await self._budget.take(
                f"graphql:{tenant_id}", per_minute / 60, per_minute, cost
            )
        except Exception:  # a protection, as the hot cache is an optimisation: reads go on
            log.warning("query budget unavailable; the query is not charged", exc_info=True)
            return
        if wait > 0:
            raise BudgetExhausted(cost, per_minute, wait)

    @contextlib.contextmanager
    def subscription(self, tenant_id: UUID, quotas: ReadQuotas) -> Iterator[None]:
        """Hold one of the tenant's open subscriptions (in this process) while it runs."""
        limit = quotas.subscriptions
        refusal = (
            f"this organisation already has {limit} subscriptions open (its `subscriptions` "
            "setting); close one first"
        )
        with self._open.slot(tenant_id, limit, refusal):
            yield

    def open_subscriptions(self, tenant_id: UUID) -> int:
        return self._open.active(tenant_id)
