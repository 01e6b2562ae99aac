"""What a patient email says about what was typed: a first name only when it reads as a name.

The forms mail whatever address is typed in, so a "first name" is text anyone can put into
an email carrying the clinic's name, sent to someone else (issue 11, finding 8).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from spine_site.extensions import db
from spine_site.leads.emails import greeting_name
from spine_site.mail import outbox
from spine_site.models import OutboxEmail
from tests.factories import make_lead
from tests.html_forms import SCHEDULE, submit_public_form

PHISHING = "Your account is locked. Verify at https://evil.example/login"

HOSTILE_NAMES = [
    PHISHING,
    "bit.ly/x",
    "Visit example.com now",
    "evil.com",
    "www example com",
    "WWW",
    "http",
    "mailto:a@b",
    "user@example.com",
    "Ada @evil",
    "Ada/Bob",
    "Ada\\Bob",
    "hxxps://evil",
    "Call 555 0134",
    "Ada2",
    "Hi!",
    "Who?",
    "Note: urgent",
    "Please call us back today",  # a sentence: more words than a first name has
    "Ada, click here",
    "Ada (admin)",
    "<b>Ada</b>",
    "x" * 31,
    # Lookalikes: fullwidth letters and dot, a one-dot leader, an ideographic full stop,
    # a Latin letter that reads as a dot, letters of two scripts (Cyrillic "a" in Paypal),
    # a Lisu tone letter and a Canadian syllabics dot posing as full stops, a modifier colon.
    "\uff45\uff56\uff49\uff4c\uff0e\uff43\uff4f\uff4d",
    "evil\u2024com",
    "evil\u3002com",
    "evil\ua78fcom",
    "P\u0430ypal",
    "evil\ua4f8com",
    "evil\u1427com",
    "evil\u02d1com",
    "https\uff1a\uff0f\uff0fevil",
    # Hidden characters: a right-to-left override (reverses what follows on screen), an
    # isolate, a zero-width space, a line break, a tab.
    "\u202emoc.live",
    "Ada\u2067moc.live\u2069",
    "Ada\u200bevil",
    "Ada\nVisit evil",
    "Ada\tBob",
    "\u0000Ada",
    # Zalgo: a letter buried under marks.
    "A\u0301\u0302\u0303\u0304\u0305da",
    # Name-shaped, but a phishing line: words a scam leans on (issue 25, item 7).
    "Your Account Suspended",
    "Verify Now",
    "URGENT",
    "Payment Due",
    "Password Reset",
    "Account-Locked",
    "Refunds Waiting",
    "Bitcoin Winner",
]

ORDINARY_NAMES = [
    "Ada",
    "O'Brien",
    "D\u2019Angelo",
    "Mary-Jane",
    "Jos\u00e9",
    "Jose\u0301",  # the same name with a combining accent
    "\u674e",
    "\u674e\u5c0f\u9f99",
    "\u3055\u304f\u3089",  # Japanese kana
    "\u30de\u30ea\u30fc",  # katakana with the long-sound mark
    "Anne Marie",
    "Mar\u00eda del Carmen",
    "J.",
    "A.J.",
    "J. R.",
    "\u02bbIolani",  # Hawaiian okina
    "Zo\u00eb",
    "\u0417\u043e\u044f",  # Zoya, Cyrillic
    "\u041c\u0430\u0440\u0438\u044f",  # Mariya
    "\u0645\u062d\u0645\u062f",  # Muhammad, Arabic
    "\u05e9\u05e8\u05d4",  # Sarah, Hebrew
    "\u092a\u094d\u0930\u093f\u092f\u093e",  # Priya, Devanagari (virama, vowel signs)
    "\u0e2a\u0e21\u0e28\u0e31\u0e01\u0e14\u0e34\u0e4c",  # Somsak, Thai
    "\ubbfc\uc900",  # Min-jun, Hangul
    "\u039d\u03af\u03ba\u03bf\u03c2",  # Nikos, Greek
    "\u0645\u0647\u200c\u0646\u0627\u0632",  # Mahnaz, Persian with a ZWNJ
]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=repr)
def test_text_that_is_not_a_name_is_not_echoed(name):
    assert greeting_name(name) is None


@pytest.mark.parametrize("name", ORDINARY_NAMES, ids=repr)
def test_ordinary_names_are_greeted(name):
    assert greeting_name(name) is not None


def test_names_are_tidied_as_they_are_checked():
    assert greeting_name("  Anne   Marie ") == "Anne Marie"
    # NFKC: fullwidth letters are shown as the letters they are.
    assert greeting_name("\uff21\uff44\uff41") == "Ada"
    assert greeting_name("") is None and greeting_name(None) is None
    assert greeting_name("x" * 30) == "x" * 30


def test_a_name_shaped_phishing_line_gets_a_plain_hello_in_the_guide_email(smtp_app, smtp):
    client = smtp_app.test_client()
    values = {"first_name": "Your Account Suspended", "email": "victim@example.net"}
    assert submit_public_form(client, "guide", values).status_code == 303
    subject, plain, html = _delivered(smtp_app, smtp, "victim@example.net")
    assert plain.splitlines()[0] == "Hello,"
    assert "<p>Hello,</p>" in html
    for part in (subject, plain, html):
        assert "Suspended" not in part and "Account" not in part, part


def _delivered(app, smtp, address: str) -> tuple[str, str, str]:
    with app.app_context():
        assert outbox.deliver_due() >= 1
    (msg,) = smtp.inbox.to(address)
    return (
        msg["Subject"],
        msg.get_body(("plain",)).get_content(),
        msg.get_body(("html",)).get_content(),
    )


def test_a_phishing_first_name_sent_to_someone_else_is_not_in_the_guide_email(smtp_app, smtp):
    client = smtp_app.test_client()
    values = {"first_name": PHISHING, "email": "victim@example.net"}
    assert submit_public_form(client, "guide", values).status_code == 303
    subject, plain, html = _delivered(smtp_app, smtp, "victim@example.net")
    assert plain.splitlines()[0] == "Hello,"
    assert "<p>Hello,</p>" in html
    for part in (subject, plain, html):
        for echoed in ("evil", "locked", "Verify", "account"):
            assert echoed not in part, (echoed, part)


def test_the_appointment_email_echoes_nothing_else_the_patient_typed(smtp_app, smtp):
    client = smtp_app.test_client()
    values = {
        **SCHEDULE,
        "first_name": "Visit example.com now",
        "last_name": "Click https://evil.example/reset",
        "email": "victim@example.net",
        "message": "Your prescription is ready at https://evil.example/rx",
    }
    assert submit_public_form(client, "schedule", values).status_code == 303
    subject, plain, html = _delivered(smtp_app, smtp, "victim@example.net")
    assert plain.splitlines()[0] == "Hello," and "<p>Hello,</p>" in html
    for part in (subject, plain, html):
        for echoed in ("example.com", "evil", "Click", "prescription", "Visit"):
            assert echoed not in part, (echoed, part)


def test_a_plain_name_is_still_greeted_in_both_parts(smtp_app, smtp):
    make_lead(smtp_app, "guide", first_name="Mary-Jane O'Brien")
    _, plain, html = _delivered(smtp_app, smtp, "grace@example.org")
    assert plain.splitlines()[0] == "Hello Mary-Jane O'Brien,"
    assert "<p>Hello Mary-Jane O&#39;Brien,</p>" in html


@pytest.mark.parametrize("form", ["appointment", "guide"])
def test_no_template_is_handed_the_lead(app, form):
    # The patient emails get only the greeting and links (lead_mail's context), so no
    # later template change can echo the message or the last name by accident.
    make_lead(
        app,
        form,
        first_name="Ada",
        last_name="Lovelace",
        message="Pain down my left leg for six weeks.",
    )
    with app.app_context():
        for email in db.session.scalars(select(OutboxEmail)):
            if email.to_addr == app.config["STAFF_NOTIFY_EMAIL"]:
                continue
            for part in (email.subject, email.body_text, email.body_html):
                assert "Lovelace" not in part and "left leg" not in part
