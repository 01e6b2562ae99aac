"""The intake desk: contact attempts, follow-ups, ownership, the queue and its counts.

Most tests run the clinic "open" around the clock (CLINIC_HOURS Mo-Su 00:00-24:00) so that
business minutes equal wall minutes and the queue's overdue line does not depend on when
the suite runs; the business-hours clock itself is tested in test_business_hours.py, and
one test here uses real hours with a fixed clock.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from spine_site import privacy
from spine_site.desk import attempts as intake_desk
from spine_site.desk import queue
from spine_site.extensions import db
from spine_site.models import (
    AttemptChannel,
    AttemptOutcome,
    AuditEvent,
    ContactAttempt,
    EmailKind,
    Lead,
    LeadStatus,
    LeadStatusChange,
    OutboxEmail,
    User,
)
from tests.factories import make_lead, make_user
from tests.html_forms import form_posting_to
from tests.support import login

ALWAYS_OPEN = {"CLINIC_HOURS": "Mo-Su 00:00-24:00"}
INTAKE = "intake@clinic.example"


@pytest.fixture
def desk(app_factory):
    """An always-open clinic and a signed-in intake client."""
    app = app_factory(**ALWAYS_OPEN)
    make_user(app, INTAKE, "staff")
    client = app.test_client()
    assert login(client, INTAKE).status_code == 303
    return app, client


def back_date(app, lead_id: int, minutes: float) -> None:
    with app.app_context():
        lead = db.session.get(Lead, lead_id)
        lead.created_at = datetime.now(UTC) - timedelta(minutes=minutes)
        db.session.commit()


def press(client, lead_id: int, outcome: str, channel: str = "call"):
    page = client.get(f"/staff/leads/{lead_id}").get_data(as_text=True)
    fields = form_posting_to(page, f"/staff/leads/{lead_id}/attempts")
    fields.update(channel=channel, outcome=outcome)
    return client.post(f"/staff/leads/{lead_id}/attempts", data=fields)


def the_lead(app, lead_id: int) -> Lead:
    with app.app_context():
        lead = db.session.get(Lead, lead_id)
        db.session.expunge(lead)
        return lead


def names_in(client, view: str) -> list[str]:
    page = client.get(f"/staff/?view={view}").get_data(as_text=True)
    return re.findall(r'<h2 class="card-title"><a href="/staff/leads/\d+">([^<]+)</a>', page)


# -- Attempts ---------------------------------------------------------------------------------


def test_reaching_the_patient_records_it_and_moves_a_new_request_to_contacted(desk):
    app, client = desk
    lead_id = make_lead(app)
    response = press(client, lead_id, "reached")
    assert response.status_code == 303 and response.location.endswith("#attempts")
    lead = the_lead(app, lead_id)
    assert lead.status is LeadStatus.CONTACTED
    assert lead.first_attempt_at is not None and lead.first_reached_at == lead.first_attempt_at
    assert lead.next_follow_up_at is None
    with app.app_context():
        (change,) = db.session.scalars(select(LeadStatusChange)).all()
        assert (change.from_status, change.to_status) == (LeadStatus.NEW, LeadStatus.CONTACTED)
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "lead_attempt"))
        assert event.detail == {"channel": "call", "outcome": "reached"}
        assert event.actor == INTAKE
    page = client.get(f"/staff/leads/{lead_id}").get_data(as_text=True)
    assert "Call: <strong>Reached</strong>" in page and INTAKE in page


def test_a_status_set_by_hand_is_not_moved_back(desk):
    app, client = desk
    lead_id = make_lead(app)
    with app.app_context():
        db.session.get(Lead, lead_id).status = LeadStatus.SCHEDULED
        db.session.commit()
    press(client, lead_id, "reached")
    assert the_lead(app, lead_id).status is LeadStatus.SCHEDULED


def test_tries_that_do_not_reach_follow_the_cadence_then_suggest_closing(desk):
    app, client = desk
    lead_id = make_lead(app)
    hours = app.extensions["business_hours"]
    cadence = ("same day", "next business morning", "2 business days")  # the default
    for n in range(1, 4):
        press(client, lead_id, "no_answer" if n % 2 else "voicemail")
        lead = the_lead(app, lead_id)
        with app.app_context():
            tried_at = db.session.scalars(
                select(ContactAttempt.created_at).order_by(ContactAttempt.id.desc())
            ).first()
        assert lead.unreached_attempts == n
        # Each proposal is the cadence's n-th step from the moment of that try.
        assert lead.next_follow_up_at == hours.next_try(tried_at, n, cadence)
        assert lead.next_follow_up_at > tried_at
    first = the_lead(app, lead_id).first_attempt_at
    press(client, lead_id, "no_answer")
    lead = the_lead(app, lead_id)
    assert lead.unreached_attempts == 4 and lead.next_follow_up_at is None
    page = client.get(f"/staff/leads/{lead_id}").get_data(as_text=True)
    assert "consider closing this request as unreachable" in page
    assert lead.first_attempt_at == first, "the first attempt is kept"
    assert lead.first_reached_at is None


def test_the_cadence_comes_from_its_setting(app_factory):
    app = app_factory(**ALWAYS_OPEN, FOLLOW_UP_CADENCE="3 business hours")
    make_user(app, INTAKE, "staff")
    client = app.test_client()
    login(client, INTAKE)
    lead_id = make_lead(app)
    press(client, lead_id, "no_answer")
    lead = the_lead(app, lead_id)
    assert lead.next_follow_up_at - lead.first_attempt_at == timedelta(hours=3)
    press(client, lead_id, "no_answer")
    assert the_lead(app, lead_id).next_follow_up_at is None


def test_a_wrong_number_ends_the_follow_ups(desk):
    app, client = desk
    lead_id = make_lead(app)
    press(client, lead_id, "no_answer")
    press(client, lead_id, "wrong_number")
    assert the_lead(app, lead_id).next_follow_up_at is None


def test_an_outcome_that_does_not_fit_the_channel_is_refused_and_stores_nothing(desk):
    app, client = desk
    lead_id = make_lead(app)
    response = press(client, lead_id, "voicemail", channel="email")
    assert response.status_code == 303
    assert "end as that" in client.get(response.location).get_data(as_text=True)
    for bad in ({"outcome": "teleported"}, {"channel": "pigeon"}):
        page = client.get(f"/staff/leads/{lead_id}").get_data(as_text=True)
        fields = form_posting_to(page, f"/staff/leads/{lead_id}/attempts")
        client.post(
            f"/staff/leads/{lead_id}/attempts",
            data={**fields, "channel": "call", "outcome": "reached", **bad},
        )
    with app.app_context():
        assert db.session.scalars(select(ContactAttempt)).all() == []
    assert the_lead(app, lead_id).first_attempt_at is None


def test_the_first_to_try_owns_it_and_others_can_claim_or_assign(desk):
    app, client = desk
    lead_id = make_lead(app)
    colleague_id = make_user(app, "colleague@clinic.example", "staff")
    marketing_id = make_user(app, "marketing@clinic.example", "marketing")
    press(client, lead_id, "no_answer")
    with app.app_context():
        me = db.session.scalar(select(User).where(User.email == INTAKE))
    assert the_lead(app, lead_id).owner_id == me.id
    page = client.get(f"/staff/leads/{lead_id}").get_data(as_text=True)
    fields = form_posting_to(page, f"/staff/leads/{lead_id}/owner")
    client.post(f"/staff/leads/{lead_id}/owner", data={**fields, "owner": str(colleague_id)})
    assert the_lead(app, lead_id).owner_id == colleague_id
    # Marketing cannot be given a request (it sees no medical details).
    client.post(f"/staff/leads/{lead_id}/owner", data={**fields, "owner": str(marketing_id)})
    assert the_lead(app, lead_id).owner_id == colleague_id
    with app.app_context():
        changes = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "lead_owner")
        ).all()
        assert [e.detail for e in changes] == [{"from": me.id, "to": colleague_id}]


def test_staff_can_set_or_clear_the_next_try(desk):
    app, client = desk
    lead_id = make_lead(app)
    page = client.get(f"/staff/leads/{lead_id}").get_data(as_text=True)
    fields = form_posting_to(page, f"/staff/leads/{lead_id}/follow-up")
    client.post(f"/staff/leads/{lead_id}/follow-up", data={**fields, "when": "2031-03-04T09:30"})
    when = the_lead(app, lead_id).next_follow_up_at
    assert when == datetime(2031, 3, 4, 15, 30, tzinfo=UTC)  # 09:30 in Chicago, CST
    client.post(f"/staff/leads/{lead_id}/follow-up", data={**fields, "when": ""})
    assert the_lead(app, lead_id).next_follow_up_at is None
    bad = client.post(f"/staff/leads/{lead_id}/follow-up", data={**fields, "when": "soon"})
    assert bad.status_code == 422
    assert "Enter a date and time between 2000 and 2100" in bad.get_data(as_text=True)
    assert 'value="soon"' in bad.get_data(as_text=True)


# -- The queue ------------------------------------------------------------------------------


def test_needs_first_contact_is_the_default_oldest_first_with_waiting_times(desk):
    app, client = desk
    newest = make_lead(app, first_name="Newest", email="n@example.org")
    oldest = make_lead(app, first_name="Oldest", email="o@example.org")
    middle = make_lead(app, first_name="Middle", email="m@example.org")
    back_date(app, oldest, 90)
    back_date(app, middle, 30)
    back_date(app, newest, 5)
    tried = make_lead(app, first_name="Tried", email="t@example.org")
    press(client, tried, "no_answer")
    make_lead(app, first_name="Spammy", email="s@example.org", spam=True)
    page = client.get("/staff/").get_data(as_text=True)
    assert "Needs first contact" in page
    assert names_in(client, "first_contact") == [
        "Oldest Lovelace",
        "Middle Lovelace",
        "Newest Lovelace",
    ]
    assert "Waiting 1 h 30 min" in page and "Waiting 30 min" in page
    # Only the oldest is past the 60-minute target.
    assert page.count('badge-overdue">Overdue') == 1
    assert names_in(client, "overdue") == ["Oldest Lovelace"]


def test_counts_on_each_view(desk):
    app, client = desk
    make_lead(app, email="a@example.org")
    late = make_lead(app, email="b@example.org")
    back_date(app, late, 120)
    tried = make_lead(app, email="c@example.org")
    press(client, tried, "no_answer")  # a follow-up later today (or tomorrow morning)
    with app.app_context():
        past = db.session.get(Lead, tried)
        past.next_follow_up_at = datetime.now(UTC) - timedelta(minutes=5)
        db.session.commit()
    page = client.get("/staff/").get_data(as_text=True)
    counts = dict(re.findall(r'view=(\w+)"[^>]*>[^<]+<span class="count[^"]*">(\d+)<', page))
    assert counts == {"first_contact": "2", "due_today": "1", "overdue": "2", "mine": "1"}


def test_spam_with_a_follow_up_due_leaves_every_view_and_count(desk):
    app, client = desk
    kept = make_lead(app, first_name="Kept", email="kept@example.org")
    junk = make_lead(app, first_name="Junk", email="junk@example.org")
    for lead_id in (kept, junk):
        press(client, lead_id, "no_answer")  # tried, owned by me, a follow-up set
    with app.app_context():
        for lead_id in (kept, junk):
            db.session.get(Lead, lead_id).next_follow_up_at = datetime.now(UTC) - timedelta(
                minutes=5
            )
        db.session.commit()
    page = client.get(f"/staff/leads/{junk}").get_data(as_text=True)
    fields = form_posting_to(page, f"/staff/leads/{junk}/spam")
    assert fields["spam"] == "1"
    assert client.post(f"/staff/leads/{junk}/spam", data=fields).status_code == 303
    junk_lead = the_lead(app, junk)
    assert junk_lead.is_spam and junk_lead.next_follow_up_at is not None
    assert junk_lead.status is LeadStatus.NEW

    for view in queue.VIEWS:
        names = names_in(client, view)
        assert "Junk Lovelace" not in names, view
    assert names_in(client, "due_today") == ["Kept Lovelace"]
    assert names_in(client, "overdue") == ["Kept Lovelace"]
    assert names_in(client, "mine") == ["Kept Lovelace"]
    page = client.get("/staff/").get_data(as_text=True)
    counts = dict(re.findall(r'view=(\w+)"[^>]*>[^<]+<span class="count[^"]*">(\d+)<', page))
    assert counts == {"first_contact": "0", "due_today": "1", "overdue": "1", "mine": "1"}


def test_follow_ups_due_today_soonest_first_and_not_closed_ones(desk):
    app, client = desk
    ids = [
        make_lead(app, first_name=n, email=f"{n}@example.org") for n in ("Later", "Sooner", "Shut")
    ]
    now = datetime.now(UTC)
    with app.app_context():
        for lead_id, minutes in zip(ids, (30, 10, 5), strict=True):
            lead = db.session.get(Lead, lead_id)
            lead.first_attempt_at = now
            lead.next_follow_up_at = now + timedelta(minutes=minutes)
        db.session.get(Lead, ids[2]).status = LeadStatus.CLOSED
        db.session.commit()
    due = names_in(client, "due_today")
    # Unless the day ends within the half hour, both open ones are due today.
    assert due[:1] == ["Sooner Lovelace"] and "Shut Lovelace" not in due


def test_mine_shows_what_i_own(desk):
    app, client = desk
    mine = make_lead(app, first_name="Mine", email="mine@example.org")
    make_lead(app, first_name="Theirs", email="theirs@example.org")
    press(client, mine, "voicemail")
    assert names_in(client, "mine") == ["Mine Lovelace"]


def test_repeat_requests_are_shown_together(desk):
    app, client = desk
    make_lead(app, "guide", email="same@example.org")
    make_lead(app, email="same@example.org")
    page = client.get("/staff/").get_data(as_text=True)
    assert "1 other request" in page


def test_cards_show_labels_links_and_the_message(desk):
    app, client = desk
    make_lead(app, contact_method="text", best_time="evening", phone="+13128675309")
    page = client.get("/staff/").get_data(as_text=True)
    assert "Text message, early evening" in page and ">text<" not in page
    assert 'href="tel:+13128675309"' in page and 'href="sms:+13128675309"' in page
    assert "Sciatica" in page and "Pain down my left leg" in page


def test_the_overdue_line_counts_business_hours_not_the_clock(app_factory, monkeypatch):
    """Friday 16:30 in Chicago: a request from Friday 15:20 has waited 70 business minutes
    (overdue); one from Thursday 17:30 waited only from Friday's opening, 8.5 hours."""
    app = app_factory()  # Mo-Fr 08:00-17:00, America/Chicago
    now = datetime(2026, 12, 4, 22, 30, tzinfo=UTC)  # Friday 16:30 CST
    monkeypatch.setattr(queue, "utcnow", lambda: now)
    hours = app.extensions["business_hours"]
    with app.test_request_context():
        m = queue.moments(hours, now)
        assert hours.minutes_between(datetime(2026, 12, 4, 21, 20, tzinfo=UTC), now) == 70
        assert m.overdue_before == datetime(2026, 12, 4, 21, 30, tzinfo=UTC)  # 15:30 CST
    # Monday 08:30: a request from Friday 16:45 has waited 15 + 30 = 45 minutes.
    monday = datetime(2026, 12, 7, 14, 30, tzinfo=UTC)
    assert hours.minutes_between(datetime(2026, 12, 4, 22, 45, tzinfo=UTC), monday) == 45


