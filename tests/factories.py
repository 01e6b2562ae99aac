"""Test data made the way the product makes it: through the domain functions.

For tests where the public form is not what is under test (the staff pages, the export, the
outbox, the guide link, erasure, reports): a lead is captured by intake.capture with what the
form would have handed it, so it gets its person, its search text and its queued emails, in
one commit, as a patient's request does. Tests of the forms post them (tests.html_forms).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta

from flask import Flask, current_app, has_request_context

from spine_site import intake, users
from spine_site.clock import utcnow
from spine_site.extensions import db
from spine_site.models import FormKind, Lead, Role

STAFF_PASSWORD = "correct horse battery staple"

# What the forms hand intake when a patient types tests.html_forms.SCHEDULE or GUIDE: checked
# and normalised (the email's domain lower-cased, the phone in E.164, ticked boxes as True).
APPOINTMENT: dict[str, object] = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "Ada.Lovelace@example.com",
    "phone": "+13128675309",
    "contact_method": "phone",
    "best_time": "morning",
    "reason": "sciatica",
    "message": "Pain down my left leg for six weeks.",
    "consent": True,
}
GUIDE: dict[str, object] = {"first_name": "Grace", "email": "grace@example.org", "opt_in": False}
# Each form's own page, where a lead comes from unless a test says otherwise.
FORM_PAGE = {FormKind.APPOINTMENT: "/schedule", FormKind.GUIDE: "/guide"}


@contextmanager
def _request_context(app: Flask | None) -> Iterator[None]:
    """The app's request context (the emails' links are built with url_for), or the one the
    caller is already in. A new one ends with its own database session, as a request does."""
    if app is None and has_request_context():
        yield
        return
    with (app or current_app).test_request_context():
        yield


def make_lead(
    app: Flask | None = None,
    form: FormKind | str = FormKind.APPOINTMENT,
    *,
    days_ago: float = 0,
    spam: bool = False,
    utm: Mapping[str, str] | None = None,
    referrer: str | None = None,
    landing_page: str | None = None,
    source_page: str | None = None,
    placement: str = "page",
    **fields: object,
) -> int:
    """A patient's request of this form, as intake stores it; returns the lead's id.

    `fields` override the form's defaults (APPOINTMENT, GUIDE). By default the visit landed
    on the form's own page and the form was sent from there, with no campaign or referrer.
    `spam` quarantines it as a filled-in honeypot does (no emails); `days_ago` back-dates it.
    `app` None uses the app context the caller is in.
    """
    kind = FormKind(form)
    values = {**(APPOINTMENT if kind is FormKind.APPOINTMENT else GUIDE), **fields}
    page = source_page or FORM_PAGE[kind]
    attribution = intake.Attribution(
        utm=dict(utm or {}),
        referrer=referrer,
        landing_page=landing_page or page,
        source_page=page,
        placement=placement,
    )
    with _request_context(app):
        lead = intake.capture(
            kind,
            values,
            form_nonce=uuid.uuid4().hex,
            attribution=attribution,
            spam_reason="honeypot" if spam else None,
        ).lead
        if days_ago:
            lead.created_at = utcnow() - timedelta(days=days_ago)
            db.session.commit()
        return lead.id


def make_download(app: Flask, lead_id: int) -> None:
    """One download of the guide, recorded on this lead."""
    with app.app_context():
        lead = db.session.get(Lead, lead_id)
        assert lead is not None
        intake.record_download(lead)


def make_user(app: Flask, email: str, role: str, password: str = STAFF_PASSWORD) -> int:
    """A staff account of this role; returns its id."""
    with app.app_context():
        user = users.create_user(email, Role(role), password)
        db.session.commit()
        return user.id
