"""POST /costs/exports on the local stack: a real backfill exported asynchronously (moto S3 multipart upload, the
export function run from the queue), downloaded through the download URL, and checked against GET /costs."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import threading
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from urllib.parse import urlencode, urlsplit

import boto3
import pytest

from anthropic_simulator import DEMO_ADMIN_KEY, Simulator
from pump_anthropic.adapters.export_store import object_key
from pump_anthropic.logic import exports
from pump_local import cli
from pump_local.embedded_aws import EXPORT_BUCKET_NAME, REGION, LocalAws
from pump_local.http_api import LocalApi, LocalResponse, make_http_server
from tests.support.oracles import ANALYTICS_FLOOR
from tests.support.stack import FIXED_NOW, SMALL_ORG, Stack, costs

pytestmark = pytest.mark.network
OTHER_TENANT = "someone-else"
S3_MINIMUM_PART_BYTES = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def backfilled() -> Iterator[tuple[Stack, dict]]:
    """One backfilled organization for the whole module (a backfill takes the better part of a minute). Parts of
    S3's minimum size, so the year's file goes up in several parts."""
    with (
        pytest.MonkeyPatch.context() as patch,
        Simulator(SMALL_ORG, admin_key=DEMO_ADMIN_KEY, now=lambda: FIXED_NOW) as simulator,
        LocalAws(simulator.url) as aws,
    ):
        patch.setattr(exports, "PART_BYTES", S3_MINIMUM_PART_BYTES)
        stack = Stack(aws, LocalApi(), simulator, [])
        connection = stack.wait_settled(stack.connect().json()["id"])
        assert connection["status"] == "active"
        yield stack, connection


@pytest.fixture(scope="module")
def year(backfilled) -> tuple[dict, bytes]:
    """The 365-day FOCUS export of the test organization: its job and its downloaded file."""
    stack, connection = backfilled
    job = wait_ready(stack, create(stack, connection["backfill"]["from"], connection["backfill"]["to"]))
    return job, download(stack, job).raw


@pytest.fixture(scope="module")
def served(backfilled) -> Iterator[str]:
    """The same stack over HTTP, as `pump-anthropic serve` runs it (for the CLI)."""
    server = make_http_server(LocalApi(), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, name="exports-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def create(stack: Stack, first: str, last: str, tenant: str | None = None, **fields) -> dict:
    response = stack.call("POST", "/costs/exports", {"from": first, "to": last, **fields}, tenant=tenant)
    assert response.status == 202, response.body
    assert response.headers["Location"] == f"/costs/exports/{response.json()['id']}"
    return response.json()


def wait_ready(stack: Stack, job: dict, tenant: str | None = None, timeout: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout
    while job["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, f"export still {job['status']}: {job['progress']}"
        time.sleep(0.2)
        response = stack.call("GET", f"/costs/exports/{job['id']}", tenant=tenant)
        assert response.status == 200, response.body
        job = response.json()
    assert job["status"] == "ready", job["error"]
    return job


def download(stack: Stack, job: dict) -> LocalResponse:
    """The download URL as a browser would follow it: no tenant header, the URL's token is the authority."""
    url = urlsplit(job["download_url"])
    response = stack.call("GET", f"{url.path}?{url.query}", anonymous=True)
    assert response.status == 200, response.body
    return response


def focus_rows(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode(), newline="")))


def known_cost(rows: list[dict]) -> Decimal:
    return sum((Decimal(r["BilledCost"]) for r in rows if r["x_CostKnown"] == "true"), Decimal(0))


def test_a_year_of_focus_export_completes_and_sums_exactly_to_get_costs(backfilled, year):
    stack, connection = backfilled
    job, data = year
    first, last = connection["backfill"]["from"], connection["backfill"]["to"]

    # Then the job is complete: every day read, every row counted, the file's hash and size recorded
    assert (job["from"], job["to"], job["format"]) == (first, last, "focus")
    assert job["progress"]["days_done"] == job["progress"]["days_total"] == 365
    assert job["bytes"] == len(data) > S3_MINIMUM_PART_BYTES  # several parts; too large for GET /costs/export
    assert job["sha256"] == hashlib.sha256(data).hexdigest()
    stored = boto3.client("s3", region_name=REGION).head_object(
        Bucket=EXPORT_BUCKET_NAME, Key=object_key("local", job["id"], job["filename"])
    )
    assert stored["ETag"].endswith('-2"')  # a multipart object of two parts
    rows = focus_rows(data)
    assert len(rows) == job["rows"] == job["progress"]["rows"] > 0
    assert job["download_expires_at"] > job["updated_at"] and job["expires_at"] > job["created_at"]
    # And the known costs add up exactly to GET /costs for the same range
    assert known_cost(rows) == Decimal(costs(stack, first, last)["total"]["cost_usd"])
    assert min(r["ChargePeriodStart"][:10] for r in rows) == first
    assert max(r["ChargePeriodStart"][:10] for r in rows) == last


