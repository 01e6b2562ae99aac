"""Funnel analytics: a known sequence of visits and requests, and every number it must show."""

from __future__ import annotations

import csv
import html as htmllib
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from spine_site import clock, tokens
from spine_site.analytics import pageviews, reports
from spine_site.desk import casework
from spine_site.extensions import db
from spine_site.mail import outbox
from spine_site.models import (
    AuditEvent,
    FormKind,
    Lead,
    LeadStatus,
    LeadStatusChange,
    PageViewDay,
    User,
)
from tests.factories import make_lead, make_user
from tests.html_forms import GUIDE, SCHEDULE, fill, form_posting_to
from tests.support import login

ARTICLE = "/articles/what-is-a-physiatrist"
OTHER = "/articles/first-spine-visit"
BROWSER = {
    "User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1"
}


def metrics(html: str) -> dict[str, str]:
    """Every figure the page marks with data-metric, as shown."""
    found = re.findall(r'data-metric="([^"]+)"[^>]*>([^<]*)<', html)
    return {htmllib.unescape(k): htmllib.unescape(v).strip() for k, v in found}


class Visitor:
    """One browser: its own cookie jar, a browser User-Agent, optional landing details."""

    def __init__(self, app, views: dict[str, int]) -> None:
        self.client = app.test_client()
        self.views = views

    def get(self, path: str, **headers: str):
        response = self.client.get(path, headers={**BROWSER, **headers})
        assert response.status_code in (200, 304), (path, response.status_code)
        self.views[path.split("?")[0]] = self.views.get(path.split("?")[0], 0) + 1
        return response

    def submit(self, page: str, action: str, prefix: str, values: dict[str, str], **extra):
        fields = form_posting_to(self.get(page).get_data(as_text=True), action)
        data = fill(fields, prefix, {**values, **extra})
        response = self.client.post(action, data=data, headers=BROWSER)
        assert response.status_code == 303, response.get_data(as_text=True)[:500]


