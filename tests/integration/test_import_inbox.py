"""The inbox: a 10,000-row workbook with 37 bad rows of 5 kinds dropped in a tenant's folder
becomes 9,963 entities and an error report naming each bad row's field; the automation side
stopped half-way and started again completes it with no duplicates; dropped again, it imports
nothing; a zip bomb and a billion-laughs workbook are refused within 2 s."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from automation.imports.reading import FileRefused, read_sheets
from infra.automation import AutomationSide
from tests.conftest import Api, FakeClock
from tests.integration.test_imports import SITE_FIELDS
from tests.runs import graphql, until

BAD = {  # row number → (what is wrong with it, the field the report must name)
    **dict.fromkeys(range(100, 108), ("no name", "name")),
    **dict.fromkeys(range(2000, 2008), ("population not a number", "population")),
    **dict.fromkeys(range(4000, 4007), ("population below 0", "population")),
    **dict.fromkeys(range(6000, 6007), ("a code an earlier row has", "code")),
    **dict.fromkeys(range(8000, 8007), ("not a date", "opened")),
}


def workbook(rows: int = 10_000) -> bytes:
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Sites")
    sheet.append(["Code", "Name", "Population", "Opened", "Active"])
    for row in range(2, rows + 2):
        values: list[Any] = [f"S{row}", f"Site {row}", row, "2024-01-31", row % 2 == 0]
        kind = BAD.get(row, ("", ""))[0]
        if kind == "no name":
            values[1] = None
        elif kind == "population not a number":
            values[2] = "lots"
        elif kind == "population below 0":
            values[2] = -row
        elif kind == "a code an earlier row has":
            values[0] = "S2"
        elif kind == "not a date":
            values[3] = "the 32nd of Smarch"
        sheet.append(values)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


async def entity_count(api: Api) -> int:
    return int((await graphql(api, "{ counts { entities } }"))["counts"]["entities"])


async def entities_counted(api: Api, count: int) -> bool:
    return await entity_count(api) == count


async def first_batch_done(api: Api) -> Any:
    """The imports once one of them has applied a batch."""
    found = await graphql(api, "{ imports { edges { node { id done status } } } }")
    return found if any(e["node"]["done"] > 0 for e in found["imports"]["edges"]) else None


async def test_a_workbook_dropped_in_the_inbox_is_imported_once_across_a_restart(
    api: Api, read_side: Any, runtime: Any, clock: FakeClock, tmp_path: Path
) -> None:
    await api.command("define-entity-type", name="Site", fields=SITE_FIELDS)
    inbox = runtime.settings.inbox / "acme" / "Site"
    inbox.mkdir(parents=True)
    content = workbook()
    (inbox / "sites.xlsx.part").write_bytes(content)  # a copy in progress: left alone
    (inbox / "sites.xlsx.part").rename(inbox / "sites.xlsx")

    side = AutomationSide(runtime, clock=clock).start()
    try:
        done = await until(lambda: first_batch_done(api), what="the first batch")
    finally:
        side.stop()
    (job,) = done["imports"]["edges"]
    assert job["node"]["status"] == "applying"

    side = AutomationSide(runtime, clock=clock).start()  # restarted half-way
    try:
        await until((inbox / "done").exists, what="the file filed")
        await until(lambda: entities_counted(api, 9_963), what="9,963 entities")
        finished = (await graphql(api, "query($id: UUID!) { importJob(id: $id) { status rows "
                                  "done failed created } }", id=job["node"]["id"]))["importJob"]  # fmt: skip
        assert finished == {"status": "completed", "rows": 10_000, "done": 9_963,
                            "failed": 37, "created": 9_963}  # fmt: skip

        report = openpyxl.load_workbook(inbox / "done" / "sites-errors.xlsx", read_only=True)
        rows = list(report.active.iter_rows(values_only=True))  # type: ignore[union-attr]
        assert rows[0] == ("Code", "Name", "Population", "Opened", "Active", "error")
        named = {
            int(r[-1].split(":")[0].removeprefix("row ")): r[-1].split(": ")[1] for r in rows[1:]
        }
        assert named == {row: field for row, (_, field) in BAD.items()}

        # Dropped again: its job is the first one, finished; nothing is imported.
        events = api.event_count()
        (inbox / "again.xlsx").write_bytes(content)
        await until((inbox / "done" / "again.xlsx").exists, what="refiled")
        assert api.event_count() == events
        assert await entity_count(api) == 9_963
    finally:
        side.stop()


def zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (300 * 1024 * 1024))
    return buffer.getvalue()


def billion_laughs() -> bytes:
    book = openpyxl.Workbook()
    book.active.append(["Code", "Name"])  # type: ignore[union-attr]
    plain = io.BytesIO()
    book.save(plain)
    lol = "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10))
    doctype = f'<!DOCTYPE lolz [<!ENTITY lol0 "lol">{lol}]>'
    out = io.BytesIO()
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                head, _, rest = data.partition(b"?>")
                data = head + b"?>" + doctype.encode() + rest.replace(b"Code", b"&lol9;")
            target.writestr(item, data)
    return out.getvalue()


async def test_a_zip_bomb_and_a_billion_laughs_are_refused_within_two_seconds(
    api: Api, read_side: Any, automation: AutomationSide, runtime: Any
) -> None:
    await api.command("define-entity-type", name="Site", fields=SITE_FIELDS)
    inbox = runtime.settings.inbox / "acme" / "Site"
    inbox.mkdir(parents=True)
    for name, content in (("bomb.xlsx", zip_bomb()), ("lol.xlsx", billion_laughs())):
        (inbox / name).write_bytes(content)
        await until((inbox / "failed" / f"{name}.error.txt").exists, what=f"{name} refused")
        reason = (inbox / "failed" / f"{name}.error.txt").read_text()
        assert ("zip bomb" in reason) if name == "bomb.xlsx" else ("entities" in reason), reason
        started = time.perf_counter()
        with pytest.raises(FileRefused):
            list(read_sheets(inbox / "failed" / name, "xlsx", None))
        assert time.perf_counter() - started < 2.0
    jobs = (await graphql(api, "{ imports { edges { node { status refusal } } } }"))["imports"]
    assert [e["node"]["status"] for e in jobs["edges"]] == ["refused", "refused"]
    assert await entity_count(api) == 0
