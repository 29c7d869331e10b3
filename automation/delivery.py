"""Delivering one attempt of one run: render the action's template, hand it to its channel.

Every way an attempt can end becomes an `Outcome` (never an exception): a template error or an
unknown channel fails the run for good, a provider's temporary refusal is retried later.
"""

from __future__ import annotations

from typing import Any

import structlog

from automation.lookup import Lookup
from automation.ports import Channels, DeliveryError, Outbound
from automation.templates import TemplateFailed, recipients_of, render_message
from commands.action_runs import Outcome
from commands.ports import SecretBox
from domain.action_run import ActionRun
from domain.recipients import contact_for

log = structlog.get_logger("bsdflow.delivery")
ADDRESSED_CHANNELS = ("email", "sms")
"""Channels whose runs addressed to a participant go to its own address (others, such as
webhooks, give the participant to the template only)."""


class Delivery:
    def __init__(self, lookup: Lookup, channels: Channels, secrets: SecretBox) -> None:
        self.lookup = lookup
        self.channels = channels
        self.secrets = secrets

    def context(self, run: ActionRun, action_name: str) -> dict[str, Any]:
        return {
            **run.context,
            "run": {
                "id": str(run.id),
                "attempt": run.attempts,
                "planned_at": run.planned_at.isoformat(),
                "process_action_id": str(run.process_action_id),
            },
            "action": {"id": str(run.action_id), "name": action_name},
        }

    async def send(self, run: ActionRun) -> Outcome:
        item = self.lookup.action(run.action_id)
        if item is None:
            return Outcome(run.id, False, "the action no longer exists")
        channel = self.channels.get(item.channel)
        if channel is None:
            return Outcome(run.id, False, f"no channel named {item.channel!r} is installed")
        addresses = recipients_of(item.config)
        recipient = run.context.get("recipient")
        if recipient is not None and item.channel in ADDRESSED_CHANNELS:
            contact = contact_for(item.channel, recipient)
            if contact is None:
                what = "email address" if item.channel == "email" else "phone number"
                return Outcome(run.id, False, f"participant {recipient['id']} has no {what}")
            addresses = [contact]
        try:
            message = render_message(item.template, addresses, self.context(run, item.name))
        except TemplateFailed as exc:
            return Outcome(run.id, False, str(exc))
        credentials = self.secrets.open(run.tenant_id, item.credentials) if item.credentials else {}
        outbound = Outbound(
            run_id=run.id,
            tenant_id=run.tenant_id,
            attempt=run.attempts,
            idempotency_key=f"run_{run.id.hex}",
            subject=message.subject,
            body=message.body,
            recipients=message.recipients,
            config={k: v for k, v in item.config.items() if k != "to"},
            credentials=credentials,
        )
        try:
            sent = await channel.send(outbound)
        except DeliveryError as exc:
            return Outcome(run.id, False, exc.message, retryable=exc.retryable)
        except Exception as exc:  # a channel bug must cost one attempt, not the scheduler
            log.exception("channel crashed", channel=item.channel, run=str(run.id))
            return Outcome(run.id, False, f"{type(exc).__name__}: {exc}", retryable=True)
        return Outcome(run.id, True, sent.detail, sent.provider_message_id)