@pytest.fixture
def story(app_factory, smtp):
    """The known sequence; returns the app and the views each page was given."""
    app = app_factory(**smtp.config())
    views: dict[str, int] = {}

    # Readers who send nothing.
    reader = Visitor(app, views)
    for _ in range(3):
        reader.get(ARTICLE)
    first = reader.get(OTHER)
    reader.get(OTHER, **{"If-None-Match": first.headers["ETag"]})  # a 304 is a view too
    for _ in range(4):
        reader.get("/guide")
    for _ in range(3):
        reader.get("/schedule")
    reader.get("/")
    reader.get("/privacy")

    # None of these is a reader's view.
    bot = app.test_client()
    bot.get(ARTICLE, headers={"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1)"})
    bot.get(ARTICLE, headers={"User-Agent": "Slackbot-LinkExpanding 1.0"})
    bot.get(ARTICLE, headers={"User-Agent": ""})  # none at all
    bot.get(ARTICLE, headers={"User-Agent": "python-requests/2.32"})
    bot.get(ARTICLE, headers={**BROWSER, "Sec-Purpose": "prefetch"})
    bot.head(ARTICLE, headers=BROWSER)
    bot.get("/articles/no-such-article", headers=BROWSER)
    bot.get("/schedule/thanks", headers=BROWSER)  # not a counted page

    # Requests: A1 and G1 from a newsletter reader, on the article.
    newsletter = Visitor(app, views)
    newsletter.get(f"{ARTICLE}?utm_source=Newsletter&utm_medium=email")
    newsletter.submit(ARTICLE, "/schedule", "appt", SCHEDULE)
    newsletter.submit(ARTICLE, "/guide", "guide", {**GUIDE, "email": "g1@example.org"})
    # A2: a direct reader of the article.
    Visitor(app, views).submit(
        ARTICLE, "/schedule", "appt", {**SCHEDULE, "email": "a2@example.org"}
    )
    # A3: from a search engine, on the appointment page.
    searcher = Visitor(app, views)
    searcher.get("/schedule", Referer="https://www.google.com/search?q=physiatrist")
    searcher.submit("/schedule", "/schedule", "appt", {**SCHEDULE, "email": "a3@example.org"})
    # G2: direct, on the guide page.
    Visitor(app, views).submit("/guide", "/guide", "guide", {**GUIDE, "email": "g2@example.org"})
    # Spam (the honeypot): stored in quarantine, counted nowhere.
    Visitor(app, views).submit(
        ARTICLE, "/schedule", "appt", {**SCHEDULE, "email": "s@example.org"}, website="x"
    )

    intake_id = make_user(app, "intake@clinic.example", "staff")
    with app.app_context():
        rows = db.session.scalars(select(Lead).order_by(Lead.id)).all()
        by_email = {lead.email: lead for lead in rows}
        a1, g1, a2, a3 = (
            by_email[e]
            for e in (
                "Ada.Lovelace@example.com",
                "g1@example.org",
                "a2@example.org",
                "a3@example.org",
            )
        )
        assert [lead.is_spam for lead in rows].count(True) == 1
        # Both guide emails go out; G1's link is used once.
        outbox.deliver_due()
        g1_link = tokens.guide_token(g1.id)
        # A1 contacted 2 h after it came in, then scheduled; A2 contacted after 4 h; A3 waits.
        admin = db.session.get(User, intake_id)
        casework.change_status(a1, LeadStatus.CONTACTED, seen=LeadStatus.NEW, by=admin)
        casework.change_status(a1, LeadStatus.SCHEDULED, seen=LeadStatus.CONTACTED, by=admin)
        casework.change_status(a2, LeadStatus.CONTACTED, seen=LeadStatus.NEW, by=admin)
        db.session.commit()
        # Put the times where the story says (all still today, in the clinic's day).
        today = clock.clinic_today()
        came_in = clock.day_start(today) + timedelta(hours=1)
        for lead in (a1, a2, a3):
            db.session.execute(update(Lead).where(Lead.id == lead.id).values(created_at=came_in))
        for lead, hours in ((a1, 2), (a2, 4)):
            db.session.execute(
                update(LeadStatusChange)
                .where(LeadStatusChange.lead_id == lead.id)
                .values(created_at=came_in + timedelta(hours=hours))
            )
        db.session.commit()
    assert app.test_client().get(f"/guide/download/{g1_link}").status_code == 200
    return app, views, today


def test_every_figure_on_the_page_follows_from_the_story(story):
    app, views, today = story
    client = app.test_client()
    make_user(app, "marketing@clinic.example", "marketing")
    login(client, "marketing@clinic.example")
    response = client.get("/staff/analytics")
    assert response.status_code == 200
    m = metrics(response.get_data(as_text=True))

    article_views = views[ARTICLE]
    assert article_views == 3 + 1 + 4  # readers, the newsletter landing, 4 forms opened
    assert views["/schedule"] == 3 + 1 + 1 and views["/guide"] == 4 + 1
    assert m["views_total"] == str(sum(views.values())) == "22"
    for path, count in views.items():
        assert m[f"page:{path}"] == str(count), path
    assert m[f"day:{today.isoformat()}:views"] == "22"

    assert (m["leads_total"], m["form:appointment"], m["form:guide"]) == ("5", "3", "2")
    assert m[f"day:{today.isoformat()}:appointment"] == "3"
    assert m[f"day:{today.isoformat()}:guide"] == "2"
    assert m["spam"] == "1"

    assert (m[f"place:{ARTICLE}:views"], m[f"place:{ARTICLE}:appointment"]) == ("8", "2")
    assert (m[f"place:{ARTICLE}:guide"], m[f"place:{ARTICLE}:rate"]) == ("1", "37.5%")
    assert (m[f"place:{OTHER}:views"], m[f"place:{OTHER}:rate"]) == ("2", "0.0%")
    assert (m["place:/schedule:views"], m["place:/schedule:appointment"]) == ("5", "1")
    assert m["place:/schedule:rate"] == "20.0%"
    assert (m["place:/guide:views"], m["place:/guide:guide"], m["place:/guide:rate"]) == (
        "5",
        "1",
        "20.0%",
    )
    assert m["best_place"] == "What Is a Physiatrist? (embedded)"

    # Appointment form seen on both articles and its own page: 8 + 2 + 5.
    assert [m[f"funnel:appointment:{i}"] for i in range(1, 5)] == ["15", "3", "2", "1"]
    assert [m[f"funnel:appointment:{i}:rate"] for i in range(2, 5)] == ["20.0%", "66.7%", "50.0%"]
    assert [m[f"funnel:guide:{i}"] for i in range(1, 5)] == ["15", "2", "2", "1"]
    assert m["guide_download_rate"] == "50.0%"

    assert (m["source:newsletter"], m["source:google.com"], m["source:(direct)"]) == ("2", "1", "2")
    assert m["median_first_contact"] == "3 h 0 min" and m["contacted_count"] == "2"

    # The chart draws the same day: 3 appointment and 2 guide requests, stacked.
    svg = re.search(r"<svg class=\"chart\".*?</svg>", response.get_data(as_text=True), re.S)[0]
    bars = dict(re.findall(r'data-form="(\w+)" data-count="(\d+)"', svg))
    assert bars == {"appointment": "3", "guide": "2"}
    assert "<script" not in svg


