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

import pyotp
from flask import Flask, current_app, has_request_context
from sqlalchemy import update

from spine_site.accounts import mfa, users
from spine_site.clock import utcnow
from spine_site.extensions import db
from spine_site.leads import intake
from spine_site.models import FormKind, Lead, Role, User
from spine_site.web.i18n import PREFIXES

STAFF_PASSWORD = "correct horse battery staple"
# The authenticator app every test account has (base32, 160 bits).
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

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
    language: str = "en",
    **fields: object,
) -> int:
    """A patient's request of this form, as intake stores it; returns the lead's id.

    `fields` override the form's defaults (APPOINTMENT, GUIDE). By default the visit landed
    on the form's own page and the form was sent from there, with no campaign or referrer.
    `spam` quarantines it as a filled-in honeypot does (no emails); `days_ago` back-dates it.
    `app` None uses the app context the caller is in. `language` is the pages' ("es": the
    form was sent from the Spanish page, under /es/, unless `source_page` says otherwise).
    """
    kind = FormKind(form)
    values = {**(APPOINTMENT if kind is FormKind.APPOINTMENT else GUIDE), **fields}
    page = source_page or PREFIXES[language] + FORM_PAGE[kind]
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
            language=language,
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


def make_user(
    app: Flask, email: str, role: str, password: str = STAFF_PASSWORD, *, totp: bool = True
) -> int:
    """A staff account of this role; returns its id.

    With `totp` (the default) it has an authenticator app holding TOTP_SECRET, set up the way
    the Security page does it (a right code confirms it), so it can sign in where a second
    factor is required. Without, it is a new account that must enrol at its first sign-in.
    """
    with app.app_context():
        user = users.create_user(email, Role(role), password)
        db.session.commit()
        if totp:
            assert mfa.confirm_totp(user, TOTP_SECRET, pyotp.TOTP(TOTP_SECRET).now(), by=None)
        return user.id


def totp_code(app: Flask, email: str) -> str:
    """The app's code for now, with the account's used-step mark cleared first.

    A code works once (no replay), and tests sign in many times a minute; clearing the mark
    lets each sign-in use the current code. Tests of replay itself do not use this.
    """
    with app.app_context():
        db.session.execute(
            update(User).where(User.email == email.lower()).values(totp_last_step=None)
        )
        db.session.commit()
    return pyotp.TOTP(TOTP_SECRET).now()
