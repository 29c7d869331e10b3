"""Spreadsheet rows read per second: python-calamine through `read_sheets` vs. openpyxl, same file.

    .venv/bin/python bench/import_readers.py [--rows N] [--rounds R]

Writes one N-row x 10-column .xlsx (ints, strings, floats, datetimes and dates, as an export
of a business application would hold) with openpyxl's write-only mode, once: it is cached in
the temp directory under its row count. Both readers then read every row of it, alternating
over R rounds so that machine noise hits both alike:

- ours: `automation.imports.reading.read_sheets`, everything an import pays: the container
  checks (zip directory, XML entity scan, the sheets' extent), calamine's parse and the rows
  turned into Python values (3.0 -> 3, "" -> None, padding to the header);
- the baseline: openpyxl `load_workbook(read_only=True, data_only=True)` iterating
  `ws.iter_rows(values_only=True)`, the usual way to stream a workbook in Python.

Both must see the same number of rows (the run stops otherwise). Prints one line per figure,
the split of our time (checks, calamine's load, the rows), and a JSON line of the figures at
the end; writes the same to bench/results/import_readers.json.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, bench/ would come first on sys.path and its commands.py would shadow the
# project's `commands` package; put the project root there instead.
_ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]
sys.path.insert(0, str(_ROOT))

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import datetime, timedelta  # noqa: E402
from importlib.metadata import version  # noqa: E402
from typing import Any  # noqa: E402

import openpyxl  # noqa: E402
import python_calamine  # noqa: E402

from automation.imports.reading import Limits, check_container, read_sheets  # noqa: E402
from bench._harness import write_results  # noqa: E402

COLUMNS = ["id", "name", "city", "quantity", "price", "ratio", "created", "day", "code", "note"]
CITIES = ["Paris", "Lyon", "Nantes", "Lille", "Besançon", "Saint-Étienne"]


def workbook(rows: int, seed: int = 7) -> Path:
    """The benchmark's file, written once per row count (openpyxl takes a while to write it)."""
    folder = Path(tempfile.gettempdir()) / "bsdflow-bench"
    folder.mkdir(exist_ok=True)
    path = folder / f"import_readers_{rows}.xlsx"
    if path.exists():
        return path
    rnd = random.Random(seed)
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("data")
    sheet.append(COLUMNS)
    start = datetime(2024, 1, 1, 8, 0)
    for i in range(rows):
        created = start + timedelta(minutes=7 * i)
        sheet.append(
            [
                i + 1,
                f"Client {i + 1}",
                rnd.choice(CITIES),
                rnd.randint(0, 1000),
                round(rnd.uniform(1, 500), 2),
                rnd.random(),
                created,
                (created + timedelta(days=rnd.randint(0, 90))).date(),
                f"C-{rnd.randint(0, 999_999):06}",
                "x" * rnd.randint(0, 30),
            ]
        )
    partial = path.with_suffix(".partial")
    book.save(str(partial))
    partial.rename(path)  # a run stopped while writing leaves no half file to reuse
    return path


def with_read_sheets(path: Path) -> int:
    return sum(1 for sheet in read_sheets(path, "xlsx", None) for _ in sheet.rows)


def with_openpyxl(path: Path) -> int:
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        rows = book["data"].iter_rows(values_only=True)
        next(rows)  # the header, as read_sheets does not count it either
        return sum(1 for row in rows if any(value is not None for value in row))
    finally:
        book.close()


def calamine_load(path: Path) -> python_calamine.CalamineSheet:
    return python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name("data")


def timed(run: Callable[[], object]) -> tuple[float, Any]:
    gc.collect()
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    path = workbook(args.rows)
    counts = {"calamine": with_read_sheets(path), "openpyxl": with_openpyxl(path)}
    if counts["calamine"] != args.rows or counts["openpyxl"] != args.rows:
        sys.exit(f"rows read differ: {counts} for {args.rows:,} written; not timing")

    spent = {"calamine": 0.0, "openpyxl": 0.0, "checks": 0.0, "load": 0.0}
    for _ in range(args.rounds):
        spent["openpyxl"] += timed(lambda: with_openpyxl(path))[0]
        spent["calamine"] += timed(lambda: with_read_sheets(path))[0]
        spent["checks"] += timed(lambda: check_container(path, "xlsx", Limits()))[0]
        spent["load"] += timed(lambda: calamine_load(path))[0]

    rows = args.rows * args.rounds
    ours, theirs = rows / spent["calamine"], rows / spent["openpyxl"]
    per_round = {name: seconds / args.rounds for name, seconds in spent.items()}
    rest = per_round["calamine"] - per_round["checks"] - per_round["load"]
    print(
        f"# python {platform.python_version()} on a {os.cpu_count()}-core machine (shared); "
        f"python-calamine {version('python-calamine')}, openpyxl {version('openpyxl')}; one process"
    )
    print(
        f"# file: {args.rows:,} rows x {len(COLUMNS)} columns, "
        f"{path.stat().st_size / 1e6:.1f} MB ({path}); {args.rounds} rounds, alternating"
    )
    print(f"read_sheets (python-calamine, checks included): {ours:,.0f} rows/s ({per_round['calamine']:.2f} s per read)")  # fmt: skip
    print(f"openpyxl read_only (baseline): {theirs:,.0f} rows/s ({per_round['openpyxl']:.2f} s per read)")  # fmt: skip
    print(f"ratio read_sheets / openpyxl: {ours / theirs:.1f}x")
    print(
        f"read_sheets split per read: check_container {per_round['checks']:.2f} s, "
        f"calamine load {per_round['load']:.2f} s, rows to Python values {rest:.2f} s"
    )
    figures: dict[str, Any] = {
        "rows": args.rows,
        "columns": len(COLUMNS),
        "rounds": args.rounds,
        "file_bytes": path.stat().st_size,
        "read_sheets_rows_per_s": round(ours),
        "openpyxl_rows_per_s": round(theirs),
        "ratio": round(ours / theirs, 1),
        "seconds_per_read": {name: round(seconds, 3) for name, seconds in per_round.items()},
    }
    write_results("import_readers", figures)
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
