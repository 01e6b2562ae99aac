"""A patient's phone number as they type it: extensions kept and dialled, numbers abroad
written with 00 or 011, bad extensions refused in plain words with the input kept."""

from __future__ import annotations

import html as htmllib
import re

import pytest
from sqlalchemy import select

from spine_site.extensions import db
from spine_site.models import Lead
from tests.html_forms import SCHEDULE, submit_public_form


def send(client, phone: str, **changes: str):
    return submit_public_form(client, "schedule", {**SCHEDULE, "phone": phone, **changes})


def stored_phones(app) -> list[tuple[str | None, str | None]]:
    with app.app_context():
        return [(lead.phone, lead.phone_extension) for lead in db.session.scalars(select(Lead))]


def phone_input(page: str) -> str:
    """The value in the form's phone box, as the browser shows it."""
    match = re.search(r'<input[^>]*name="appt-phone"[^>]*>', page)
    assert match, "no phone input on the page"
    value = re.search(r'value="([^"]*)"', match.group(0))
    return htmllib.unescape(value.group(1)) if value else ""


@pytest.mark.parametrize(
    "typed",
    ["312-555-0123 ext. 4", "312-555-0123 x4", "(312) 555-0123 #4", "+1 312 555 0123 extension 4"],
)
def test_an_extension_is_stored_apart_from_the_number(client, app, typed):
    assert send(client, typed).status_code == 303
    assert stored_phones(app) == [("+13125550123", "4")]


def test_a_number_without_an_extension_stores_none(client, app):
    assert send(client, "312-555-0123").status_code == 303
    assert stored_phones(app) == [("+13125550123", None)]


@pytest.mark.parametrize(
    "typed",
    ["0044 20 7946 0958", "011 44 20 7946 0958", "+44 20 7946 0958", "00 44 20 7946 0958"],
)
def test_a_number_abroad_may_start_with_00_or_the_us_011(client, app, typed):
    assert send(client, typed).status_code == 303
    assert stored_phones(app) == [("+442079460958", None)]


def test_a_number_abroad_keeps_its_extension(client, app):
    assert send(client, "0044 20 7946 0958 ext. 215").status_code == 303
    assert stored_phones(app) == [("+442079460958", "215")]


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("312-555-0123 ext. abc", "Write the extension in digits after the number"),
        ("312-555-0123 x4b", "Write the extension in digits after the number"),
        ("312-555-0123 ext.", "Write the extension in digits after the number"),
        ("312-555-0123 ext. 123456789", "An extension has at most 8 digits."),
        ("312-555-0123 ext. 1234567890123456789012", "An extension has at most 8 digits."),
    ],
)
def test_a_bad_extension_is_refused_in_plain_words_and_the_input_kept(client, app, typed, message):
    response = send(client, typed)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in htmllib.unescape(page)
    assert 'id="appt-phone-error"' in page
    assert phone_input(page) == typed
    assert stored_phones(app) == []


def test_the_typed_phone_comes_back_unchanged_when_another_field_is_wrong(client, app):
    response = send(client, "312-555-0123 ext. 4", last_name="")
    assert response.status_code == 422
    assert phone_input(response.get_data(as_text=True)) == "312-555-0123 ext. 4"
    assert stored_phones(app) == []


def test_staff_dial_the_extension_and_text_the_number_alone(client, app, staff_client):
    assert send(client, "312-555-0123 ext. 4").status_code == 303
    with app.app_context():
        lead_id = db.session.scalar(select(Lead.id))
    card = staff_client.get("/staff/").get_data(as_text=True)
    page = staff_client.get(f"/staff/leads/{lead_id}").get_data(as_text=True)
    listing = staff_client.get("/staff/?view=all").get_data(as_text=True)
    for html in (card, page):
        # The dialer's pause: the number rings, then the 4 is sent (templating.tel says why
        # not RFC 3966's ;ext=4).
        links = re.findall(r'href="(tel:[^"]*)"', html)
        assert links and set(links) == {"tel:+13125550123,4"}
        # A text goes to the number: an extension means nothing to SMS.
        texts = re.findall(r'href="(sms:[^"]*)"', html)
        assert texts and set(texts) == {"sms:+13125550123"}
        assert "(312) 555-0123 ext. 4" in html
    assert "Call (312) 555-0123 ext. 4" in card
    assert "(312) 555-0123 ext. 4" in listing


def test_a_number_without_an_extension_dials_as_before(client, app, staff_client):
    assert send(client, "0044 20 7946 0958").status_code == 303
    card = staff_client.get("/staff/").get_data(as_text=True)
    assert 'href="tel:+442079460958"' in card and 'href="sms:+442079460958"' in card
    assert "+44 20 7946 0958" in card and "ext." not in card