def test_the_one_response_export_points_large_ranges_to_the_export_api(backfilled):
    stack, connection = backfilled
    query = urlencode({"from": connection["backfill"]["from"], "to": connection["backfill"]["to"]})

    response = stack.call("GET", f"/costs/export?{query}")

    assert response.status == 400
    error = response.json()["error"]
    assert error["code"] == "export_too_large" and "POST /costs/exports" in error["message"]


def test_a_small_range_is_byte_for_byte_what_the_one_response_export_gives(backfilled):
    stack, connection = backfilled
    last = connection["backfill"]["to"]
    first = connection["backfill"]["to"][:8] + "01"
    for fields in ({}, {"allocation": "api_key"}):
        query = urlencode({"from": first, "to": last, **fields})
        synchronous = stack.call("GET", f"/costs/export?{query}")
        assert synchronous.status == 200, synchronous.body

        job = wait_ready(stack, create(stack, first, last, **fields))

        assert download(stack, job).raw == synchronous.body.encode()


def test_gzip_is_the_same_file_compressed(backfilled, year):
    stack, connection = backfilled
    _, plain = year

    job = wait_ready(stack, create(stack, connection["backfill"]["from"], connection["backfill"]["to"], gzip=True))
    response = download(stack, job)

    assert job["filename"].endswith(".csv.gz") and response.headers["Content-Type"] == "application/gzip"
    assert 'filename="' + job["filename"] + '"' in response.headers["Content-Disposition"]
    assert job["sha256"] == hashlib.sha256(response.raw).hexdigest()
    assert gzip.decompress(response.raw) == plain


def test_the_csv_format_is_the_cost_report_as_csv(backfilled):
    stack, connection = backfilled
    first, last = connection["backfill"]["from"], connection["backfill"]["to"]

    job = wait_ready(stack, create(stack, first, last, format="csv", group_by="month,workspace_id,model"))
    rows = list(csv.DictReader(io.StringIO(download(stack, job).raw.decode(), newline="")))

    report = costs(stack, first, last, "month,workspace_id,model")
    assert job["group_by"] == ["month", "workspace_id", "model"] and job["rows"] == len(rows) > 12
    assert [(r["month"], r["workspace_id"], r["model"]) for r in rows] == [
        (row["month"], row["workspace_id"] or "", row["model"] or "") for row in report["rows"]
    ]
    assert sum(Decimal(r["cost_usd"]) for r in rows if r["cost_usd"]) == Decimal(report["total"]["cost_usd"])
    assert {r["workspace_name"] for r in rows} == {row["workspace_name"] for row in report["rows"]}


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def as_in_the_report(cell: str) -> str:
    """A text cell of the csv export read back as the README tells a machine consumer to: one leading quote that
    guards a formula start is dropped."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell


def report_cell(value: object) -> str:
    """A GET /costs value as the csv export writes it: null as an empty cell, a model's raw ids joined by a space."""
    if value is None:
        return ""
    return " ".join(value) if isinstance(value, list) else str(value)


@pytest.mark.parametrize(
    ("group_by", "names"),
    [
        ("actor,product", ["actor_type", "actor_id", "actor_name", "actor_email", "actor_note"]),
        (
            "api_key_id,workspace_id,model",
            ["api_key_name", "api_key_hint", "allocation", "workspace_name", "model_ids"],
        ),
    ],
)
def test_the_csv_export_carries_the_names_and_list_price_get_costs_carries(backfilled, group_by, names):
    stack, connection = backfilled
    first, last = connection["backfill"]["from"], connection["backfill"]["to"]

    job = wait_ready(stack, create(stack, first, last, format="csv", group_by=group_by))
    rows = list(csv.DictReader(io.StringIO(download(stack, job).raw.decode(), newline="")))
    report = costs(stack, first, last, group_by)

    figures = ["cost_usd", "list_cost_usd", "tokens", "cost_unknown_tokens", "cost_unknown_web_search_requests"]
    priced = [f"list_priced_{f}" for f in ("days", "of_days", "list_cost_usd", "cost_usd", "discount_usd")]
    assert set(names) <= set(rows[0]) and list(rows[0])[-len(figures + priced) :] == figures + priced
    # Every cell is the GET /costs row's value: dimensions, their names, and the figures flattened.
    expected = []
    for row in report["rows"]:
        flat = {**row, **{f"cost_unknown_{k}": v for k, v in row["cost_unknown"].items()}}
        flat |= {f"list_priced_{k}": v for k, v in row["list_priced"].items()}
        expected.append({column: report_cell(flat[column]) for column in rows[0]})
    assert [{k: as_in_the_report(v) for k, v in r.items()} for r in rows] == expected
    assert len(rows) == job["rows"] > 1

    # The range reaches back before the analytics API: legacy days have no list price, so the total's and the
    # stitched rows' is null, and list_priced carries the discount over the days that have one.
    total = report["total"]
    analytics_days = (date.fromisoformat(last) - ANALYTICS_FLOOR).days + 1  # the API's first day is 2026-01-01
    assert total["list_cost_usd"] is None and total["list_priced"]["days"] == analytics_days
    assert total["list_priced"]["of_days"] == (date.fromisoformat(last) - date.fromisoformat(first)).days + 1 == 365
    assert sum(Decimal(r["list_priced_list_cost_usd"]) for r in rows) == Decimal(total["list_priced"]["list_cost_usd"])
    assert sum(Decimal(r["cost_usd"]) for r in rows if r["cost_usd"]) == Decimal(total["cost_usd"])
    assert any(r["list_cost_usd"] for r in rows) and any(not r["list_cost_usd"] for r in rows)
    if group_by.startswith("actor"):
        people = [r for r in rows if r["actor_type"] == "user_actor"]
        assert people and any(r["actor_name"] for r in people) and any(r["actor_email"] for r in people)
        assert {r["actor"] for r in rows if not r["list_cost_usd"]} == {"unknown"}  # only legacy days lack it
    else:
        assert all(r["model_ids"] or not r["model"] for r in rows)