def test_the_csv_has_the_same_numbers_and_is_audited(story):
    app, _, today = story
    client = app.test_client()
    make_user(app, "admin@clinic.example", "admin")
    login(client, "admin@clinic.example")
    response = client.get(f"/staff/analytics.csv?from={today}&to={today}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.get_data(as_text=True).startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["section", "item", "measure", "value"]
    table = {(s, i, m): v for s, i, m, v in rows[1:]}
    assert table[("totals", "all pages", "views")] == "22"
    assert table[("totals", "all forms", "leads")] == "5"
    assert table[("by place", f"{ARTICLE} (embedded)", "conversion")] == "37.5%"
    assert table[("appointment funnel", "Scheduled", "count")] == "1"
    assert table[("guide", "email to download", "rate")] == "50.0%"
    assert table[("contact", "median time to first contact", "minutes")] == "180"
    assert table[("by source", "newsletter", "leads")] == "2"
    assert table[("per day", today.isoformat(), "appointment leads")] == "3"
    with app.app_context():
        (event,) = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "analytics_export")
        ).all()
        assert event.detail == {"from": today.isoformat(), "to": today.isoformat()}


def test_a_period_before_the_story_shows_nothing(story):
    app, _, today = story
    client = app.test_client()
    make_user(app, "marketing@clinic.example", "marketing")
    login(client, "marketing@clinic.example")
    day = (today - timedelta(days=10)).isoformat()
    m = metrics(client.get(f"/staff/analytics?from={day}&to={day}").get_data(as_text=True))
    assert (m["views_total"], m["leads_total"], m["median_first_contact"]) == ("0", "0", "n/a")
    assert m["best_place"] == "n/a"


def test_views_are_counted_in_memory_and_added_up_in_one_write(app):
    counter = app.extensions["view_counter"]
    client = app.test_client()
    for _ in range(4):
        client.get(ARTICLE, headers=BROWSER)
    assert counter.pending() == 4
    with app.app_context():
        assert db.session.scalars(select(PageViewDay)).all() == []
    assert counter.flush() == 4 and counter.pending() == 0
    client.get(ARTICLE, headers=BROWSER)
    counter.flush()  # a second batch adds to the same row
    with app.app_context():
        (row,) = db.session.scalars(select(PageViewDay)).all()
        assert (row.path, row.views) == (ARTICLE, 5)


