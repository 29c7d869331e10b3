"""Real servers on loopback standing in for third parties: an HTTP endpoint (webhook / SMS
provider) that records every request, and an SMTP server (aiosmtpd) that keeps every mail."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import uvicorn
from aiosmtpd.controller import Controller

from infra.embedded import free_port
from infra.http_server import server_options

KEY = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
SECRET = f"whsec_{KEY}"


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class Recorder(ThreadingHTTPServer):
    """Records every request and answers by path (`/ok`, `/500`, `/redirect`, `/slow`…)."""

    daemon_threads = True
    request_queue_size = 256  # a burst of deliveries must not find the backlog full

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.seen: list[Seen] = []
        self.connections = 0

    def process_request(self, request: Any, client_address: Any) -> None:
        self.connections += 1
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up before the answer (a channel's read timeout, a test that
        # ended) is expected here. socketserver would print the traceback to whatever
        # sys.stderr is at that moment: another test's captured output.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def on(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]


class Handler(BaseHTTPRequestHandler):
    server: Recorder

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.seen.append(Seen(self.path, headers, body, time.monotonic()))
        route = self.path.split("?")[0]
        if route == "/ok":
            self.reply(200, b'{"received": true}', {"x-message-id": "msg-1"})
        elif route == "/json-id":
            self.reply(202, b'{"id": "evt_42"}')
        elif route == "/sms":
            self.reply(200, json.dumps({"id": f"sms-{len(self.server.seen)}"}).encode())
        elif route == "/redirect":
            self.reply(302, b"", {"location": f"{self.server.url}/target"})
        elif route == "/slow":
            time.sleep(1.5)
            self.reply(200, b"{}")
        else:
            status = route.strip("/")
            self.reply(int(status) if status.isdigit() else 404, b"nope")

    def reply(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def http_recorder() -> Iterator[Recorder]:
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def standard_webhook_signature(secret: str, seen: Seen) -> str:
    """What the Standard Webhooks spec says `webhook-signature` must be, computed independently."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{seen.headers['webhook-id']}.{seen.headers['webhook-timestamp']}.".encode()
    digest = hmac.new(key, signed + seen.body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class Mailbox:
    """An aiosmtpd handler: refuses `nobody@` (550) and defers `busy@` (451), keeps the rest."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        if address.startswith("busy@"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted"


def smtp_mailbox() -> Iterator[tuple[Mailbox, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


@contextlib.contextmanager
def uvicorn_serving(app: Any) -> Iterator[int]:
    """An ASGI app under uvicorn in a thread of its own (own event loop) on a free port, as a
    websocket client needs it, with the options bsdflow is served with; yields the port."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, loop="asyncio", **server_options())
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(600):  # the server sets `started` once it listens
        if server.started or not thread.is_alive():
            break
        started.wait(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(15)
