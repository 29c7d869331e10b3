"""How the API is served by uvicorn: one set of options for `bsdflow up`, benchmarks and tests.

uvicorn's httptools protocol reads request headers of any size, and httptools grows a long
header by concatenation, so an 8 MB `Authorization` header costs seconds of CPU and memory that
is not given back, before authentication can refuse it. h11 has a bound
(`h11_max_incomplete_event_size`) but answers 400 and parses in pure Python, far slower for
the command API. So httptools stays, behind a count of the request head's bytes *before* they
reach the parser: past the limit the answer is 431 and the connection closes.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

MAX_HEADER_BYTES = 32 * 1024
"""Request line plus headers; nginx allows 4 x 8 KB, Node 16 KB. A bearer token is < 2 KB."""
LINGER_SECONDS = 1.0
"""After a 431, the rest of the request is read and dropped for this long before closing:
closing with unread input resets the connection, and the client may lose the answer."""
_HEAD_END = b"\r\n\r\n"


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a request head over `max_header_bytes` with 431.

    Bytes are counted from the start of a request to the blank line that ends its head; the
    body is not counted. (A pipelined request starting inside the chunk that ended the previous
    one has that chunk's share uncounted: the bound is loose by at most one read.)
    """

    max_header_bytes: ClassVar[int] = MAX_HEADER_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0
        self._tail = b""  # the last bytes of the head so far: its end may straddle two reads
        self._refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # the rest of a refused request: dropped unparsed
        if self._in_head:
            end = self._head_end(data)
            self._head_bytes += len(data) if end is None else end
            if self._head_bytes > self.max_header_bytes:
                self._refuse()
                return
            if end is None:
                self._tail = (self._tail + data[-3:])[-3:]
            else:
                self._in_head, self._tail = False, b""
        super().data_received(data)

    def _head_end(self, data: bytes) -> int | None:
        """How many bytes of `data` belong to the head, when the head ends in it."""
        if self._tail:
            straddling = (self._tail + data[:3]).find(_HEAD_END)
            if straddling >= 0:
                return straddling + len(_HEAD_END) - len(self._tail)
        found = data.find(_HEAD_END)
        return None if found < 0 else found + len(_HEAD_END)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes, self._tail = True, 0, b""

    def _refuse(self) -> None:
        body = orjson.dumps(
            {
                "type": "https://bsdflow.dev/problems/request-header-fields-too-large",
                "title": "Request header fields too large",
                "status": 431,
                "detail": f"the request line and headers exceed {self.max_header_bytes} bytes",
            }
        )
        self.transport.write(
            b"".join(
                [
                    STATUS_LINE[431],
                    b"content-type: application/problem+json\r\n",
                    b"content-length: %d\r\n" % len(body),
                    b"connection: close\r\n\r\n",
                    body,
                ]
            )
        )
        self._refused = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)


def bounded_http(max_header_bytes: int = MAX_HEADER_BYTES) -> type[BoundedHttpToolsProtocol]:
    return type(
        "BoundedHttpToolsProtocol",
        (BoundedHttpToolsProtocol,),
        {"max_header_bytes": max_header_bytes},
    )


def server_options(max_header_bytes: int = MAX_HEADER_BYTES) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` / `uvicorn.Config` (all but the app, host and port)."""
    return {
        "http": bounded_http(max_header_bytes),
        "log_level": "warning",
        "access_log": False,
        # Change messages are small JSON: deflate saves little, and with thousands of
        # subscribers it cost 12-14 % of the API's CPU and doubled memory per socket.
        "ws_per_message_deflate": False,
    }
