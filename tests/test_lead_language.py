"""A lead's language on the staff side: the desk sees a Spanish request wherever it works on
it, the list filters by language, both exports carry it, and analytics splits by it."""

from __future__ import annotations

import csv
import io
import re

import openpyxl
import pytest
from sqlalchemy import select

from spine_site import clock
from spine_site.analytics import intake_report, reports
from spine_site.extensions import db
from spine_site.leads.export import COLUMNS
from spine_site.models import AttemptOutcome, AuditEvent, Lead
from tests.factories import make_lead, make_user
from tests.html_forms import SCHEDULE, fill, form_posting_to
from tests.support import export_rows, login
from tests.test_analytics import BROWSER, metrics

ALWAYS_OPEN = {"CLINIC_HOURS": "Mo-Su 00:00-24:00"}
INTAKE = "intake@clinic.example"
LABEL_OF = {c.code: c.label for c in COLUMNS}


@pytest.fixture
def desk(app_factory):
    """An always-open clinic, a signed-in intake client, an English and a Spanish request."""
    app = app_factory(**ALWAYS_OPEN)
    make_user(app, INTAKE, "staff")
    client = app.test_client()
    assert login(client, INTAKE).status_code == 303
    english = make_lead(app, first_name="Ada", email="ada@example.com")
    spanish = make_lead(
        app, first_name="Lucía", last_name="Pérez", email="lucia@example.com", language="es"
    )
    return app, client, english, spanish


def card_of(page: str, name: str) -> str:
    """The queue card whose title is `name`."""
    cards = re.findall(
        r'<li class="queue-card[^"]*">.*?</li>\s*(?=<li class="queue-card|</ol>)', page, re.S
    )
    (card,) = [c for c in cards if f">{name}</a>" in c]
    return card


def section(page: str, heading_id: str) -> str:
    """A lead page's section, from the heading with this id to the section's end."""
    start = page.index(f'id="{heading_id}"')
    return page[start : page.index("</section>", start)]


def workbook(client, path: str) -> openpyxl.Workbook:
    with client.get(path) as response:  # closes the file it was sent from
        assert response.status_code == 200
        return openpyxl.load_workbook(io.BytesIO(response.get_data()))


# -- The desk ---------------------------------------------------------------------------------


def test_a_spanish_request_says_so_on_its_queue_card_and_an_english_one_says_nothing(desk):
    _, client, _, _ = desk
    page = client.get("/staff/?view=first_contact").get_data(as_text=True)
    spanish = card_of(page, "Lucía Pérez")
    assert '<span class="badge badge-language">Spanish</span>' in spanish
    assert "Spanish — answer in Spanish" in spanish
    english = card_of(page, "Ada Lovelace")
    assert "Spanish" not in english and "English" not in english
    assert "badge-language" not in english


def test_the_lead_page_tells_the_desk_to_answer_in_spanish(desk):
    _, client, english, spanish = desk
    page = client.get(f"/staff/leads/{spanish}").get_data(as_text=True)
    h1 = page[page.index("<h1>") : page.index("</h1>")]
    assert '<span class="badge badge-language">Spanish</span>' in h1
    reach = section(page, "reach-h")
    assert "Speaks Spanish — answer in Spanish." in reach
    # The note comes before the buttons that reach them.
    assert reach.index("Speaks Spanish") < reach.index(">Email</a>")
    assert "<dt>Language</dt><dd>Spanish</dd>" in section(page, "contact-h")

    page = client.get(f"/staff/leads/{english}").get_data(as_text=True)
    assert "<dt>Language</dt><dd>English</dd>" in section(page, "contact-h")
    assert "Speaks" not in page and "badge-language" not in page


