"""Background services as threads: restarted after a crash, stopped together."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

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


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stopped_by_signals() -> Iterator[None]:
    """SIGINT and SIGTERM alike raise KeyboardInterrupt, once, in the main thread.

    Installed explicitly: supervisors (docker stop, systemd) send SIGTERM, whose default kills
    the process before any cleanup runs, and a job started in the background inherits SIGINT
    ignored, so Python installs no handler of its own. Signals after the first are ignored,
    so a second Ctrl-C cannot cut the stopping short.
    """
    fired = False

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        nonlocal fired
        if not fired:
            fired = True
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class ShutdownRequest:
    """Set by the first SIGINT or SIGTERM; installed before a worker process starts anything,
    so a signal during start-up waits for the services to stop properly too."""

    def __init__(self) -> None:
        self.event = threading.Event()
        for sig in STOP_SIGNALS:
            signal.signal(sig, lambda *_: self.event.set())

    def wait(self) -> None:
        self.event.wait()
