"""Whole-response cache for repeated queries: a hot dashboard read costs a dictionary lookup.

A POST /graphql answer is kept per (tenant, exact request body) and served while no projection
has committed since: the entry remembers the watermark's generation, which every position
message from the workers bumps (any commit, any tenant, so nothing a response could show has
changed while it is served). An answer computed while a commit landed is not stored. The cache
steps aside when the pub/sub connection is down (no notification could invalidate it), for
requests that ask for a position (`X-Min-Position`: they get the full treatment and their
`extensions.freshness`), for answers with errors, and when SQL statement counts are reported.

It runs before routing, as an ASGI middleware; the tenant still comes only from the verified
token, so one tenant's answer is never served to another.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass
from uuid import UUID

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from read_api.context import NOT_KEPT, ReadApi
from read_api.errors import PublicError

PATH = "/graphql"
MAX_KEPT_REQUEST = 16_384
"""Longer requests are not kept: repeated hot reads are short."""
TTL_SECONDS = 30.0
"""Belt and braces: even a missed notification cannot keep an answer longer than this."""
VIEWER = "bsdflow.viewer"
"""Scope key: the viewer this middleware verified, so the request's context need not verify
the same token again."""


@dataclass(frozen=True, slots=True)
class Cached:
    generation: int
    stored_at: float
    body: bytes


class KeptResponses:
    """The kept answers (least recently used dropped first), and how often they served."""

    def __init__(self, entries: int, max_bytes: int) -> None:
        self.entries = entries
        self.max_bytes = max_bytes
        self.hits = 0
        self._store: OrderedDict[tuple[UUID, bytes], Cached] = OrderedDict()

    def get(self, key: tuple[UUID, bytes], generation: int) -> bytes | None:
        hit = self._store.get(key)
        if hit is None or hit.generation != generation:
            return None
        if time.monotonic() - hit.stored_at >= TTL_SECONDS:
            return None
        self._store.move_to_end(key)
        self.hits += 1
        return hit.body

    def put(self, key: tuple[UUID, bytes], generation: int, body: bytes) -> None:
        if len(body) > self.max_bytes:
            return
        self._store[key] = Cached(generation, time.monotonic(), body)
        self._store.move_to_end(key)
        while len(self._store) > self.entries:
            self._store.popitem(last=False)


class ResponseCache:
    def __init__(self, app: ASGIApp, api: ReadApi, answers: KeptResponses) -> None:
        self.app = app
        self.api = api
        self.answers = answers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._eligible(scope):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        try:
            viewer = self.api.authenticate(headers.get(b"authorization", b"").decode("latin-1"))
        except PublicError:
            await self.app(scope, receive, send)  # the API itself answers 401/403
            return
        scope[VIEWER] = viewer
        body = await _read_body(receive)
        if len(body) > MAX_KEPT_REQUEST:
            await self._forward(scope, body, send)
            return
        sight = viewer.sight
        key = (viewer.tenant_id, hashlib.blake2b(sight + b"\n" + body, digest_size=16).digest())
        generation = self.api.watermark.generation
        hit = self.answers.get(key, generation)
        if hit is not None:
            await _send_json(send, hit)
            return
        captured = await self._forward(scope, body, send)
        if captured is not None and self.api.watermark.generation == generation:
            self.answers.put(key, generation, captured)

    def _eligible(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            return False
        if self.answers.entries <= 0 or not self.api.fanout.connected:
            return False
        names = {name for name, _ in scope["headers"]}
        return b"x-min-position" not in names

    async def _forward(self, scope: Scope, body: bytes, send: Send) -> bytes | None:
        """Run the request with its body replayed; returns the answer if it may be kept."""
        replayed = False
        status = 0
        chunks: list[bytes] = []

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return {"type": "http.disconnect"}
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, replay, capture)
        answer = b"".join(chunks)
        if status != 200 or len(answer) > self.answers.max_bytes or b'"errors"' in answer:
            return None
        if scope.get(NOT_KEPT):
            return None
        return answer


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _send_json(send: Send, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
