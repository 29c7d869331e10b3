"""Imports end to end: a CSV and a workbook uploaded, checked (counts and first errors, nothing
written), started, applied as entities; the error report; the same file again; upserts by a key
field; a crash mid-import resumed with no duplicates; refused files."""

from __future__ import annotations

import csv
import io
import threading
from datetime import date
from typing import Any
from uuid import UUID

import httpx
import openpyxl

from automation.imports.runner import ImportRunner
from commands.auth import Principal
from domain.import_job import ImportJob
from infra.automation import AutomationSide
from tests.conftest import Api
from tests.runs import graphql, until

SITE_FIELDS = [
    {"name": "code", "type": "text", "required": True, "unique": True},
    {"name": "name", "type": "text", "required": True},
    {"name": "population", "type": "integer", "constraints": {"min": 0}},
    {"name": "opened", "type": "date"},
    {"name": "active", "type": "boolean"},
]
JOB = """query($id: UUID!) { importJob(id: $id) {
    status rows valid done failed created updated processed rate etaSeconds refusal
    mapping sheets errorReportUrl firstErrors { sheet row field message }
} }"""
ENTITIES = """query { entities(first: 100) { edges { node { data } } } }"""


async def upload(
    api: Api, name: str, content: bytes, token: str | None = None, **form: Any
) -> httpx.Response:
    return await api.http.post(
        "/v1/imports",
        headers={"Authorization": f"Bearer {token or api.token}"},
        data={k: str(v).lower() if isinstance(v, bool) else v for k, v in form.items()},
        files={"file": (name, content, "application/octet-stream")},
    )


async def job_reaches(api: Api, job_id: str, *statuses: str) -> dict[str, Any]:
    async def reached() -> Any:
        job = (await graphql(api, JOB, id=job_id))["importJob"]
        return job if job is not None and job["status"] in statuses else None

    return await until(reached, what=f"import {job_id} {statuses}")


async def sites_counted(api: Api, count: int) -> dict[str, dict[str, Any]] | None:
    """The sites by code once there are `count` of them."""
    found = await codes(api)
    return found if len(found) == count else None


def sites_csv(rows: list[list[Any]], delimiter: str = ",") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(["Code", "Site name", "Population", "Opened", "Active"])
    writer.writerows(rows)
    return out.getvalue().encode()


async def codes(api: Api) -> dict[str, dict[str, Any]]:
    edges = (await graphql(api, ENTITIES))["entities"]["edges"]
    return {edge["node"]["data"]["code"]: edge["node"]["data"] for edge in edges}


async def test_a_csv_is_checked_then_applied_with_an_error_report(
    api: Api, read_side: Any, automation: AutomationSide
) -> None:
    await api.command("define-entity-type", name="Site", fields=SITE_FIELDS)
    content = sites_csv(
        [
            ["S1", "Haifa port", "1,200", "2024-01-31", "yes"],
            ["S2", "Eilat", "", "31/01/2024", "no"],
            ["S3", "", "5", "", ""],  # no name
            ["S4", "Negev", "many", "", ""],  # not a number
            ["S1", "Again", "1", "", ""],  # repeats S1
            ["S5", '=HYPERLINK("http://evil")', "-3", "", ""],  # below min, formula-like
        ]
    )
    reply = await upload(api, "sites.csv", content, entity_type="Site")
    assert reply.status_code == 200, reply.text
    job_id = reply.json()["id"]

    checked = await job_reaches(api, job_id, "checked")
    assert (checked["rows"], checked["valid"], checked["done"]) == (6, 2, 0)
    assert checked["mapping"] == {
        "Code": "code", "Site name": "name", "Population": "population",
        "Opened": "opened", "Active": "active",
    }  # fmt: skip
    assert [(e["row"], e["field"]) for e in checked["firstErrors"]] == [
        (4, "name"), (5, "population"), (6, "code"), (7, "population"),
    ]  # fmt: skip
    assert await codes(api) == {}  # the check writes nothing

    started = await api.command("start-import", import_id=job_id)
    assert started.status == 200
    done = await job_reaches(api, job_id, "completed")
    assert (done["done"], done["failed"], done["created"]) == (2, 4, 2)
    sites = await codes(api)
    assert sites == {
        "S1": {"code": "S1", "name": "Haifa port", "population": 1200, "opened": "2024-01-31",
               "active": True},
        "S2": {"code": "S2", "name": "Eilat", "opened": "2024-01-31", "active": False},
    }  # fmt: skip

    report = await api.http.get(
        f"{done['errorReportUrl']}?format=csv", headers={"Authorization": f"Bearer {api.token}"}
    )
    assert report.status_code == 200, report.text
    lines = list(csv.reader(io.StringIO(report.content.decode("utf-8-sig"))))
    assert lines[0] == ["Code", "Site name", "Population", "Opened", "Active", "error"]
    assert [line[0] for line in lines[1:]] == ["S3", "S4", "S1", "S5"]
    assert lines[2][-1] == "row 5: population: must be a whole number"
    assert lines[3][-1] == "row 6: code: 's1' is already taken"
    assert lines[4][1] == '\'=HYPERLINK("http://evil")'  # escaped, never a live formula

    workbook = await api.http.get(
        done["errorReportUrl"], headers={"Authorization": f"Bearer {api.token}"}
    )
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.content)).active
    assert sheet is not None
    assert [cell.value for cell in sheet[1]][-1] == "error"
    assert sheet.max_row == 5

    again = await upload(api, "sites-again.csv", content, entity_type="Site")
    assert again.json()["id"] == job_id  # the same file is the same job: nothing twice
    assert len(await codes(api)) == 2


