"""Running a command: authorise, replay idempotent requests, handle, store — or store nothing."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any
from uuid import UUID

import orjson
import structlog
from anyio import to_thread

from commands.access import ACCESS_MANAGE, AccessBook
from commands.action_runs import ActionRunBatches
from commands.assistant_calls import AssistantCalls
from commands.auth import Principal
from commands.context import CommandContext, ReceiptRequest, Recorded, command_metadata
from commands.imports import ImportRows
from commands.ports import AsyncRateLimiter, BlobStore, Locks, RateLimiter, SecretBox, StagedBlob
from commands.prevalidation import Prevalidation
from commands.process_timers import ProcessTimers
from commands.receipts import CommandReceipt
from commands.registry import Command, CommandSpec
from domain.errors import Conflict, DomainError, NotFound
from domain.ids import receipt_id_for
from domain.tenant import Tenant
from eventstore import ConcurrentWrite, EventStore

log = structlog.get_logger("bsdflow.commands")


class IdempotencyKeyReused(DomainError):
    """The same Idempotency-Key was sent with a different request."""


class TooManyCommands(DomainError):
    """The tenant is over its `commands_per_second`: 429, with when to try again."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(
            f"this organisation sends more than its commands_per_second; retry in {retry_after:.2f} s"
        )
        self.retry_after = retry_after


TENANT_SETTINGS_SECONDS = 5.0
"""A tenant's rate limit is read again after this long (a change of settings applies then)."""


