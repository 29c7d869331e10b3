"""ActionCatalogItem: a reusable action (channel + template + channel config) a tenant offers.

Provider credentials arrive here already sealed by the command side: the aggregate, its events
and every read model only ever hold ciphertext.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict, InvalidInput
from domain.names import clean_name

MAX_TEMPLATE = 20_000


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    backoff_seconds: float = 30.0
    max_backoff_seconds: float = 3_600.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_retry(raw: object, path: tuple[str | int, ...] = ("retry",)) -> RetryPolicy:
    if raw is None:
        return RetryPolicy()
    if not isinstance(raw, Mapping):
        raise InvalidInput("must be an object", path)
    for key in raw:
        if key not in ("max_attempts", "backoff_seconds", "max_backoff_seconds"):
            raise InvalidInput("unknown key", (*path, str(key)))
    policy = RetryPolicy(**raw)
    attempts = policy.max_attempts
    if isinstance(attempts, bool) or not (isinstance(attempts, int) and 1 <= attempts <= 20):
        raise InvalidInput("must be an integer from 1 to 20", (*path, "max_attempts"))
    for key, low in (("backoff_seconds", 0.05), ("max_backoff_seconds", 0.05)):
        value = getattr(policy, key)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not low <= value <= 86_400:
            raise InvalidInput(f"must be a number of seconds from {low} to 86400", (*path, key))
    if policy.max_backoff_seconds < policy.backoff_seconds:
        raise InvalidInput("must not be below backoff_seconds", (*path, "max_backoff_seconds"))
    return policy


def clean_template(raw: object, path: tuple[str | int, ...] = ("template",)) -> dict[str, Any]:
    """{"subject": optional text, "body": text}; the syntax is checked where Jinja lives."""
    if not isinstance(raw, Mapping):
        raise InvalidInput('must be an object like {"subject": "...", "body": "..."}', path)
    for key in raw:
        if key not in ("subject", "body"):
            raise InvalidInput("unknown key; a template has subject and body", (*path, str(key)))
    body, subject = raw.get("body"), raw.get("subject")
    if not isinstance(body, str) or not 1 <= len(body) <= MAX_TEMPLATE:
        raise InvalidInput(f"must be 1-{MAX_TEMPLATE} characters", (*path, "body"))
    if subject is not None and (not isinstance(subject, str) or len(subject) > 998):
        raise InvalidInput("must be text of at most 998 characters", (*path, "subject"))
    return {"subject": subject, "body": body}


class ActionCatalogItem(Aggregate):
    @event("Created")
    def __init__(
        self,
        tenant_id: UUID,
        name: str,
        channel: str,
        template: dict[str, Any],
        config: dict[str, Any],
        credentials: str | None,
        retry: dict[str, Any],
    ) -> None:
        self.tenant_id = tenant_id
        self.name = name
        self.channel = channel
        self.template = template
        self.config = config
        self.credentials = credentials
        self.retry = retry
        self.retired = False

    @classmethod
    def create(
        cls,
        tenant_id: UUID,
        name: str,
        channel: str,
        template: object,
        config: dict[str, Any],
        sealed_credentials: str | None,
        retry: object = None,
    ) -> ActionCatalogItem:
        return cls(
            tenant_id=tenant_id,
            name=clean_name(name, max_length=100),
            channel=clean_name(channel, ("channel",), 63).lower(),
            template=clean_template(template),
            config=dict(config),
            credentials=sealed_credentials,
            retry=parse_retry(retry).to_json(),
        )

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(**self.retry)

    def revise(
        self,
        template: object | None,
        config: dict[str, Any] | None,
        sealed_credentials: str | None,
        retry: object | None,
    ) -> None:
        """Only what is given changes; runs already planned keep the retry policy they got."""
        if self.retired:
            raise Conflict(f"action {self.name!r} is retired")
        self._revised(
            clean_template(template) if template is not None else self.template,
            dict(config) if config is not None else self.config,
            sealed_credentials if sealed_credentials is not None else self.credentials,
            parse_retry(retry).to_json() if retry is not None else self.retry,
        )

    @event("Revised")
    def _revised(
        self,
        template: dict[str, Any],
        config: dict[str, Any],
        credentials: str | None,
        retry: dict[str, Any],
    ) -> None:
        self.template = template
        self.config = config
        self.credentials = credentials
        self.retry = retry

    def retire(self) -> None:
        if self.retired:
            raise Conflict(f"action {self.name!r} is already retired")
        self._retired()

    @event("Retired")
    def _retired(self) -> None:
        self.retired = True
