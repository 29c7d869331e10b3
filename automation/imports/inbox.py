"""Watched inbox folders: a spreadsheet dropped in `<inbox>/<tenant>/<entity type>/` is
imported into that tenant as entities of that type, then moved to `done/` or `failed/` beside
it (with its error report, where rows failed).

A file is taken once it is complete: its size and modification time unchanged for `settle`
seconds (a copy in progress keeps changing), and never a hidden or temporary one. An optional
`mapping.json` in the type's folder is that source's saved mapping: `{"mapping": {"Column":
"field"}, "key_field": "code", "sheet": "Sites"}`. A file's job is named by its content, so the
same file dropped again finds its first job and imports nothing.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import structlog
import watchfiles

from domain.errors import DomainError
from domain.import_job import ImportJob, file_format

log = structlog.get_logger("bsdflow.inbox")
SETTLE_SECONDS = 1.0
IGNORED_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial")
MAPPING_FILE = "mapping.json"
DONE, FAILED = "done", "failed"

Submit = Callable[[str, str, Path, dict[str, Any]], UUID]
"""(tenant slug, entity type name, file, options from mapping.json) → the import job's id."""
Report = Callable[[ImportJob, Path], None]
"""Write a job's error report to a path."""


@dataclass
class _Seen:
    size: int
    mtime: float
    since: float


@dataclass
class Inbox:
    root: Path
    submit: Submit
    job: Callable[[UUID], ImportJob | None]
    report: Report
    settle: float = SETTLE_SECONDS
    clock: Callable[[], float] = time.monotonic
    _seen: dict[Path, _Seen] = field(default_factory=dict)
    _waiting: dict[Path, UUID] = field(default_factory=dict)
    """Files handed to a job that has not finished yet."""

    def run(self, stop: threading.Event) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        log.info("watching the inbox", folder=str(self.root))
        self.scan()
        # Changes wake the scan; the timeout lets a settling file or a running job be looked at
        # again although nothing changed.
        for _ in watchfiles.watch(
            self.root, stop_event=stop, rust_timeout=200, yield_on_timeout=True
        ):
            self.scan()

    def scan(self) -> None:
        """One look at every type folder: settled files submitted, finished jobs' files moved."""
        for path in self._candidates():
            if path in self._waiting:
                continue
            if self._settled(path):
                self._take(path)
        for path, job_id in list(self._waiting.items()):
            job = self.job(job_id)
            if job is not None and job.finished:
                self._file(path, job)

    def _candidates(self) -> list[Path]:
        found: list[Path] = []
        for tenant in _folders(self.root):
            for type_folder in _folders(tenant):
                found += [
                    p
                    for p in type_folder.iterdir()
                    if p.is_file()
                    and not p.name.startswith((".", "~$"))
                    and not p.name.endswith(IGNORED_SUFFIXES)
                    and p.name != MAPPING_FILE
                ]
        live = set(found)
        for gone in [p for p in self._seen if p not in live]:
            del self._seen[gone]
        return sorted(found)

    def _settled(self, path: Path) -> bool:
        try:
            stat = path.stat()
        except FileNotFoundError:
            return False
        now = self.clock()
        seen = self._seen.get(path)
        if seen is None or (seen.size, seen.mtime) != (stat.st_size, stat.st_mtime):
            self._seen[path] = _Seen(stat.st_size, stat.st_mtime, now)
            return False
        return now - seen.since >= self.settle

    def _take(self, path: Path) -> None:
        type_folder = path.parent
        tenant, type_name = type_folder.parent.name, type_folder.name
        try:
            file_format(path.name)
            options = _options(type_folder / MAPPING_FILE)
            job_id = self.submit(tenant, type_name, path, options)
        except (DomainError, ValueError) as refused:
            self._fail(path, getattr(refused, "message", str(refused)))
            return
        log.info("inbox file taken", file=str(path), job=str(job_id))
        self._waiting[path] = job_id
        self._seen.pop(path, None)

    def _file(self, path: Path, job: ImportJob) -> None:
        del self._waiting[path]
        if job.status == "completed":
            target = _moved(path, DONE)
            if job.failed:
                self.report(job, target.with_name(f"{target.stem}-errors.xlsx"))
        else:
            self._fail(path, job.refusal or f"the import was {job.status}")
            return
        log.info("inbox file filed", file=str(path), status=job.status, failed=job.failed)

    def _fail(self, path: Path, reason: str) -> None:
        log.info("inbox file refused", file=str(path), reason=reason)
        target = _moved(path, FAILED)
        target.with_name(f"{target.name}.error.txt").write_text(reason + "\n")


def _folders(parent: Path) -> list[Path]:
    if not parent.is_dir():
        return []
    return sorted(
        p
        for p in parent.iterdir()
        if p.is_dir() and p.name not in (DONE, FAILED) and not p.name.startswith(".")
    )


def _options(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        options = json.loads(path.read_text())
    except (ValueError, OSError) as exc:
        raise ValueError(f"{path.name} is not valid JSON: {exc}") from None
    if not isinstance(options, dict) or set(options) - {"mapping", "key_field", "sheet"}:
        raise ValueError(f"{path.name} holds an object of mapping, key_field and sheet")
    return options


def _moved(path: Path, to: str) -> Path:
    """`path` moved into the `to` folder beside it, under a name not taken there."""
    folder = path.parent / to
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    n = 1
    while target.exists():
        target = folder / f"{path.stem} ({n}){path.suffix}"
        n += 1
    shutil.move(str(path), target)
    return target
