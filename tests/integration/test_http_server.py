"""The API as uvicorn serves it (infra.http_server options, a real server on a free port):
request heads are bounded before anything parses them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from infra.api import create_app
from infra.http_server import MAX_HEADER_BYTES
from tests.servers import uvicorn_serving


@pytest.fixture
def port(runtime) -> Iterator[int]:
    with uvicorn_serving(create_app(runtime)) as serving:
        yield serving


async def exchange(port: int, head: bytes, pieces: int = 1, body: bytes = b"") -> bytes:
    """Send a raw request (the head in `pieces` writes) and read the answer until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    size = -(-len(head) // pieces)

    async def send() -> None:
        try:
            for start in range(0, len(head), size):
                writer.write(head[start : start + size])
                await writer.drain()
            writer.write(body)
            await writer.drain()
        except ConnectionError:
            pass  # the server answered and stopped listening to the rest

    sending = asyncio.create_task(send())
    try:
        status_line = await asyncio.wait_for(reader.readline(), 10)
        rest = await asyncio.wait_for(reader.read(65_536), 10)
    finally:
        sending.cancel()
        writer.close()
    return status_line + rest


def request_head(authorization: str, extra: str = "", length: int = 0) -> bytes:
    return (
        "POST /v1/commands/register-participant HTTP/1.1\r\nHost: bsdflow.test\r\n"
        f"Authorization: Bearer {authorization}\r\n{extra}"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


async def test_an_8_mb_header_is_refused_with_431_at_once(port):
    started = time.monotonic()
    answer = await exchange(port, request_head("x" * 8_000_000))
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"application/problem+json" in answer
    assert b"exceed" in answer
    assert time.monotonic() - started < 3
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        assert (await client.get("/health")).status_code == 200


async def test_a_head_over_the_limit_in_small_pieces_is_refused(port):
    head = request_head("t", extra=f"X-Padding: {'p' * MAX_HEADER_BYTES}\r\n")
    answer = await exchange(port, head, pieces=200)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]


async def test_heads_within_the_limit_and_large_bodies_are_served(port, runtime):
    token = runtime.tokens.mint("platform", ["platform"])
    big_header = f"X-Padding: {'p' * (MAX_HEADER_BYTES - 1_024)}\r\n"
    body = b'{"slug": "acme", "name": "Acme"}'
    head = (
        "POST /v1/commands/create-tenant HTTP/1.1\r\nHost: bsdflow.test\r\n"
        f"Authorization: Bearer {token}\r\n{big_header}Connection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    answer = await exchange(port, head, pieces=7, body=body)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
    # A body far larger than the head limit, in the same reads as the head, is not counted.
    padding = b'{"name": "' + b"n" * 500_000 + b'"}'
    answer = await exchange(
        port, request_head("t", "Connection: close\r\n", len(padding)), body=padding
    )
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:300]