def test_the_persons_timeline_marks_the_request_made_in_spanish(desk):
    app, client, _, spanish = desk
    # The same person asks again, in English this time.
    english_again = make_lead(app, "guide", first_name="Lucía", email="lucia@example.com")
    with app.app_context():
        person_id = db.session.get(Lead, spanish).person_id
    page = client.get(f"/staff/people/{person_id}").get_data(as_text=True)
    items = re.findall(r'<li class="timeline-item timeline-request">(.*?)</li>', page, re.S)
    by_lead = {int(re.search(r"request #(\d+)", item)[1]): item for item in items}
    assert set(by_lead) == {spanish, english_again}
    assert '<span class="badge badge-language">Spanish</span>' in by_lead[spanish]
    assert "Spanish" not in by_lead[english_again]
    # The lead page lists the other request with its language.
    page = client.get(f"/staff/leads/{english_again}").get_data(as_text=True)
    assert re.search(rf"#{spanish}</a>: Appointment, [^<]*, New, in Spanish</li>", page)


def test_a_request_sent_from_the_spanish_page_reaches_the_desk_as_spanish(desk):
    app, client, _, _ = desk
    patient = app.test_client()
    page = patient.get("/es/schedule", headers=BROWSER).get_data(as_text=True)
    fields = form_posting_to(page, "/es/schedule")
    data = fill(fields, "appt", {**SCHEDULE, "first_name": "Mateo", "email": "m@example.org"})
    assert patient.post("/es/schedule", data=data, headers=BROWSER).status_code == 303
    queue = client.get("/staff/?view=first_contact").get_data(as_text=True)
    assert '<span class="badge badge-language">Spanish</span>' in card_of(queue, "Mateo Lovelace")


# -- The list and its exports -----------------------------------------------------------------


def names_listed(page: str) -> list[str]:
    return re.findall(r'<a href="/staff/leads/\d+">([^<]+)</a>', page)


def test_the_list_filters_by_language_and_marks_spanish_rows(desk):
    _, client, _, _ = desk
    every = client.get("/staff/?view=all").get_data(as_text=True)
    assert sorted(names_listed(every)) == ["Ada Lovelace", "Lucía Pérez"]
    assert '<select id="language" name="language">' in every
    assert every.count('<span class="badge badge-language">Spanish</span>') == 1

    page = client.get("/staff/?view=all&language=es").get_data(as_text=True)
    assert names_listed(page) == ["Lucía Pérez"]
    assert '<option value="es" selected>Spanish</option>' in page
    page = client.get("/staff/?view=all&language=en").get_data(as_text=True)
    assert names_listed(page) == ["Ada Lovelace"]
    # A language the site does not have is ignored, as any filter value that makes no sense.
    page = client.get("/staff/?view=all&language=xx").get_data(as_text=True)
    assert sorted(names_listed(page)) == ["Ada Lovelace", "Lucía Pérez"]


def test_a_language_link_opens_the_list_not_the_queue(desk):
    _, client, _, _ = desk
    page = client.get("/staff/?language=es").get_data(as_text=True)
    assert names_listed(page) == ["Lucía Pérez"]
    assert "queue-card" not in page


def test_the_export_buttons_carry_the_language_filter_and_the_files_follow_it(desk):
    app, client, _, spanish = desk
    page = client.get("/staff/?view=all&language=es").get_data(as_text=True)
    links = re.findall(r'href="(/staff/leads/export\.(?:csv|xlsx)[^"]*)"', page)
    assert len(links) == 2 and all("language=es" in link for link in links), links
    csv_link = next(link.replace("&amp;", "&") for link in links if ".csv" in link)
    rows = export_rows(client, csv_link)
    assert [(row["lead_id"], row["language"]) for row in rows] == [(str(spanish), "Spanish")]
    xlsx_link = next(link.replace("&amp;", "&") for link in links if ".xlsx" in link)
    sheet = workbook(client, xlsx_link).active
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == [spanish]
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export"))
        assert [e.detail["filters"]["language"] for e in events] == ["es", "es"]


