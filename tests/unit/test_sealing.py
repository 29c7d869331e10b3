"""Sealing personal values: envelopes open with their subject's key, and to null without it."""

from __future__ import annotations

from uuid import uuid4

import orjson
import pytest

from eventstore.keys import MemorySubjectKeys, SubjectForgotten
from eventstore.sealing import SEALED, opened, seal, seal_personal, sealed_subjects
from tests.unit.commands.conftest import ACME

REGISTERED = "domain.participant:Participant.Registered"
UPDATED = "domain.participant:Participant.Updated"


def subject() -> tuple:
    return (ACME, uuid4())


def test_an_envelope_opens_with_its_key_and_holds_no_plaintext():
    keys, ann = MemorySubjectKeys(), subject()
    envelope = seal("Ann Lee", keys.key_for(ann), ann)
    assert b"Ann" not in orjson.dumps(envelope)
    assert sealed_subjects(envelope) == {ann}
    assert opened(envelope, keys.keys_of([ann])) == "Ann Lee"


def test_a_destroyed_key_opens_to_null_and_seals_nothing_more():
    keys, ann = MemorySubjectKeys(), subject()
    envelope = seal("ann@example.com", keys.key_for(ann), ann)
    keys.forget(ann)
    keys.forget(ann)  # again: nothing happens
    assert opened({"email": envelope}, keys.keys_of([ann])) == {"email": None}
    with pytest.raises(SubjectForgotten):
        keys.key_for(ann)


def test_an_envelope_copied_to_another_subject_does_not_open():
    keys, ann, bo = MemorySubjectKeys(), subject(), subject()
    inner = seal("Ann", keys.key_for(ann), ann)[SEALED]
    keys.key_for(bo)
    stolen = {SEALED: {**inner, "s": str(bo[1])}}
    assert opened(stolen, keys.keys_of([ann, bo])) is None


def test_only_the_personal_values_of_an_event_are_sealed():
    keys, ann = MemorySubjectKeys(), subject()
    state = {"kind": "person", "name": "Ann", "email": None, "external_ref": "hr-1"}
    sealed = seal_personal(REGISTERED, state, keys, ann)
    assert sealed is not None
    assert (sealed["kind"], sealed["email"], sealed["external_ref"]) == ("person", None, "hr-1")
    assert SEALED in sealed["name"]
    assert opened(sealed, keys.keys_of([ann])) == state


def test_an_update_seals_inside_its_changes_and_one_without_personal_values_is_left_alone():
    keys, ann = MemorySubjectKeys(), subject()
    changed = seal_personal(UPDATED, {"changes": {"phone": "+491", "external_ref": "x"}}, keys, ann)
    assert changed is not None
    assert SEALED in changed["changes"]["phone"]
    assert changed["changes"]["external_ref"] == "x"
    assert seal_personal(UPDATED, {"changes": {"external_ref": "x"}}, keys, ann) is None
    assert seal_personal("domain.group:Group.Created", {"name": "Ann"}, keys, ann) is None


def test_plain_values_of_events_stored_before_sealing_read_as_they_are():
    assert opened({"name": "Ann", "changes": {"email": "a@b.c"}}, {}) == {
        "name": "Ann",
        "changes": {"email": "a@b.c"},
    }
