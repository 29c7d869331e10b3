"""User-supplied regular expressions, bounded so one pattern cannot stall a worker.

Python's `re` backtracks, so a group that repeats something that itself repeats (`(a+)+`) or
that can match the same text two ways (`(a|a)+`) takes exponential time on a near-miss. We
refuse those shapes structurally; it is conservative (some safe patterns are refused too) and
cheap, which is the right trade for a schema check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import combinations

MAX_PATTERN_LENGTH = 200
# Patterns like `.*.*.*x` still backtrack polynomially; 1,000 characters keeps the worst case
# to a fraction of a second.
MAX_MATCH_INPUT = 1_000

_COUNTED = re.compile(r"\{(\d*)(,?)(\d*)\}")


@dataclass
class _Group:
    start: int
    has_quantifier: bool = False
    branches: list[str] = field(default_factory=lambda: [""])

    def add(self, token: str) -> None:
        self.branches[-1] += token

    def is_ambiguous(self) -> bool:
        """Two alternatives where one is a prefix of the other (or equal) can match two ways."""
        return any(a.startswith(b) or b.startswith(a) for a, b in combinations(self.branches, 2))


@lru_cache(maxsize=256)
def safe_compile(pattern: object) -> re.Pattern[str]:
    """Raises ValueError with a user-facing reason when the pattern is not acceptable."""
    if not isinstance(pattern, str):
        raise ValueError("must be a string")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValueError(f"must be at most {MAX_PATTERN_LENGTH} characters")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"is not a valid regular expression: {exc}") from None
    if has_nested_quantifier(pattern):
        raise ValueError(
            "repeats a group that itself repeats or has overlapping alternatives "
            "(e.g. (a+)+ or (a|a)+), which can take exponential time"
        )
    return compiled


def has_nested_quantifier(pattern: str) -> bool:
    """Expects a pattern that already compiles."""
    stack = [_Group(start=0)]
    just_closed: _Group | None = None
    i = 0
    while i < len(pattern):
        size, repeats = _quantifier_at(pattern, i)
        if size:
            if (
                repeats
                and just_closed
                and (just_closed.has_quantifier or just_closed.is_ambiguous())
            ):
                return True
            stack[-1].has_quantifier = True
            stack[-1].add(pattern[i : i + size])
            just_closed = None
            i += size
            continue
        just_closed = None
        char = pattern[i]
        if char == "(":
            stack.append(_Group(start=i))
            i = _group_body_start(pattern, i + 1)
        elif char == ")" and len(stack) > 1:
            just_closed = stack.pop()
            stack[-1].has_quantifier |= just_closed.has_quantifier
            stack[-1].add(pattern[just_closed.start : i + 1])
            i += 1
        elif char == "|":
            stack[-1].branches.append("")
            i += 1
        else:
            end = _token_end(pattern, i)
            stack[-1].add(pattern[i:end])
            i = end
    return False


def _quantifier_at(pattern: str, i: int) -> tuple[int, bool]:
    """(length of the quantifier at i or 0, whether it can repeat more than once)."""
    char = pattern[i]
    if char in "*+":
        return 1, True
    if char == "?":
        return 1, False
    if char == "{":
        match = _COUNTED.match(pattern, i)
        if match and (match.group(1) or match.group(3)):
            low, comma, high = match.groups()
            repeats = (bool(comma) and not high) or int(high or low or 0) > 1
            return match.end() - i, repeats
    return 0, False


def _token_end(pattern: str, i: int) -> int:
    if pattern[i] == "\\":
        return i + 2
    if pattern[i] != "[":
        return i + 1
    j = i + 1
    if pattern.startswith("^", j):
        j += 1
    if pattern.startswith("]", j):
        j += 1
    while j < len(pattern) and pattern[j] != "]":
        j += 2 if pattern[j] == "\\" else 1
    return j + 1


def _group_body_start(pattern: str, i: int) -> int:
    """Skips a `(?...` extension prefix so its `?` is not mistaken for a quantifier."""
    if not pattern.startswith("?", i):
        return i
    rest = pattern[i + 1 : i + 3]
    if rest[:1] in (":", "=", "!", ">"):
        return i + 2
    if rest in ("<=", "<!"):
        return i + 3
    if rest == "P<" or rest[:1] == "(":
        end = pattern.find(">" if rest == "P<" else ")", i)
        return end + 1
    if rest == "P=" or rest[:1] == "#":
        return pattern.find(")", i)
    j = i + 1
    while j < len(pattern) and (pattern[j].isalpha() or pattern[j] == "-"):
        j += 1
    return j + 1 if pattern.startswith(":", j) else j


def fullmatch(pattern: str, value: str) -> bool:
    if len(value) > MAX_MATCH_INPUT:
        raise ValueError(
            f"is too long to check against a pattern (over {MAX_MATCH_INPUT} characters)"
        )
    return safe_compile(pattern).fullmatch(value) is not None
