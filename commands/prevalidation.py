"""Checking a command with the validation worker before it runs (Kafka request-reply).

The worker answers with faults (→ 422, with paths), with an id not found in the tenant (→ 404,
as any command answers) or with a lock it took for the command's
unique name; the lock is released once the command has been stored or refused. No answer in
time is a 504, and nothing is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from commands.auth import Principal
from commands.ports import Locks, NoReply, RequestReply
from commands.registry import Command, CommandSpec
from domain.errors import DomainError, NotFound
from domain.fields import DataInvalid, FieldError


class ValidationUnavailable(DomainError):
    """The validation worker did not answer in time."""


@dataclass(frozen=True)
class HeldLock:
    key: str
    token: str


def validation_request(spec: CommandSpec[Any], body: Command, who: Principal) -> dict[str, Any]:
    return {
        "tenant_id": str(who.tenant_id),
        "command": spec.name,
        "body": body.model_dump(mode="json"),
    }


@dataclass
class Prevalidation:
    rpc: RequestReply
    topic_for: Callable[[str], str]
    locks: Locks
    timeout: float = 5.0

    async def check(self, spec: CommandSpec[Any], body: Command, who: Principal) -> HeldLock | None:
        assert spec.validation is not None
        try:
            reply = await self.rpc.request(
                self.topic_for(spec.validation), validation_request(spec, body, who), self.timeout
            )
        except NoReply:
            raise ValidationUnavailable(
                f"the validation worker did not answer within {self.timeout:g} s; "
                "nothing was stored, try again"
            ) from None
        if "error" in reply:
            raise RuntimeError(f"validation worker failed: {reply['error']}")
        missing = reply.get("not_found")
        if missing:
            raise NotFound(missing["message"], tuple(missing["path"]))
        faults = reply.get("faults") or []
        if faults:
            raise DataInvalid([FieldError(tuple(f["path"]), f["message"]) for f in faults])
        lock = reply.get("lock")
        return HeldLock(lock["key"], lock["token"]) if lock else None

    def release(self, held: HeldLock | None) -> None:
        if held is not None:
            self.locks.release(held.key, held.token)
