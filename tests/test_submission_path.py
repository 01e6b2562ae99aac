"""Storing a submission: the lead, its person and its emails in one transaction, with links
signed for the stored lead; a repeat finds the stored lead; racing first requests from one
address share one person."""

from __future__ import annotations

import re
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from spine_site import tokens
from spine_site.desk import casework
from spine_site.extensions import db
from spine_site.leads import intake
from spine_site.mail import outbox
from spine_site.models import FormKind, Lead, OutboxEmail, Person, User
from tests.factories import GUIDE, make_lead, make_user
from tests.html_forms import submit_public_form


def _link(text: str, path: str) -> str:
    return re.search(rf"{path}/([A-Za-z0-9_.\-]+)", text).group(1)


def test_a_new_leads_emails_carry_links_signed_for_it_when_it_was_stored(app):
    """The queued row holds working links for its own lead and person, dated at the request:
    an email sent late (SMTP down), or the same row resent by staff, keeps that age."""
    lead_id = make_lead(app, "guide", opt_in=True)
    with app.test_request_context():
        lead = db.session.get(Lead, lead_id)
        (email,) = lead.emails
        texts = [email.body_text, email.body_html, email.headers["List-Unsubscribe"]]
        for text in texts[:2]:
            guide = tokens.read_guide_token(_link(text, "/guide/download"))
            assert guide.lead_id == lead_id and not guide.expired
            assert abs(guide.issued_at - lead.created_at) < timedelta(seconds=2)
            newsletter = tokens.read_newsletter_token(_link(text, "/newsletter/confirm"))
            assert newsletter.lead_id == lead_id and not newsletter.expired
        for text in (texts[0], texts[2]):
            unsubscribe = tokens.read_unsubscribe_token(_link(text, "/unsubscribe"))
            assert unsubscribe == lead.person_id
        sent = outbox.build_message(email)
        assert sent.get_body(("plain",)).get_content().rstrip("\n") == email.body_text
        assert sent.get_body(("html",)).get_content().rstrip("\n") == email.body_html
        download = _link(email.body_text, "/guide/download")
    answer = app.test_client().get(f"/guide/download/{download}")
    assert answer.status_code == 200 and answer.mimetype == "application/pdf"


def test_the_desk_notice_names_the_new_leads_id(app):
    app.config["STAFF_NOTIFY_EMAIL"] = "desk@clinic.example"
    lead_id = make_lead(app, "appointment")
    with app.app_context():
        notice = db.session.scalars(
            select(OutboxEmail).where(OutboxEmail.to_addr == "desk@clinic.example")
        ).one()
        assert notice.lead_id == lead_id
        assert notice.subject == f"New appointment request #{lead_id}"
        assert f"https://clinic.example/staff/leads/{lead_id}" in notice.body_text


def test_a_lead_and_its_email_are_stored_together_or_not_at_all(app, monkeypatch):
    """An email row that cannot be written (its Message-ID taken) leaves no lead and no
    person behind."""
    taken = make_lead(app, "guide", email="first@example.org")
    with app.app_context():
        message_id = db.session.get(Lead, taken).emails[0].message_id
    monkeypatch.setattr(outbox, "make_msgid", lambda **kwargs: message_id)
    client = app.test_client()
    answer = submit_public_form(client, "guide", {**GUIDE, "email": "second@example.org"})
    assert answer.status_code == 500
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Lead)) == 1
        assert db.session.scalar(select(func.count()).select_from(OutboxEmail)) == 1
        assert db.session.scalar(select(func.count()).select_from(Person)) == 1


def test_a_lead_row_holds_the_values_the_model_gives_it(app):
    lead_id = make_lead(app, "appointment")
    with app.app_context():
        lead = db.session.get(Lead, lead_id)
        assert lead.status.value == "new" and lead.unreached_attempts == 0
        assert lead.consent_contact and lead.consent_version == app.config["CONSENT_VERSION"]
        assert lead.consent_at == lead.created_at
        assert not lead.marketing_opt_in and lead.marketing_consent_version is None
        assert not lead.is_spam and lead.spam_reason is None
        assert lead.search_text == "ada lovelace ada.lovelace@example.com 13128675309"
        assert lead.person.email_normalized == "ada.lovelace@example.com"
        assert lead.person.created_at is not None
        email = lead.emails[0]
        assert email.status.value == "queued" and email.attempts == 0
        assert email.created_at is not None and email.next_attempt_at is not None


