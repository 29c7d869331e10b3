"""String-valued field types: free text, and strings with a well-known shape."""

from __future__ import annotations

import re
from typing import ClassVar
from urllib.parse import urlsplit

from domain.fields.base import (
    FieldStrategy,
    Problem,
    bound,
    parse_count,
    range_problems,
    register,
)
from domain.fields.regex import fullmatch, safe_compile
from domain.fields.spec import FieldSpec

# C0/C1 controls (Unicode category Cc) plus lone surrogates, which no database will store.
_BAD_IN_TEXT = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")
_BAD_IN_LONG_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_PHONE = re.compile(r"\+[0-9]{8,15}")
_PHONE_NOISE = str.maketrans("", "", " -.()")


def require_str(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


class _BoundedText(FieldStrategy):
    default_max_length: ClassVar[int]
    bad_characters: ClassVar[re.Pattern[str]]
    allowed_constraints = frozenset({"min_length", "max_length"})
    text_like = True
    rule_type = "text"

    def constraint_problems(self, spec: FieldSpec) -> list[Problem]:
        return range_problems(spec, "min_length", "max_length", parse_count)

    def validate(self, value: object, spec: FieldSpec) -> object:
        text = require_str(value)
        low = bound(spec, "min_length", parse_count)
        high = bound(spec, "max_length", parse_count)
        high = self.default_max_length if high is None else high
        if low is not None and len(text) < low:
            raise ValueError(f"must be at least {low} characters")
        if len(text) > high:
            raise ValueError(f"must be at most {high} characters")
        if self.bad_characters.search(text):
            raise ValueError("must not contain control characters")
        return text

    def unique_key(self, value: object) -> str:
        return str(value).strip().casefold()


@register
class TextField(_BoundedText):
    """One line of text: only tabs are allowed among control characters."""

    name = "text"
    allowed_constraints = frozenset({"min_length", "max_length", "pattern"})
    default_max_length = 1000
    bad_characters = _BAD_IN_TEXT

    def constraint_problems(self, spec: FieldSpec) -> list[Problem]:
        problems = super().constraint_problems(spec)
        if "pattern" in spec.constraints:
            try:
                safe_compile(spec.constraints["pattern"])
            except ValueError as exc:
                problems.append(("pattern", str(exc)))
        return problems

    def validate(self, value: object, spec: FieldSpec) -> object:
        text = str(super().validate(value, spec))
        pattern = spec.constraints.get("pattern")
        if isinstance(pattern, str) and not fullmatch(pattern, text):
            raise ValueError("does not match the required pattern")
        return text


@register
class LongTextField(_BoundedText):
    """Multi-line prose: newlines and tabs are fine, other control characters are not."""

    name = "long_text"
    can_be_unique = False
    default_max_length = 100_000
    bad_characters = _BAD_IN_LONG_TEXT


@register
class EmailField(FieldStrategy):
    """Pragmatic on purpose: full RFC 5322 admits addresses no mail system delivers to."""

    name = "email"
    text_like = True
    rule_type = "text"

    def validate(self, value: object, spec: FieldSpec) -> object:
        text = require_str(value)
        if len(text) > 254:
            raise ValueError("must be at most 254 characters")
        if _SPACE_OR_CONTROL.search(text):
            raise ValueError("must not contain spaces or control characters")
        if text.count("@") != 1:
            raise ValueError("must contain exactly one @")
        local, _, domain = text.partition("@")
        if not local or len(local) > 64:
            raise ValueError("must have 1-64 characters before the @")
        labels = domain.split(".")
        if len(labels) < 2 or not all(labels):
            raise ValueError("must have a domain with a dot after the @, like example.com")
        # The local part may be case-sensitive to the receiving server; the domain never is.
        return f"{local}@{domain.lower()}"

    def unique_key(self, value: object) -> str:
        return str(value).strip().casefold()


@register
class PhoneField(FieldStrategy):
    """E.164 so the same number typed with different punctuation is stored identically."""

    name = "phone"
    text_like = True
    rule_type = "text"

    def validate(self, value: object, spec: FieldSpec) -> object:
        text = require_str(value)
        digits = text[:64].translate(_PHONE_NOISE)
        if len(text) > 64 or not _PHONE.fullmatch(digits):
            raise ValueError("must be in international format: + followed by 8 to 15 digits")
        return digits

    def unique_key(self, value: object) -> str:
        return "+" + "".join(char for char in str(value) if "0" <= char <= "9")


@register
class UrlField(FieldStrategy):
    """Web links only: other schemes (javascript:, file:) are a hazard when rendered."""

    name = "url"
    text_like = True
    rule_type = "text"

    def validate(self, value: object, spec: FieldSpec) -> object:
        text = require_str(value)
        if len(text) > 2048:
            raise ValueError("must be at most 2048 characters")
        if _SPACE_OR_CONTROL.search(text):
            raise ValueError("must not contain spaces or control characters")
        try:
            parts = urlsplit(text)
            _ = parts.port  # raises on a non-numeric or out-of-range port
        except ValueError:
            raise ValueError("is not a valid URL") from None
        if parts.scheme.lower() not in ("http", "https"):
            raise ValueError("must start with http:// or https://")
        if not parts.hostname:
            raise ValueError("must include a host")
        return text
