"""The exports opened in a real spreadsheet: LibreOffice Calc, headless, as marketing opens
them. The CSV through the Text Import choices docs/staff.md gives (UTF-8, comma), and the
workbook as it comes; each is saved back as .xlsx and read with openpyxl to see what the
spreadsheet made of every cell. The workbook is also printed to PDF, to read what a person
holding the printout sees."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from pypdf import PdfReader

from spine_site.leads.export import COLUMNS
from tests.factories import make_lead
from tests.support import IN_CI

# Comma, double quote, UTF-8 (76), start at line 1: LibreOffice's Text Import settings.
UTF8_CSV = "CSV:44,34,76,1"


@pytest.fixture(scope="module")
def soffice() -> str:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None:
        if IN_CI:
            pytest.fail("LibreOffice is missing in CI: .ci/run should have installed it")
        pytest.skip("no LibreOffice: apt-get install libreoffice-calc-nogui")
    return found


def convert(soffice: str, source: Path, to: str, infilter: str | None = None) -> Path:
    """`source` opened in LibreOffice Calc and saved as `to` (a file type and filter)."""
    out = source.parent / "calc"
    command = [
        soffice,
        f"-env:UserInstallation=file://{source.parent / 'profile'}",
        "--headless",
        "--convert-to",
        to,
        "--outdir",
        str(out),
    ]
    if infilter:
        command.append(f"--infilter={infilter}")
    subprocess.run([*command, str(source)], check=True, capture_output=True, timeout=180)
    saved = out / f"{source.stem}.{to.split(':')[0]}"
    assert saved.exists(), f"LibreOffice did not open {source.name}"
    return saved


def through_calc(soffice: str, source: Path, infilter: str | None = None):
    """`source` opened in LibreOffice Calc and saved as .xlsx; returns its first sheet."""
    saved = convert(soffice, source, "xlsx:Calc MS Excel 2007 XML", infilter)
    return openpyxl.load_workbook(saved).worksheets[0]


LABELS = [c.label for c in COLUMNS]
CODE_OF = {c.label: c.code for c in COLUMNS}


def by_email(sheet) -> dict[str, dict[str, openpyxl.cell.Cell]]:
    """The rows keyed by email, each a row's cells keyed by column code. The header row
    must hold exactly the labels, in order."""
    rows = sheet.iter_rows()
    header = [cell.value for cell in next(rows)]
    assert header == LABELS
    table = [dict(zip(map(CODE_OF.get, header), row, strict=False)) for row in rows]
    return {row["email"].value: row for row in table}


def _leads(app) -> None:
    make_lead(
        app, email="jose@example.com", first_name="José", last_name="Núñez", phone_extension="04"
    )
    make_lead(
        app,
        email="li@example.com",
        first_name="李",
        last_name="明",
        phone="+442079460958",
        message='=HYPERLINK("http://evil.example","x")',
    )
    make_lead(app, email="alice@example.com", first_name="@Alice", last_name="'t Hooft")


def test_the_csv_opens_in_libreoffice_with_names_phones_and_dates_intact(
    app, staff_client, soffice, tmp_path
):
    _leads(app)
    source = tmp_path / "leads.csv"
    with staff_client.get("/staff/leads/export.csv") as response:
        source.write_bytes(response.get_data())
    rows = by_email(through_calc(soffice, source, UTF8_CSV))
    jose, li = rows["jose@example.com"], rows["li@example.com"]
    assert (jose["first_name"].value, jose["last_name"].value) == ("José", "Núñez")
    assert (li["first_name"].value, li["last_name"].value) == ("李", "明")
    # Phones stay exactly as written, as text, with no apostrophe in sight.
    assert jose["phone"].value == "(312) 867-5309" and jose["phone"].data_type == "s"
    assert li["phone"].value == "011 44 20 7946 0958" and li["phone"].data_type == "s"
    for row, typed in ((jose, "1 312-867-5309"), (li, "44 20 7946 0958")):
        cell = row["phone_international"]
        assert (cell.value, cell.data_type) == (typed, "s"), "not a number like 4.42079E+11"
    # The extension keeps its leading zero (digits alone would open as the number 4).
    assert (jose["phone_extension"].value, jose["phone_extension"].data_type) == ("ext. 04", "s")
    assert li["phone_extension"].value is None
    # The guard shows where OWASP asks for it, and only there.
    alice = rows["alice@example.com"]
    assert (alice["first_name"].value, alice["last_name"].value) == ("'@Alice", "'t Hooft")
    # Dates import as dates.
    assert isinstance(jose["created_at"].value, datetime)
    assert isinstance(jose["consent_at"].value, datetime)
    # The formula a patient typed stays visible text (neutralised), and nothing is a formula.
    assert li["message"].data_type == "s"
    assert li["message"].value.endswith('=HYPERLINK("http://evil.example","x")')
    assert all(cell.data_type != "f" for row in rows.values() for cell in row.values())


def test_the_workbook_opens_in_libreoffice_with_its_types_and_nothing_to_run(
    app, staff_client, soffice, tmp_path
):
    _leads(app)
    source = tmp_path / "leads.xlsx"
    with staff_client.get("/staff/leads/export.xlsx") as response:
        source.write_bytes(response.get_data())
    sheet = through_calc(soffice, source)
    rows = by_email(sheet)
    jose, li = rows["jose@example.com"], rows["li@example.com"]
    assert (li["first_name"].value, jose["last_name"].value) == ("李", "Núñez")
    assert isinstance(jose["created_at"].value, datetime)
    assert isinstance(jose["lead_id"].value, int)
    assert (jose["phone"].value, jose["phone_international"].value) == (
        "(312) 867-5309",
        "1 312-867-5309",
    )
    assert li["phone_international"].value == "44 20 7946 0958"
    assert li["phone_international"].data_type == "s"  # as typed, not 4.42079E+11
    assert (jose["phone_extension"].value, jose["phone_extension"].data_type) == ("ext. 04", "s")
    alice = rows["alice@example.com"]
    assert (alice["first_name"].value, alice["last_name"].value) == ("@Alice", "'t Hooft")
    assert jose["consent_contact"].value == "yes"
    # Exactly what the patient typed, as text, with no apostrophe added.
    assert li["message"].value == '=HYPERLINK("http://evil.example","x")'
    assert all(cell.data_type != "f" for row in rows.values() for cell in row.values())
    # The filter buttons survive too (headless LibreOffice keeps no view settings, so the
    # frozen header is checked in test_export_xlsx.py instead).
    assert sheet.auto_filter.ref and sheet.auto_filter.ref.startswith("A1:")


def squeezed(text: str) -> str:
    """Text without its spaces: at a printout's small scale the PDF's glyph spacing makes
    the text extraction put spaces inside words ("Seco nd  line")."""
    return "".join(text.split())


def pdf_pieces(page) -> list[tuple[float, float, str]]:
    """The page's text as LibreOffice drew it: (height on the page, x, text without spaces),
    top first, then left to right."""
    pieces = []

    def piece(text, cm, tm, font, size) -> None:
        if text.strip():
            x, y = cm[4] + tm[4] * cm[0], cm[5] + tm[5] * cm[3]
            pieces.append((round(y, 1), round(x, 1), squeezed(text)))

    page.extract_text(visitor_text=piece)
    return sorted(pieces, key=lambda p: (-p[0], p[1]))


def test_the_printed_workbook_shows_whole_messages_and_the_labels_on_every_page(
    app, staff_client, soffice, tmp_path
):
    """Printed from LibreOffice: landscape, every column on one page wide, the label row at
    the top of each page, and a six-line message on six lines (a one-line row would show
    only part of it)."""
    message = "First line\nSecond line\nThird line\nFourth line\nFifth line\nSixth line"
    make_lead(app, email="six@example.com", message=message, days_ago=1)
    # One long paragraph, wrapped by the spreadsheet to the column's width.
    paragraph = " ".join(f"pain{n:02}" for n in range(60))
    make_lead(app, email="long@example.com", message=paragraph, days_ago=0.5)
    # Enough tall rows after it for a second page.
    many = "\n".join(f"Line {n} of a long message" for n in range(30))
    for n in range(30):
        make_lead(app, email=f"p{n}@example.com", message=many)
    source = tmp_path / "leads.xlsx"
    with staff_client.get("/staff/leads/export.xlsx") as response:
        source.write_bytes(response.get_data())
    pages = PdfReader(convert(soffice, source, "pdf:calc_pdf_Export")).pages
    leads_pages = []
    for page in pages:
        pieces = pdf_pieces(page)
        top = [text for y, _, text in pieces if y == pieces[0][0]]
        if top == [squeezed(label) for label in LABELS]:
            assert page.mediabox.width > page.mediabox.height, "landscape"
            leads_pages.append(pieces)
    # The Leads sheet's pages each start with every label, in order, on one line: one page
    # wide, the label row repeated.
    assert len(leads_pages) >= 2
    # The six-line message (the oldest lead, last row) shows all six lines, one under the
    # other, and the text below them in its column is nothing else.
    (x,) = [x for _, x, text in leads_pages[-1] if text == "Firstline"]
    column = [text for _, left, text in leads_pages[-1] if abs(left - x) < 0.5]
    at = column.index("Firstline")
    assert column[at:] == [squeezed(line) for line in message.splitlines()]
    # Every word of the long paragraph is on the printout, in its column, in order.
    shown = "".join(
        text
        for page in leads_pages
        for _, left, text in page
        if abs(left - x) < 0.5 and text.startswith("pain")
    )
    assert shown == squeezed(paragraph)
