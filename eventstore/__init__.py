"""The event store: the one place that knows how events are stored, read and decoded.

Commands and automation see the port (`EventStore`); the read side and the relay see the
envelope (`RecordedEvent`, `decode_event`) and the ordered readers of `eventstore.reading`.
The PostgreSQL adapter is chosen by the composition root; the in-memory one serves unit tests.
"""

from eventstore.envelope import RecordedEvent, decode_event, encode_state, read_metadata, type_of
from eventstore.port import Aggregate, ConcurrentWrite, EventStore, Metadata

__all__ = [
    "Aggregate",
    "ConcurrentWrite",
    "EventStore",
    "Metadata",
    "RecordedEvent",
    "decode_event",
    "encode_state",
    "read_metadata",
    "type_of",
]
