"""AssistantCall: one call to a language model, as the audit trail sees it — who, for which
feature, which model, how many tokens, how long, how it ended. Never the tenant's data: no
prompt, no answer."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event


class AssistantCall(Aggregate):
    @event("Made")
    def __init__(
        self,
        tenant_id: UUID,
        actor: str,
        feature: str,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        latency_ms: float,
        outcome: str,
    ) -> None:
        self.tenant_id = tenant_id
        self.actor = actor
        self.feature = feature
        self.model = model
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.latency_ms = latency_ms
        self.outcome = outcome
        """answered, timed out, rate limited, refused, malformed or unreachable."""
