"""The security review's smaller findings, each as a request an attacker or a careless click
could send: refused routes write nothing, crafted ids and dates get plain 4xx answers, the
session cookie carries no patient, staff pages are not compressed, a strange email address
stays one address in a link, and a renamed article's old address waits for the new one.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import date, timedelta
from html import unescape
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

import pytest
from flask import Flask, url_for
from sqlalchemy import func, select

from spine_site.articles import editorial
from spine_site.articles.editorial import Draft
from spine_site.clock import utcnow
from spine_site.desk.attempts import OUTCOMES_FOR
from spine_site.extensions import db
from spine_site.models import ArticleRecord, Lead, OutboxEmail, User
from tests import test_route_roles as route_roles
from tests.factories import make_lead, make_user
from tests.html_forms import SCHEDULE, form_posting_to, forms_in, post_form, submit_public_form
from tests.support import signed_in

# The roles some staff route refuses (admins may use them all).
REFUSED_ROLES = [
    role for role in route_roles.ROLES if any(role not in r for r in route_roles.EXPECTED.values())
]
# The objects each staff route acts on (a lead, an email, an account, an article ...).
setting = route_roles.setting


def row_counts(app: Flask) -> dict[str, int]:
    """How many rows each table holds."""
    with app.app_context():
        return {
            table.name: db.session.scalar(select(func.count()).select_from(table))
            for table in db.metadata.sorted_tables
        }


# -- 11. A refused role is refused before anything else runs ----------------------------------

# What a refused request carries: a body for every form that takes text, and a CSRF token
# that is wrong (the case where a failed check used to keep a note draft) or missing.
SNEAKY = {
    "body": "A note written by someone who may not see this lead",
    "status": "closed",
    "outcome": "no_answer",
    "channel": "call",
    "when": "2031-03-04T09:30",
    "role": "admin",
    "title": "Sneaky",
    "slug": "sneaky",
}


@pytest.mark.parametrize("role", REFUSED_ROLES)
def test_a_route_a_role_may_not_use_refuses_it_first_and_writes_nothing(app, setting, role):
    client = signed_in(app, f"{role}@clinic.example", role)
    before = row_counts(app)
    wrong = []
    for endpoint, method in route_roles.staff_routes(app):
        allowed = role in route_roles.EXPECTED.get(endpoint, frozenset())
        if endpoint in route_roles.SIGN_IN_STEPS or allowed:
            continue
        path = route_roles.path_for(app, endpoint, setting)
        if method == "GET":
            answers = [client.get(path)]
        else:
            answers = [
                client.post(path, data={**SNEAKY, "csrf_token": "not-a-token"}),
                client.post(path, data=SNEAKY),
            ]
        for response in answers:
            response.get_data()
            expected = route_roles.REDIRECTED.get((role, endpoint))
            got = (response.status_code, response.location or "")
            if got != ((302, expected) if expected else (403, "")):
                wrong.append(f"{method} {endpoint}: {got}")
    assert wrong == []
    assert row_counts(app) == before, "a refused request wrote something"


# -- 12. Crafted ids and dates: a 404, or a 422 in plain words ---------------------------------

# Past PostgreSQL's integer, and past SQLite's 64-bit one.
HUGE_IDS = (99_999_999_999, 2**64)
INT_ARG = re.compile(r"<int(?:\([^)]*\))?:(\w+)>")


def test_an_id_too_large_for_the_database_is_a_404_on_every_route(app, setting):
    client = signed_in(app, "admin@clinic.example", "admin")
    token = route_roles.csrf_token(client)
    before = row_counts(app)
    wrong = []
    for rule in app.url_map.iter_rules():
        ints = INT_ARG.findall(rule.rule)
        if not ints:
            continue
        for huge in HUGE_IDS:
            with app.test_request_context():
                path = url_for(rule.endpoint, **dict.fromkeys(ints, huge))
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                if method == "GET":
                    answers = [client.get(path)]
                else:
                    answers = [
                        client.post(path, data={**SNEAKY, "csrf_token": token}),
                        client.post(path, data={**SNEAKY, "csrf_token": "not-a-token"}),
                    ]
                # Werkzeug answers 405 where the path has a rule for another method.
                elsewhere = len([r for r in app.url_map.iter_rules() if r.rule == rule.rule]) > 1
                for response in answers:
                    if response.status_code not in ({404, 405} if elsewhere else {404}):
                        wrong.append(f"{method} {path}: {response.status_code}")
    assert wrong == []
    assert row_counts(app) == before


class _DateForms(HTMLParser):
    """Each form of a page with its method, action, fields, and its date inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(
                {
                    "method": a.get("method", "get").upper(),
                    "action": a.get("action", ""),
                    "dates": {},
                }
            )
        elif tag == "input" and self.forms and a.get("type") in {"date", "datetime-local"}:
            self.forms[-1]["dates"][a["name"]] = a["type"]


