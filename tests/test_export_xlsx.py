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
import pytest
from sqlalchemy import select

from spine_site.extensions import db
from spine_site.leads.export import COLUMNS, MEDICAL_COLUMNS
from spine_site.leads.export_xlsx import MIMETYPE, WRAPPED, _text
from spine_site.models import AuditEvent, Lead
from tests.factories import make_lead
from tests.support import IN_CI

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


CODE_OF = {c.label: c.code for c in COLUMNS}


def records(sheet) -> list[dict[str, object]]:
    """The rows, keyed by column code (the header row holds the labels)."""
    rows = sheet.iter_rows(values_only=True)
    codes = [CODE_OF[label] for label in next(rows)]
    return [dict(zip(codes, row, strict=True)) for row in rows]


def test_the_workbook_has_the_csv_columns_a_frozen_filterable_header_and_widths(app, staff_client):
    make_lead(app, email="a@example.com")
    make_lead(app, email="b@example.com")
    book, sheet = open_leads(staff_client)
    header = [cell.value for cell in sheet[1]]
    assert header == [c.label for c in COLUMNS]
    assert header[:2] == ["Lead number", "Received"] and "Newsletter confirmed" in header
    assert all(cell.font.b for cell in sheet[1])
    assert sheet.freeze_panes == "A2"
    last = openpyxl.utils.get_column_letter(len(header))
    assert sheet.auto_filter.ref == f"A1:{last}3"
    assert sheet.column_dimensions["I"].width == 30  # email
    assert all(sheet.column_dimensions[c].width >= 9 for c in ("A", "B", last))
    assert book.properties.title.startswith("Leads, exported ")
    # A second sheet gives each column's label, its stable code, and what it holds.
    about = book["Columns"]
    assert [cell.value for cell in about[1]] == ["Column", "Code", "What it holds"]
    rows = list(about.iter_rows(min_row=2, values_only=True))
    assert rows == [(c.label, c.code, c.meaning) for c in COLUMNS]
    assert ("Received", "created_at") in [row[:2] for row in rows]


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
    # The phone as the clinic dials it and internationally, both text, no apostrophe.
    assert (row["phone"], row["phone_international"]) == ("(312) 867-5309", "1 312-867-5309")
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
    header = [CODE_OF[cell.value] for cell in sheet[1]]
    message = sheet.cell(row=2, column=header.index("message") + 1)
    assert message.quotePrefix and message.data_type == "s"
    assert not sheet.cell(row=2, column=header.index("email") + 1).quotePrefix


def test_every_text_cell_a_spreadsheet_could_take_for_a_formula_has_the_quote_prefix(
    app, staff_client
):
    """Excel re-reads a cell when it is edited: "+Robert" without the quote prefix would
    become a formula then. Every text cell starting with = + - @ (or tab, CR) has it."""
    make_lead(app, email="a@example.com", first_name="@Alice", last_name="+Robert")
    make_lead(app, email="b@example.com", first_name="-Dash", message="=SUM(A1)")
    make_lead(app, email="c@example.com", first_name="Plain", last_name="O'Neil", message="ok -")
    _, sheet = open_leads(staff_client)
    guarded, plain = [], []
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, str):
                if cell.value.startswith(("=", "+", "-", "@", "\t", "\r")):
                    guarded.append(cell)
                else:
                    plain.append(cell)
    assert sorted(cell.value for cell in guarded) == sorted(
        ["@Alice", "+Robert", "-Dash", "=SUM(A1)"]
    )
    assert all(cell.quotePrefix and cell.data_type == "s" for cell in guarded)
    assert not any(cell.quotePrefix for cell in plain)


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
    from_csv = [
        {CODE_OF[label]: value for label, value in row.items()}
        for row in csv.DictReader(io.StringIO(text, newline=""))
    ]
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
    labels = [cell.value for cell in book["Leads"][1]]
    header = [CODE_OF[label] for label in labels]
    assert MEDICAL_COLUMNS.isdisjoint(header) and "Message" not in labels
    assert "email" in header and "marketing_opt_in" in header and "utm_source" in header
    cells = [str(v) for row in book["Leads"].iter_rows(values_only=True) for v in row]
    assert "Private symptoms" not in cells and not any("ciatica" in c for c in cells)
    about = [row[1] for row in book["Columns"].iter_rows(min_row=2, values_only=True)]
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


SIX_LINES = (
    "My back hurts.\nMostly in the morning.\nIt goes down my left leg.\n"
    "Sitting is worst.\nI tried physio.\nPlease call after 3."
)