# -- Who may ----------------------------------------------------------------------------------


def test_marketing_gets_the_list_not_the_queue_and_cannot_work_leads(app, marketing_client):
    lead_id = make_lead(app)
    page = marketing_client.get("/staff/").get_data(as_text=True)
    assert "Needs first contact" not in page and "Pain down my left leg" not in page
    assert marketing_client.get("/staff/?view=first_contact").status_code == 200
    assert "Needs first contact" not in marketing_client.get("/staff/?view=overdue").get_data(
        as_text=True
    )
    token = form_posting_to(page, "/staff/logout")["csrf_token"]
    for path in ("attempts", "follow-up", "owner"):
        response = marketing_client.post(
            f"/staff/leads/{lead_id}/{path}", data={"csrf_token": token}
        )
        assert response.status_code == 403, path
    with app.app_context():
        person = db.session.get(Lead, lead_id).person_id
    assert marketing_client.get(f"/staff/people/{person}").status_code == 403


def test_a_persons_timeline_has_everything_newest_first_and_is_audited(desk):
    app, client = desk
    first = make_lead(app, "guide", email="same@example.org")
    second = make_lead(app, email="same@example.org")
    press(client, second, "voicemail")
    with app.app_context():
        person = db.session.get(Lead, first).person_id
    page = client.get(f"/staff/people/{person}").get_data(as_text=True)
    assert page.index("Left voicemail") < page.index("Appointment request")
    assert page.index("Appointment request") < page.index("Guide request")
    assert "Pain down my left leg" in page
    with app.app_context():
        assert (
            db.session.scalar(select(AuditEvent).where(AuditEvent.action == "person_view")).target
            == f"person:{person}"
        )


