"""The leads workbook (/staff/leads/export.xlsx): the CSV's filters, roles, columns and audit,
with typed cells, nothing a spreadsheet could run, a frozen and filterable header."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import datetime
from zoneinfo import ZoneInfo

import openpyxl
from sqlalchemy import select

from spine_site.extensions import db
from spine_site.leads.export import COLUMNS, MEDICAL_COLUMNS
from spine_site.leads.export_xlsx import MIMETYPE, _text
from spine_site.models import AuditEvent, Lead
from tests.factories import make_lead

PATH = "/staff/leads/export.xlsx"


def download(client, path: str = PATH) -> bytes:
    with client.get(path) as response:
        assert response.status_code == 200, response.status_code
        assert response.mimetype == MIMETYPE
        assert "attachment" in response.headers["Content-Disposition"]
        body = response.get_data()
        assert int(response.headers["Content-Length"]) == len(body)
        return body


def open_leads(client, path: str = PATH):
    book = openpyxl.load_workbook(io.BytesIO(download(client, path)))
    return book, book["Leads"]


def records(sheet) -> list[dict[str, object]]:
    rows = sheet.iter_rows(values_only=True)
    header = next(rows)
    return [dict(zip(header, row, strict=True)) for row in rows]


def test_the_workbook_has_the_csv_columns_a_frozen_filterable_header_and_widths(app, staff_client):
    make_lead(app, email="a@example.com")
    make_lead(app, email="b@example.com")
    book, sheet = open_leads(staff_client)
    header = [cell.value for cell in sheet[1]]
    assert header == [c for c, _ in COLUMNS]
    assert all(cell.font.b for cell in sheet[1])
    assert sheet.freeze_panes == "A2"
    last = openpyxl.utils.get_column_letter(len(header))
    assert sheet.auto_filter.ref == f"A1:{last}3"
    assert sheet.column_dimensions["I"].width == 30  # email
    assert all(sheet.column_dimensions[c].width >= 9 for c in ("A", "B", last))
    assert book.properties.title.startswith("Leads, exported ")
    # A second sheet says what each column holds.
    about = dict(book["Columns"].iter_rows(min_row=2, values_only=True))
    assert about == dict(COLUMNS)


def test_cells_are_typed_dates_in_clinic_time_booleans_numbers_and_text(app, staff_client):
    lead_id = make_lead(app, email="a@example.com", contact_method="text", best_time="evening")
    _, sheet = open_leads(staff_client)
    (row,) = records(sheet)
    with app.app_context():
        created = db.session.get(Lead, lead_id).created_at
    local = created.astimezone(ZoneInfo("America/Chicago")).replace(tzinfo=None, microsecond=0)
    assert row["created_at"] == local and isinstance(row["created_at"], datetime)
    assert row["consent_at"] == local
    assert sheet["B2"].number_format == "yyyy-mm-dd hh:mm" and sheet["B2"].is_date
    assert row["lead_id"] == lead_id and isinstance(row["lead_id"], int)
    assert isinstance(row["person_id"], int) and row["attempts"] == 0
    # yes/no as words (LibreOffice would show a boolean cell as 0 or 1).
    assert (row["is_spam"], row["consent_contact"], row["marketing_opt_in"]) == ("no", "yes", "no")
    assert (row["contact_method"], row["contact_method_code"]) == ("Text message", "text")
    assert (row["form"], row["status"], row["status_code"]) == ("Appointment", "New", "new")
    # The phone as the clinic dials it and its digits, both text, no apostrophe.
    assert (row["phone"], row["phone_digits"]) == ("(312) 867-5309", "13128675309")
    assert sheet["J2"].data_type == "s" and sheet["AO2"].data_type == "s"
    assert row["utm_source"] is None and row["first_reached_at"] is None


def test_nothing_in_the_workbook_can_run_and_text_keeps_its_exact_value(app, staff_client):
    hostile = {
        "message": '=HYPERLINK("http://evil.example","click")',
        "first_name": "@SUM(A1)",
        "last_name": "-2+3",
        "reason": "=cmd|' /C calc'!A0",
    }
    make_lead(app, email="a@example.com", **hostile)
    body = download(staff_client)
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        sheets = [n for n in archive.namelist() if n.startswith("xl/worksheets/")]
        xml = "".join(archive.read(n).decode() for n in sheets)
    assert "<f>" not in xml and "<f " not in xml, "no formula anywhere"
    book = openpyxl.load_workbook(io.BytesIO(body))
    sheet = book["Leads"]
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    (row,) = records(sheet)
    for column, value in hostile.items():
        assert row[column] == value, column  # exactly as typed: no apostrophe added
    # A cell that starts with = carries Excel's quote prefix, so editing it later keeps text.
    header = [cell.value for cell in sheet[1]]
    message = sheet.cell(row=2, column=header.index("message") + 1)
    assert message.quotePrefix and message.data_type == "s"
    assert not sheet.cell(row=2, column=header.index("email") + 1).quotePrefix


def test_characters_a_workbook_cannot_hold_are_dropped_not_an_error():
    # Control codes are not allowed in XML; openpyxl would refuse the whole file.
    assert _text("Ada\x01 \x0bLovelace", sheet=None) == "Ada Lovelace"


def test_the_workbook_holds_the_same_rows_as_the_csv(app, staff_client):
    make_lead(app, email="a@example.com", message='Said "ow", then\nleft. Über ✓')
    make_lead(app, "guide", email="b@example.com")
    make_lead(app, email="c@example.com", phone="+442079460958", spam=True)
    path = "?spam=include"
    with staff_client.get("/staff/leads/export.csv" + path) as response:
        text = response.get_data().decode("utf-8-sig")
    from_csv = list(csv.DictReader(io.StringIO(text, newline="")))
    _, sheet = open_leads(staff_client, PATH + path)
    from_xlsx = records(sheet)
    assert len(from_csv) == len(from_xlsx) == 3

    def as_csv(value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%d %H:%M:%S")
        return str(value)

    for csv_row, xlsx_row in zip(from_csv, from_xlsx, strict=True):
        assert {k: as_csv(v) for k, v in xlsx_row.items()} == csv_row


def test_the_workbook_follows_the_list_filters(app, staff_client):
    make_lead(app, "guide", email="patient1@example.com")
    make_lead(app, email="patient2@example.com")
    make_lead(app, email="patient3@example.com", spam=True)
    emails = lambda q: [r["email"] for r in records(open_leads(staff_client, PATH + q)[1])]  # noqa: E731
    assert emails("?form=appointment") == ["patient2@example.com"]
    assert emails("?spam=only") == ["patient3@example.com"]
    assert emails("?q=patient1") == ["patient1@example.com"]
    assert emails("") == ["patient2@example.com", "patient1@example.com"]
    _, sheet = open_leads(staff_client, PATH + "?form=appointment")
    assert sheet.auto_filter.ref.endswith("2")  # the header and one lead


def test_marketing_gets_no_medical_columns(app, marketing_client):
    make_lead(app, email="patient1@example.com", reason="sciatica", message="Private symptoms")
    body = download(marketing_client)
    book = openpyxl.load_workbook(io.BytesIO(body))
    header = [cell.value for cell in book["Leads"][1]]
    assert MEDICAL_COLUMNS.isdisjoint(header)
    assert "email" in header and "marketing_opt_in" in header and "utm_source" in header
    cells = [str(v) for row in book["Leads"].iter_rows(values_only=True) for v in row]
    assert "Private symptoms" not in cells and not any("ciatica" in c for c in cells)
    about = [row[0] for row in book["Columns"].iter_rows(min_row=2, values_only=True)]
    assert about == header


def test_each_workbook_export_is_audited_and_a_head_request_is_not(app, staff_client):
    make_lead(app, email="patient1@example.com")
    make_lead(app, email="patient2@example.com")
    staff_client.head(PATH).close()
    download(staff_client, PATH + "?status=new&q=patient")
    with app.app_context():
        (event,) = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export"))
        assert event.detail == {
            "filters": {"status": "new", "q": "(search)"},
            "rows": 2,
            "role": "staff",
            "format": "xlsx",
        }


def test_the_workbook_is_named_by_the_clinics_day(app, staff_client, monkeypatch):
    from datetime import UTC

    from spine_site.staff import lead_views

    monkeypatch.setattr(lead_views, "utcnow", lambda: datetime(2026, 11, 29, 2, 18, tzinfo=UTC))
    with staff_client.get(PATH) as response:
        assert "leads-2026-11-28.xlsx" in response.headers["Content-Disposition"]


def test_signed_out_visitors_get_no_workbook(app, client):
    make_lead(app, email="patient1@example.com")
    with client.get(PATH) as response:
        assert response.status_code in (302, 303)
        assert "/staff/login" in response.headers["Location"]


def test_the_list_offers_both_exports_with_its_filters(app, staff_client):
    make_lead(app, email="patient1@example.com")
    page = staff_client.get("/staff/?status=new&view=all").get_data(as_text=True)
    links = re.findall(r'href="(/staff/leads/export\.(?:csv|xlsx)[^"]*)"', page)
    assert sorted(link.split("?")[0] for link in links) == [
        "/staff/leads/export.csv",
        "/staff/leads/export.xlsx",
    ]
    assert all("status=new" in link for link in links)
    assert "Export Excel (1)" in page and "Export CSV (1)" in page