def test_both_exports_end_with_the_language_column(desk):
    _, client, english, spanish = desk
    assert COLUMNS[-1].code == "language" and LABEL_OF["language"] == "Language"
    response = client.get("/staff/leads/export.csv")
    header = next(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert header[-2:] == ["Extension", "Language"]
    rows = {int(row["lead_id"]): row for row in export_rows(client)}
    assert (rows[spanish]["language"], rows[english]["language"]) == ("Spanish", "English")
    # The consent stored names the wording the patient read: the Spanish one ends in -es.
    assert rows[spanish]["consent_version"].endswith("-es")
    assert rows[english]["consent_version"] == rows[spanish]["consent_version"][:-3]

    book = workbook(client, "/staff/leads/export.xlsx")
    sheet = book.active
    labels = [cell.value for cell in sheet[1]]
    assert labels[-1] == "Language"
    values = {row[0]: row[-1] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert values == {spanish: "Spanish", english: "English"}
    about = [row for row in book["Columns"].iter_rows(values_only=True) if row[1] == "language"]
    assert [row[0] for row in about] == ["Language"]


def test_marketing_gets_the_language_too(app, marketing_client):
    make_lead(app, email="es@example.com", language="es")
    (row,) = export_rows(marketing_client)
    assert row["language"] == "Spanish"
    page = marketing_client.get("/staff/?language=es").get_data(as_text=True)
    assert '<span class="badge badge-language">Spanish</span>' in page


# -- Analytics --------------------------------------------------------------------------------


@pytest.fixture
def languages_story(app):
    """Page views in both languages (through the site, as visitors make them) and requests:
    English 1 appointment; Spanish 1 appointment and 2 guides, and one spam, not counted."""
    reader = app.test_client()
    for path, times in (("/", 3), ("/schedule", 2), ("/es/", 2), ("/es/schedule", 4)):
        for _ in range(times):
            assert reader.get(path, headers=BROWSER).status_code == 200, path
    make_lead(app, email="en1@example.com")
    make_lead(app, email="es1@example.com", language="es")
    make_lead(app, "guide", email="es2@example.com", language="es")
    make_lead(app, "guide", email="es3@example.com", language="es")
    make_lead(app, email="spam@example.com", language="es", spam=True)
    return app


def test_analytics_splits_views_and_requests_by_language(languages_story, marketing_client):
    m = metrics(marketing_client.get("/staff/analytics").get_data(as_text=True))
    assert m["views_total"] == "11" and m["leads_total"] == "4"
    english = [m[f"language:en:{k}"] for k in ("views", "appointment", "guide", "requests")]
    assert english == ["5", "1", "0", "1"]
    assert m["language:en:rate"] == "20.0%"
    spanish = [m[f"language:es:{k}"] for k in ("views", "appointment", "guide", "requests")]
    assert spanish == ["6", "1", "2", "3"]
    assert m["language:es:rate"] == "50.0%"
    # The Spanish appointment page is a place of its own, and its views feed the funnel.
    assert (m["place:/es/schedule:views"], m["place:/es/schedule:appointment"]) == ("4", "1")
    assert (m["place:/schedule:views"], m["place:/schedule:appointment"]) == ("2", "1")
    assert m["funnel:appointment:1"] == "6" and m["funnel:appointment:2"] == "2"


def test_the_analytics_csv_has_the_language_rows(languages_story, marketing_client):
    with languages_story.app_context():
        today = clock.clinic_today().isoformat()
    body = marketing_client.get(f"/staff/analytics.csv?from={today}&to={today}")
    rows = list(csv.reader(io.StringIO(body.get_data(as_text=True).lstrip("\ufeff"))))
    table = {(s, i, m): v for s, i, m, v in rows[1:] if s == "by language"}
    assert table == {
        ("by language", "English", "views"): "5",
        ("by language", "English", "appointment leads"): "1",
        ("by language", "English", "guide leads"): "0",
        ("by language", "English", "leads"): "1",
        ("by language", "English", "conversion"): "20.0%",
        ("by language", "Spanish", "views"): "6",
        ("by language", "Spanish", "appointment leads"): "1",
        ("by language", "Spanish", "guide leads"): "2",
        ("by language", "Spanish", "leads"): "3",
        ("by language", "Spanish", "conversion"): "50.0%",
    }


def test_a_language_with_no_views_reads_n_a_not_a_division_by_zero(app):
    make_lead(app, email="es@example.com", language="es")
    with app.app_context():
        today = clock.clinic_today()
        report = reports.build_report(today, today, [])
    by_code = {row.language: row for row in report.by_language}
    assert list(by_code) == ["en", "es"]
    assert (by_code["es"].views, by_code["es"].leads, by_code["es"].rate) == (0, 1, None)
    assert (by_code["en"].leads, by_code["en"].rate) == (0, None)


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("/es", "es"),
        ("/es/schedule", "es"),
        ("/es/articles/x", "es"),
        ("/", "en"),
        ("/estimates", "en"),
        ("/schedule", "en"),
    ],
)
def test_a_views_language_is_its_paths_prefix(path, language):
    assert reports.language_of_path(path) == language


