"""A minimal HTTP/1.1 keep-alive client for load generation.

The load generator shares the machine's two cores with the server. httpx costs ≈ 1 ms of CPU
per request here, which capped the generator near 1,400 req/s even against GET /health; this
client writes prepared bytes and reads one response per request on a plain asyncio stream, so
the server, not the generator, sets the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class RawConnection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    host: bytes

    @classmethod
    async def open(cls, base_url: str) -> RawConnection:
        url = urlsplit(base_url)
        reader, writer = await asyncio.open_connection(url.hostname, url.port or 80)
        return cls(reader, writer, url.netloc.encode())

    def head(self, method: str, path: str, headers: Mapping[str, str]) -> bytes:
        """The request line and headers, without Content-Length: build it once, reuse it."""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host.decode()}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return ("\r\n".join(lines) + "\r\n").encode()

    async def send(self, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
        self.writer.write(b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body))
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split(b" ", 2)[1])
        length, chunked = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if not chunked:
            return status, await self.reader.readexactly(length)
        return status, await self._chunks()

    async def _chunks(self) -> bytes:
        parts = []
        while size := int((await self.reader.readline()).split(b";")[0], 16):
            parts.append(await self.reader.readexactly(size))
            await self.reader.readline()
        await self.reader.readline()
        return b"".join(parts)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


@contextlib.asynccontextmanager
async def raw_connections(base_url: str, count: int) -> AsyncIterator[list[RawConnection]]:
    connections = [await RawConnection.open(base_url) for _ in range(count)]
    try:
        yield connections
    finally:
        for connection in connections:
            await connection.close()
