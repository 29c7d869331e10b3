"""The subject key store on PostgreSQL: one key per subject however many ask at once, and a
destroyed key never comes back."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from eventstore.keys import KEYS_TABLE, PostgresSubjectKeys, SubjectForgotten


def keys_of(database_url: str) -> PostgresSubjectKeys:
    def connect() -> AbstractContextManager[psycopg.Connection[Any]]:
        return psycopg.connect(database_url, autocommit=True)

    return PostgresSubjectKeys(connect)


def test_racing_first_needs_agree_on_one_key(database_url: str) -> None:
    subject = (uuid4(), uuid4())
    with ThreadPoolExecutor(8) as pool:
        found = set(pool.map(lambda _: keys_of(database_url).key_for(subject), range(8)))
    assert len(found) == 1
    assert len(next(iter(found))) == 32
    with psycopg.connect(database_url) as conn:
        stored = conn.execute(f"SELECT key FROM {KEYS_TABLE}").fetchall()
    assert [bytes(k) for (k,) in stored] == list(found)


def test_a_destroyed_key_is_never_made_again(database_url: str) -> None:
    keys, ann, bo = keys_of(database_url), (uuid4(), uuid4()), (uuid4(), uuid4())
    keys.key_for(ann)
    bo_key = keys.key_for(bo)
    keys.forget(ann)
    keys.forget(ann)
    keys.forget((uuid4(), uuid4()))  # one that never had a key: a tombstone all the same
    with pytest.raises(SubjectForgotten):
        keys.key_for(ann)
    assert keys.keys_of([ann, bo]) == {ann: None, bo: bo_key}
    keys.evict(ann)  # even read again from the table
    assert keys.keys_of([ann]) == {ann: None}
