"""A stand-in for an LLM endpoint: a real HTTP server on loopback speaking OpenAI's
chat-completions protocol (plain, streamed as server-sent events, structured output), answering
from fixtures, and failing on request (timeouts, 429, malformed JSON)."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = str | dict[str, Any] | list[Any] | Callable[[dict[str, Any]], Any]
"""Text; JSON (sent as the message's text); or a function of the request giving either."""
TIMEOUT, RATE_LIMITED, MALFORMED = "<timeout>", "<429>", "<malformed>"


@dataclass
class LlmServer(ThreadingHTTPServer):
    answers: list[Answer] = field(default_factory=list)
    """Answered in order; when they run out, `default` is."""
    default: Answer = "I have nothing to say."
    requests: list[dict[str, Any]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    hang_seconds: float = 5.0
    released: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.daemon_threads = True
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def stop(self) -> None:
        self.released.set()
        self.shutdown()
        self.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def prompts(self) -> list[str]:
        """Every message text of every request, joined: what was sent to the model."""
        return [
            "\n".join(str(m.get("content", "")) for m in r.get("messages", []))
            for r in self.requests
        ]

    def next_answer(self, request: dict[str, Any]) -> Any:
        answer = self.answers.pop(0) if self.answers else self.default
        return answer(request) if callable(answer) else answer


class _Handler(BaseHTTPRequestHandler):
    server: LlmServer

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        request = json.loads(self.rfile.read(length) or b"{}")
        self.server.requests.append(request)
        self.server.keys.append(self.headers.get("authorization", ""))
        if not self.path.endswith("/chat/completions"):
            self._send(404, b'{"error": {"message": "not found"}}')
            return
        answer = self.server.next_answer(request)
        if answer == TIMEOUT:
            # A model that never answers: hang until the client gave up and hung up, or the
            # server stops (bounded, so a test that forgot the client's timeout still ends).
            self.server.released.wait(self.server.hang_seconds)
            return
        if answer == RATE_LIMITED:
            body = b'{"error": {"message": "Rate limit reached", "type": "requests"}}'
            self._send(429, body, {"retry-after": "20"})
            return
        if answer == MALFORMED:
            self._send(200, b'{"choices": [{"message": ')
            return
        text = answer if isinstance(answer, str) else json.dumps(answer)
        usage = {"prompt_tokens": 10 * len(request.get("messages", [])),
                 "completion_tokens": len(text.split())}  # fmt: skip
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if request.get("stream"):
            self._stream(request, text, usage)
            return
        body = {
            "id": "chatcmpl-fixture",
            "object": "chat.completion",
            "model": request.get("model", "fixture"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": usage,
        }  # fmt: skip
        self._send(200, json.dumps(body).encode())

    def _stream(self, request: dict[str, Any], text: str, usage: dict[str, int]) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        words = text.split(" ")
        for n, word in enumerate(words):
            piece = word if n == len(words) - 1 else f"{word} "
            chunk = {"choices": [{"index": 0, "delta": {"content": piece}}],
                     "model": request.get("model")}  # fmt: skip
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        final = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": usage}
        self.wfile.write(f"data: {json.dumps(final)}\n\ndata: [DONE]\n\n".encode())
        self.wfile.flush()

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)
