"""An intake staff member signs in, opens a new lead, notes the call, moves it on, exports
(CSV and Excel)."""

from __future__ import annotations

import csv
import io
import re

import openpyxl
import pytest

from tests.factories import STAFF_PASSWORD, make_lead, make_user, totp_code

pytestmark = pytest.mark.browser


def test_intake_staff_works_a_new_lead_and_exports(browser, live_server):
    app = live_server.app
    make_user(app, "intake@clinic.example", "staff")
    make_lead(app)  # a patient's appointment request, as intake stored it

    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.goto(f"{live_server.url}/staff/")
    page.wait_for_url(re.compile(r"/staff/login"))
    page.get_by_label("Email").fill("intake@clinic.example")
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/staff/login/verify$"))
    page.get_by_label("Code").fill(totp_code(app, "intake@clinic.example"))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/staff/$"))

    # The desk opens on the queue: the new request waits for its first contact.
    card = page.locator("li.queue-card").first
    assert "Lovelace" in card.inner_text() and "Waiting" in card.inner_text()
    card.get_by_role("link", name=re.compile("Lovelace")).click()
    page.wait_for_url(re.compile(r"/staff/leads/\d+$"))
    assert "Pain down my left leg" in page.content()

    page.get_by_label("Add a note").fill("Called, left a voicemail.")
    page.get_by_role("button", name="Add note").click()
    page.wait_for_load_state()
    assert "Called, left a voicemail." in page.locator(".note-item").inner_text()

    page.get_by_label("Status", exact=True).select_option("contacted")
    page.get_by_role("button", name="Save status").click()
    page.wait_for_load_state()
    assert "Status changed to Contacted" in page.content()
    assert "New → Contacted by intake@clinic.example" in page.locator(".history").inner_text()

    page.get_by_role("link", name=re.compile("The queue")).click()
    page.wait_for_url(re.compile(r"/staff/$"))
    assert page.locator("li.queue-card").count() == 0, "contacted: no longer waiting"
    page.get_by_role("link", name="All", exact=True).click()
    page.wait_for_url(re.compile(r"view=all"))
    assert page.locator("tr.is-new").count() == 0, "a contacted lead no longer stands out"
    with page.expect_download() as download_info:
        page.get_by_role("link", name=re.compile("Export CSV")).click()
    download = download_info.value
    assert download.suggested_filename.startswith("leads-")
    with open(download.path(), encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(io.StringIO(f.read(), newline="")))
    assert [(r["Last name"], r["Status"]) for r in rows] == [("Lovelace", "Contacted")]
    with page.expect_download() as download_info:
        page.get_by_role("link", name=re.compile("Export Excel")).click()
    download = download_info.value
    assert re.fullmatch(r"leads-\d{4}-\d{2}-\d{2}\.xlsx", download.suggested_filename)
    with open(download.path(), "rb") as f:  # no .xlsx on the path, so openpyxl gets bytes
        sheet = openpyxl.load_workbook(io.BytesIO(f.read()))["Leads"]
    header, *values = sheet.iter_rows(values_only=True)
    rows = [dict(zip(header, row, strict=True)) for row in values]
    assert [(r["Last name"], r["Status"], r["Tries"]) for r in rows] == [
        ("Lovelace", "Contacted", 0)
    ]

    page.get_by_role("button", name=re.compile("Sign out")).click()
    page.wait_for_url(re.compile(r"/staff/login"))
    page.goto(f"{live_server.url}/staff/")
    page.wait_for_url(re.compile(r"/staff/login"))
    # Let the icon and stylesheet requests finish: a connection dropped mid-file leaves the
    # test server's file handle to the garbage collector.
    page.wait_for_load_state("networkidle")
    context.close()
