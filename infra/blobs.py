"""Content-addressed document storage on disk: `<root>/ab/cdef…` named by sha256."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from commands.ports import StagedBlob
from commands.problems import PayloadTooLarge

CHUNK = 1 << 20


class DiskBlobStore:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.staging = root / ".staging"
        self.staging.mkdir(parents=True, exist_ok=True)

    def path_of(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:]

    def stage(self, source: BinaryIO, filename: str, content_type: str) -> StagedBlob:
        """Copy an upload aside while hashing it; refuse it once it passes the size limit."""
        digest, size = hashlib.sha256(), 0
        fd, name = tempfile.mkstemp(dir=self.staging)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := source.read(CHUNK):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise PayloadTooLarge(self.max_bytes)
                    digest.update(chunk)
                    out.write(chunk)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        return StagedBlob(digest.hexdigest(), size, Path(name), filename, content_type)

    def promote(self, staged: StagedBlob) -> bool:
        target = self.path_of(staged.sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(staged.path, target)
        except FileExistsError:
            return False
        return True

    def discard(self, staged: StagedBlob) -> None:
        with contextlib.suppress(FileNotFoundError):
            staged.path.unlink()

    def read(self, sha256: str) -> bytes:
        return self.path_of(sha256).read_bytes()
