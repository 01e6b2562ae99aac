"""The logs of a whole run hold no patient details, passwords, tokens or cookies."""

from __future__ import annotations

import io
import json
import logging
import re

from spine_site.mail import outbox
from spine_site.ops.logs import JsonFormatter, RedactingFilter, redact
from tests.factories import STAFF_PASSWORD, make_user
from tests.html_forms import GUIDE, SCHEDULE, fill, form_posting_to
from tests.support import login

PATIENT = {
    **SCHEDULE,
    "first_name": "Zebedee",
    "last_name": "Quixotic",
    "email": "zebedee.quixotic@example.com",
    "phone": "(312) 867-5309",
    "message": "Numbness in my left foot since March",
    "reason": "sciatica",
}


def test_a_full_run_logs_nothing_private(app_factory, smtp):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    try:
        app = app_factory(**smtp.config())
        patient = app.test_client()
        fields = form_posting_to(patient.get("/schedule").get_data(as_text=True), "/schedule")
        patient.post("/schedule", data=fill(fields, "appt", PATIENT))
        fields = form_posting_to(patient.get("/guide").get_data(as_text=True), "/guide")
        patient.post("/guide", data=fill(fields, "guide", {**GUIDE, "email": PATIENT["email"]}))
        with app.app_context():
            outbox.deliver_due()
        guide_mail = next(m for m in smtp.inbox.messages if "guide" in m["Subject"])
        text = guide_mail.get_body(("plain",)).get_content()
        links = re.findall(r"https://clinic\.example(/\S+)", text)
        for link in links:
            patient.get(link)
        tokens = [
            link.rsplit("/", 1)[1] for link in links if "/download/" in link or "/unsub" in link
        ]
        assert len(tokens) == 2

        make_user(app, "intake@clinic.example", "staff")
        staff = app.test_client()
        login(staff, "intake@clinic.example", "a wrong password!!")
        login(staff, "intake@clinic.example")
        staff.get("/staff/?q=Zebedee")
        staff.get("/staff/leads/1")
        staff.get("/staff/leads/export.csv").get_data()
        cookie = staff.get_cookie("session").value
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)

    # aiosmtpd ("mail.log") is the test's stand-in for the mail provider, not the app.
    lines = [
        line
        for line in stream.getvalue().splitlines()
        if line and json.loads(line)["logger"] != "mail.log"
    ]
    assert len(lines) >= 5, "the run logged its leads and emails"
    for line in lines:
        entry = json.loads(line)
        assert entry["ts"].endswith("Z") and entry["level"] and entry["logger"]
    everything = "\n".join(lines)
    for private in (
        "Zebedee",
        "Quixotic",
        "zebedee",
        "867",
        "5309",
        "Numbness",
        "ciatica",
        STAFF_PASSWORD,
        "a wrong password",
        cookie,
        *tokens,
    ):
        assert private not in everything, private
    assert any("stored" in json.loads(line)["msg"] for line in lines)


def test_redaction_covers_links_cookies_and_form_secrets():
    line = (
        "GET /guide/download/eyJsIjoxfQ.abc_DEF-1 referer=https://x/unsubscribe/eyJw.x "
        "Cookie: session=abc.def.ghi; other=1 body=password=hunter2hunter2&csrf_token=zzz"
    )
    cleaned = redact(line)
    for secret in ("eyJsIjoxfQ", "eyJw.x", "abc.def.ghi", "hunter2", "zzz"):
        assert secret not in cleaned
    assert "/guide/download/[token]" in cleaned and "session=[cookie]" in cleaned
