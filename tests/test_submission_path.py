"""The submission path's shortcuts keep what it stores the same: emails rendered before their
lead has an id, plain INSERTs, no savepoint for a new person, no lookup before the insert
(a repeated post is still one lead: test_forms.test_double_submit_makes_one_lead...)."""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from spine_site import intake, lead_mail, mail_links, outbox, tokens
from spine_site.extensions import db
from spine_site.models import EmailStatus, FormKind, Lead, OutboxEmail, Person
from tests.factories import GUIDE, make_lead
from tests.html_forms import submit_public_form
from tests.support import deliver


def _fixed_tokens(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Tokens carry the second they were made in; fixed ones make the two renderings comparable.
    monkeypatch.setattr(tokens, "guide_token", lambda lead_id, at=None: f"g-{lead_id}.Sig_x")
    monkeypatch.setattr(tokens, "newsletter_token", lambda lead_id, at=None: f"n-{lead_id}.Sig_y")
    monkeypatch.setattr(tokens, "unsubscribe_token", lambda person_id: f"u-{person_id}.Sig_z")


# Greetings of every shape: one word, three words, an apostrophe (escaped in HTML), accents,
# the longest name echoed (30 characters), one never echoed (a plain "Hello,").
NAMES = ["Ana", "Mary Ann Lee", "O'Brien", "Zoë Anne", "Abcdefghij Klmnopqrst Uvwxyzabc", "x.com"]


@pytest.mark.parametrize("name", NAMES)
def test_emails_rendered_before_the_insert_match_ones_rendered_with_the_ids(app, monkeypatch, name):
    """Placeholders signed when sent (and the per-process skeleton of each wording) give the
    bytes that rendering with the real links and name gives (as a resend or a lead released
    from spam still renders them)."""
    _fixed_tokens(monkeypatch)
    app.config["STAFF_NOTIFY_EMAIL"] = "desk@clinic.example"
    leads = [
        make_lead(app, "guide", first_name=name, opt_in=True),
        make_lead(app, "guide", first_name=name, email="other@example.org"),
        make_lead(app, "appointment", first_name=name),
        make_lead(app, "appointment", first_name=name, contact_method="", best_time="evening"),
    ]
    with app.test_request_context():
        for lead_id in leads:
            lead = db.session.get(Lead, lead_id)
            stored = db.session.scalars(
                select(OutboxEmail).where(OutboxEmail.lead_id == lead_id).order_by(OutboxEmail.id)
            ).all()
            links = lead_mail.Links(lead.id, lead.person_id)
            expected = [lead_mail.patient_email(lead, links)]
            if lead.form is FormKind.APPOINTMENT:
                expected.append(lead_mail.staff_email(lead.id))
            assert len(stored) == len(expected)
            for row, want in zip(stored, expected, strict=True):
                assert (row.kind, row.to_addr, row.subject) == (
                    want.kind,
                    want.to_addr,
                    want.subject,
                )
                names = list(row.headers)
                texts = [row.body_text, row.body_html, *row.headers.values()]
                body_text, body_html, *values = mail_links.filled(
                    texts, lead.id, lead.person_id, row.created_at
                )
                assert body_text == want.body_text
                assert body_html == want.body_html
                assert dict(zip(names, values, strict=True)) == want.headers
                sent = outbox.build_message(row)
                assert sent.get_body(("plain",)).get_content().rstrip("\n") == body_text
                assert sent.get_body(("html",)).get_content().rstrip("\n") == body_html
                assert "/guide/download/g-" in body_text or row.kind.value != "guide"
    with app.app_context():
        guide_id = leads[0]
        guide = db.session.get(Lead, guide_id)
        (email,) = guide.emails
        sent = outbox.build_message(email)
        assert f"/newsletter/confirm/n-{guide_id}.Sig_y" in sent.get_body(("plain",)).get_content()
        assert f"/unsubscribe/u-{guide.person_id}.Sig_z" in sent["List-Unsubscribe"]


def test_a_new_leads_links_are_signed_when_sent_and_nothing_else_is_left(app):
    """The queue holds a new lead's links as placeholders (no working link in the database)
    and no other placeholder; the message built to send holds neither."""
    lead_mail._SKELETONS.clear()
    make_lead(app, "guide", opt_in=True)
    make_lead(app, "appointment")
    # Both wordings came from a skeleton (the comparisons above hold for it), none fell back.
    assert len(lead_mail._SKELETONS) == 2 and None not in lead_mail._SKELETONS.values()
    greeting = lead_mail._MARKS["greeting_name"]
    with app.app_context():
        guide = db.session.scalars(select(OutboxEmail).where(OutboxEmail.kind == "guide")).one()
        assert mail_links.MARKS["guide"] in guide.body_text
        assert mail_links.MARKS["unsubscribe"] in guide.headers["List-Unsubscribe"]
        assert "/guide/download/" in guide.body_html
        for email in db.session.scalars(select(OutboxEmail)):
            texts = [email.subject, email.body_text, email.body_html, *email.headers.values()]
            assert not any(greeting in text for text in texts), email.kind
            sent = outbox.build_message(email)
            # The parts decoded (the HTML part is quoted-printable: a soft line break could
            # split a placeholder in the serialised message) and every header.
            parts = [sent.get_body((kind,)).get_content() for kind in ("plain", "html")]
            parts += [str(value) for value in sent.values()]
            assert not mail_links.holds_marks(*parts), email.kind
            assert not any(greeting in part for part in parts), email.kind


def test_a_links_age_counts_from_when_its_email_was_queued(app):
    """Signed at sending, dated at queueing: an email sent late (SMTP down), or the same row
    resent by staff months later, carries links as old as the request, as before."""
    lead_id = make_lead(app, "guide", opt_in=True)
    with app.test_request_context():
        (email,) = db.session.get(Lead, lead_id).emails
        email.created_at = datetime.now(UTC) - timedelta(days=40)
        db.session.commit()
        text = outbox.build_message(email).get_body(("plain",)).get_content()
        guide = re.search(r"/guide/download/([A-Za-z0-9_.\-]+)", text).group(1)
        newsletter = re.search(r"/newsletter/confirm/([A-Za-z0-9_.\-]+)", text).group(1)
        link = tokens.read_guide_token(guide)
        assert link.lead_id == lead_id and link.expired
        assert int(link.issued_at.timestamp()) == int(email.created_at.timestamp())
        assert tokens.read_newsletter_token(newsletter).expired


def test_an_email_whose_links_cannot_be_signed_is_failed_and_the_queue_goes_on(app):
    """Placeholders with no lead to sign them for (erasure deletes a lead's emails first, so
    this is a guard): the row fails for good, with its reason, and the next email is sent."""
    make_lead(app, "guide")
    with app.test_request_context():
        unsigned = outbox.row(lead_mail.patient_email(_new_guide_lead(), lead_mail.Links()))
        orphan = OutboxEmail(lead=None, **unsigned)
        orphan.next_attempt_at = datetime.now(UTC) - timedelta(hours=1)  # first in the queue
        db.session.add(orphan)
        db.session.commit()
        orphan_id = orphan.id
    assert deliver(app) == 0
    assert deliver(app) == 1
    with app.app_context():
        orphan = db.session.get(OutboxEmail, orphan_id)
        assert orphan.status is EmailStatus.FAILED
        assert "no lead to sign them for" in orphan.last_error
        others = db.session.scalars(select(OutboxEmail).where(OutboxEmail.id != orphan_id))
        assert [email.status for email in others] == [EmailStatus.SENT]


def _new_guide_lead() -> intake.NewLead:
    fields = {"first_name": "Ana", "email": "orphan@example.org", "opt_in": False}
    values = intake._lead_values(FormKind.GUIDE, fields, "k" * 64, intake.Attribution(), None)
    return intake.NewLead(**values)


def test_the_one_statement_writes_every_value_of_an_email_row(app):
    """PostgreSQL's statement binds the columns of the row outbox.row() gives: every one of
    them is stored on the new lead's email, none left to a default or NULL."""
    lead_id = make_lead(app, "guide")
    with app.test_request_context():
        lead = db.session.get(Lead, lead_id)
        (email,) = lead.emails
        given = outbox.row(lead_mail.patient_email(lead, lead_mail.Links()))
        assert given and all(getattr(email, column) is not None for column in given)
        assert email.message_id != given["message_id"]  # (each row() makes its own)
        assert (email.kind, email.to_addr, email.subject) == (
            given["kind"],
            given["to_addr"],
            given["subject"],
        )


def test_a_lead_and_its_email_are_stored_together_or_not_at_all(app, monkeypatch):
    """One statement on PostgreSQL (autocommit), one transaction on SQLite: an email row that
    cannot be written (its Message-ID taken) leaves no lead and no person behind."""
    taken = make_lead(app, "guide", email="first@example.org")
    with app.app_context():
        message_id = db.session.get(Lead, taken).emails[0].message_id
    made = outbox.row
    monkeypatch.setattr(
        outbox, "row", lambda rendered: {**made(rendered), "message_id": message_id}
    )
    client = app.test_client()
    answer = submit_public_form(client, "guide", {**GUIDE, "email": "second@example.org"})
    assert answer.status_code == 500
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Lead)) == 1
        assert db.session.scalar(select(func.count()).select_from(OutboxEmail)) == 1
        assert db.session.scalar(select(func.count()).select_from(Person)) == 1


