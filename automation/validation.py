"""The validation worker's handlers: catalog actions and process actions, before they are saved.

Served over Kafka request-reply (one handler per request topic, from `VALIDATIONS`). A reply is
`{"faults": [{"path": [...], "message": ...}]}`, or `{"not_found": {"path", "message"}}` for an
id that is not the tenant's, plus `{"lock": {"key", "token"}}` when a unique name was locked
for the requester, who releases it once its command is stored or refused. The lock expires on its own if the requester dies, so a name is never stuck.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from automation.ports import Channels
from automation.templates import Fault, check_template, template_texts
from commands.automation import ACTION_NAMES, action_name_key, catalog_item, trigger_fields
from commands.context import not_found_message
from commands.ports import Locks
from domain.action_catalog import ActionCatalogItem, clean_template
from domain.errors import DomainError, NotFound
from domain.fields import DataInvalid
from domain.process_action import ProcessAction, check_definition
from domain.recipients import parse_recipients
from domain.steps import parse_steps
from domain.triggers import Trigger, has_process, parse_trigger
from domain.unique import UniqueClaim
from eventstore import EventStore

NAME_LOCK_SECONDS = 30.0
Reply = dict[str, Any]


def _faults(faults: list[Fault]) -> Reply:
    return {"faults": [{"path": list(f.path), "message": f.message} for f in faults]}


def _refused(exc: DomainError | DataInvalid) -> Reply:
    if isinstance(exc, DataInvalid):
        return _faults([Fault(e.path, e.message) for e in exc.errors])
    if isinstance(exc, NotFound):
        # A 404 to the caller, as every other command answers for an id not in its tenant.
        return {"faults": [], "not_found": {"path": list(exc.path), "message": exc.message}}
    return _faults([Fault(exc.path, exc.message)])


@dataclass
class Validator:
    store: EventStore
    locks: Locks
    channels: Channels

    def handlers(self, topic_for: Callable[[str], str]) -> dict[str, Callable[[Reply], Reply]]:
        return {topic_for(name): getattr(self, method) for name, method in VALIDATIONS.items()}

    def action(self, request: Reply) -> Reply:
        tenant_id, body = UUID(request["tenant_id"]), request["body"]
        try:
            if request["command"] == "create-action":
                return self._new_action(tenant_id, body)
            item = self._item(tenant_id, UUID(body["action_id"]))
            template = body.get("template") or item.template
            config = body["config"] if body.get("config") is not None else item.config
            faults = self._action_faults(item.channel, template, config, body)
            if body.get("credentials") is None and item.credentials is not None:
                # Credentials not sent are kept; the stored ones were checked when saved.
                faults = [f for f in faults if f.path[:1] != ("credentials",)]
            return _faults(faults)
        except (DomainError, DataInvalid) as exc:
            return _refused(exc)

    def process_action(self, request: Reply) -> Reply:
        tenant_id, body = UUID(request["tenant_id"]), request["body"]
        try:
            if request["command"] == "attach-process-action":
                trigger = parse_trigger(body.get("trigger"))
                action_id = UUID(body["action_id"])
            else:
                existing = self._process_action(tenant_id, UUID(body["process_action_id"]))
                trigger, action_id = parse_trigger(existing.trigger), existing.action_id
            item = catalog_item(self.store, tenant_id, action_id)
            variables = trigger.variables(trigger_fields(self.store, tenant_id, trigger))
            check_definition(
                trigger,
                body.get("condition"),
                body.get("schedule") or {"type": "immediate"},
                body.get("catch_up"),
                variables,
            )
            parse_recipients(body.get("recipients"), has_process(trigger))
            parse_steps(body.get("steps"), variables, has_process(trigger))
        except (DomainError, DataInvalid) as exc:
            return _refused(exc)
        return _faults(self._template_fits(item, trigger, variables))

    def _new_action(self, tenant_id: UUID, body: Reply) -> Reply:
        faults = self._action_faults(
            str(body.get("channel", "")), body.get("template"), body.get("config") or {}, body
        )
        if faults:
            return _faults(faults)
        name = action_name_key(str(body.get("name", "")))
        key = f"validate:{ACTION_NAMES}:{tenant_id}:{name}"
        token = self.locks.acquire(key, NAME_LOCK_SECONDS)
        if token is None:
            return _faults([Fault(("name",), f"an action named {body['name']!r} is being created")])
        if self._name_taken(tenant_id, name):
            self.locks.release(key, token)
            return _faults([Fault(("name",), f"an action named {body['name']!r} already exists")])
        return {"faults": [], "lock": {"key": key, "token": token}}

    def _action_faults(
        self, channel_name: str, template: object, config: Mapping[str, Any], body: Reply
    ) -> list[Fault]:
        channel = self.channels.get(channel_name.strip().lower())
        if channel is None:
            known = ", ".join(self.channels.names())
            return [Fault(("channel",), f"unknown channel {channel_name!r}; one of {known}")]
        cleaned = clean_template(template)
        faults = check_template(template_texts(cleaned, config), None, None)
        own_config = {k: v for k, v in config.items() if k != "to"}
        credentials = body.get("credentials")
        for fault in channel.check_config(own_config, credentials or {}):
            faults.append(Fault(fault.path, fault.message))
        return faults

    def _template_fits(
        self, item: ActionCatalogItem, trigger: Trigger, variables: Mapping[str, Any]
    ) -> list[Fault]:
        """The action's placeholders must exist in what this trigger's records carry."""
        faults = check_template(
            template_texts(item.template, item.config), trigger.subject, variables
        )
        return [
            Fault(
                ("action_id",), f"action {item.name!r}: {'/'.join(map(str, f.path))}: {f.message}"
            )
            for f in faults
        ]

    def _name_taken(self, tenant_id: UUID, name: str) -> bool:
        claim = self.store.find(UniqueClaim, UniqueClaim.create_id(tenant_id, ACTION_NAMES, name))
        return claim is not None and claim.owner_id is not None

    def _item(self, tenant_id: UUID, action_id: UUID) -> ActionCatalogItem:
        return catalog_item(self.store, tenant_id, action_id)

    def _process_action(self, tenant_id: UUID, process_action_id: UUID) -> ProcessAction:
        found = self.store.find(ProcessAction, process_action_id)
        if found is None or found.tenant_id != tenant_id:
            raise NotFound(not_found_message(ProcessAction), ("process_action_id",))
        return found


# Request topic suffix → Validator method: the worker serves every entry, the command registry
# names the entry its command is checked by.
VALIDATIONS: dict[str, str] = {"action": "action", "process-action": "process_action"}
