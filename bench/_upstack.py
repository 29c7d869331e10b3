"""A real `bsdflow up` (what `make run` runs) for the benchmarks, and the CPU its processes use.

`bsdflow up` starts PostgreSQL, Tansu and Redis, serves the API in its own process and runs
the relay, projection workers and automation in a child (`bsdflow workers`). PostgreSQL and
redis-server detach from it, so its processes are found the way tests/e2e/test_make_run.py
finds them: its descendants, plus whatever names its data folder or the servers' ports.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import psycopg

from bench._harness import ROOT, Bench, tail
from commands.auth import TokenCodec
from infra.embedded import ServerUrls, free_port
from projections.registry import PROJECTIONS

BIN = Path(sys.executable).parent
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Up:
    process: subprocess.Popen[bytes]
    data_dir: Path
    bench: Bench


@contextlib.contextmanager
def bsdflow_up(data_dir: Path, source: Path | None = None) -> Iterator[Up]:
    """`bsdflow up` on its own data folder and a free port, as `make run` starts it; stopped
    with Ctrl-C (SIGINT) on exit. `source`: another checkout whose code it runs (with this
    virtualenv's packages), for a before/after comparison on the same machine."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BSDFLOW_")},
        "BSDFLOW_DATA_DIR": str(data_dir),
        "BSDFLOW_PORT": str(port),
    }
    if source is not None:  # first on the path of `bsdflow up` and of its `python -m` child
        env["PYTHONPATH"] = str(source.resolve())
    for name in ("DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS"):
        env.pop(name, None)
    log_path = data_dir / "up.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [str(BIN / "bsdflow"), "up"],
            cwd=source or ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        base_url = f"http://127.0.0.1:{port}"
        _wait_ready(process, base_url, log_path)
        record = orjson.loads((data_dir / "servers.json").read_bytes())
        urls = ServerUrls(
            record["database_url"], record["kafka_bootstrap_servers"], record["redis_url"]
        )
        tokens = TokenCodec((data_dir / "jwt-secret").read_text().strip())
        yield Up(process, data_dir, Bench(urls, base_url, tokens, data_dir, process.pid))
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"bsdflow up exited ({process.returncode}):\n{tail(log_path)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/ready", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"bsdflow up not ready after 90 s:\n{tail(log_path)}")


def wait_caught_up(database_url: str, position: int, timeout: float = 120.0) -> float:
    """Seconds until every projection's checkpoint reached `position` (workers joined and
    applied it); polled, which is fine in a benchmark's set-up."""
    started = time.monotonic()
    schemas = [projection.schema for projection in PROJECTIONS.values()]
    with psycopg.connect(database_url, autocommit=True) as conn:
        while True:
            behind = []
            for schema in schemas:
                row = conn.execute(
                    f"SELECT coalesce(max(position), 0) FROM {schema}._checkpoint"
                ).fetchone()
                if row is None or int(row[0]) < position:
                    behind.append(schema)
            if not behind:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise TimeoutError(
                    f"not caught up with position {position} in {timeout} s: {behind}"
                )
            time.sleep(0.2)


# ---------------------------------------------------------------------------------------------
# Which processes, and what CPU they spend
# ---------------------------------------------------------------------------------------------


def _stat(path: Path) -> list[str]:
    return path.read_text().rsplit(")", 1)[1].split()


def processes_of(up: Up) -> dict[int, str]:
    """pid → what it is, for every process `bsdflow up` started (test_make_run's `servers_of`)."""
    record = orjson.loads((up.data_dir / "servers.json").read_bytes())
    marks = [
        str(up.data_dir).encode(),
        record["redis_url"].rsplit("/", 1)[0].removeprefix("redis://").encode(),
        record["kafka_bootstrap_servers"].encode(),
    ]
    parents: dict[int, int] = {}
    cmdlines: dict[int, bytes] = {}
    found: set[int] = {up.process.pid}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdlines[int(entry.name)] = (entry / "cmdline").read_bytes()
            parents[int(entry.name)] = int(_stat(entry / "stat")[1])
        except (OSError, ValueError, IndexError):
            continue
        if any(mark in cmdlines[int(entry.name)] for mark in marks):
            found.add(int(entry.name))
    grown = True
    while grown:
        children = {pid for pid, ppid in parents.items() if ppid in found}
        grown = not children <= found
        found |= children
    return {pid: _kind(pid, up.process.pid, cmdlines.get(pid, b"")) for pid in found}


def _kind(pid: int, up_pid: int, cmdline: bytes) -> str:
    words = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    if pid == up_pid:
        return "api (bsdflow up)"
    if "infra.cli workers" in words:
        return "workers (bsdflow workers)"
    if "tansu" in words:
        return "tansu"
    if "redis-server" in words:
        return "redis"
    if words.startswith("postgres:"):
        return "postgres " + words.removeprefix("postgres:").split()[0]
    if "postgres" in words:
        return "postgres postmaster"
    return words[:40] or f"pid {pid}"


def cpu_of(pid: int) -> float:
    """CPU seconds of a process, plus those of its children it has reaped (PostgreSQL's
    postmaster reaps the backends that ended, so their time is not lost)."""
    try:
        fields = _stat(Path(f"/proc/{pid}/stat"))
    except OSError:
        return 0.0
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICKS


def threads_of(pid: int) -> dict[str, float]:
    """Thread name (tid) → CPU seconds, for `--threads`."""
    found: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            name = (task / "comm").read_text().strip()
            fields = _stat(task / "stat")
        except OSError:
            continue
        found[f"{name} ({task.name})"] = (int(fields[11]) + int(fields[12])) / TICKS
    return found


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / TICKS, sum(values) / TICKS


@dataclass(frozen=True)
class IdleCost:
    seconds: float
    per_process: dict[str, float]
    """what → % of one core over the window (several processes of one kind are summed)."""
    per_thread: dict[str, dict[str, float]]
    machine_percent: float
    """The whole machine's busy share of all its cores, other work included."""
    load_average: str

    @property
    def total(self) -> float:
        return sum(self.per_process.values())


def idle_cost(up: Up, seconds: float, *, with_threads: bool = False) -> IdleCost:
    """CPU of every process of `up` over `seconds` with no request, in % of one core."""
    processes = processes_of(up)
    before = {pid: cpu_of(pid) for pid in processes}
    threads_before = {pid: threads_of(pid) for pid in processes} if with_threads else {}
    busy_before, total_before = machine_busy()
    started = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    busy_after, total_after = machine_busy()
    for pid, kind in processes_of(up).items():  # started meanwhile: counted from zero
        processes.setdefault(pid, kind)
        before.setdefault(pid, 0.0)
    per_process: dict[str, float] = {}
    for pid, kind in processes.items():
        spent = max(cpu_of(pid) - before[pid], 0.0)
        per_process[kind] = per_process.get(kind, 0.0) + 100.0 * spent / elapsed
    per_thread: dict[str, dict[str, float]] = {}
    for pid, was in threads_before.items():
        now = threads_of(pid)
        shares = {t: 100.0 * (now[t] - was.get(t, 0.0)) / elapsed for t in now}
        per_thread[f"{processes[pid]} {pid}"] = {t: s for t, s in shares.items() if s > 0}
    return IdleCost(
        seconds=elapsed,
        per_process=dict(sorted(per_process.items(), key=lambda kv: -kv[1])),
        per_thread=per_thread,
        machine_percent=100.0 * (busy_after - busy_before) / max(total_after - total_before, 1e-9),
        load_average=" ".join(Path("/proc/loadavg").read_text().split()[:3]),
    )
