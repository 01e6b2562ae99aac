"""The leads export: a fixed, documented column list, read in keyset batches as typed values
(`ExportPlan.records`), written as a streamed CSV here and as a workbook in export_xlsx.py."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import phonenumbers
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from spine_site import privacy
from spine_site.accounts import audit
from spine_site.extensions import db
from spine_site.leads.intake import BEST_TIMES, CONTACT_METHODS, REASONS
from spine_site.leads.lead_list import STATUS_LABELS, LeadFilter, filter_clauses
from spine_site.models import ContactAttempt, GuideDownload, Lead, Role, User
from spine_site.transaction import atomic
from spine_site.web.i18n import LANGUAGES


@dataclass(frozen=True)
class Column:
    """One column of both export files: `label` heads it, `code` is its stable key for
    imports and formulas, `meaning` says what it holds."""

    code: str
    label: str
    meaning: str
    medical: bool = False  # left out of marketing's files


# Both files, in this order. Importers map the CSV by position: a new column goes at the
# end, and a code is never reused for something else.
COLUMNS: list[Column] = [
    Column("lead_id", "Lead number", "The lead's number"),
    Column("created_at", "Received", "When it was received (clinic time, 2026-11-28 20:18)"),
    Column("form", "Form", "Appointment or Guide"),
    Column("status", "Status", "New, Contacted, Scheduled, Closed, Not a fit"),
    Column("is_spam", "Spam", "yes when quarantined"),
    Column("person_id", "Person number", "Same number = same person (by email)"),
    Column("first_name", "First name", "First name, as typed"),
    Column("last_name", "Last name", "Last name, as typed (appointment requests)"),
    Column("email", "Email", "Email address; the same address is the same person"),
    Column(
        "phone",
        "Phone",
        "As the clinic dials it: (312) 867-5309; abroad 011 44 20 7946 0958",
    ),
    Column(
        "contact_method",
        "Contact by",
        "How to reach them, as the form showed it, e.g. Text message",
    ),
    Column("best_time", "Best time", "Best time to call, as the form showed it, e.g. Morning"),
    Column("reason", "Reason for visit", "As the form showed it", medical=True),
    Column("message", "Message", "The patient's message, as typed", medical=True),
    Column(
        "consent_contact",
        "Consent to contact",
        "yes/no: agreed to be contacted about the request",
    ),
    Column("consent_version", "Consent wording", "Version of the consent wording agreed to"),
    Column("consent_at", "Consent given", "When they agreed (clinic time)"),
    Column(
        "marketing_opt_in",
        "Newsletter",
        "yes/no: asked for further emails, confirmed through the emailed link, and has not "
        "opted out since",
    ),
    Column(
        "marketing_consent_version",
        "Newsletter wording",
        "Version of the newsletter sign-up wording agreed to",
    ),
    *(
        Column(
            f"utm_{tag}", f"UTM {tag}", f"Campaign tag utm_{tag} of the link the visit came in on"
        )
        for tag in ("source", "medium", "campaign", "term", "content")
    ),
    Column("referrer", "Referrer", "Outside page that linked to the site"),
    Column("landing_page", "Landing page", "First page of the visit"),
    Column("source_page", "Form page", "Page the form was on"),
    Column("placement", "Form placement", "embedded (in an article) or page"),
    Column("guide_downloads", "Guide downloads", "How often the guide link was used"),
    Column(
        "marketing_confirmed_at",
        "Newsletter confirmed",
        "When the sign-up was confirmed by email (clinic time)",
    ),
    Column(
        "contact_method_code",
        "Contact by (code)",
        "phone, text or email: the code behind Contact by",
    ),
    Column(
        "best_time_code",
        "Best time (code)",
        "morning, afternoon or evening: the code behind Best time",
    ),
    Column("reason_code", "Reason (code)", "The code behind Reason for visit", medical=True),
    Column("form_code", "Form (code)", "appointment or guide: the code behind Form"),
    Column(
        "status_code",
        "Status (code)",
        "new, contacted, scheduled, closed, not_a_fit: the code behind Status",
    ),
    Column("owner", "Owner", "Who on the desk owns the request (email), if anyone"),
    Column("first_attempt_at", "First try", "First try to reach them (clinic time)"),
    Column("first_reached_at", "First reached", "First time they were reached (clinic time)"),
    Column("attempts", "Tries", "How many tries so far"),
    Column("next_follow_up_at", "Next try due", "When the next try is due (clinic time)"),
    Column(
        "phone_international",
        "Phone, international",
        "Country code, then the number: 1 312-867-5309, 44 20 7946 0958 (E.164 without the "
        "+, which a spreadsheet would take for a formula)",
    ),
    Column(
        "phone_extension",
        "Extension",
        "The extension to dial once the number answers, as ext. 4 (a spreadsheet keeps it as "
        "text, leading zeros and all); empty when there is none",
    ),
    Column(
        "language",
        "Language",
        "English or Spanish: the language of the pages the request came from, and of the "
        "clinic's emails to them",
    ),
]
MEDICAL_COLUMNS = {c.code for c in COLUMNS if c.medical}
# Columns whose model attribute has another name.
_ATTRIBUTE = {
    "lead_id": "id",
    "contact_method_code": "contact_method",
    "best_time_code": "best_time",
    "reason_code": "reason",
    "form_code": "form",
    "status_code": "status",
}
# Filled from the query, not from a Lead attribute.
_COMPUTED = {"guide_downloads", "attempts", "owner", "phone_international", "phone_extension"}
# Choices as the words the patient picked; the codes stay in the *_code columns, so a formula
# keyed on them survives a change of wording. The form's lazy labels, read here at import
# outside any request, are the English words staff read.
CHOICE_LABELS: dict[str, dict[str, str]] = {
    "contact_method": {code: str(label) for code, label in CONTACT_METHODS},
    "best_time": {code: str(label) for code, label in BEST_TIMES},
    "reason": {code: str(label) for code, label in REASONS},
    "form": {"appointment": "Appointment", "guide": "Guide"},
    "status": STATUS_LABELS,
    "language": LANGUAGES,
}
# OWASP's CSV injection list: Excel runs a cell that starts with one of these as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def columns_for(role: Role) -> list[Column]:
    return [c for c in COLUMNS if role is not Role.MARKETING or not c.medical]


def neutralize(value: str) -> str:
    """Prefix a cell that could run as a formula with ' (OWASP), so a spreadsheet shows it as
    text; the ' before one of FORMULA_START is the export's, any other is the value's own."""
    return "'" + value if value.startswith(FORMULA_START) else value


