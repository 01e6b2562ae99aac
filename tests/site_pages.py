"""Every page of the site, with the data it needs to show: the HTML check (test_html_valid)
and the browser's accessibility audit (browser/test_audits) both go through this list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import select

from spine_site import tokens
from spine_site.articles import editorial
from spine_site.desk import attempts, casework
from spine_site.extensions import db
from spine_site.models import ArticleRecord, AttemptChannel, AttemptOutcome, Lead, LeadStatus, User
from tests.factories import make_lead, make_user


@dataclass(frozen=True)
class Site:
    appointment_lead: int
    guide_lead: int
    expired_guide_link: str
    unsubscribe: str
    newsletter_confirm: str
    expired_newsletter_confirm: str
    articles: tuple[str, ...]
    person: int
    # A published article with a newer draft (revision 2): the editor's pages.
    article: int
    # An appointment request from the Spanish pages.
    spanish_lead: int


def seed_site(app: Flask, admin_email: str = "admin@clinic.example") -> Site:
    """Leads as patients make them (appointments, guide requests), a note and a status change
    on the first lead, accounts of every role; links as the emails carry them."""
    appointment_id = make_lead(app)
    guide_id = make_lead(app, "guide", opt_in=True)
    # With an extension: the desk's links dial it (tel:+13128675309,12). From the Spanish
    # pages: the desk's pages mark it and say to answer in Spanish.
    spanish_id = make_lead(
        app,
        first_name="Alan",
        last_name="Turing",
        email="alan@example.net",
        phone_extension="12",
        language="es",
    )
    admin_id = make_user(app, admin_email, "admin")
    make_user(app, "intake@clinic.example", "staff")
    make_user(app, "marketing@clinic.example", "marketing")
    make_user(app, "editor@clinic.example", "editor")
    with app.app_context():
        appointment = db.session.get(Lead, appointment_id)
        admin = db.session.get(User, admin_id)
        casework.add_note(appointment, "Called, left a voicemail.", by=admin)
        casework.change_status(appointment, LeadStatus.CONTACTED, seen=LeadStatus.NEW, by=admin)
        # A try that did not reach the patient: the queue's follow-up views have a card.
        attempts.record_attempt(
            appointment, AttemptChannel.CALL, AttemptOutcome.VOICEMAIL, by=admin
        )
        person_id = db.session.get(Lead, guide_id).person_id
        articles = tuple(a.path for a in app.extensions["articles"].all)
        article = _edited_article(admin)
    with app.test_request_context():
        expired = tokens.guide_token(guide_id, datetime.now(UTC) - timedelta(days=15))
        unsubscribe = tokens.unsubscribe_token(person_id)
        confirm = tokens.newsletter_token(guide_id)
        expired_confirm = tokens.newsletter_token(guide_id, datetime.now(UTC) - timedelta(days=31))
    return Site(
        appointment_lead=appointment_id,
        guide_lead=guide_id,
        expired_guide_link=f"/guide/download/{expired}",
        unsubscribe=f"/unsubscribe/{unsubscribe}",
        newsletter_confirm=f"/newsletter/confirm/{confirm}",
        expired_newsletter_confirm=f"/newsletter/confirm/{expired_confirm}",
        articles=articles,
        person=person_id,
        article=article,
        spanish_lead=spanish_id,
    )


def _edited_article(by: User) -> int:
    """The first bundled article with a second revision in draft, so the revision list and
    the comparison have something to show."""
    record = db.session.scalars(select(ArticleRecord).order_by(ArticleRecord.id)).first()
    assert record is not None and record.head is not None
    draft = editorial.Draft.of(record.head)
    draft.body += "\n\nA paragraph added in the editor, not yet published."
    editorial.save(record, draft, by=by, note="A new closing paragraph")
    db.session.commit()
    return record.id


def public_pages(site: Site) -> list[tuple[str, str, int]]:
    """(name, path, status) of the public pages a plain GET shows."""
    pages = [("home", "/", 200)]
    pages += [(f"article {path.rsplit('/', 1)[-1]}", path, 200) for path in site.articles]
    pages += [
        ("schedule", "/schedule", 200),
        ("guide", "/guide", 200),
        ("schedule thanks", "/schedule/thanks", 200),
        ("schedule thanks, text, evening", "/schedule/thanks?contact=text&time=evening", 200),
        ("guide thanks", "/guide/thanks", 200),
        ("privacy", "/privacy", 200),
        ("not found", "/no-such-page", 404),
        ("guide link invalid", "/guide/download/not-a-token", 404),
        ("guide link expired", site.expired_guide_link, 410),
        ("unsubscribe", site.unsubscribe, 200),
        ("newsletter confirm", site.newsletter_confirm, 200),
        ("newsletter confirm invalid", "/newsletter/confirm/not-a-token", 404),
        ("newsletter confirm expired", site.expired_newsletter_confirm, 410),
    ]
    return pages


def spanish_pages() -> list[tuple[str, str, int]]:
    """(name, path, status) of the patient's pages in Spanish (under /es/) a plain GET shows.
    (An article in Spanish joins once the library has one.)"""
    return [
        ("es home", "/es/", 200),
        ("es schedule", "/es/schedule", 200),
        ("es guide", "/es/guide", 200),
        ("es schedule thanks", "/es/schedule/thanks", 200),
        ("es schedule thanks, text, evening", "/es/schedule/thanks?contact=text&time=evening", 200),
        ("es guide thanks", "/es/guide/thanks", 200),
        ("es privacy", "/es/privacy", 200),
        ("es not found", "/es/no-such-page", 404),
    ]


def staff_pages(site: Site) -> list[tuple[str, str, int]]:
    """(name, path, status) of every GET page in the staff ACCESS table, for an admin."""
    lead = site.appointment_lead
    return [
        ("staff leads", "/staff/", 200),
        ("staff lead", f"/staff/leads/{lead}", 200),
        ("staff guide lead", f"/staff/leads/{site.guide_lead}", 200),
        ("staff Spanish lead", f"/staff/leads/{site.spanish_lead}", 200),
        ("staff queue", "/staff/", 200),
        ("staff queue, overdue", "/staff/?view=overdue", 200),
        ("staff queue, due today", "/staff/?view=due_today", 200),
        ("staff queue, mine", "/staff/?view=mine", 200),
        ("staff all requests", "/staff/?view=all", 200),
        ("staff person", f"/staff/people/{site.person}", 200),
        ("staff erase", f"/staff/leads/{lead}/erase", 200),
        ("staff password", "/staff/password", 200),
        ("staff security", "/staff/security", 200),
        ("staff authenticator app", "/staff/security/totp", 200),
        ("staff recovery codes", "/staff/security/recovery-codes", 200),
        ("staff users", "/staff/users", 200),
        ("staff audit", "/staff/audit", 200),
        ("staff analytics", "/staff/analytics", 200),
        ("staff analytics, bad period", "/staff/analytics?from=someday&to=2026-11-01", 400),
        ("staff articles", "/staff/articles", 200),
        ("staff new article", "/staff/articles/new", 200),
        ("staff article", f"/staff/articles/{site.article}", 200),
        ("staff article preview", f"/staff/articles/{site.article}/preview", 200),
        ("staff article revisions", f"/staff/articles/{site.article}/revisions", 200),
        ("staff article compare", f"/staff/articles/{site.article}/compare?a=1&b=2", 200),
        ("staff images", "/staff/images", 200),
    ]