def test_first_contact_is_also_given_per_language(app, marketing_client):
    """The desk's speed with each language's requests (default hours, Mo-Fr 08-17)."""
    from tests.test_intake_analytics import FROM, TO, request

    no_answer, reached = AttemptOutcome.NO_ANSWER, AttemptOutcome.REACHED
    with app.app_context():
        # English: tried after 30 business minutes, reached after 60.
        request(
            "2025-06-04T09:00", (("2025-06-04T09:30", no_answer), ("2025-06-04T10:00", reached))
        )
        # Spanish: reached after 120 minutes (past the target of 60), and after 45.
        request("2025-06-04T09:00", (("2025-06-04T11:00", reached),), language="es")
        request("2025-06-05T09:00", (("2025-06-05T09:45", reached),), language="es")
        report = intake_report.build(FROM, TO)
    assert list(report.by_language) == ["en", "es"]
    english, spanish = report.by_language["en"], report.by_language["es"]
    assert (english.requests, english.within_target, english.measured) == (1, 1, 1)
    assert (english.median_to_attempt, english.median_to_reach) == (30, 60)
    assert (spanish.requests, spanish.within_target, spanish.measured) == (2, 1, 2)
    assert (spanish.median_to_attempt, spanish.median_to_reach) == (82.5, 82.5)
    assert report.total.requests == 3 and report.total.within_target == 2

    query = f"from={FROM.isoformat()}&to={TO.isoformat()}"
    m = metrics(marketing_client.get(f"/staff/analytics?{query}").get_data(as_text=True))
    assert (m["intake:language:es:requests"], m["intake:language:es:within"]) == ("2", "50.0%")
    assert m["intake:language:es:to_attempt"] == "1 h 22 min"  # 82.5: whole minutes, half to even
    assert (m["intake:language:en:requests"], m["intake:language:en:within"]) == ("1", "100.0%")
    body = marketing_client.get(f"/staff/analytics.csv?{query}").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    table = {(s, i, m): v for s, i, m, v in rows[1:]}
    item = "whole period, Spanish requests"
    assert table[("first contact by week", item, "median business minutes to first attempt")] == (
        "82.5"
    )
    assert table[("first contact by week", item, "share first tried within the target")] == (
        "50.0%"
    )


def test_the_morning_digest_says_how_many_waiting_requests_are_in_spanish(app):
    from datetime import date

    from spine_site.desk import digest

    with app.test_request_context():
        make_lead(email="en@example.com")
        make_lead(email="es1@example.com", language="es")
        make_lead(email="es2@example.com", language="es")
        tried = make_lead(email="es3@example.com", language="es")
        make_lead(email="es4@example.com", language="es", spam=True)
        make_lead(form="guide", email="es5@example.com", language="es")  # waits for no call
        db.session.get(Lead, tried).first_attempt_at = clock.utcnow()
        db.session.commit()
        counts = digest.desk_counts()
    assert (counts.waiting, counts.waiting_in) == (3, {"Spanish": 2})
    assert digest.subject(counts).startswith("Intake desk: 3 waiting (2 in Spanish), ")
    with app.app_context():
        message = digest.build_message(counts, app.config)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "2 of them are in Spanish: answer in Spanish." in text
    assert "2 of them in Spanish: answer in Spanish" in html
    assert "es1@example.com" not in text + html  # still counts only
    none_in_spanish = digest.DeskCounts(date(2025, 6, 9), 4, 1, 3, 60)
    assert digest.subject(none_in_spanish) == (
        "Intake desk: 4 waiting, 1 overdue, 3 follow-ups today"
    )
