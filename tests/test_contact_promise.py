"""The patient's choice, respected in what we say: the appointment confirmation email (both
parts) and the thank-you page tell them how we will reach them (the contact method they
picked) and when (their best time, within the clinic's hours), for every combination the
schedule form offers, including none picked.

Issue 12, item 7: the email and the page used to say "our intake team will call you" to a
patient who asked for a text message.
"""

from __future__ import annotations

import html as htmllib
import itertools
import re

import pytest
from sqlalchemy import select

from spine_site.extensions import db
from spine_site.leads.intake import BEST_TIMES, CONTACT_METHODS
from spine_site.models import EmailKind, OutboxEmail
from tests.factories import make_lead
from tests.html_forms import SCHEDULE, submit_public_form

# Not the default: the wording must come from the CLINIC_HOURS_TEXT setting.
HOURS = "Monday to Thursday, 7 am to 4 pm"
# How we will reach them: what the promise must say, and words it must not say.
HOW = {
    "phone": ("Our intake team will call you, as you asked,", ["text message", "email you"]),
    "text": ("Our intake team will send you a text message, as you asked,", ["call you"]),
    "email": ("Our intake team will email you, as you asked,", ["call you", "text message"]),
    # No preference: a call (the phone number is required), and no "as you asked".
    "": ("Our intake team will call you, usually", ["as you asked", "text message"]),
}
WHEN = {
    "morning": f"We'll aim for the morning, within our hours ({HOURS}).",
    "afternoon": f"We'll aim for the afternoon, within our hours ({HOURS}).",
    # The desk does not work evenings: said honestly, as late as the hours allow.
    "evening": (
        f"You asked for early evening: we can only reach you within our hours ({HOURS}), "
        "so we'll try as late in the day as we can."
    ),
    "": f"We'll get in touch within our hours ({HOURS}).",
}
COMBINATIONS = list(itertools.product(HOW, WHEN))


def test_the_tables_above_cover_every_choice_the_form_offers():
    assert set(HOW) == {code for code, _ in CONTACT_METHODS} | {""}
    assert set(WHEN) == {code for code, _ in BEST_TIMES} | {""}


def readable(html: str) -> str:
    """The words an HTML part or page shows: tags dropped, entities read, spaces joined."""
    return re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", html)))


def plain(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def assert_promise(words: str, method: str, best_time: str) -> None:
    said, unsaid = HOW[method]
    assert said in words
    for phrase in unsaid:
        assert phrase not in words, (method, phrase)
    assert WHEN[best_time] in words
    for other, sentence in WHEN.items():
        if other != best_time:
            assert sentence not in words, (best_time, other)


def confirmation(app, lead_id: int) -> OutboxEmail:
    with app.app_context():
        return db.session.scalars(
            select(OutboxEmail).where(
                OutboxEmail.lead_id == lead_id,
                OutboxEmail.kind == EmailKind.APPOINTMENT_CONFIRMATION,
            )
        ).one()


@pytest.fixture
def hours_app(app_factory):
    return app_factory(CLINIC_HOURS_TEXT=HOURS)


@pytest.mark.parametrize(("method", "best_time"), COMBINATIONS)
def test_the_confirmation_email_says_how_and_when_in_both_parts(hours_app, method, best_time):
    lead_id = make_lead(hours_app, contact_method=method or None, best_time=best_time or None)
    email = confirmation(hours_app, lead_id)
    assert_promise(plain(email.body_text), method, best_time)
    assert_promise(readable(email.body_html), method, best_time)


@pytest.mark.parametrize(("method", "best_time"), COMBINATIONS)
def test_the_thank_you_page_says_how_and_when(hours_app, method, best_time):
    client = hours_app.test_client()
    values = {**SCHEDULE, "contact_method": method, "best_time": best_time}
    response = submit_public_form(client, "schedule", values)
    assert response.status_code == 303
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    assert_promise(readable(page.get_data(as_text=True)), method, best_time)


def test_a_text_message_is_promised_to_a_patient_who_asked_for_one(client, app):
    """The report in the issue, end to end with the default hours: no call promised."""
    values = {**SCHEDULE, "contact_method": "text", "best_time": "evening"}
    response = submit_public_form(client, "schedule", values)
    page = readable(client.get(response.headers["Location"]).get_data(as_text=True))
    (lead_id,) = _lead_ids(app)
    email = confirmation(app, lead_id)
    for words in (page, plain(email.body_text), readable(email.body_html)):
        assert "will send you a text message" in words
        assert "will call you" not in words
        assert "Monday to Friday, 8 am to 5 pm" in words
        assert "as late in the day as we can" in words


def _lead_ids(app) -> list[int]:
    from spine_site.models import Lead

    with app.app_context():
        return list(db.session.scalars(select(Lead.id)))


def test_the_thank_you_address_carries_only_the_choice_codes(client):
    """Post/Redirect/Get: the landing page's address says nothing about who the patient is,
    only the two codes picked (and none when none was picked)."""
    values = {**SCHEDULE, "contact_method": "email", "best_time": "afternoon"}
    response = submit_public_form(client, "schedule", values)
    assert response.headers["Location"] == "/schedule/thanks?contact=email&time=afternoon"
    values = {**SCHEDULE, "contact_method": "", "best_time": ""}
    assert submit_public_form(client, "schedule", values).headers["Location"] == (
        "/schedule/thanks"
    )
    response = submit_public_form(client, "guide", {"first_name": "Grace", "email": "g@x.org"})
    assert response.headers["Location"] == "/guide/thanks"


def test_the_thank_you_page_is_the_same_for_everyone_who_chose_the_same(client):
    """No cookie, no session: a shared cache may keep it (revalidating by its ETag)."""
    first = client.get("/schedule/thanks?contact=text&time=morning")
    again = client.get("/schedule/thanks?contact=text&time=morning")
    assert first.get_data() == again.get_data()
    assert "Set-Cookie" not in first.headers
    assert "private" not in first.headers["Cache-Control"]
    assert "Cookie" not in first.headers.get("Vary", "")
    revalidated = client.get(
        "/schedule/thanks?contact=text&time=morning",
        headers={"If-None-Match": first.headers["ETag"]},
    )
    assert revalidated.status_code == 304
    other = client.get("/schedule/thanks?contact=phone&time=morning")
    assert other.headers["ETag"] != first.headers["ETag"]


@pytest.mark.parametrize(
    "query",
    [
        "contact=Call+me+at+evil.example&time=3am",
        "contact=TEXT&time=Evening",
        "contact=<b>x</b>&time=",
        "contact=text&contact=phone",  # the first value counts, as Flask reads it
    ],
)
def test_a_made_up_thank_you_address_echoes_nothing(client, query):
    page = readable(client.get(f"/schedule/thanks?{query}").get_data(as_text=True))
    for echoed in ("evil.example", "3am", "TEXT", "<b>", "Evening"):
        assert echoed not in page
    assert "Our intake team will" in page


def test_a_stored_value_the_form_never_offered_is_not_echoed(app):
    """Whatever a contact method column holds, the email words only the codes it knows."""
    lead_id = make_lead(app, contact_method="Visit evil.example", best_time="at 3am")
    email = confirmation(app, lead_id)
    for part in (email.body_text, email.body_html):
        assert "evil.example" not in part and "3am" not in part
    assert "Our intake team will call you, usually within one business day" in email.body_text
