"""The leads export as an Excel workbook: the CSV's columns and rows as typed cells, laid out
for reading and printing.

openpyxl's write-only mode writes each row to a temporary file as it comes, so memory stays
flat at any number of leads; the finished workbook is then sent from that file.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from datetime import datetime
from typing import IO, Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from spine_site.leads.export import CHOICE_LABELS, FORMULA_START, Column, ExportPlan

# The write-only sheet `Workbook(write_only=True).create_sheet()` gives: openpyxl names its
# class only in a private module.
Sheet = Any

MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DATE_FORMAT = "yyyy-mm-dd hh:mm"
# Long free text, wrapped at this many characters; its row grows to show all of it.
WRAPPED = {"reason": 34, "message": 50}
# Widths in characters (Excel's unit: the width of a digit) for what a column holds. A column
# is never narrower than its label, and a choice column fits its longest choice.
_WIDTHS = {
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
    "phone": 20,
    "referrer": 30,
    "landing_page": 30,
    "source_page": 18,
    **WRAPPED,
}
# The workbook's own font (openpyxl's default), named on the header too: a bold font without
# a name is drawn in another typeface by LibreOffice.
HEADER_FONT = Font(name="Calibri", size=11, bold=True)
# Points: a line of 11-point Calibri, the default row; Excel allows rows up to 409 points.
LINE_HEIGHT = 15
MAX_ROW_HEIGHT = 409
# Wrapped text keeps the bottom alignment every other cell has, so a tall row's cells line up
# on its last line; only these cells are styled (openpyxl registers a style per styled cell).
_WRAP = Alignment(wrap_text=True)


def fits(text: str, bold: bool = False) -> float:
    """A width, in Excel's characters, that shows `text` on one line: most letters are
    narrower than a digit, capitals and bold ones wider, and a cell keeps a little margin."""
    return round(len(text) * (1.1 if bold else 1.0) + 1.5, 1)


def column_width(column: Column) -> float:
    """What the column holds, but at least its bold label beside the filter button."""
    choices = CHOICE_LABELS.get(column.code, {}) if column.code not in WRAPPED else {}
    content = max((fits(label) for label in choices.values()), default=0)
    return max(_WIDTHS.get(column.code, 0), content, fits(column.label, bold=True) + 2.5)


def line_count(text: str, width: float) -> int:
    """How many lines `text` takes wrapped at `width`: its own line breaks, and words
    wrapped at one character per unit of width (letters are mostly narrower than digits, so
    this errs towards a taller row rather than a cut-off one)."""
    per_line = max(int(width) - 1, 1)
    if len(text) <= per_line and "\n" not in text and "\r" not in text:
        return 1  # most cells: no need to wrap anything
    return max(sum(len(textwrap.wrap(part, per_line)) or 1 for part in text.splitlines()), 1)


def _text(value: str, sheet: Sheet, alignment: Alignment | None = None) -> str | WriteOnlyCell:
    """A text cell that stays text, without the control codes XML cannot hold. One starting
    like a formula gets Excel's quote prefix: openpyxl would store "=..." as a formula, and
    Excel would turn any of them into one when the cell is edited."""
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    guarded = value.startswith(FORMULA_START)
    if not guarded and alignment is None:
        return value
    cell = WriteOnlyCell(sheet, value)
    if guarded:
        cell.data_type = "s"
        cell.quotePrefix = True
    if alignment is not None:
        cell.alignment = alignment
    return cell


class _Cells:
    """Turns the export's typed values into cells, sharing one style per kind."""

    def __init__(self, sheet: Sheet, zone: ZoneInfo, columns: Sequence[Column]) -> None:
        self.sheet = sheet
        self.zone = zone
        self.wrapped = {i: WRAPPED[c.code] for i, c in enumerate(columns) if c.code in WRAPPED}

    def height(self, values: Sequence[object]) -> float | None:
        """Points for a row whose wrapped text takes more than one line; None for one line."""
        lines = max(
            (
                line_count(values[i], width)
                for i, width in self.wrapped.items()
                if isinstance(values[i], str)
            ),
            default=1,
        )
        return min(lines * LINE_HEIGHT, MAX_ROW_HEIGHT) if lines > 1 else None

    def row(self, values: Sequence[object]) -> list[object]:
        """The row's cells: typed values, the long-text columns wrapped."""
        cells: list[object] = []
        for index, value in enumerate(values):
            if isinstance(value, bool):
                # Words, as in the CSV: LibreOffice shows a boolean cell as 0 or 1.
                value = "yes" if value else "no"
            elif hasattr(value, "value") and not isinstance(value, datetime):  # enums
                value = str(value.value)
            if isinstance(value, datetime):
                cells.append(self.date(value))
            elif isinstance(value, str):
                cells.append(_text(value, self.sheet, _WRAP if index in self.wrapped else None))
            else:
                cells.append(value)
        return cells

    def date(self, value: datetime) -> WriteOnlyCell:
        # Spreadsheets have no time zones: the clinic's wall-clock time, as the CSV shows.
        local = value.astimezone(self.zone).replace(tzinfo=None, microsecond=0)
        cell = WriteOnlyCell(self.sheet, local)
        cell.number_format = DATE_FORMAT
        return cell


def _header(sheet: Sheet, labels: Sequence[str]) -> list[WriteOnlyCell]:
    cells = []
    for label in labels:
        cell = WriteOnlyCell(sheet, label)
        cell.font = HEADER_FONT
        cells.append(cell)
    return cells


def _about_sheet(book: Workbook, columns: Sequence[Column]) -> None:
    """A second sheet saying what each column holds (the same words as docs/staff.md), with
    its code: the stable key an import can map by."""
    about = book.create_sheet("Columns")
    widths = (24, 26, 90)
    for letter, width in zip("ABC", widths, strict=True):
        about.column_dimensions[letter].width = width
    about.append(_header(about, ["Column", "Code", "What it holds"]))
    for row_number, column in enumerate(columns, start=2):
        lines = line_count(column.meaning, widths[2])
        if lines > 1:
            about.row_dimensions[row_number].height = lines * LINE_HEIGHT
        cells = [WriteOnlyCell(about, v) for v in (column.label, column.code, column.meaning)]
        for cell in cells:
            cell.alignment = _WRAP
        about.append(cells)


def _page_setup(sheet: Sheet) -> None:
    """Printed across: landscape, every column on one page wide (as many pages down as the
    rows need), the label row at the top of each page."""
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_title_rows = "1:1"


def write_workbook(plan: ExportPlan, zone: ZoneInfo, target: IO[bytes], title: str) -> None:
    book = Workbook(write_only=True)
    book.properties.title = title
    book.properties.creator = "spine_site"
    sheet = book.create_sheet("Leads")
    columns = plan.columns
    # Write-only sheets take their layout before the first row.
    for index, column in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = column_width(column)
    sheet.freeze_panes = "A2"
    last = get_column_letter(len(columns))
    sheet.auto_filter.ref = f"A1:{last}{plan.row_count + 1}"
    _page_setup(sheet)
    sheet.append(_header(sheet, [c.label for c in columns]))
    cells = _Cells(sheet, zone, columns)
    row_number = 1
    for rows in plan.records():
        for row in rows:
            row_number += 1
            height = cells.height(row)
            if height is not None:
                # Read when the row is written, then dropped: memory stays flat.
                sheet.row_dimensions[row_number].height = height
            sheet.append(cells.row(row))
            sheet.row_dimensions.pop(row_number, None)
    _about_sheet(book, columns)
    book.save(target)
