"""How every `bsdflow` command fails: one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

from typing import Any, NoReturn

import typer


def fail(command: str, message: str, code: int = 1) -> NoReturn:
    typer.echo(f"bsdflow {command}: {message}", err=True)
    raise typer.Exit(code)


def problem_reason(reply: Any) -> str:
    """What a refused request's problem+json says, in one line (each field's path and why)."""
    try:
        problem = reply.json()
    except ValueError:
        return f"{reply.status_code} {reply.text[:200]}"
    errors = problem.get("errors") or []
    if errors:
        return "; ".join(f"{e['pointer']}: {e['message']}" for e in errors)
    return str(problem.get("detail", reply.status_code))
