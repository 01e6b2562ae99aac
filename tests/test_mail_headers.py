"""Emails as filters read them: list headers plain, Reply-To, Message-ID, Date, wording.

Checked on the raw bytes the SMTP server received, not on a parsed message: Python's parser
decodes MIME encoded words, so a broken `=?utf-8?q?...?=` List-Unsubscribe would look fine.
"""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

from spine_site.desk import digest
from spine_site.mail import outbox
from spine_site.mail.policy import reply_to
from tests.factories import make_lead

# A production-length address: links under it are far longer than a header line's 78.
LONG_SITE_URL = (
    "https://a-very-long-subdomain-name.example-clinic-group.example.org/patients/portal"
)


def raw_header(raw: bytes, name: str) -> str:
    """One header's value exactly as sent, unfolded (RFC 5322 §2.2.3), not decoded."""
    head = raw.split(b"\r\n\r\n", 1)[0].replace(b"\r\n", b"\n").decode("ascii")
    unfolded = re.sub(r"\n[ \t]+", " ", head)
    (value,) = re.findall(rf"^{name}:[ \t]*(.*)$", unfolded, flags=re.MULTILINE | re.IGNORECASE)
    return value


def send_every_kind(app) -> None:
    """Appointment confirmation, staff notification, guide email with and without the
    newsletter link, and the staff digest, all delivered through the app's own code."""
    make_lead(app)
    make_lead(app, "guide")
    make_lead(app, "guide", email="nina@example.org", opt_in=True)
    with app.app_context():
        assert outbox.deliver_due() == 4
        digest.send_digest()


def test_list_unsubscribe_is_a_plain_url_at_a_long_site_url(app_factory, smtp):
    app = app_factory(SITE_URL=LONG_SITE_URL, **smtp.config())
    make_lead(app, "guide")
    with app.app_context():
        assert outbox.deliver_due() == 1
    (raw,) = smtp.inbox.raw
    value = raw_header(raw, "List-Unsubscribe")
    assert len(value) > 78  # long enough that the default policy would have encoded it
    assert re.fullmatch(r"<https://[^>\s]+>", value), value
    assert "=?" not in value
    assert value.startswith(f"<{LONG_SITE_URL}/unsubscribe/")
    assert raw_header(raw, "List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
    # And the link in the header is the one that works.
    path = value.strip("<>").removeprefix(LONG_SITE_URL)
    assert app.test_client().get(path).status_code == 200


def test_the_file_transport_writes_the_same_plain_header(app_factory, tmp_path: Path):
    app = app_factory(SITE_URL=LONG_SITE_URL)
    make_lead(app, "guide")
    with app.app_context():
        assert outbox.deliver_due() == 1
    (eml,) = (tmp_path / "mail").glob("*.eml")
    raw = eml.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    value = raw_header(raw, "List-Unsubscribe")
    assert re.fullmatch(r"<https://[^>\s]+>", value) and "=?" not in value


def test_every_kind_has_a_valid_message_id_date_and_reply_to(app_factory, smtp):
    app = app_factory(SITE_URL=LONG_SITE_URL, **smtp.config())
    send_every_kind(app)
    assert len(smtp.inbox.raw) == 5
    subjects = set()
    for raw in smtp.inbox.raw:
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        subjects.add(str(message["Subject"]))
        assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", raw_header(raw, "Message-ID"))
        sent_at = parsedate_to_datetime(raw_header(raw, "Date"))
        assert sent_at.tzinfo is not None
        assert raw_header(raw, "Reply-To") == "frontdesk@clinic.example"
    assert len(subjects) >= 4  # confirmation, staff notification, guide, digest


def test_reply_to_defaults_to_the_address_inside_the_sender():
    sender = {"MAIL_DEFAULT_SENDER": "Valor Spine <care@example.org>", "MAIL_REPLY_TO": None}
    assert reply_to(sender) == "care@example.org"
    assert reply_to({**sender, "MAIL_REPLY_TO": "desk@example.org"}) == "desk@example.org"


def test_without_mail_reply_to_emails_reply_to_the_clinic(app_factory, smtp):
    app = app_factory(MAIL_REPLY_TO=None, **smtp.config())
    make_lead(app)
    with app.app_context():
        outbox.deliver_due()
    assert {raw_header(raw, "Reply-To") for raw in smtp.inbox.raw} == {"care@clinic.example"}


# SpamAssassin 4.0's __END_FUTURE_EMAILS body pattern (72_active.cf), which scored the guide
# email 1.0 for "To stop any further emails". bench/spam_scores.py runs the real thing.
END_FUTURE_EMAILS = re.compile(
    r"\b(?:end|stop(?! receiving these (?:alerts|emails))|cease|discontinue|removed?|"
    r"(?:do(?! not wish to receive [\w\s]{0,20}emails)|would|you(?:'d)?) "
    r"(?:not (?:wish|want|like|desire)|(?:prefer|wish|want|like|desire) not) to|"
    r"exclude yourself|fore?go)[- ](?:get |receiv(?:ing|e) |or |(?:a-z{1,30} ){0,4}from )?"
    r"(?:these|our|(?:any )?(?:future|further)) "
    r"(?:(?:e|ad)?-?m(?:ail(?:ing)?|es+[age]{3})|alert|PSA|marketing|notice)"
    r"[- ]?(?:ad|update)?s?\b",
    re.IGNORECASE,
)


def test_the_guide_emails_unsubscribe_line_avoids_spamassassins_spammy_wording(smtp_app, smtp):
    assert END_FUTURE_EMAILS.search("To stop any further emails from us: https://x")  # the old
    make_lead(smtp_app, "guide", opt_in=True)
    with smtp_app.app_context():
        assert outbox.deliver_due() == 1
    (message,) = smtp.inbox.messages
    for part in ("plain", "html"):
        text = " ".join(message.get_body((part,)).get_content().split())
        assert "unsubscribe" in text.lower()
        assert not END_FUTURE_EMAILS.search(text), part