def test_counts_are_kept_when_the_database_is_away(app, monkeypatch):
    counter = app.extensions["view_counter"]
    app.test_client().get("/", headers=BROWSER)

    def down(counts):
        from sqlalchemy.exc import OperationalError

        raise OperationalError("INSERT", {}, Exception("gone"))

    monkeypatch.setattr(pageviews, "add_views", down)
    assert counter.flush() == 0 and counter.pending() == 1
    monkeypatch.undo()
    assert counter.flush() == 1


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=yesterday&to=2026-11-01", "Enter dates as year-month-day"),
        ("from=2026-11-20&to=2026-11-01", "start date is after the end date"),
        ("from=2020-01-01&to=2026-11-01", "at most 366 days"),
    ],
)
def test_a_period_that_cannot_be_read_is_explained_and_kept(marketing_client, query, message):
    response = marketing_client.get(f"/staff/analytics?{query}")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html and "Showing the last 30 days instead" in html
    typed = dict(pair.split("=") for pair in query.split("&"))
    if typed["from"] == "yesterday":
        assert "“yesterday” is not a date" in htmllib.unescape(html)
    else:  # a readable date stays in its field
        assert f'value="{typed["from"]}"' in html
    assert marketing_client.get(f"/staff/analytics.csv?{query}").status_code == 400


def test_analytics_is_for_admin_and_marketing_only(app, staff_client, marketing_client):
    assert staff_client.get("/staff/analytics").status_code == 403
    assert staff_client.get("/staff/analytics.csv").status_code == 403
    assert marketing_client.get("/staff/analytics").status_code == 200
    anonymous = app.test_client().get("/staff/analytics")
    assert anonymous.status_code == 302 and "/staff/login" in anonymous.headers["Location"]


def test_a_campaign_tag_that_looks_like_a_formula_is_neutralised_in_the_csv(app):
    # A guide request from a visit that landed on the article with this campaign tag.
    make_lead(
        app,
        "guide",
        utm={"source": '=HYPERLINK("x")'},
        landing_page=f"{ARTICLE}?utm_source=%3DHYPERLINK(%22x%22)",
        source_page=ARTICLE,
        placement="embedded",
    )
    client = app.test_client()
    make_user(app, "marketing@clinic.example", "marketing")
    login(client, "marketing@clinic.example")
    text = client.get("/staff/analytics.csv").get_data(as_text=True)
    assert "'=hyperlink" in text and "\n=hyperlink" not in text.lower().replace("'", "")


def test_form_kinds_are_all_reported(app):
    # A new form kind would need its own column on the page and in the funnels.
    assert {kind.value for kind in FormKind} == {"appointment", "guide"}


def test_closing_a_request_without_contact_is_not_a_first_contact(app):
    make_lead(app)
    staff_id = make_user(app, "intake@clinic.example", "staff")
    with app.app_context():
        lead = db.session.scalars(select(Lead)).one()
        user = db.session.get(User, staff_id)
        casework.change_status(lead, LeadStatus.NOT_A_FIT, seen=LeadStatus.NEW, by=user)
        db.session.commit()
        today = clock.clinic_today()
        report = reports.build_report(today, today, [])
    assert report.median_first_contact is None and report.contacted_count == 0
    assert [step.count for step in report.appointment_funnel][1:] == [1, 0, 0]


def test_a_download_without_a_sent_email_does_not_lift_the_funnel_past_the_sends(app):
    make_lead(app, "guide")  # its email queued, never sent here
    with app.app_context():
        lead = db.session.scalars(select(Lead)).one()
        link = tokens.guide_token(lead.id)
    assert app.test_client().get(f"/guide/download/{link}").status_code == 200
    with app.app_context():
        today = clock.clinic_today()
        report = reports.build_report(today, today, [])
    assert [step.count for step in report.guide_funnel][1:] == [1, 0, 0]


@pytest.mark.parametrize(
    ("query", "days"),
    [("to=2026-11-01", ("2026-10-03", "2026-11-01")), ("from=2026-11-20", ("2026-11-20", None))],
)
def test_one_date_is_enough(marketing_client, app, query, days):
    html = marketing_client.get(f"/staff/analytics?{query}").get_data(as_text=True)
    with app.app_context():
        today = clock.clinic_today().isoformat()
    start, end = days
    assert f'id="from" name="from" type="date" value="{start}"' in html
    assert f'id="to" name="to" type="date" value="{end or today}"' in html


def test_other_iso_spellings_are_not_taken_for_dates(marketing_client):
    response = marketing_client.get("/staff/analytics?from=20261101")
    assert response.status_code == 400 and "is not a date we can read" in htmllib.unescape(
        response.get_data(as_text=True)
    )
