"""The exports opened in a real spreadsheet: LibreOffice Calc, headless, as marketing opens
them. The CSV through the Text Import choices docs/staff.md gives (UTF-8, comma), and the
workbook as it comes; each is saved back as .xlsx and read with openpyxl to see what the
spreadsheet made of every cell."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

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


def through_calc(soffice: str, source: Path, infilter: str | None = None):
    """`source` opened in LibreOffice Calc and saved as .xlsx; returns its first sheet."""
    out = source.parent / "calc"
    command = [
        soffice,
        f"-env:UserInstallation=file://{source.parent / 'profile'}",
        "--headless",
        "--convert-to",
        "xlsx:Calc MS Excel 2007 XML",
        "--outdir",
        str(out),
    ]
    if infilter:
        command.append(f"--infilter={infilter}")
    subprocess.run([*command, str(source)], check=True, capture_output=True, timeout=180)
    saved = out / (source.stem + ".xlsx")
    assert saved.exists(), f"LibreOffice did not open {source.name}"
    return openpyxl.load_workbook(saved).worksheets[0]


def by_email(sheet) -> dict[str, dict[str, openpyxl.cell.Cell]]:
    rows = sheet.iter_rows()
    header = [cell.value for cell in next(rows)]
    table = [dict(zip(header, row, strict=False)) for row in rows]
    return {row["email"].value: row for row in table}


def _leads(app) -> None:
    make_lead(app, email="jose@example.com", first_name="José", last_name="Núñez")
    make_lead(
        app,
        email="li@example.com",
        first_name="李",
        last_name="明",
        phone="+442079460958",
        message='=HYPERLINK("http://evil.example","x")',
    )


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
    assert (jose["phone"].value, jose["phone_digits"].value) == ("(312) 867-5309", "13128675309")
    assert jose["phone_digits"].data_type == "s"  # digits kept as text, not 1.3E+10
    assert jose["consent_contact"].value == "yes"
    # Exactly what the patient typed, as text, with no apostrophe added.
    assert li["message"].value == '=HYPERLINK("http://evil.example","x")'
    assert all(cell.data_type != "f" for row in rows.values() for cell in row.values())
    # The filter buttons survive too (headless LibreOffice keeps no view settings, so the
    # frozen header is checked in test_export_xlsx.py instead).
    assert sheet.auto_filter.ref and sheet.auto_filter.ref.startswith("A1:")
