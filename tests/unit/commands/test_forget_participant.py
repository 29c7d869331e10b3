"""Forgetting a participant in memory: the key goes, the event is recorded, once."""

from __future__ import annotations

import pytest

from commands.auth import Forbidden
from domain.errors import Conflict
from domain.participant import Participant


def registered(handle) -> str:
    recorded = handle.given(
        "register-participant", name="Ann Lee", email="ann@example.com", phone="+4930123456"
    )
    return str(recorded.id)


def test_forgetting_erases_the_participant_and_records_it(handle):
    ann = registered(handle)
    handle("forget-participant", as_role="admin", participant_id=ann)
    assert handle.then == ["Participant.Forgotten"]
    forgotten = handle.load(Participant, ann)
    assert (forgotten.name, forgotten.email, forgotten.phone) == (None, None, None)
    assert forgotten.forgotten


def test_the_registration_reads_as_erased_once_the_key_is_gone(handle):
    ann = registered(handle)
    handle.store.given()
    handle("forget-participant", as_role="admin", participant_id=ann)
    # Replaying the stream from the start: the registration opens to nulls, its kind stays.
    replayed = handle.load(Participant, ann)
    assert (replayed.kind, replayed.name, replayed.email) == ("person", None, None)


def test_forgetting_again_changes_nothing(handle):
    ann = registered(handle)
    first = handle.given("forget-participant", participant_id=ann)
    again = handle("forget-participant", as_role="admin", participant_id=ann)
    assert handle.then == []
    assert (again.id, again.version) == (first.id, first.version)


def test_a_forgotten_participant_cannot_be_updated(handle):
    ann = registered(handle)
    handle.given("forget-participant", participant_id=ann)
    with pytest.raises(Conflict, match="forgotten"):
        handle("update-participant", participant_id=ann, changes={"name": "Ann"})
    assert handle.then == []


@pytest.mark.parametrize("role", ["editor", "viewer", "automation"])
def test_only_admins_may_forget(handle, role):
    ann = registered(handle)
    with pytest.raises(Forbidden, match="data:erase"):
        handle("forget-participant", as_role=role, participant_id=ann)
    assert handle.then == []
    assert handle.load(Participant, ann).name == "Ann Lee"