CRAFTED = {
    "date": ("9999-12-31", "0001-01-01"),
    "datetime-local": ("9999-12-31T23:59", "0001-01-01T00:00"),
}


def test_every_staff_form_with_a_date_answers_a_crafted_one_in_plain_words(app, setting):
    client = signed_in(app, "admin@clinic.example", "admin")
    with app.app_context():
        # A change not yet published, so the article's page offers to publish it (later).
        record = db.session.get(ArticleRecord, setting["article_id"])
        change = Draft.of(record.head)
        change.body += "\n\nA paragraph added in the editor."
        admin = db.session.scalar(select(User).where(User.email == "admin@clinic.example"))
        editorial.save(record, change, by=admin)
        db.session.commit()
    skipped = route_roles.SIGN_IN_STEPS | {"staff.export", "staff.export_xlsx"}
    pages = {
        route_roles.path_for(app, rule.endpoint, setting)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("staff.")
        and "GET" in rule.methods
        and rule.endpoint not in skipped
    }
    tried, wrong = [], []
    for page in sorted(pages):
        html = client.get(page).get_data(as_text=True)
        parser = _DateForms()
        parser.feed(html)
        for form, fields in zip(parser.forms, forms_in(html), strict=True):
            action = form["action"].split("#")[0] or page
            for name, kind in form["dates"].items():
                for value in CRAFTED[kind]:
                    data = {**fields["fields"], name: value}
                    tried.append(f"{form['method']} {action} {name}")
                    if form["method"] == "GET":
                        response = client.get(action, query_string=data)
                        if response.status_code >= 500:
                            wrong.append(f"GET {action} {name}={value}: {response.status_code}")
                        continue
                    response = client.post(action, data=data)
                    body = response.get_data(as_text=True)
                    if (
                        response.status_code != 422
                        or 'class="field-error"' not in body
                        or f'value="{value}"' not in body
                    ):
                        wrong.append(f"POST {action} {name}={value}: {response.status_code}")
    # The forms this is about: the next try, publishing later, the review date, the filters.
    assert {t.split()[-1] for t in tried} >= {"when", "at", "reviewed_on", "date_from"}
    assert wrong == []


# -- 13. Flash messages carry no patient in the session cookie ----------------------------------

PATIENT = {
    "first_name": "Alice",
    "last_name": "Normal",
    "email": "alice.normal@example.org",
    "phone": "+13125550199",
}


def session_text(app: Flask, client) -> str:
    """The session cookie as anyone holding it can read it (signed, not encrypted)."""
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    if cookie is None:
        return ""
    data = app.session_interface.get_signing_serializer(app).loads(cookie.value)
    return json.dumps(data).lower()


def test_no_desk_action_puts_the_patient_into_the_session_cookie(app):
    lead_id = make_lead(app, **PATIENT)
    with app.app_context():
        email_id = db.session.scalars(
            select(OutboxEmail.id).where(OutboxEmail.lead_id == lead_id)
        ).first()
    client = signed_in(app, "desk@clinic.example", "staff")
    lead_page = f"/staff/leads/{lead_id}"
    presses: list[tuple[str, dict[str, str]]] = []
    for channel, outcomes in OUTCOMES_FOR.items():
        for outcome in outcomes:
            presses.append(
                (f"{lead_page}/attempts", {"channel": channel.value, "outcome": outcome.value})
            )
    presses += [
        (f"{lead_page}/follow-up", {"when": "2031-03-04T09:30"}),
        (f"{lead_page}/follow-up", {"when": ""}),
        (f"{lead_page}/owner", {}),
        (f"{lead_page}/status", {"status": "scheduled"}),
        (f"{lead_page}/notes", {"body": "Called back about the appointment."}),
        (f"{lead_page}/spam", {"spam": "1"}),
        (f"{lead_page}/spam", {"spam": "0"}),
    ]
    found = []
    for action, typed in presses:
        response = post_form(client, lead_page, action, **typed)
        assert response.status_code == 303, action
        text = session_text(app, client)
        found += [f"{action}: {v}" for v in (*PATIENT.values(), "5550199") if v.lower() in text]
        client.get(response.location)  # the message shown, as a browser would
    # Resending an email (its button shows once delivery failed), with the page's token.
    token = form_posting_to(client.get(lead_page).get_data(as_text=True), f"{lead_page}/notes")
    response = client.post(f"/staff/emails/{email_id}/resend", data=token)
    assert response.status_code == 303
    text = session_text(app, client)
    found += [f"resend: {v}" for v in PATIENT.values() if v.lower() in text]
    admin = signed_in(app, "admin@clinic.example", "admin")
    response = post_form(admin, f"{lead_page}/erase", f"{lead_page}/erase")
    assert response.status_code == 303
    text = session_text(app, admin)
    found += [f"erase: {v}" for v in PATIENT.values() if v.lower() in text]
    assert found == []


