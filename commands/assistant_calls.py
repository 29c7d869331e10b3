"""Recording calls to the language model (`AssistantCall`), by the read API's assistant, in
the name of the member who asked: their actor is every event's."""

from __future__ import annotations

from dataclasses import dataclass

from commands.context import command_metadata
from domain.assistant_call import AssistantCall
from eventstore import EventStore


@dataclass
class AssistantCalls:
    store: EventStore

    def record(self, call: AssistantCall) -> int:
        meta = command_metadata("assistant-call", call.tenant_id, call.actor)
        return self.store.save(call, metadata=meta)
