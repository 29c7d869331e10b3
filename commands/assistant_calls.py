"""Recording calls to the language model (`AssistantCall`), by the read API's assistant, in
the name of the member who asked: their actor is every event's."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from commands.context import command_metadata
from domain.assistant_call import AssistantCall
from eventstore import EventStore


@dataclass
class AssistantCalls:
    store: EventStore

    def record(
        self,
        tenant_id: UUID,
        actor: str,
        feature: str,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        latency_ms: float,
        outcome: str,
    ) -> int:
        call = AssistantCall(
            tenant_id=tenant_id,
            actor=actor,
            feature=feature,
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_ms=round(latency_ms, 1),
            outcome=outcome,
        )
        meta = command_metadata("assistant-call", tenant_id, actor)
        return self.store.save(call, metadata=meta)