async def test_a_workbook_with_a_key_field_updates_what_is_there_and_starts_by_itself(
    api: Api, read_side: Any, automation: AutomationSide
) -> None:
    site = await api.command("define-entity-type", name="Site", fields=SITE_FIELDS)
    await api.command("create-entity", entity_type_id=site.id,
                      data={"code": "K1", "name": "Old name", "population": 1})  # fmt: skip
    book = openpyxl.Workbook()
    first = book.active
    assert first is not None
    first.title = "North"
    first.append(["code", "name", "population", "opened"])
    first.append(["K1", "New name", 10.0, date(2023, 5, 1)])
    first.append(["K2", "Second", 20, None])
    south = book.create_sheet("South")
    south.append(["code", "name"])
    south.append(["K3", "Third"])
    buffer = io.BytesIO()
    book.save(buffer)

    reply = await upload(
        api, "sites.xlsx", buffer.getvalue(), entity_type="Site", key_field="code", start=True
    )
    assert reply.status_code == 200, reply.text
    done = await job_reaches(api, reply.json()["id"], "completed")
    assert (done["created"], done["updated"], done["failed"]) == (2, 1, 0)
    assert [s["name"] for s in done["sheets"]] == ["North", "South"]
    sites = await codes(api)
    assert sites["K1"] == {"code": "K1", "name": "New name", "population": 10,
                           "opened": "2023-05-01"}  # fmt: skip
    assert set(sites) == {"K1", "K2", "K3"}


async def test_an_import_stopped_mid_way_resumes_with_no_duplicates(
    api: Api, read_side: Any, runtime: Any
) -> None:
    """No runner in the background: the test drives one, stopping it after its first batch,
    then applies the next batch without recording its checkpoint (a crash between the two)."""
    await api.command("define-entity-type", name="Site", fields=SITE_FIELDS)
    content = sites_csv([[f"R{n}", f"Site {n}", n, "", ""] for n in range(1, 26)])
    job_id = UUID((await upload(api, "many.csv", content, entity_type="Site")).json()["id"])
    rows = runtime.commands.import_rows(Principal.system("bsdflow-imports"))
    runner = ImportRunner(runtime.urls.database_url, rows, runtime.blobs.path_of, batch=10)
    job = runner.check(runtime.store.find(ImportJob, job_id))
    assert (job.rows, job.valid) == (25, 25)
    job = rows.record(job.id, ImportJob.start)

    stop = threading.Event()
    stop.set()  # stops after the batch it is applying
    job = runner.apply(job, stop)
    assert (job.checkpoint, job.done) == ({"many": 11}, 10)

    def data(row: int) -> dict[str, Any]:
        return {"code": f"R{row - 1}", "name": f"Site {row - 1}", "population": row - 1}

    crashed = [(row, data(row)) for row in range(12, 22)]
    assert [o.created for o in rows.apply(job, "many", crashed)] == [True] * 10
    again = rows.apply(job, "many", crashed)  # stored already: done, nothing written
    assert [(o.created, o.problems) for o in again] == [(False, ())] * 10

    job = runner.work(job.id)
    assert job is not None
    assert (job.status, job.done, job.failed, job.created) == ("completed", 25, 0, 15)
    sites = await until(lambda: sites_counted(api, 25), what="25 sites")
    assert sorted(sites) == sorted(f"R{n}" for n in range(1, 26))