def csv_document(rows: Iterable[Sequence[str]]) -> str:
    """A small CSV file in one piece: a BOM (for Excel), every cell neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([neutralize(cell) for cell in row])
    return "\ufeff" + buffer.getvalue()


def phone_cells(e164: str | None) -> tuple[str | None, str | None]:
    """(as the clinic dials it, international). Both stay text in a spreadsheet: no leading
    + (a formula mark) and never digits alone (which become a number, 4.42079E+11)."""
    if not e164:
        return None, None
    digits = "".join(ch for ch in e164 if ch.isdigit())
    if len(digits) == 11 and e164.startswith("+1"):
        # North American numbers (nearly all here), formatted without phonenumbers' parse,
        # which costs as much as the rest of the row.
        area, exchange, line = digits[1:4], digits[4:7], digits[7:]
        return f"({area}) {exchange}-{line}", f"1 {area}-{exchange}-{line}"
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164, e164
    international = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    dialled = phonenumbers.format_out_of_country_calling_number(number, "US")
    return dialled.removeprefix("1 "), international.removeprefix("+")


def _cell(value: object, zone: ZoneInfo) -> str:
    """One CSV cell: yes/no, clinic time as 2026-11-28 20:18:00 (which LibreOffice and
    Excel both read as a date and time), text neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
    if hasattr(value, "value"):  # enums
        return str(value.value)
    return neutralize(str(value))