def links_sent_to(app, lead_id: int) -> dict[str, str]:
    """The guide, newsletter-confirmation and unsubscribe links in the guide email the
    patient got for this request, as paths."""
    with app.app_context():
        email = db.session.scalar(
            select(OutboxEmail).where(
                OutboxEmail.lead_id == lead_id, OutboxEmail.kind == EmailKind.GUIDE
            )
        )
        text = email.body_text + email.headers["List-Unsubscribe"]
    found = re.findall(
        r"https://clinic\.example(/(guide/download|newsletter/confirm|unsubscribe)/[\w.-]+)", text
    )
    return {kind: path for path, kind in found}


def test_a_persons_timeline_names_her_in_full_and_shows_what_she_did(desk):
    """The heading takes the full name her requests gave, even when her newest request (a
    guide request) asks only a first name; and the guide she downloaded, the further emails
    she confirmed and her unsubscribe are on it, each at its time (issue 25, item 9)."""
    app, client = desk
    email = "sian@example.org"
    guide = make_lead(app, "guide", first_name="Siân", email=email, opt_in=True)
    make_lead(app, first_name="Siân", last_name="O'Neil", email=email)
    make_lead(app, "guide", first_name="Siân", email=email)
    with app.app_context():
        person = db.session.get(Lead, guide).person_id
    patient = app.test_client()
    links = links_sent_to(app, guide)
    assert patient.get(links["guide/download"]).status_code == 200
    same_site = {"Sec-Fetch-Site": "same-origin"}
    assert patient.post(links["newsletter/confirm"], headers=same_site).status_code == 200
    assert patient.post(links["unsubscribe"]).status_code == 200

    page = client.get(f"/staff/people/{person}").get_data(as_text=True)
    assert re.search(r"<h1>\s*Siân O&#39;Neil\s*</h1>", page), page
    assert "<title>Siân O&#39;Neil |" in page
    entries = re.findall(r'<li class="timeline-item timeline-(\w+)">', page)
    assert entries[:3] == ["unsubscribe", "newsletter", "download"]
    assert entries.count("request") == 3
    assert (
        page.index("Unsubscribed from further emails")
        < page.index("Confirmed further emails")
        < page.index("Downloaded the guide")
        < page.index("Guide request")
    )
    with app.app_context():
        at = db.session.get(Lead, guide).marketing_confirmed_at
    assert f'<time datetime="{at.isoformat(timespec="seconds")}">' in page