def request_hash(command: str, body: Command, upload: StagedBlob | None) -> str:
    canonical = orjson.dumps(
        {
            "command": command,
            "body": body.model_dump(mode="json"),
            "file": upload and upload.sha256,
        },
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(canonical).hexdigest()


@dataclass
class CommandService:
    store: EventStore
    locks: Locks
    blobs: BlobStore
    secrets: SecretBox
    prevalidation: Prevalidation | None = None
    """Checks the commands whose spec names a validation (absent: the handler's checks alone)."""
    access: AccessBook | None = None
    """Who may do what (by default, the roles and members `store` holds)."""
    quota: RateLimiter | None = None
    """Each tenant's commands_per_second, shared by every API process (absent: unlimited)."""
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    """What handlers take as now: SLA deadlines and guards' dates (injectable for tests)."""
    _rates: dict[UUID, tuple[float, int]] = field(default_factory=dict)
    """Tenant → (when read, its commands per second)."""
    _closed: dict[UUID, float] = field(default_factory=dict)
    """Tenant → until when (monotonic) its bucket holds no token: no take can succeed before."""

    def __post_init__(self) -> None:
        self.book = self.access or AccessBook(self.store)

    async def submit(
        self,
        spec: CommandSpec[Any],
        body: Command,
        principal: Principal,
        request: Mapping[str, str],
        idempotency_key: str | None = None,
        upload: StagedBlob | None = None,
        *,
        admitted: bool = False,
    ) -> Recorded:
        """`execute`, from async code, on a worker thread; first, for a spec that names a
        validation, the validation worker's check (which may lock a unique name for this
        command until it is stored or refused). A replayed request is not checked again."""
        run = partial(
            self.execute, spec, body, principal, request, idempotency_key, upload, admitted=admitted
        )
        if spec.validation is None or self.prevalidation is None:
            return await to_thread.run_sync(run)
        await to_thread.run_sync(self.book.require, principal, spec.permission, spec.name)
        if idempotency_key is not None:
            replay = await to_thread.run_sync(self.replay, spec, body, principal, idempotency_key)
            if replay is not None:
                return replay
        held = await self.prevalidation.check(spec, body, principal)
        try:
            return await to_thread.run_sync(run)
        finally:
            self.prevalidation.release(held)

    def execute(
        self,
        spec: CommandSpec[Any],
        body: Command,
        principal: Principal,
        request: Mapping[str, str],
        idempotency_key: str | None = None,
        upload: StagedBlob | None = None,
        *,
        admitted: bool = False,
    ) -> Recorded:
        """`admitted`: the command's token was taken already (`admit`)."""
        granted = self.book.require(principal, spec.permission, spec.name)
        if spec.permission != "tenants:create":
            self._admit(principal, counted=admitted)
        receipt = None
        if idempotency_key is not None:
            receipt = self._receipt(principal, spec, idempotency_key, body, upload)
            replay = self._replay(principal.tenant_id, receipt)
            if replay is not None:
                return replay
        meta = command_metadata(spec.name, principal.tenant_id, principal.actor, request)
        ctx = CommandContext(
            self.store,
            principal,
            self.locks,
            self.blobs,
            meta,
            self.secrets,
            receipt,
            upload,
            frozenset(granted.roles),
            self.clock,
        )
        try:
            result = spec.handler(body, ctx)
        except DomainError as refused:
            log.info(
                "command refused",
                command=spec.name,
                tenant=principal.tenant_slug,
                reason=refused.message,
            )
            raise
        except ConcurrentWrite:
            # Someone else stored an event at the same (id, version) first.
            if receipt is not None:
                replay = self._replay(principal.tenant_id, receipt)
                if replay is not None:
                    return replay
            raise Conflict("a concurrent command changed this first; reload and retry") from None
        finally:
            ctx.release_locks()
        if spec.permission == ACCESS_MANAGE:
            self.book.forget(principal.tenant_id)
        log.info(
            "command accepted",
            command=spec.name,
            tenant=principal.tenant_slug,
            actor=principal.actor,
            correlation_id=meta.get("correlation_id"),
            id=str(result.id),
            version=result.version,
            position=result.position,
        )
        return result

    def action_runs(self, principal: Principal) -> ActionRunBatches:
        """The batch forms of the action-run commands, acting as `principal`."""
        self.book.require(principal, "automation:run")
        return ActionRunBatches(self.store, principal.actor)

    def import_rows(self, principal: Principal) -> ImportRows:
        """Applying import jobs' rows (each the create- or update-entity command), as
        `principal`."""
        self.book.require(principal, "automation:run")
        return ImportRows(self.store, self.locks, self.blobs, self.secrets, self.clock)

    def assistant_calls(self, principal: Principal) -> AssistantCalls:
        """Recording calls to the language model, each in the name of whoever asked."""
        self.book.require(principal, "automation:run")
        return AssistantCalls(self.store)

    def process_timers(self, principal: Principal) -> ProcessTimers:
        """Recording SLA reminders and breaches as they fall due, acting as `principal`."""
        self.book.require(principal, "automation:run")
        return ProcessTimers(self.store, principal.actor)

    def replay(
        self, spec: CommandSpec[Any], body: Command, principal: Principal, key: str
    ) -> Recorded | None:
        """The stored answer to an earlier request with this Idempotency-Key, if any."""
        return self._replay(principal.tenant_id, self._receipt(principal, spec, key, body, None))

    def _receipt(
        self,
        principal: Principal,
        spec: CommandSpec[Any],
        key: str,
        body: Command,
        upload: StagedBlob | None,
    ) -> ReceiptRequest:
        plain = request_hash(spec.name, body, upload)
        keyed = self.secrets.fingerprint(principal.tenant_id, plain.encode())
        return ReceiptRequest(key, spec.name, keyed, plain)

    def rate_of(self, tenant_id: UUID) -> int:
        """The tenant's commands_per_second (read again after TENANT_SETTINGS_SECONDS); a
        tenant that was never created is NotFound."""
        rate = self._fresh_rate(tenant_id)
        if rate is None:
            tenant = self.store.find(Tenant, tenant_id)
            if tenant is None:
                raise NotFound("the token's tenant does not exist")
            rate = int(tenant.setting("commands_per_second"))
            self._rates[tenant_id] = (time.monotonic(), rate)
        return rate

    def _fresh_rate(self, tenant_id: UUID) -> int | None:
        known = self._rates.get(tenant_id)
        if known is None or time.monotonic() - known[0] > TENANT_SETTINGS_SECONDS:
            return None
        return known[1]

    def _admit(self, principal: Principal, *, counted: bool) -> None:
        """A command for a tenant that was never created is refused; one over the tenant's
        rate waits for nothing: it is refused with when to try again."""
        rate = self.rate_of(principal.tenant_id)
        if self.quota is not None and not principal.internal and not counted:
            self._take(principal.tenant_id, self.quota.take(self._key(principal), rate, rate))

    async def admit(self, principal: Principal, limiter: AsyncRateLimiter) -> bool:
        """Take the command's token on the event loop, from `limiter` (the same buckets as
        `quota`, awaited), before anything else is done for it: True if taken (pass
        `admitted=True` on), False if left to `execute` (no limits configured, bsdflow's own
        services, a tenant that does not exist: the command's own answer says so);
        TooManyCommands over the rate. While a refusal holds (no token can be in the bucket
        before: other processes only take), the tenant is refused again without asking
        Redis, so a flood costs a dictionary lookup per request."""
        if self.quota is None or principal.internal:
            return False
        tenant_id = principal.tenant_id
        until = self._closed.get(tenant_id)
        if until is not None:
            wait = until - time.monotonic()
            if wait > 0:
                raise TooManyCommands(wait)
            self._closed.pop(tenant_id, None)
        rate = self._fresh_rate(tenant_id)
        if rate is None:
            try:
                rate = await to_thread.run_sync(self.rate_of, tenant_id)
            except NotFound:
                return False
        self._take(tenant_id, await limiter.take(self._key(principal), rate, rate, 1))
        return True

    @staticmethod
    def _key(principal: Principal) -> str:
        return f"commands:{principal.tenant_id}"

    def _take(self, tenant_id: UUID, wait: float) -> None:
        if wait > 0:
            self._closed[tenant_id] = time.monotonic() + wait
            raise TooManyCommands(wait)

    def _replay(self, tenant_id: UUID, receipt: ReceiptRequest) -> Recorded | None:
        receipt_id = receipt_id_for(tenant_id, receipt.key)
        stored = self.store.find(CommandReceipt, receipt_id)
        if stored is None:
            return None
        if not receipt.matches(stored.request_hash):
            raise IdempotencyKeyReused(
                "this Idempotency-Key was already used with a different request",
                ("Idempotency-Key",),
            )
        position = self.store.position_of(receipt_id, 1)
        return Recorded(stored.result_id, stored.result_version, position)
