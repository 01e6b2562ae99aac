"""The leads export as an Excel workbook: the CSV's columns and rows as typed cells.

openpyxl's write-only mode writes each row to a temporary file as it comes, so memory stays
flat at any number of leads; the finished workbook is then sent from that file.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import IO, Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from spine_site.leads.export import COLUMNS, ExportPlan

# The write-only sheet `Workbook(write_only=True).create_sheet()` gives: openpyxl names its
# class only in a private module.
Sheet = Any

MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DATE_FORMAT = "yyyy-mm-dd hh:mm"
# Widths in characters, by what a column holds; anything else fits its header.
_WIDTHS = {
    "lead_id": 9,
    "person_id": 9,
    "created_at": 17,
    "consent_at": 17,
    "marketing_confirmed_at": 17,
    "first_attempt_at": 17,
    "first_reached_at": 17,
    "next_follow_up_at": 17,
    "first_name": 14,
    "last_name": 16,
    "email": 30,
    "owner": 26,
    "phone": 16,
    "phone_digits": 14,
    "reason": 34,
    "message": 50,
    "referrer": 30,
    "landing_page": 30,
    "source_page": 18,
}
_DESCRIPTIONS = dict(COLUMNS)


def _text(value: str, sheet: Sheet) -> str | WriteOnlyCell:
    """A text cell that stays text. Characters XML cannot hold (control codes) are dropped.
    openpyxl would store "=..." as a formula; such a cell is written as a string, with
    Excel's quote prefix so that editing it later does not turn it into one either."""
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if not value.startswith("="):
        return value
    cell = WriteOnlyCell(sheet, value)
    cell.data_type = "s"
    cell.quotePrefix = True
    return cell


class _Cells:
    """Turns the export's typed values into cells, sharing one style per kind."""

    def __init__(self, sheet: Sheet, zone: ZoneInfo) -> None:
        self.sheet = sheet
        self.zone = zone

    def date(self, value: datetime) -> WriteOnlyCell:
        # Spreadsheets have no time zones: the clinic's wall-clock time, as the CSV shows.
        local = value.astimezone(self.zone).replace(tzinfo=None, microsecond=0)
        cell = WriteOnlyCell(self.sheet, local)
        cell.number_format = DATE_FORMAT
        return cell

    def row(self, values: Sequence[object]) -> list[object]:
        cells: list[object] = []
        for value in values:
            if isinstance(value, datetime):
                cells.append(self.date(value))
            elif isinstance(value, str):
                cells.append(_text(value, self.sheet))
            elif isinstance(value, bool):
                # Words, as in the CSV: LibreOffice shows a boolean cell as 0 or 1.
                cells.append("yes" if value else "no")
            elif value is None or isinstance(value, int):
                cells.append(value)
            elif hasattr(value, "value"):  # enums
                cells.append(_text(str(value.value), self.sheet))
            else:
                cells.append(_text(str(value), self.sheet))
        return cells


def _header(sheet: Sheet, columns: Sequence[str]) -> list[WriteOnlyCell]:
    bold = Font(bold=True)
    cells = []
    for column in columns:
        cell = WriteOnlyCell(sheet, column)
        cell.font = bold
        cells.append(cell)
    return cells


def _about_sheet(book: Workbook, columns: Sequence[str]) -> None:
    """A second sheet saying what each column holds (the same words as docs/staff.md)."""
    about = book.create_sheet("Columns")
    about.column_dimensions["A"].width = 26
    about.column_dimensions["B"].width = 90
    wrap = Alignment(wrap_text=True, vertical="top")
    about.append(_header(about, ["column", "what it holds"]))
    for column in columns:
        text = WriteOnlyCell(about, _DESCRIPTIONS[column])
        text.alignment = wrap
        about.append([column, text])


def write_workbook(plan: ExportPlan, zone: ZoneInfo, target: IO[bytes], title: str) -> None:
    """Write the plan's rows to `target` as .xlsx: a frozen, filterable header row, column
    widths, dates as dates, numbers as numbers, yes/no as words, nothing a spreadsheet
    could run."""
    book = Workbook(write_only=True)
    book.properties.title = title
    book.properties.creator = "spine_site"
    sheet = book.create_sheet("Leads")
    columns = plan.columns
    # Write-only sheets take their layout before the first row.
    for index, column in enumerate(columns, start=1):
        width = _WIDTHS.get(column, max(len(column) + 3, 10))
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    last = get_column_letter(len(columns))
    sheet.auto_filter.ref = f"A1:{last}{plan.row_count + 1}"
    sheet.append(_header(sheet, columns))
    cells = _Cells(sheet, zone)
    for rows in plan.records():
        for row in rows:
            sheet.append(cells.row(row))
    _about_sheet(book, columns)
    book.save(target)
