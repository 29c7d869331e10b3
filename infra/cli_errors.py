"""How every `bsdflow` command fails: one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

from typing import NoReturn

import typer


def fail(command: str, message: str, code: int = 1) -> NoReturn:
    typer.echo(f"bsdflow {command}: {message}", err=True)
    raise typer.Exit(code)