def test_a_download_link_works_only_as_issued(backfilled, year):
    stack, _ = backfilled
    job, _ = year
    url = urlsplit(job["download_url"])
    other = create(stack, "2026-01-01", "2026-01-02")

    forged = stack.call("GET", f"{url.path}?{url.query[:-2]}xx", anonymous=True)
    elsewhere = stack.call("GET", f"/costs/exports/{other['id']}/download?{url.query}", anonymous=True)

    for response in (forged, elsewhere):
        assert response.status == 403 and response.json()["error"]["code"] == "download_expired"


def test_another_tenant_can_neither_read_the_job_nor_see_the_rows(backfilled, year):
    stack, connection = backfilled
    job, _ = year

    response = stack.call("GET", f"/costs/exports/{job['id']}", tenant=OTHER_TENANT)
    assert response.status == 404 and response.json()["error"]["code"] == "not_found"

    # Its own export of the same range holds no row of ours
    theirs = create(stack, connection["backfill"]["from"], connection["backfill"]["to"], tenant=OTHER_TENANT)
    theirs = wait_ready(stack, theirs, tenant=OTHER_TENANT)
    assert theirs["rows"] == 0 and focus_rows(download(stack, theirs).raw) == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"from": "2026-3-01", "to": "2026-03-31"}, "invalid_query"),
        ({"from": "2024-01-01", "to": "2026-03-31"}, "invalid_query"),
        ({"from": "2026-03-01", "to": "2026-03-31", "format": "xlsx"}, "invalid_query"),
        ({"from": "2026-03-01", "to": "2026-03-31", "gzip": "yes"}, "invalid_request"),
        ({"from": "2026-03-01", "to": "2026-03-31", "colour": "red"}, "invalid_request"),
        ([{"from": "2026-03-01"}], "invalid_request"),
    ],
    ids=["bad date", "range too long", "unknown format", "gzip not a boolean", "unknown field", "not an object"],
)
def test_bad_requests_are_400_with_an_error_body(backfilled, body, code):
    stack, _ = backfilled

    response = stack.call("POST", "/costs/exports", body)

    assert response.status == 400, response.body
    assert response.json()["error"]["code"] == code and response.json()["error"]["message"]


def test_the_cli_exports_through_the_api_and_reads_every_page_of_the_report(backfilled, year, served, tmp_path, capsys):
    stack, connection = backfilled
    job, data = year
    first, last = connection["backfill"]["from"], connection["backfill"]["to"]
    out = tmp_path / "focus.csv"
    dates = ["--api-url", served, "--from", first, "--to", last]

    # --focus: the export API followed with a progress bar, the whole file written
    assert cli.main(["report", *dates, "--focus", "--out", str(out)]) == 0
    assert out.read_bytes() == data
    assert "365/365 days" in capsys.readouterr().err

    # --csv to stdout: the report's rows
    assert cli.main(["report", *dates, "--csv", "--group-by", "month"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out, newline="")))
    assert [r["month"] for r in rows] == [row["month"] for row in costs(stack, first, last, "month")["rows"]]

    # --json: GET /costs with every page's rows, the whole range's total
    assert cli.main(["report", *dates, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    query = {"from": first, "to": last, "group_by": "date,workspace_id,model"}
    page = stack.call("GET", "/costs?" + urlencode(query)).json()
    expected, pages = list(page["rows"]), 1
    while page.get("has_more"):
        page = stack.call("GET", "/costs?" + urlencode({**query, "page": page["next_page"]})).json()
        expected, pages = expected + page["rows"], pages + 1
    assert printed["rows"] == expected and printed["total"] == page["total"]
    assert "has_more" not in printed and "next_page" not in printed
    print(f"GET /costs pages followed: {pages}")