# -- 15. Staff pages are not compressed (BREACH) -------------------------------------------------


def test_staff_pages_are_sent_uncompressed_and_public_pages_still_compressed(app):
    make_lead(app)
    client = signed_in(app, "marketing@clinic.example", "marketing")
    accept = {"Accept-Encoding": "gzip, br"}
    # A search term shown back beside the CSRF token: what BREACH needs, less the compression.
    page = client.get("/staff/?q=lovelace&status=new", headers=accept)
    assert page.status_code == 200 and "Content-Encoding" not in page.headers
    assert "lovelace" in page.get_data(as_text=True)
    assert "csrf_token" in page.get_data(as_text=True)
    login = app.test_client().get("/staff/login?next=/staff/%3Fq%3Dx", headers=accept)
    assert login.status_code == 200 and "Content-Encoding" not in login.headers
    public = app.test_client().get("/", headers=accept)
    assert public.headers["Content-Encoding"] == "br"
    article = app.test_client().get(
        "/articles/what-is-a-physiatrist", headers={"Accept-Encoding": "gzip"}
    )
    assert article.headers["Content-Encoding"] == "gzip"


# -- 16. An email address stays one address in a mailto: link ------------------------------------

CRAFTY = "a?cc=attacker%40evil.example&subject=hi@example.com"


def mailto_targets(html: str) -> list[str]:
    return [unescape(h) for h in re.findall(r'href="(mailto:[^"]*)"', html)]


def test_an_address_with_url_characters_is_one_recipient_in_every_mailto_link(app):
    answer = submit_public_form(app.test_client(), "schedule", {**SCHEDULE, "email": CRAFTY})
    assert answer.status_code == 303
    with app.app_context():
        lead = db.session.scalars(select(Lead)).one()
        assert lead.email == CRAFTY
    client = signed_in(app, "desk@clinic.example", "staff")
    links = []
    for page in (f"/staff/leads/{lead.id}", "/staff/"):
        on_page = mailto_targets(client.get(page).get_data(as_text=True))
        assert on_page, page
        links += on_page
    for link in links:
        parts = urlsplit(link)
        # No query: nothing for a mail program to read as Cc, Subject or Body.
        assert parts.query == "" and "?" not in link and "&" not in link
        assert unquote(parts.path) == CRAFTY


# -- 17. A renamed, scheduled article: the old address waits for the new one ---------------------


def test_a_renamed_scheduled_article_redirects_only_once_it_is_live(app, monkeypatch):
    make_user(app, "editor@clinic.example", "editor")
    reader = app.test_client()
    at = utcnow() + timedelta(hours=2)
    with app.app_context():
        editor = db.session.scalar(select(User).where(User.email == "editor@clinic.example"))
        article = editorial.create(ARTICLE, editor)
        editorial.publish(article, editor, at=at)
        editorial.save(article, replace(ARTICLE, slug="sleeping-well-with-back-pain"), editor)
        editorial.publish(article, editor, at=at)
        db.session.commit()
        article_id = article.id
    # Before its time neither address is a page, and the old one sends nobody to a 404.
    assert reader.get("/articles/sleeping-with-back-pain").status_code == 404
    assert reader.get("/articles/sleeping-well-with-back-pain").status_code == 404

    later = at + timedelta(minutes=1)
    monkeypatch.setattr("spine_site.articles.live.utcnow", lambda: later)
    moved = reader.get("/articles/sleeping-with-back-pain")
    assert moved.status_code == 301
    assert moved.location.endswith("/articles/sleeping-well-with-back-pain")
    assert reader.get(moved.location).status_code == 200

    # Taken down, both its addresses say so (410), the old one included.
    with app.app_context():
        editor = db.session.scalar(select(User).where(User.email == "editor@clinic.example"))
        article = db.session.scalar(select(ArticleRecord).where(ArticleRecord.id == article_id))
        editorial.unpublish(article, editor)
        db.session.commit()
    assert reader.get("/articles/sleeping-with-back-pain").status_code == 410
    assert reader.get("/articles/sleeping-well-with-back-pain").status_code == 410


ARTICLE = Draft(
    title="Sleeping with back pain",
    slug="sleeping-with-back-pain",
    description="Positions and pillows that ease back pain at night.",
    summary="How to sleep better with back pain.",
    body="## Positions\n\nLie on your side with a pillow between your knees.\n",
    faq=[{"q": "Is a firm mattress best?", "a": "Medium-firm suits most people."}],
    related=[],
    reviewer="Dr. Ana Ruiz, MD",
    reviewed_on=date(2026, 11, 20),
)