def _capture_same(app, nonce: str) -> tuple[int, bool]:
    """One guide request of a rendering with this nonce: the lead's id and whether it was new."""
    with app.test_request_context():
        result = intake.capture(
            FormKind.GUIDE,
            {**GUIDE, "email": "twice@example.org"},
            form_nonce=nonce,
            attribution=intake.Attribution(),
        )
        return result.lead.id, result.created


def test_a_repeated_submission_returns_the_stored_lead(app):
    nonce = uuid.uuid4().hex
    (first, created), (again, created_again) = _capture_same(app, nonce), _capture_same(app, nonce)
    assert created and not created_again and again == first
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Lead)) == 1
        assert db.session.scalar(select(func.count()).select_from(OutboxEmail)) == 1


def test_repeats_racing_each_other_store_one_lead(app):
    """A double click whose two posts arrive at once: the unique submission key lets one in;
    the other gets the stored lead."""
    nonce, count = uuid.uuid4().hex, 4
    start = threading.Barrier(count)
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []

    def submit() -> None:
        try:
            start.wait()
            results.append(_capture_same(app, nonce))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=submit) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sorted(created for _, created in results) == [False] * (count - 1) + [True]
    assert len({lead_id for lead_id, _ in results}) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Lead)) == 1
        assert db.session.scalar(select(func.count()).select_from(OutboxEmail)) == 1


def test_a_second_request_from_a_known_address_joins_its_person(app):
    first = make_lead(app, "guide")
    second = make_lead(app, "appointment", email=GUIDE["email"].upper())
    with app.app_context():
        leads = [db.session.get(Lead, first), db.session.get(Lead, second)]
        assert leads[0].person_id == leads[1].person_id
        assert db.session.scalar(select(func.count()).select_from(Person)) == 1


@pytest.mark.parametrize("form", ["appointment", "guide"])
def test_first_requests_racing_from_one_address_make_one_person_and_every_lead(app, form):
    """Several first submissions from one new address at once (a real race on PostgreSQL;
    SQLite's write lock puts them in a row): one person, and every lead stored with its
    emails."""
    count = 4
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def submit() -> None:
        try:
            start.wait()
            make_lead(app, form, email="same.person@example.com")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=submit) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    with app.app_context():
        people = db.session.scalars(select(Person)).all()
        assert [p.email_normalized for p in people] == ["same.person@example.com"]
        leads = db.session.scalars(select(Lead)).all()
        assert len(leads) == count and {lead.person_id for lead in leads} == {people[0].id}
        emails = db.session.scalar(select(func.count()).select_from(OutboxEmail))
        assert emails == (2 if form == "appointment" else 1) * count


@pytest.mark.postgresql_only
def test_an_address_another_transaction_is_inserting_joins_that_person(app):
    """PostgreSQL: another transaction has inserted the same new address and not committed.
    Our person INSERT waits on it; once it commits, ours fails on the unique address, and
    the request, tried again, joins the winner's person."""
    with app.app_context():
        engine = db.engine
    address = "late.winner@example.com"
    winner = engine.connect()
    transaction = winner.begin()
    winner.execute(insert(Person).values(email_normalized=address, created_at=func.now()))
    done: list[int] = []
    thread = threading.Thread(target=lambda: done.append(make_lead(app, "guide", email=address)))
    thread.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not _waiting_on_a_lock(engine):
        time.sleep(0.02)
    assert _waiting_on_a_lock(engine)
    transaction.commit()
    winner.close()
    thread.join(timeout=30)
    assert done
    with app.app_context():
        people = db.session.scalars(select(Person)).all()
        assert [p.email_normalized for p in people] == [address]
        lead = db.session.get(Lead, done[0])
        assert lead.person_id == people[0].id and len(lead.emails) == 1


def test_a_released_lead_gets_its_emails_with_links_signed_then(app):
    """Staff releasing a quarantined lead queue its emails the way capture does."""
    lead_id = make_lead(app, "guide", spam=True)
    user_id = make_user(app, "desk@clinic.example", "staff")
    with app.test_request_context():
        lead = db.session.get(Lead, lead_id)
        assert lead.emails == []
        casework.set_spam(lead, False, by=db.session.get(User, user_id))
        (email,) = db.session.get(Lead, lead_id).emails
        link = tokens.read_guide_token(_link(email.body_text, "/guide/download"))
        assert link.lead_id == lead_id
        assert datetime.now(UTC) - link.issued_at < timedelta(seconds=5)


def _waiting_on_a_lock(engine) -> bool:  # type: ignore[no-untyped-def]
    # (A connection of its own: inside a transaction, pg_stat_activity stays as first read.)
    query = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    with engine.connect() as connection:
        return bool(connection.exec_driver_sql(query).scalar())