def test_a_returning_person_is_not_shown_an_erased_records_unsubscribe(desk):
    """The suppression list outlives erasure; a person who comes back after it starts a
    fresh timeline, which shows no unsubscribe from before their first new request."""
    app, client = desk
    first = make_lead(app, "guide", first_name="Siân", email="sian@example.org", opt_in=True)
    assert app.test_client().post(links_sent_to(app, first)["unsubscribe"]).status_code == 200
    with app.app_context():
        privacy.erase_person(db.session.get(Lead, first).person, by=None)
    again = make_lead(app, first_name="Siân", last_name="O'Neil", email="sian@example.org")
    with app.app_context():
        person = db.session.get(Lead, again).person_id
    page = client.get(f"/staff/people/{person}").get_data(as_text=True)
    assert "Appointment request" in page and "Unsubscribed" not in page
    assert 'class="timeline-item timeline-unsubscribe"' not in page


def test_every_desk_change_is_audited(desk):
    app, client = desk
    lead_id = make_lead(app)
    press(client, lead_id, "no_answer")
    page = client.get(f"/staff/leads/{lead_id}").get_data(as_text=True)
    fields = form_posting_to(page, f"/staff/leads/{lead_id}/follow-up")
    client.post(f"/staff/leads/{lead_id}/follow-up", data={**fields, "when": "2031-03-04T09:30"})
    fields = form_posting_to(page, f"/staff/leads/{lead_id}/owner")
    client.post(f"/staff/leads/{lead_id}/owner", data={**fields, "owner": ""})
    with app.app_context():
        actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"lead_attempt", "lead_follow_up", "lead_owner"} <= actions