async def test_files_that_cannot_be_imported_are_refused_storing_nothing(
    api: Api, read_side: Any, automation: AutomationSide
) -> None:
    await api.command("define-entity-type", name="Site", fields=SITE_FIELDS)
    before = api.event_count()
    not_spreadsheet = await upload(api, "notes.txt", b"hello", entity_type="Site")
    assert not_spreadsheet.status_code == 422
    assert "not a spreadsheet" in not_spreadsheet.text
    unknown_type = await upload(api, "a.csv", b"code\nx\n", entity_type="Nope")
    assert unknown_type.status_code == 404
    bad_mapping = await upload(
        api, "a.csv", b"code\nx\n", entity_type="Site", mapping='{"code": "nope"}'
    )
    assert bad_mapping.status_code == 422
    assert api.event_count() == before

    garbage = await upload(api, "broken.xlsx", b"PK\x03\x04 not really a zip", entity_type="Site")
    assert garbage.status_code == 200
    refused = await job_reaches(api, garbage.json()["id"], "refused")
    assert "xlsx" in refused["refusal"]
    nothing = await upload(api, "other.csv", b"colour,size\nred,1\n", entity_type="Site")
    refused = await job_reaches(api, nothing.json()["id"], "refused")
    assert "no column" in refused["refusal"]


async def test_a_tenant_s_caps_and_daily_rows_refuse_what_is_over_them(
    api: Api, read_side: Any, automation: AutomationSide
) -> None:
    await api.command("define-entity-type", name="Site", fields=SITE_FIELDS)
    await api.command("change-tenant-settings",
                      settings={"import_max_columns": 4, "import_rows_per_day": 3})  # fmt: skip
    wide = await upload(api, "wide.csv", sites_csv([["S1", "A", "1", "", ""]]), entity_type="Site")
    refused = await job_reaches(api, wide.json()["id"], "refused")
    assert "columns" in refused["refusal"]

    narrow = b"Code,Name\nS1,One\nS2,Two\n"
    first = await upload(api, "two.csv", narrow, entity_type="Site", start=True)
    assert (await job_reaches(api, first.json()["id"], "completed"))["created"] == 2
    more = await upload(api, "more.csv", b"Code,Name\nS3,Three\nS4,Four\n", entity_type="Site")
    refused = await job_reaches(api, more.json()["id"], "refused")
    assert "may import 3 rows a day" in refused["refusal"]
    assert "2 are started today and this file has 2" in refused["refusal"]


async def test_a_row_depending_on_the_batch_being_stored_sees_it(
    api: Api, read_side: Any, runtime: Any
) -> None:
    """Batches of two, stored while the next is handled: a key taken in one batch and given
    again in the next is an update of that entity, and a unique value repeated across the
    two is refused once, whatever the order the threads ran in."""
    await api.command("define-entity-type", name="Site", fields=SITE_FIELDS)
    content = b"Code,Site name,Population\nK1,First,1\nK2,Second,2\nK1,First again,3\nK3,Third,4\n"
    reply = await upload(api, "keys.csv", content, entity_type="Site", key_field="code")
    rows = runtime.commands.import_rows(Principal.system("bsdflow-imports"))
    runner = ImportRunner(runtime.urls.database_url, rows, runtime.blobs.path_of, batch=2)
    job = runner.check(runtime.store.find(ImportJob, UUID(reply.json()["id"])))
    job = runner.apply(rows.record(job.id, ImportJob.start))
    assert (job.status, job.created, job.updated, job.failed) == ("completed", 3, 1, 0)
    sites = await until(lambda: sites_counted(api, 3), what="3 sites")
    assert sites["K1"]["name"] == "First again"
    assert sites["K1"]["population"] == 3
