"""Every email as its reader gets it: HTML a mail client can show without fetching anything,
a plain-text part that reads on its own, and nothing in either that the patient did not choose.

The emails come from real submissions of the public forms and the digest command, through the
real SMTP server, so these are the parts as sent. The clinic's name has an ampersand, so an
entity leaking into the text part (`&amp;`) would show.
"""

from __future__ import annotations

import html as htmllib
import re
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

import pytest

from spine_site.desk import digest
from spine_site.extensions import db
from spine_site.mail import outbox
from tests.html_forms import GUIDE, SCHEDULE, submit_public_form
from tests.support import make_app, start_smtp

CLINIC_NAME = "Valor Spine & Rehab"
# A patient who asked to be texted in the early evening, with a reason and a message.
PATIENT = {
    **SCHEDULE,
    "email": "ada@example.com",
    "contact_method": "text",
    "best_time": "evening",
}
# What the patient typed or picked that no email may repeat (any case; the phone in any spelling).
HEALTH_AND_PERSONAL = ("sciatica", "pain down my left leg", "lovelace", "867-5309", "8675309")
PATIENT_EMAILS = ("appointment_confirmation", "guide", "guide_with_news")
STAFF_EMAILS = ("staff_notification", "staff_digest")
TEXT_WIDTH = 72
URL = re.compile(r"https?://[^\s<>\"']+")


def send_every_email(app, smtp) -> dict[str, EmailMessage]:
    """Each kind of email the site sends, by name, from real form posts and the digest."""
    client = app.test_client()
    for form, values in (
        ("schedule", PATIENT),
        ("guide", {**GUIDE, "email": "no.news@example.org"}),
        ("guide", {**GUIDE, "email": "news@example.org", "opt_in": "y"}),
    ):
        assert submit_public_form(client, form, values).status_code == 303
    with app.app_context():
        assert outbox.deliver_due() == 4
        digest.send_digest()

    def one(address: str, subject_start: str = "") -> EmailMessage:
        (message,) = [m for m in smtp.inbox.to(address) if m["Subject"].startswith(subject_start)]
        return message

    return {
        "appointment_confirmation": one("ada@example.com"),
        "guide": one("no.news@example.org"),
        "guide_with_news": one("news@example.org"),
        "staff_notification": one(app.config["STAFF_NOTIFY_EMAIL"], "New appointment request"),
        "staff_digest": one(app.config["STAFF_NOTIFY_EMAIL"], "Intake desk"),
    }


def every_email_built(tmp_path: Path, migrated_template: str | None) -> dict[str, EmailMessage]:
    """send_every_email on an app and SMTP server of its own, both stopped afterwards."""
    smtp = start_smtp()
    app = make_app(tmp_path, migrated_template, CLINIC_NAME=CLINIC_NAME, **smtp.config())
    try:
        return send_every_email(app, smtp)
    finally:
        smtp.controller.stop()
        app.extensions["outbox_sender"].stop()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(scope="module")
def emails(tmp_path_factory, migrated_template) -> dict[str, EmailMessage]:
    return every_email_built(tmp_path_factory.mktemp("emails"), migrated_template)


def html_of(message: EmailMessage) -> str:
    return message.get_body(("html",)).get_content()


def text_of(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def words_of(message: EmailMessage) -> str:
    """Subject, text part and the HTML part's words, lowercased, spaces joined."""
    shown = htmllib.unescape(re.sub(r"<[^>]+>", " ", html_of(message)))
    return re.sub(r"\s+", " ", f"{message['Subject']} {text_of(message)} {shown}").lower()


class _Resources(HTMLParser):
    """Whatever in an HTML part would make a mail client fetch something."""

    FETCHING = frozenset({"src", "srcset", "background", "poster", "data"})

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"link", "script", "img", "iframe", "object", "embed", "video", "audio"}:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name in self.FETCHING:
                self.found.append(f"{name}={value}")
            if name == "style" and value and "url(" in value:
                self.found.append(f"style={value}")


def fetched_by(html: str) -> list[str]:
    parser = _Resources()
    parser.feed(html)
    found = parser.found
    found += [f"@import in {m}" for m in re.findall(r"@import[^;]*", html)]
    return found


def links_in(html: str) -> list[str]:
    return [htmllib.unescape(h) for h in re.findall(r'href="([^"]+)"', html)]


@pytest.fixture(params=[*PATIENT_EMAILS, *STAFF_EMAILS])
def name(request) -> str:
    return request.param


# -- HTML a mail client can show as it is ----------------------------------------------


