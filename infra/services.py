"""Background services as threads: restarted after a crash, stopped together."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable

import structlog

log = structlog.get_logger("bsdflow.services")
Service = Callable[[threading.Event], None]


def spawn(name: str, target: Service, stop: threading.Event) -> threading.Thread:
    """Run `target(stop)` in a daemon thread; if it crashes, log and start it again."""

    def guarded() -> None:
        while not stop.is_set():
            try:
                target(stop)
            except Exception:
                log.exception("service crashed; restarting", service=name)
                stop.wait(1.0)
            else:
                return

    thread = threading.Thread(target=guarded, name=name, daemon=True)
    thread.start()
    return thread


def wait_for_shutdown() -> None:
    """Block until SIGTERM or Ctrl-C (how a worker process is told to stop)."""
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with contextlib.suppress(KeyboardInterrupt):
        stopped.wait()