def test_record_attempt_is_one_commit(app):
    """The domain call alone: lead fields and the attempt row land together."""
    lead_id = make_lead(app)
    user_id = make_user(app, INTAKE, "staff")
    with app.test_request_context():
        lead, user = db.session.get(Lead, lead_id), db.session.get(User, user_id)
        intake_desk.record_attempt(lead, AttemptChannel.TEXT, AttemptOutcome.SENT, by=user)
        db.session.rollback()  # nothing left uncommitted
        assert db.session.get(Lead, lead_id).first_attempt_at is not None
        assert len(db.session.get(Lead, lead_id).attempts) == 1


def test_guide_requests_wait_for_no_call(desk):
    """A guide request asked for a PDF, not a call: not in the first-contact queue or its
    overdue count; tried anyway, its follow-ups count like any other."""
    app, client = desk
    guide = make_lead(app, "guide", first_name="Gita", email="g@example.org")
    back_date(app, guide, 600)
    assert names_in(client, "first_contact") == [] and names_in(client, "overdue") == []
    press(client, guide, "no_answer", channel="call")
    with app.app_context():
        db.session.get(Lead, guide).next_follow_up_at = datetime.now(UTC) - timedelta(minutes=1)
        db.session.commit()
    assert names_in(client, "overdue") == ["Gita"]


def test_the_full_list_shows_repeat_requests_together(desk):
    app, client = desk
    make_lead(app, "guide", email="same@example.org")
    make_lead(app, email="same@example.org")
    page = client.get("/staff/?view=all").get_data(as_text=True)
    assert page.count("+1 other request") == 2