@atomic()
def start_export(f: LeadFilter, user: User, file_format: str = "csv") -> ExportPlan:
    """Fix the rows of a leads export and record it in the audit log (committed) before a
    byte is sent."""
    plan = ExportPlan(f, user.role)
    filters = f.as_dict()
    if "q" in filters:
        # The search words are often a patient's name or number: the log says only that
        # there was a search, so an erasure leaves nothing of the person behind.
        filters["q"] = "(search)"
    audit.record(
        "export",
        user=user,
        detail={
            "filters": filters,
            "rows": plan.row_count,
            "role": user.role.value,
            "format": file_format,
        },
    )
    return plan


class ExportPlan:
    """The rows an export will contain, fixed before streaming starts (for the audit)."""

    def __init__(self, f: LeadFilter, role: Role) -> None:
        self.filter = f
        self.columns = columns_for(role)
        clauses = filter_clauses(f)
        # Leads that arrive while the file streams are left for the next export, so the
        # row count recorded in the audit log is the count delivered.
        self.max_id = db.session.scalar(select(func.max(Lead.id)).where(*clauses)) or 0
        self.clauses = [*clauses, Lead.id <= self.max_id]
        self.row_count = (
            db.session.scalar(select(func.count()).select_from(Lead).where(*self.clauses)) or 0
        )

    def _values(
        self, lead: Lead, computed: list[object], suppressed_at: datetime | None
    ) -> dict[str, object]:
        """One lead's cells, before formatting: labels for choices, the computed columns."""
        values = {
            c.code: getattr(lead, _ATTRIBUTE.get(c.code, c.code), None)
            for c in self.columns
            if c.code not in _COMPUTED
        }
        values["guide_downloads"], values["attempts"], values["owner"] = computed
        values["phone"], values["phone_international"] = phone_cells(lead.phone)
        values["phone_extension"] = f"ext. {lead.phone_extension}" if lead.phone_extension else None
        for column, labels in CHOICE_LABELS.items():
            code = values.get(column)
            if code is not None:
                values[column] = labels.get(code, code)
        # Yes only for a confirmed sign-up (double opt-in) that no unsubscribe or erasure
        # has overtaken since: the suppression list wins.
        state = privacy.newsletter_state_given(lead, suppressed_at)
        values["marketing_opt_in"] = state is privacy.Newsletter.CONFIRMED
        return values

    def records(self, batch: int = 1000) -> Iterator[list[list[object]]]:
        """Batches of rows, newest first, as typed values in `self.columns` order (None for
        empty), each batch read in its own short transaction."""
        db.session.rollback()
        downloads, tries = (
            select(func.count()).where(model.lead_id == Lead.id).scalar_subquery()
            for model in (GuideDownload, ContactAttempt)
        )
        owner = aliased(User)
        # Keyset pages (id < last) keep memory flat however many leads there are.
        last_id = self.max_id + 1
        while True:
            chunk = db.session.execute(
                select(Lead, downloads, tries, owner.email)
                .outerjoin(owner, owner.id == Lead.owner_id)
                .where(*self.clauses, Lead.id < last_id)
                .order_by(Lead.id.desc())
                .limit(batch)
            ).all()
            if not chunk:
                break
            opted_out = privacy.suppressed_since({row[0].email for row in chunk})
            rows = []
            for lead, *computed in chunk:
                values = self._values(lead, computed, opted_out.get(lead.email))
                rows.append([values[c.code] for c in self.columns])
            last_id = chunk[-1][0].id
            db.session.expunge_all()
            # End the read before handing the batch over: a slow download must not keep a
            # transaction (on SQLite, the write lock) open while the client reads.
            db.session.rollback()
            yield rows

    def rows(self, zone: ZoneInfo, batch: int = 1000) -> Iterator[str]:
        """CSV text: a BOM (for Excel), the labels, then one line per lead, newest first."""
        buffer = io.StringIO()
        writer = csv.writer(buffer)

        def flush() -> str:
            text = buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            return text

        writer.writerow([c.label for c in self.columns])
        yield "\ufeff" + flush()
        for rows in self.records(batch):
            writer.writerows([_cell(value, zone) for value in row] for row in rows)
            yield flush()
