"""A read model is declared in its projection: what subscriptions read back comes from there."""

from __future__ import annotations

from projections.registry import PROJECTIONS
from read_api.changed_rows import FETCH, OWNER


def test_every_announced_change_kind_is_read_back_from_the_projection_that_owns_it():
    announced = {kind: name for name, p in PROJECTIONS.items() for kind in p.change_kinds.values()}
    assert set(FETCH) == set(announced)
    assert announced == OWNER


def test_each_feed_reads_with_a_method_of_its_own_query_class():
    for projection in PROJECTIONS.values():
        for feed in projection.feeds:
            assert getattr(feed.reads, feed.by_ids.__name__) is feed.by_ids, feed.kind
