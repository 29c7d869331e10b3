"""Message templates are bounded while they render, not after: a template that would build a
huge text fails fast, with little memory, whichever way it grows the text."""

from __future__ import annotations

import tracemalloc

import pytest

from automation.templates import TemplateFailed, render

GROWING = [
    "{{ 'x' * n }}",
    "{{ n * 'x' }}",
    "{{ ['x'] * n }}",
    "{{ 'x' ~ ('y' * 60000) ~ ('z' * 60000) }}",
    "{% set ns = namespace(s='xx') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}{{ ns.s|length }}",
    "{% macro grow(s, k) %}{{ grow(s ~ s, k - 1) if k else s|length }}{% endmacro %}"
    "{{ grow('ab', 40) }}",
    "{% set big %}{% for i in range(100000) %}{{ 'abcdefghij' }}{% endfor %}{% endset %}"
    "{{ big|length }}",
    "{{ 'x'|center(n) }}",
    "{{ 'x'.ljust(n) }}",
    "{{ ('%' ~ n ~ 'd') % 1 }}",
    "{{ ('{:>' ~ n ~ '}').format(1) }}",
    "{{ (['x' * 50000] * 100) | join('') }}",
    "{{ (['x' * 50000] * 2) | join('-' * 90000) }}",
    "{{ ('a' * 1000) | replace('a', 'b' * 1000) }}",
    "{{ ('a' * 1000).replace('a', 'b' * 1000) }}",
    "{{ 10 ** n }}",
]


@pytest.mark.parametrize("source", GROWING)
def test_a_template_that_would_grow_too_large_fails_while_rendering(source):
    tracemalloc.start()
    try:
        with pytest.raises(TemplateFailed, match="exceed 100000 characters"):
            render(source, {"n": 50_000_000})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8_000_000, f"peaked at {peak:,} bytes"


def test_ordinary_templates_still_render():
    context = {"occurrence": {"data": {"severity": 4, "tags": ["a", "b"]}}, "n": 3}
    assert render("Severity {{ occurrence.data.severity }}", context) == "Severity 4"
    assert render("{{ occurrence.data.tags|join(', ') }}", context) == "a, b"
    assert render("{{ 'ab' * n }}-{{ 'x' ~ n }}-{{ '%05d' % 42 }}", context) == "ababab-x3-00042"
    assert render("{{ 'id %d' % 12345678 }} {{ '{}'.format(12345678) }}", context) == (
        "id 12345678 12345678"
    )
    assert render("{{ 'a-b'|replace('-', '+') }} {{ 'x'|center(5) }}|", context) == "a+b   x  |"
    assert render("{% for i in range(3) %}{{ i }}{% endfor %}", context) == "012"
