"""The leads CSV: filters, a fixed column list, safe cells, exact round trip, audit, and a
download that streams without holding up patients."""

from __future__ import annotations

import csv
import io
import threading
import time

from sqlalchemy import select

from spine_site.extensions import db
from spine_site.leads.export import COLUMNS, MEDICAL_COLUMNS, neutralize
from spine_site.leads.intake import BEST_TIMES, CONTACT_METHODS
from spine_site.models import AuditEvent, Lead
from tests.factories import make_lead
from tests.html_forms import GUIDE, fill, form_posting_to

CODE_OF = {c.label: c.code for c in COLUMNS}
LABEL_OF = {c.code: c.label for c in COLUMNS}


def read_csv(response) -> list[dict[str, str]]:
    """The rows, keyed by column code (the header row holds the labels)."""
    body = response.get_data()
    assert body.startswith("\ufeff".encode()), "UTF-8 BOM so Excel reads it as UTF-8"
    rows = csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline=""))
    return [{CODE_OF[label]: value for label, value in row.items()} for row in rows]


def test_export_has_the_documented_columns_in_order(app, staff_client):
    make_lead(app, email="patient1@example.com")
    response = staff_client.get("/staff/leads/export.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.is_streamed
    header = next(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert header == [c.label for c in COLUMNS]


def test_the_header_row_holds_the_words_people_read_not_column_codes(app, staff_client):
    make_lead(app, email="patient1@example.com")
    header = next(csv.reader(io.StringIO(read_body(staff_client))))
    assert header[:3] == ["Lead number", "Received", "Form"]
    for label in ("Newsletter confirmed", "Phone, international", "First name", "Tries"):
        assert label in header
    codes = {c.code for c in COLUMNS}
    assert codes.isdisjoint(header), "no column code such as created_at in the header"
    assert len(set(header)) == len(header), "each label names one column"


# The column ids as documented before the code columns were added: stable, in this order.
DOCUMENTED_IDS = [
    "lead_id",
    "created_at",
    "form",
    "status",
    "is_spam",
    "person_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "contact_method",
    "best_time",
    "reason",
    "message",
    "consent_contact",
    "consent_version",
    "consent_at",
    "marketing_opt_in",
    "marketing_consent_version",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "referrer",
    "landing_page",
    "source_page",
    "placement",
    "guide_downloads",
    "marketing_confirmed_at",
]


def test_column_ids_stay_put_and_new_ones_come_last(app, staff_client):
    """Importers map the CSV by position: its labels follow the documented codes' order."""
    make_lead(app, email="patient1@example.com")
    header = next(csv.reader(io.StringIO(read_body(staff_client))))
    codes = [c.code for c in COLUMNS]
    assert header == [LABEL_OF[code] for code in codes]
    assert codes[: len(DOCUMENTED_IDS)] == DOCUMENTED_IDS
    assert codes[len(DOCUMENTED_IDS) :] == [
        "contact_method_code",
        "best_time_code",
        "reason_code",
        "form_code",
        "status_code",
        "owner",
        "first_attempt_at",
        "first_reached_at",
        "attempts",
        "next_follow_up_at",
        "phone_international",
        "phone_extension",
        "language",
    ]


def read_body(client, path: str = "/staff/leads/export.csv") -> str:
    return client.get(path).get_data().decode("utf-8-sig")


def test_choices_read_as_the_labels_the_patient_picked_with_codes_at_the_end(app, staff_client):
    """Labels, never codes, where staff read: "Text message", not "text" (issue 12)."""
    make_lead(app, email="a@example.com", contact_method="text", best_time="evening")
    make_lead(app, email="b@example.com", reason="stenosis", contact_method="email")
    make_lead(app, email="c@example.com", contact_method=None, best_time=None, reason=None)
    rows = {row["email"]: row for row in read_csv(staff_client.get("/staff/leads/export.csv"))}
    texted = rows["a@example.com"]
    assert texted["contact_method"] == "Text message"
    assert texted["best_time"] == dict(BEST_TIMES)["evening"] != "evening"
    assert texted["reason"] == "Sciatica"
    assert (texted["contact_method_code"], texted["best_time_code"]) == ("text", "evening")
    assert texted["reason_code"] == "sciatica"
    emailed = rows["b@example.com"]
    assert (emailed["contact_method"], emailed["best_time"]) == (
        "Email",
        dict(BEST_TIMES)["morning"],
    )
    assert (emailed["reason"], emailed["reason_code"]) == ("Spinal stenosis", "stenosis")
    # Nothing chosen stays empty (the form's "No preference", "Any time"), codes too.
    unset = rows["c@example.com"]
    assert [unset[c] for c in ("contact_method", "best_time", "reason")] == ["", "", ""]
    codes = ("contact_method_code", "best_time_code", "reason_code")
    assert [unset[c] for c in codes] == ["", "", ""]
    # Every label the form offers, for every code.
    for code, _ in CONTACT_METHODS:
        make_lead(app, email=f"{code}@example.com", contact_method=code)
    rows = {row["email"]: row for row in read_csv(staff_client.get("/staff/leads/export.csv"))}
    for code, label in CONTACT_METHODS:
        assert rows[f"{code}@example.com"]["contact_method"] == label


def test_a_stored_value_the_form_no_longer_offers_is_exported_as_stored(app, staff_client):
    make_lead(app, email="a@example.com", contact_method="fax", reason="=cmd")
    (row,) = read_csv(staff_client.get("/staff/leads/export.csv"))
    assert (row["contact_method"], row["contact_method_code"]) == ("fax", "fax")
    assert row["reason"] == row["reason_code"] == "'=cmd"  # still neutralised


def test_values_round_trip_exactly_through_pythons_csv(app, staff_client):
    tricky = 'He said "it hurts", then, after a pause,\nleft.\nÜber-café ✓'
    lead_id = make_lead(
        app, email="patient1@example.com", message=tricky, first_name="Zoë", last_name="O'Brien, Jr"
    )
    (row,) = read_csv(staff_client.get("/staff/leads/export.csv"))
    assert row["lead_id"] == str(lead_id)
    assert row["message"] == tricky
    assert (row["first_name"], row["last_name"]) == ("Zoë", "O'Brien, Jr")
    assert row["email"] == "patient1@example.com"
    assert row["reason"] == "Sciatica" and row["consent_contact"] == "yes"
    assert row["source_page"] == "/schedule" and row["placement"] == "page"


def test_formula_cells_are_neutralised(app, staff_client):
    make_lead(
        app,
        email="patient1@example.com",
        message='=HYPERLINK("http://evil")',
        first_name="@SUM(A1)",
        last_name="-2+3",
    )
    (row,) = read_csv(staff_client.get("/staff/leads/export.csv"))
    assert row["message"] == '\'=HYPERLINK("http://evil")'
    assert row["first_name"] == "'@SUM(A1)" and row["last_name"] == "'-2+3"
    # A phone number is not a formula and needs no apostrophe: as the clinic dials it.
    assert (row["phone"], row["phone_international"]) == ("(312) 867-5309", "1 312-867-5309")
    # OWASP's list, and only it: a value starting with anything else is left as it is.
    for prefix in ("=", "+", "-", "@", "\t", "\r"):
        assert neutralize(prefix + "x") == "'" + prefix + "x"
    for kept in ("plain", "", "'t Hooft", "\0x", "(312) 867-5309", "#1", "%", "x=1"):
        assert neutralize(kept) == kept


def test_dates_are_in_the_clinic_time_zone_written_as_spreadsheets_read_dates(app, staff_client):
    """2026-11-28 20:18:00, not ISO 8601 with T and an offset, which LibreOffice and Excel
    import as text."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    lead_id = make_lead(app, email="patient1@example.com")
    (row,) = read_csv(staff_client.get("/staff/leads/export.csv"))
    with app.app_context():
        created = db.session.get(Lead, lead_id).created_at
    local = created.astimezone(ZoneInfo("America/Chicago")).replace(tzinfo=None, microsecond=0)
    assert datetime.strptime(row["created_at"], "%Y-%m-%d %H:%M:%S") == local
    assert datetime.strptime(row["consent_at"], "%Y-%m-%d %H:%M:%S") == local


def test_phones_carry_no_apostrophe_and_are_never_digits_alone(app, staff_client):
    """Digits alone become a number in a spreadsheet (4.42079E+11), and a leading + needs
    the formula guard's apostrophe: neither phone column is written either way."""
    make_lead(app, email="a@example.com", phone="+12175550101")
    make_lead(app, email="b@example.com", phone="+442079460958")
    make_lead(app, email="c@example.com", phone=None)
    response = staff_client.get("/staff/leads/export.csv")
    body = response.get_data().decode("utf-8-sig")
    rows = {row["email"]: row for row in read_csv(response)}
    assert (rows["a@example.com"]["phone"], rows["a@example.com"]["phone_international"]) == (
        "(217) 555-0101",
        "1 217-555-0101",
    )
    # Abroad: as a US desk dials it (exit code 011), and the country code first.
    assert (rows["b@example.com"]["phone"], rows["b@example.com"]["phone_international"]) == (
        "011 44 20 7946 0958",
        "44 20 7946 0958",
    )
    assert rows["c@example.com"]["phone"] == rows["c@example.com"]["phone_international"] == ""
    assert "'+" not in body and ",'(" not in body and ",'0" not in body and ",'1" not in body
    for row in rows.values():
        for value in (row["phone"], row["phone_international"]):
            assert not value.isdigit(), value


def test_export_follows_the_list_filters(app, staff_client):
    make_lead(app, "guide", email="patient1@example.com")
    make_lead(app, email="patient2@example.com")
    make_lead(app, email="patient3@example.com", spam=True)
    rows = read_csv(staff_client.get("/staff/leads/export.csv?form=appointment"))
    assert [r["email"] for r in rows] == ["patient2@example.com"]
    rows = read_csv(staff_client.get("/staff/leads/export.csv?spam=only"))
    assert [r["email"] for r in rows] == ["patient3@example.com"]
    rows = read_csv(staff_client.get("/staff/leads/export.csv?q=patient1"))
    assert [(r["form"], r["form_code"]) for r in rows] == [("Guide", "guide")]
    rows = read_csv(staff_client.get("/staff/leads/export.csv"))
    assert [r["email"] for r in rows] == ["patient2@example.com", "patient1@example.com"]


def test_marketing_export_has_no_medical_free_text(app, marketing_client):
    make_lead(app, email="patient1@example.com", reason="sciatica", message="Private symptoms")
    response = marketing_client.get("/staff/leads/export.csv")
    body = response.get_data().decode("utf-8-sig")
    (row,) = read_csv(response)
    assert {"reason", "message", "reason_code"} == MEDICAL_COLUMNS
    assert MEDICAL_COLUMNS.isdisjoint(row)
    header = body.splitlines()[0].split(",")
    assert "Reason for visit" not in header and "Message" not in header
    assert "Private symptoms" not in body and "sciatica" not in body.lower()
    assert row["utm_source"] == "" and row["consent_contact"] == "yes"


def test_each_export_is_audited_with_its_filters_and_row_count(app, staff_client):
    make_lead(app, email="patient1@example.com")
    make_lead(app, email="patient2@example.com")
    staff_client.get("/staff/leads/export.csv?status=new&q=patient").get_data()
    with app.app_context():
        (event,) = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export"))
        # The search words themselves are not kept: they are often a patient's name.
        assert event.detail == {
            "filters": {"status": "new", "q": "(search)"},
            "rows": 2,
            "role": "staff",
            "format": "csv",
        }
        assert event.actor == "intake@clinic.example"


def test_export_streams_in_batches(app):
    from spine_site.clock import clinic_zone
    from spine_site.leads.export import ExportPlan
    from spine_site.leads.lead_list import LeadFilter
    from spine_site.models import Role

    for n in range(5):
        make_lead(app, email=f"patient{n}@example.com")
    with app.test_request_context():
        plan = ExportPlan(LeadFilter(), Role.STAFF)
        chunks = list(plan.rows(clinic_zone(), batch=2))
    # BOM + header, then 3 batches of at most 2 rows.
    assert len(chunks) == 4 and plan.row_count == 5
    assert chunks[1].count("\r\n") == 2 and chunks[3].count("\r\n") == 1


def test_a_name_starting_with_an_apostrophe_is_written_as_typed(app, staff_client):
    """An apostrophe is not on OWASP's list: 't Hooft needs no guard, and gets none."""
    make_lead(app, email="patient1@example.com", last_name="'t Hooft")
    body = staff_client.get("/staff/leads/export.csv").get_data().decode("utf-8-sig")
    assert ",'t Hooft," in body and "''t" not in body


def test_a_paused_export_download_does_not_block_patients(app, staff_client):
    for n in range(3):
        make_lead(app, email=f"patient{n}@example.com")
    response = staff_client.get("/staff/leads/export.csv?spam=include", buffered=False)
    chunks = iter(response.response)
    header = next(chunks)
    first_batch = next(chunks)  # rows were read from the database; the client stops reading
    # The patient is another request on another thread, as on a real server (in this thread
    # Flask would reuse the export's still-open context, and with it its transaction).
    results: list[tuple[int, float]] = []

    def patient_submits() -> None:
        patient = app.test_client()
        fields = form_posting_to(patient.get("/guide").get_data(as_text=True), "/guide")
        started = time.monotonic()
        status = patient.post("/guide", data=fill(fields, "guide", GUIDE)).status_code
        results.append((status, time.monotonic() - started))

    worker = threading.Thread(target=patient_submits)
    worker.start()
    worker.join(30)
    ((status, elapsed),) = results
    assert status == 303 and elapsed < 2
    rest = b"".join(chunks)
    response.close()
    assert header.count(b"\r\n") == 1
    assert (first_batch + rest).count(b"\r\n") == 3


def _confirmed_guide_lead(app, **fields) -> int:
    """A guide request with the further-emails box ticked, confirmed through the emailed
    link (double opt-in: unconfirmed, the export says "no")."""
    from spine_site import privacy

    lead_id = make_lead(app, "guide", opt_in=True, **fields)
    with app.app_context():
        privacy.confirm_newsletter(db.session.get(Lead, lead_id))
    return lead_id


def _opt_in_column(staff_client) -> dict[str, str]:
    rows = read_csv(staff_client.get("/staff/leads/export.csv"))
    return {row["email"]: row["marketing_opt_in"] for row in rows}


def test_export_shows_no_opt_in_for_an_address_that_opted_out_since(app, staff_client):
    from spine_site import privacy
    from spine_site.leads.people import email_hash
    from spine_site.models import Suppression

    asked = _confirmed_guide_lead(app, email="grace@example.org", days_ago=2)
    _confirmed_guide_lead(app, email="alan@example.org", days_ago=2)
    assert _opt_in_column(staff_client) == {"grace@example.org": "yes", "alan@example.org": "yes"}
    with app.app_context():
        # An opt-out recorded after the request (a one-click unsubscribe that raced the
        # request's commit leaves exactly this: the lead's flag still set).
        db.session.add(Suppression(email_hash=email_hash("Grace@Example.org")))
        db.session.commit()
        assert db.session.get(Lead, asked).marketing_opt_in is True
        assert "GRACE@example.org" in privacy.suppressed_since(["GRACE@example.org"])
    assert _opt_in_column(staff_client) == {"grace@example.org": "no", "alan@example.org": "yes"}


def test_a_new_request_with_the_box_ticked_is_new_consent_after_erasure(app, staff_client):
    from spine_site import privacy
    from spine_site.models import Person, User

    first = make_lead(app, "guide", email="grace@example.org", opt_in=True, days_ago=30)
    with app.app_context():
        person = db.session.get(Lead, first).person
        admin = db.session.scalars(select(User)).first()
        privacy.erase_person(person, by=admin)
        assert db.session.scalars(select(Person)).all() == []
    # The hashed opt-out outlives the erasure; a later request says anew what she wants.
    make_lead(app, "guide", email="grace@example.org", opt_in=False)
    assert _opt_in_column(staff_client) == {"grace@example.org": "no"}
    _confirmed_guide_lead(app, email="grace@example.org", first_name="G")
    rows = read_csv(staff_client.get("/staff/leads/export.csv"))
    assert sorted(row["marketing_opt_in"] for row in rows) == ["no", "yes"]


def test_status_reads_as_a_label_and_the_desk_columns_are_filled(app, staff_client):
    from spine_site.desk import attempts
    from spine_site.extensions import db
    from spine_site.models import AttemptChannel, AttemptOutcome, Lead, LeadStatus, User

    lead_id = make_lead(app, email="a@example.com")
    with app.test_request_context():
        lead = db.session.get(Lead, lead_id)
        me = db.session.scalar(select(User).where(User.email == "intake@clinic.example"))
        attempts.record_attempt(lead, AttemptChannel.CALL, AttemptOutcome.NO_ANSWER, by=me)
        lead.status = LeadStatus.NOT_A_FIT
        db.session.commit()
    (row,) = read_csv(staff_client.get("/staff/leads/export.csv"))
    assert (row["status"], row["status_code"]) == ("Not a fit", "not_a_fit")
    assert row["owner"] == "intake@clinic.example" and row["attempts"] == "1"
    assert row["first_attempt_at"] and not row["first_reached_at"]


def test_the_file_is_dated_by_the_clinics_day_not_the_servers(app, staff_client, monkeypatch):
    """20:18 on the 28th in Chicago is already the 29th in UTC: the file says the 28th."""
    from datetime import UTC, datetime

    from spine_site.staff import lead_views

    monkeypatch.setattr(lead_views, "utcnow", lambda: datetime(2026, 11, 29, 2, 18, tzinfo=UTC))
    make_lead(app, email="a@example.com")
    response = staff_client.get("/staff/leads/export.csv")
    disposition = response.headers["Content-Disposition"]
    assert "leads-2026-11-28.csv" in disposition and "2026-11-29" not in disposition
    response.close()


def test_docs_list_every_column_with_its_label_and_code_in_order():
    """docs/staff.md's column table is what importers read: codes in COLUMNS' order, each
    row naming the labels of its codes."""
    import re
    from pathlib import Path

    doc = (Path(__file__).parent.parent / "docs" / "staff.md").read_text()
    table = doc.split("Columns, in order")[1].split("\n\n")[1]
    documented: list[tuple[str, str]] = []
    for line in table.splitlines()[2:]:
        labels, codes, _ = line.strip("|").split(" | ", 2)
        documented += [(labels, code) for code in re.findall(r"`([a-z_]+)`", codes)]
    assert [code for _, code in documented] == [c.code for c in COLUMNS]
    for labels, code in documented:
        assert LABEL_OF[code] in labels, code
