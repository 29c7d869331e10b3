"""Participant: a person or system that takes part in processes and occurrences."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict, InvalidInput
from domain.fields import DataInvalid, FieldError, FieldSpec, validate_data
from domain.names import clean_name

KINDS = ("person", "system")
PERSONAL_FIELDS = frozenset({"name", "email", "phone"})
"""What the event store seals under the participant's own key, and forgetting erases."""
_CONTACT = [
    FieldSpec(name="email", type="email"),
    FieldSpec(name="phone", type="phone"),
    FieldSpec(name="external_ref", type="text", constraints={"max_length": 200}),
]


def _contact(values: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """In an update (partial) a null clears the detail; at registration it means absent."""
    return validate_data(_CONTACT, values, partial=partial)


class Participant(Aggregate):
    @event("Registered")
    def __init__(
        self,
        tenant_id: UUID,
        kind: str,
        name: str,
        email: str | None,
        phone: str | None,
        external_ref: str | None,
    ) -> None:
        self.tenant_id = tenant_id
        self.kind = kind
        self.name = name
        self.email = email
        self.phone = phone
        self.external_ref = external_ref
        self.forgotten = False

    @classmethod
    def register(
        cls,
        tenant_id: UUID,
        name: str,
        kind: str = "person",
        email: str | None = None,
        phone: str | None = None,
        external_ref: str | None = None,
    ) -> Participant:
        if kind not in KINDS:
            raise InvalidInput(f"must be one of {', '.join(KINDS)}", ("kind",))
        contact = _contact(
            {"email": email, "phone": phone, "external_ref": external_ref}, partial=False
        )
        return cls(tenant_id=tenant_id, kind=kind, name=clean_name(name), **contact)

    def update(self, changes: dict[str, Any]) -> None:
        """Change some of name/email/phone/external_ref; a null clears a contact detail.

        Faults name their place in the command's body: ("changes", "email")."""
        self._refuse_if_forgotten()
        unknown = sorted(set(changes) - {"name", "email", "phone", "external_ref"})
        if unknown:
            raise InvalidInput("unknown field", ("changes", unknown[0]))
        contact = {k: v for k, v in changes.items() if k != "name"}
        try:
            cleaned = _contact(contact, partial=True)
        except DataInvalid as exc:
            faults = [FieldError(("changes", *e.path), e.message) for e in exc.errors]
            raise DataInvalid(faults) from None
        if "name" in changes:
            name = changes["name"]
            if not isinstance(name, str):
                raise InvalidInput(
                    "must be a string (a participant always has a name)", ("changes", "name")
                )
            cleaned["name"] = clean_name(name, ("changes", "name"))
        changed = {k: v for k, v in cleaned.items() if getattr(self, k) != v}
        if changed:
            self._updated(changed)

    @event("Updated")
    def _updated(self, changes: dict[str, Any]) -> None:
        for key, value in changes.items():
            setattr(self, key, value)

    def forget(self) -> None:
        """Record that the participant's personal data was erased (its key destroyed first, by
        the event store); forgetting again changes nothing."""
        if not self.forgotten:
            self._forgotten()

    @event("Forgotten")
    def _forgotten(self) -> None:
        self.forgotten = True
        for name in PERSONAL_FIELDS:
            setattr(self, name, None)

    def _refuse_if_forgotten(self) -> None:
        if self.forgotten:
            raise Conflict("this participant was forgotten: their personal data is erased")