def test_the_html_part_fetches_nothing(emails, name):
    html = html_of(emails[name])
    assert fetched_by(html) == []
    assert "<style" not in html  # inline styles only: some clients drop a <style> block


def test_the_resource_check_catches_what_it_is_for():
    """The check above would see an image, a stylesheet, an import and a background."""
    found = fetched_by(
        '<link rel="stylesheet" href="https://fonts.example/css"><img src="https://t.example/p">'
        '<style>@import url("https://x.example/a.css");</style>'
        "<td style=\"background:url('https://x.example/b.png')\">"
    )
    assert len(found) == 5, found


def test_the_html_part_says_its_language_and_direction_and_fits_600px(emails, name):
    html = html_of(emails[name])
    assert '<html lang="en" dir="ltr">' in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    # A fluid column capped at 600 px, and the fixed 600 px one only Outlook reads.
    assert "width:100%;max-width:600px;" in html
    assert '<!--[if mso]><table role="presentation" width="600"' in html


def test_every_text_size_is_at_least_14px(emails, name):
    sizes = [int(px) for px in re.findall(r"font-size:(\d+)px", html_of(emails[name]))]
    assert sizes and min(sizes) >= 14, sizes


# -- A text part that reads on its own -----------------------------------------------------


def test_the_text_part_has_no_markup_or_entities(emails, name):
    text = text_of(emails[name])
    assert not re.search(r"</?[a-zA-Z][^>]*>", text), text
    assert not re.search(r"&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);", text), text


def test_the_clinic_name_reads_the_same_in_both_parts(emails):
    for name in PATIENT_EMAILS:
        assert CLINIC_NAME in text_of(emails[name])
        assert "Valor Spine &amp; Rehab" in html_of(emails[name])


def test_text_lines_are_short_and_links_stand_on_their_own_lines(emails, name):
    for line in text_of(emails[name]).splitlines():
        urls = URL.findall(line)
        if urls:
            assert urls == [line], f"a link shares its line: {line!r}"
        else:
            assert len(line) <= TEXT_WIDTH, f"{len(line)} characters: {line!r}"


def test_every_link_in_the_html_is_in_the_text_too(emails, name):
    message = emails[name]
    lines = text_of(message).splitlines()
    links = links_in(html_of(message))
    assert links, "every email has a link to act on"
    for link in links:
        if link.startswith("tel:"):
            digits = re.sub(r"\D", "", link)[-10:]  # the number as the text part spells it
            assert any(re.sub(r"\D", "", line).endswith(digits) for line in lines), link
        else:
            assert link in lines, f"{link} is not on a line of its own in the text part"


def test_the_phone_number_never_breaks_across_lines(emails):
    for name in PATIENT_EMAILS:
        text = text_of(emails[name])
        assert not re.search(r"\(\d{3}\)\n", text), text
        # On a line of its own, with plain spaces, where mail apps offer tap-to-call.
        assert "\u00a0" not in text
        assert re.search(r"^(Call: )?\(\d{3}\) \d{3}-\d{4}$", text, re.MULTILINE), text
        assert "white-space:nowrap;" in html_of(emails[name])


# -- Nothing the patient did not choose ---------------------------------------------------


def test_no_email_repeats_the_reason_message_or_other_details(emails, name):
    words = words_of(emails[name])
    for detail in HEALTH_AND_PERSONAL:
        assert detail not in words, (name, detail)


def test_staff_emails_carry_no_name_or_address_of_the_patient(emails):
    for name in STAFF_EMAILS:
        words = words_of(emails[name])
        for detail in ("ada", "ada@example.com", "grace", "example.org"):
            assert not re.search(rf"\b{re.escape(detail)}\b", words), (name, detail)


def test_a_patient_who_chose_a_text_message_is_told_they_will_be_texted(emails):
    for part in (text_of, html_of):
        words = re.sub(r"\s+", " ", htmllib.unescape(part(emails["appointment_confirmation"])))
        assert "will send you a text message, as you asked" in words
        assert "will call you" not in words and "will email you" not in words
        assert "You asked for early evening" in words


def test_news_is_mentioned_only_to_the_patient_who_ticked_the_box(emails):
    for name in ("appointment_confirmation", "guide", "staff_notification", "staff_digest"):
        words = words_of(emails[name])
        assert "clinic news" not in words and "/newsletter/" not in words, name
    words = words_of(emails["guide_with_news"])
    assert "confirm clinic news emails" in words and "/newsletter/confirm/" in words


def test_the_guide_email_presumes_nothing_about_the_readers_health(emails):
    for name in ("guide", "guide_with_news"):
        words = words_of(emails[name])
        assert "your pain" not in words and "your own back or neck pain" not in words