def test_long_text_wraps_and_its_row_is_tall_enough_for_every_line(app, staff_client):
    make_lead(app, email="a@example.com", message=SIX_LINES, reason="chronic_pain")
    make_lead(app, email="b@example.com", message="Short.", reason="sciatica")
    long_paragraph = "I have had pain in my lower back for years and it gets worse. " * 4
    make_lead(app, email="c@example.com", message=long_paragraph.strip())
    _, sheet = open_leads(staff_client)
    header = [CODE_OF[cell.value] for cell in sheet[1]]
    rows = {sheet.cell(row=r, column=header.index("email") + 1).value: r for r in (2, 3, 4)}
    for code in ("message", "reason"):
        cell = sheet.cell(row=rows["a@example.com"], column=header.index(code) + 1)
        assert cell.alignment.wrap_text
    # Six lines of 15 points; a one-line row keeps the default height.
    assert sheet.row_dimensions[rows["a@example.com"]].height == 6 * 15
    assert sheet.row_dimensions[rows["b@example.com"]].height is None
    # A paragraph longer than the column wraps onto as many lines as it needs.
    assert sheet.row_dimensions[rows["c@example.com"]].height >= 5 * 15
    # Every cell of a tall row keeps the spreadsheets' bottom alignment, the wrapped text
    # too, so the row's values line up on its last line.
    for code in ("email", "message"):
        cell = sheet.cell(row=rows["a@example.com"], column=header.index(code) + 1)
        assert cell.alignment.vertical in (None, "bottom")


def test_the_leads_sheet_prints_landscape_one_page_wide_with_the_labels_on_each_page(
    app, staff_client
):
    make_lead(app, email="a@example.com")
    _, sheet = open_leads(staff_client)
    assert sheet.page_setup.orientation == "landscape"
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
    assert (sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight) == (1, 0)
    assert sheet.print_title_rows == "$1:$1"


def _font_file(query: str) -> str:
    """The file of a Liberation Sans face: Arial's metrics, which are wider than those of
    Calibri (Excel's font) and Carlito (LibreOffice's stand-in for it)."""
    import shutil
    import subprocess

    fc_match = shutil.which("fc-match")
    found = ""
    if fc_match:
        found = subprocess.run(
            [fc_match, "-f", "%{family}|%{file}", query], capture_output=True, text=True
        ).stdout
    family, _, path = found.partition("|")
    if "Liberation Sans" not in family:
        if IN_CI:
            pytest.fail("no Liberation Sans in CI (fonts-liberation2 comes with LibreOffice)")
        pytest.skip(
            "no Liberation Sans font to measure text with: apt-get install fonts-liberation2"
        )
    return path


def test_every_column_is_wide_enough_for_its_label_and_its_choices(app, staff_client):
    """Measured with a real font: the bold label and the filter button, or each value a
    choice column can hold ("Appointment", "Early evening"), stays inside its column."""
    from PIL import ImageFont

    from spine_site.leads.export import CHOICE_LABELS

    bold = ImageFont.truetype(_font_file("Liberation Sans:bold"), 11 * 96 / 72)
    regular = ImageFont.truetype(_font_file("Liberation Sans"), 11 * 96 / 72)
    make_lead(app, email="a@example.com", phone="+442079460958", utm={"utm_source": "newsletter"})
    _, sheet = open_leads(staff_client)
    shown = {CODE_OF[h.value]: cell.value for h, cell in zip(sheet[1], sheet[2], strict=True)}
    # Excel measures a column in digits of the workbook's font, and keeps about 5 pixels
    # (of a 7-pixel digit) as margin; a header cell also holds the filter button, 16 pixels.
    digit = regular.getlength("0")
    for cell in sheet[1]:
        code = CODE_OF[cell.value]
        width = sheet.column_dimensions[cell.column_letter].width
        assert bold.getlength(cell.value) / digit + (16 + 5) / 7 <= width, cell.value
        if code in WRAPPED:
            continue
        values = list(CHOICE_LABELS.get(code, {}).values())
        value = shown[code]
        if isinstance(value, datetime):
            value = value.strftime("%Y-%m-%d %H:%M")  # as the cell shows it
        if value is not None:
            values.append(str(value))
        for text in values:
            assert regular.getlength(text) / digit + 5 / 7 <= width, (cell.value, text)


def _export_help(client) -> list[str]:
    """The words beside the export buttons, one paragraph each, as a browser shows them."""
    import html

    page = client.get("/staff/?view=all").get_data(as_text=True)
    block = re.search(r'<div class="export-help"[^>]*>(.*?)</div>', page, re.S)
    assert block, "the list explains its two exports"
    paragraphs = re.findall(r"<p[^>]*>(.*?)</p>", block.group(1), re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", "", p)).split()) for p in paragraphs]


def test_the_list_says_which_file_is_for_reading_and_which_for_importing(
    app, staff_client, marketing_client
):
    excel, csv_help = _export_help(staff_client)
    assert excel.startswith("Export Excel is the file for reading")
    assert csv_help.startswith("Export CSV is the file for importing into other tools")
    # The apostrophe the CSV puts before = + - @ is explained, with an example.
    assert "= + - or @" in csv_help and "“@Alice” shows as “'@Alice”" in csv_help
    assert "reason for visit" not in csv_help
    # Marketing's files leave the medical columns out, and the page says so.
    assert (
        "Neither file contains a patient's reason for visit or message."
        in (_export_help(marketing_client)[1])
    )
