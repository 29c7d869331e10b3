"""Group commit: commands that arrive while a write is in flight share the next transaction,
and each still gets its own positions or its own conflict."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from eventstore.group_commit import GroupCommitRecorder
from eventstore.postgres import StoreApplication, eventstore_env

TOPIC = "tests:Thing.Happened"


def event(originator: uuid.UUID, version: int = 1) -> StoredEvent:
    return StoredEvent(originator, version, TOPIC, b'{"n": 1}')


@pytest.fixture
def recorder(database_url: str) -> Iterator[GroupCommitRecorder]:
    app = StoreApplication(env=eventstore_env(database_url, pool_size=16, overflow=0))
    assert isinstance(app.recorder, GroupCommitRecorder)
    yield app.recorder
    app.close()


def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def with_events_table_locked(
    database_url: str, recorder: GroupCommitRecorder, queued: Sequence[Sequence[StoredEvent]]
) -> tuple[Future[Sequence[int]], list[Future[Sequence[int]]]]:
    """A first insert blocked on the table lock, then `queued` waiting behind it; then release."""
    pool = ThreadPoolExecutor(len(queued) + 1)
    with psycopg.connect(database_url) as blocker:
        blocker.execute("LOCK TABLE bsdflow_events IN EXCLUSIVE MODE")
        first = pool.submit(recorder.insert_events, [event(uuid.uuid4())])
        until(lambda: waiting_on_a_lock(database_url))
        behind = [pool.submit(recorder.insert_events, events) for events in queued]
        until(lambda: recorder.group.waiting == len(queued))
        blocker.commit()
    pool.shutdown(wait=True)
    return first, behind


def waiting_on_a_lock(database_url: str) -> bool:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()"
        ).fetchone()
    return bool(row and row[0])


def stored_positions(database_url: str) -> dict[tuple[uuid.UUID, int], int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT originator_id, originator_version, notification_id FROM bsdflow_events "
            "WHERE topic = %s",
            (TOPIC,),
        ).fetchall()
    return {(r[0], r[1]): r[2] for r in rows}


def test_requests_queued_behind_a_write_share_one_transaction(database_url, recorder):
    ids = [uuid.uuid4() for _ in range(10)]
    first, behind = with_events_table_locked(
        database_url, recorder, [[event(i), event(i, 2)] for i in ids]
    )

    assert recorder.group.batches == 2
    assert recorder.group.requests == 11
    stored = stored_positions(database_url)
    assert first.result() == [min(stored.values())]
    for aggregate_id, answer in zip(ids, behind, strict=True):
        assert list(answer.result()) == [stored[(aggregate_id, 1)], stored[(aggregate_id, 2)]]


def test_a_conflict_in_a_batch_fails_only_the_request_that_lost(database_url, recorder):
    contested, other = uuid.uuid4(), uuid.uuid4()
    _, (winner, loser, bystander) = with_events_table_locked(
        database_url, recorder, [[event(contested)], [event(contested)], [event(other)]]
    )

    assert len(winner.result()) == 1
    assert len(bystander.result()) == 1
    with pytest.raises(IntegrityError):
        loser.result()
    stored = stored_positions(database_url)
    assert len(stored) == 3  # the first writer's, the winner's and the bystander's
    assert stored[(contested, 1)] == winner.result()[0]
    assert stored[(other, 1)] == bystander.result()[0]


def test_many_threads_each_get_their_own_positions(database_url, recorder):
    ids = [uuid.uuid4() for _ in range(200)]
    barrier = threading.Barrier(16)

    def write(chunk: list[uuid.UUID]) -> list[Sequence[int]]:
        barrier.wait()
        return [recorder.insert_events([event(i)]) for i in chunk]

    with ThreadPoolExecutor(16) as pool:
        answers = [a for chunk in pool.map(write, [ids[n::16] for n in range(16)]) for a in chunk]

    stored = stored_positions(database_url)
    assert len(stored) == 200
    assert sorted(a[0] for a in answers) == sorted(stored.values())
    ordered = [i for chunk in (ids[n::16] for n in range(16)) for i in chunk]
    assert [a[0] for a in answers] == [stored[(i, 1)] for i in ordered]


def test_a_batch_of_large_requests_is_written_in_bounded_time(database_url, recorder):
    """Twenty 60 KB requests queued together: psycopg's pipeline must never be handed more than
    it can flush (it would wait forever for a reply to a query the server never got whole)."""
    ids = [uuid.uuid4() for _ in range(20)]
    queued = [[StoredEvent(i, 1, TOPIC, os.urandom(60_000))] for i in ids]

    first, behind = with_events_table_locked(database_url, recorder, queued)

    assert all(len(answer.result(timeout=30)) == 1 for answer in behind)
    assert first.result(timeout=30)
    assert recorder.group.batches < 21  # batched, yet each transaction within the caps
    assert len(stored_positions(database_url)) == 21


def test_one_request_larger_than_a_batch_is_written_alone(recorder, database_url):
    big = uuid.uuid4()
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(
            recorder.insert_events, [StoredEvent(big, 1, TOPIC, os.urandom(1 << 20))]
        )
        assert len(answer.result(timeout=30)) == 1
    assert (big, 1) in stored_positions(database_url)