def test_a_lead_row_holds_the_values_the_orm_would_have_given_it(app):
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


def test_a_second_request_from_a_known_address_joins_its_person(app):
    first = make_lead(app, "guide")
    second = make_lead(app, "appointment", email=GUIDE["email"])
    with app.app_context():
        leads = [db.session.get(Lead, first), db.session.get(Lead, second)]
        assert leads[0].person_id == leads[1].person_id
        assert db.session.scalar(select(func.count()).select_from(Person)) == 1


@pytest.mark.parametrize("form", ["appointment", "guide"])
def test_first_requests_racing_from_one_address_make_one_person_and_every_lead(app, form):
    """Several first submissions from one new address at once (a real race on PostgreSQL;
    SQLite's write lock puts them in a row): one person, and every lead stored, each with
    its emails (an appointment's in a transaction with the desk's notice; a guide request's
    in one autocommit statement on PostgreSQL)."""
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


def test_templates_that_reload_in_development_are_not_kept_as_skeletons(app):
    app.jinja_env.auto_reload = True
    lead_mail._SKELETONS.clear()
    make_lead(app, "guide")
    assert not lead_mail._SKELETONS


def test_an_address_committed_after_the_statement_began_falls_back_to_two_steps(app, monkeypatch):
    """PostgreSQL: when another transaction inserts the same new address and commits while
    our one-statement person-and-lead INSERT waits on it, that statement's snapshot cannot
    see the row and stores nothing; the two-step path then joins the winner's person."""
    calls: list[str] = []
    original = intake.person_id_for
    monkeypatch.setattr(
        intake, "person_id_for", lambda *a, **k: calls.append("two-step") or original(*a, **k)
    )
    address = "late.winner@example.com"
    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "postgresql":
        # SQLite has no INSERT inside WITH, and its write lock orders the writers (no such
        # race): every post takes the two steps, and a known address joins its person.
        first, second = (make_lead(app, "guide", email=address) for _ in range(2))
        assert calls == ["two-step", "two-step"]
        with app.app_context():
            people = db.session.scalars(select(Person)).all()
            assert len(people) == 1
            assert {db.session.get(Lead, i).person_id for i in (first, second)} == {people[0].id}
        return
    winner = engine.connect()
    transaction = winner.begin()
    winner.execute(insert(Person).values(email_normalized=address, created_at=func.now()))
    done: list[int] = []
    thread = threading.Thread(target=lambda: done.append(make_lead(app, "guide", email=address)))
    thread.start()
    # Let the post's INSERT reach the conflict and wait on the open transaction.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not _waiting_on_a_lock(winner):
        time.sleep(0.02)
    transaction.commit()
    winner.close()
    thread.join(timeout=30)
    assert done and calls == ["two-step"]
    with app.app_context():
        people = db.session.scalars(select(Person)).all()
        assert [p.email_normalized for p in people] == [address]
        lead = db.session.get(Lead, done[0])
        assert lead.person_id == people[0].id and len(lead.emails) == 1


def _waiting_on_a_lock(connection) -> bool:  # type: ignore[no-untyped-def]
    query = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    return bool(connection.exec_driver_sql(query).scalar())
