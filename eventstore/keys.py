"""Subject keys: one AES-256 key per (tenant, subject), kept beside the events, never in them.

A subject is whoever personal values in events are about (a participant). Destroying its key
is what erases those values (crypto-shredding): the events stay as they are, but what they
sealed can no longer be opened by anyone, including later rebuilds. A destroyed key leaves a
tombstone, so no new key is ever made for a forgotten subject.

Keys are cached in the process for a few seconds (a destroyed one is evicted at once here by
`forget`, and in every other process when it reads the event that recorded the forgetting).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Any, Protocol
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from eventstore.envelope import APPLICATION_NAME

KEYS_TABLE = f"{APPLICATION_NAME}_subject_keys"
KEYS_DDL = sql.SQL(
    "CREATE TABLE IF NOT EXISTS {} ("
    "tenant_id uuid NOT NULL, subject_id uuid NOT NULL, key bytea, "
    "created_at timestamptz NOT NULL DEFAULT now(), forgotten_at timestamptz, "
    "PRIMARY KEY (tenant_id, subject_id), "
    "CHECK ((key IS NULL) = (forgotten_at IS NOT NULL)))"
).format(sql.Identifier(KEYS_TABLE))
KEY_BYTES = 32
KEY_CACHE_SECONDS = 10.0
"""How long a process uses a key it read without reading it again: the longest a process that
has not yet read the forgetting event may still open values that another one erased."""

Subject = tuple[UUID, UUID]
"""(tenant id, subject id)."""


class SubjectForgotten(Exception):
    """The subject's key was destroyed: nothing more may be sealed for it."""


class SubjectKeys(Protocol):
    def key_for(self, subject: Subject) -> bytes:
        """The subject's key, made on first need (SubjectForgotten once destroyed)."""

    def keys_of(self, subjects: Iterable[Subject]) -> dict[Subject, bytes | None]:
        """Each subject's key, or None where it was destroyed or never made."""

    def forget(self, subject: Subject) -> None:
        """Destroy the subject's key (again: nothing happens)."""

    def evict(self, subject: Subject) -> None:
        """Drop the subject's key from this process's cache (another process destroyed it)."""


class _Cache:
    """Keys known to this process, each for `KEY_CACHE_SECONDS`; None for a destroyed one
    (which never comes back, so it is kept)."""

    def __init__(self) -> None:
        self._known: dict[Subject, tuple[bytes | None, float]] = {}
        self._lock = threading.Lock()

    def get(self, subject: Subject) -> tuple[bool, bytes | None]:
        with self._lock:
            key, until = self._known.get(subject, (None, 0.0))
            return (key is None and until > 0) or until > time.monotonic(), key

    def put(self, subject: Subject, key: bytes | None) -> None:
        until = time.monotonic() + KEY_CACHE_SECONDS if key is not None else float("inf")
        with self._lock:
            self._known[subject] = (key, until)

    def evict(self, subject: Subject) -> None:
        with self._lock:
            self._known.pop(subject, None)


_CACHE = _Cache()
"""One per process: the store's mapper and the read side's openers share what they learnt."""

Connect = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]


class PostgresSubjectKeys:
    """The keys table in the event store's database, over whatever connection `connect` lends."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect
        table = sql.Identifier(KEYS_TABLE)
        self._insert = sql.SQL(
            "INSERT INTO {} (tenant_id, subject_id, key) VALUES (%s, %s, %s) "
            "ON CONFLICT (tenant_id, subject_id) DO NOTHING"
        ).format(table)
        self._select = sql.SQL(
            "SELECT tenant_id, subject_id, key FROM {} "
            "WHERE (tenant_id, subject_id) IN (SELECT * FROM unnest(%s::uuid[], %s::uuid[]))"
        ).format(table)
        self._forget = sql.SQL(
            "INSERT INTO {} (tenant_id, subject_id, key, forgotten_at) "
            "VALUES (%s, %s, NULL, now()) ON CONFLICT (tenant_id, subject_id) "
            "DO UPDATE SET key = NULL, forgotten_at = coalesce({}.forgotten_at, now())"
        ).format(table, table)

    def key_for(self, subject: Subject) -> bytes:
        known, key = _CACHE.get(subject)
        if not known:
            with self._connect() as conn, conn.cursor(row_factory=tuple_row) as cur:
                # Two writers may make one at once: the first insert wins, both read it back.
                cur.execute(self._insert, (*subject, os.urandom(KEY_BYTES)))
                row = cur.execute(self._select, ([subject[0]], [subject[1]])).fetchone()
            key = None if row is None or row[2] is None else bytes(row[2])
            _CACHE.put(subject, key)
        if key is None:
            raise SubjectForgotten(subject)
        return key

    def keys_of(self, subjects: Iterable[Subject]) -> dict[Subject, bytes | None]:
        found: dict[Subject, bytes | None] = {}
        missing: list[Subject] = []
        for subject in set(subjects):
            known, key = _CACHE.get(subject)
            if known:
                found[subject] = key
            else:
                missing.append(subject)
        if missing:
            with self._connect() as conn, conn.cursor(row_factory=tuple_row) as cur:
                rows = cur.execute(
                    self._select, ([t for t, _ in missing], [s for _, s in missing])
                ).fetchall()
            for tenant_id, subject_id, key in rows:
                value = None if key is None else bytes(key)
                _CACHE.put((tenant_id, subject_id), value)
                found[(tenant_id, subject_id)] = value
        return {subject: found.get(subject) for subject in subjects}

    def forget(self, subject: Subject) -> None:
        with self._connect() as conn:
            conn.execute(self._forget, subject)
        _CACHE.put(subject, None)

    def evict(self, subject: Subject) -> None:
        _CACHE.evict(subject)


class MemorySubjectKeys:
    """Keys in a dict, for the in-memory event store of handler tests."""

    def __init__(self) -> None:
        self._keys: dict[Subject, bytes | None] = {}

    def key_for(self, subject: Subject) -> bytes:
        key = self._keys.setdefault(subject, os.urandom(KEY_BYTES))
        if key is None:
            raise SubjectForgotten(subject)
        return key

    def keys_of(self, subjects: Iterable[Subject]) -> dict[Subject, bytes | None]:
        return {subject: self._keys.get(subject) for subject in subjects}

    def forget(self, subject: Subject) -> None:
        self._keys[subject] = None

    def evict(self, subject: Subject) -> None:
        """Nothing is cached apart from the keys themselves."""


def create_keys_table(conn: psycopg.Connection[Any]) -> None:
    conn.execute(KEYS_DDL)
