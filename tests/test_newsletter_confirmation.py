"""Double opt-in: a ticked "further emails" box only asks; the link in the patient's email,
pressed, confirms. Until then the export says not opted in (issue 11, finding 8)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from spine_site import privacy, tokens
from spine_site.extensions import db
from spine_site.leads import emails
from spine_site.leads.people import email_hash
from spine_site.mail import outbox
from spine_site.models import EmailKind, Lead, OutboxEmail, Person, Suppression, User
from tests.factories import make_lead
from tests.html_forms import GUIDE, submit_public_form
from tests.support import export_rows

CONFIRM_LINK = re.compile(r"https://clinic\.example(/newsletter/confirm/[A-Za-z0-9_.-]+)")


def confirm_path(app, lead_id: int, issued_at: datetime | None = None) -> str:
    with app.test_request_context():
        return f"/newsletter/confirm/{tokens.newsletter_token(lead_id, issued_at)}"


def confirmed_at(app, lead_id: int) -> datetime | None:
    with app.app_context():
        return db.session.get(Lead, lead_id).marketing_confirmed_at


def opt_in_column(client) -> dict[str, str]:
    return {row["email"]: row["marketing_opt_in"] for row in export_rows(client)}


def press_confirm(app, path: str):
    """The patient presses the button on the page the emailed link opened."""
    return app.test_client().post(path, headers={"Sec-Fetch-Site": "same-origin"})


# -- The email carries the link ---------------------------------------------------------


def test_the_guide_email_carries_the_confirmation_link_and_no_second_email(smtp_app, smtp):
    client = smtp_app.test_client()
    assert submit_public_form(client, "guide", {**GUIDE, "opt_in": "y"}).status_code == 303
    with smtp_app.app_context():
        assert outbox.deliver_due() == 1  # the guide email only: the link rides along
    (msg,) = smtp.inbox.to("grace@example.org")
    plain = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    (link,) = CONFIRM_LINK.findall(plain)
    assert f'href="https://clinic.example{link}"' in html
    assert "30 days" in plain and "30 days" in html
    assert "/guide/download/" in plain  # still the guide email
    # The link opens the confirmation page, which asks before it records anything.
    page = client.get(link)
    assert page.status_code == 200 and "Yes, send me clinic news" in page.get_data(as_text=True)


def test_no_link_when_the_box_is_not_ticked(app):
    make_lead(app, "guide", opt_in=False)
    make_lead(app, email="ada@example.com")  # the appointment form has no box
    with app.app_context():
        for email in db.session.scalars(select(OutboxEmail)):
            assert "/newsletter/confirm/" not in email.body_text + email.body_html


def test_a_fresh_guide_link_carries_a_fresh_confirmation_until_confirmed(app):
    lead_id = make_lead(app, "guide", opt_in=True)
    with app.test_request_context():
        lead = db.session.get(Lead, lead_id)
        emails.queue_guide_email(lead)  # what a resend (patient's or staff's) queues
        db.session.commit()
    assert press_confirm(app, confirm_path(app, lead_id)).status_code == 200
    with app.test_request_context():
        emails.queue_guide_email(db.session.get(Lead, lead_id))
        db.session.commit()
        bodies = [
            e.body_text
            for e in db.session.scalars(
                select(OutboxEmail).where(OutboxEmail.kind == EmailKind.GUIDE).order_by("id")
            )
        ]
    assert ["/newsletter/confirm/" in body for body in bodies] == [True, True, False]


# -- The page: GET asks, POST confirms --------------------------------------------------


def test_opening_the_link_confirms_nothing(app):
    # Mail scanners and link previews open links to check them: that is no consent.
    lead_id = make_lead(app, "guide", opt_in=True)
    path = confirm_path(app, lead_id)
    client = app.test_client()
    for method in (client.get, client.head):
        assert method(path).status_code == 200
    page = client.get(path)
    html = page.get_data(as_text=True)
    # A plain form: no script runs (only the page's JSON-LD data block is a <script>).
    assert f'<form method="post" action="{path}">' in html
    assert re.findall(r"<script(?![^>]*application/ld\+json)", html) == []
    assert "script-src" not in page.headers["Content-Security-Policy"]
    assert confirmed_at(app, lead_id) is None


def test_pressing_the_button_confirms_once_and_again_is_harmless(app):
    lead_id = make_lead(app, "guide", opt_in=True)
    path = confirm_path(app, lead_id)
    before = datetime.now(UTC)
    response = press_confirm(app, path)
    assert response.status_code == 200
    assert "signed up for clinic news" in response.get_data(as_text=True)
    first = confirmed_at(app, lead_id)
    assert first is not None and first >= before - timedelta(seconds=1)
    again = press_confirm(app, path)
    assert again.status_code == 200 and "signed up" in again.get_data(as_text=True)
    assert confirmed_at(app, lead_id) == first
    # The page now says so on GET too, with no button.
    html = app.test_client().get(path).get_data(as_text=True)
    assert "signed up for clinic news" in html and "<button" not in html


def test_a_post_another_website_made_records_nothing(app):
    lead_id = make_lead(app, "guide", opt_in=True)
    path = confirm_path(app, lead_id)
    response = app.test_client().post(path, headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403
    assert "<button" in response.get_data(as_text=True)
    assert confirmed_at(app, lead_id) is None


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        "eyJsIjoxLCJ0IjoxfQ.forged",
        "",  # the bare path is no route at all
    ],
)
def test_a_bad_link_is_a_plain_404(app, token):
    lead_id = make_lead(app, "guide", opt_in=True)
    response = press_confirm(app, f"/newsletter/confirm/{token}")
    assert response.status_code == 404
    assert app.test_client().get(f"/newsletter/confirm/{token}").status_code == 404
    assert confirmed_at(app, lead_id) is None


def test_a_token_made_for_another_purpose_is_refused(app):
    lead_id = make_lead(app, "guide", opt_in=True)
    with app.test_request_context():
        guide = tokens.guide_token(lead_id)
        unsubscribe = tokens.unsubscribe_token(lead_id)
    for token in (guide, unsubscribe):
        response = press_confirm(app, f"/newsletter/confirm/{token}")
        assert response.status_code == 404
        assert "doesn't work" in response.get_data(as_text=True)
    assert confirmed_at(app, lead_id) is None


def test_the_link_works_for_30_days_and_not_after(app):
    lead_id = make_lead(app, "guide", opt_in=True)
    now = datetime.now(UTC)
    expired = confirm_path(app, lead_id, now - timedelta(days=30, minutes=1))
    response = press_confirm(app, expired)
    assert response.status_code == 410
    assert "expired" in response.get_data(as_text=True)
    assert app.test_client().get(expired).status_code == 410
    assert confirmed_at(app, lead_id) is None
    almost = confirm_path(app, lead_id, now - timedelta(days=29, hours=23))
    assert press_confirm(app, almost).status_code == 200
    assert confirmed_at(app, lead_id) is not None
    # Once confirmed, an old link says so rather than "expired".
    assert app.test_client().get(expired).status_code == 200


def test_the_link_of_an_erased_person_is_404(app):
    lead_id = make_lead(app, "guide", opt_in=True)
    path = confirm_path(app, lead_id)
    with app.app_context():
        privacy.erase_person(db.session.get(Lead, lead_id).person, by=None)
    assert press_confirm(app, path).status_code == 404


# -- An unsubscribe wins ----------------------------------------------------------------


def test_an_unsubscribe_before_confirming_is_not_undone_by_the_link(app):
    lead_id = make_lead(app, "guide", opt_in=True)
    with app.app_context():
        privacy.unsubscribe(db.session.get(Lead, lead_id).person)
    response = press_confirm(app, confirm_path(app, lead_id))
    assert response.status_code == 200
    assert "not on our clinic news list" in response.get_data(as_text=True)
    assert confirmed_at(app, lead_id) is None


def test_a_suppression_that_raced_the_request_is_not_undone_either(app):
    # A one-click unsubscribe that raced the request's commit leaves the flag set.
    lead_id = make_lead(app, "guide", opt_in=True)
    with app.app_context():
        db.session.add(Suppression(email_hash=email_hash("grace@example.org")))
        db.session.commit()
    press_confirm(app, confirm_path(app, lead_id))
    assert confirmed_at(app, lead_id) is None


# -- The export -------------------------------------------------------------------------


def test_the_export_says_not_opted_in_until_the_link_is_pressed(app, staff_client):
    lead_id = make_lead(app, "guide", opt_in=True)
    make_lead(app, "guide", email="alan@example.org", opt_in=False)
    assert opt_in_column(staff_client) == {"grace@example.org": "no", "alan@example.org": "no"}
    app.test_client().get(confirm_path(app, lead_id))  # opened, not pressed
    assert opt_in_column(staff_client)["grace@example.org"] == "no"
    press_confirm(app, confirm_path(app, lead_id))
    assert opt_in_column(staff_client) == {"grace@example.org": "yes", "alan@example.org": "no"}
    (row,) = [r for r in export_rows(staff_client) if r["email"] == "grace@example.org"]
    assert row["marketing_confirmed_at"].startswith(str(datetime.now(UTC).year))


def test_an_unsubscribe_after_confirming_wins_in_the_export(app, staff_client):
    lead_id = make_lead(app, "guide", opt_in=True)
    press_confirm(app, confirm_path(app, lead_id))
    assert opt_in_column(staff_client) == {"grace@example.org": "yes"}
    with app.test_request_context():
        person_id = db.session.get(Lead, lead_id).person_id
        unsubscribe = f"/unsubscribe/{tokens.unsubscribe_token(person_id)}"
    assert app.test_client().post(unsubscribe).status_code == 200
    assert opt_in_column(staff_client) == {"grace@example.org": "no"}
    # Pressing the old confirmation again does not sign her back up.
    press_confirm(app, confirm_path(app, lead_id))
    assert opt_in_column(staff_client) == {"grace@example.org": "no"}


def test_each_request_confirms_its_own_consent(app, staff_client):
    # A later request with the box ticked (maybe newer wording) asks again, and is its own row.
    first = make_lead(app, "guide", opt_in=True, days_ago=3)
    press_confirm(app, confirm_path(app, first))
    second = make_lead(app, "guide", first_name="G", opt_in=True)
    rows = {int(r["lead_id"]): r["marketing_opt_in"] for r in export_rows(staff_client)}
    assert rows == {first: "yes", second: "no"}


def test_newsletter_state_reads_without_writing(app):
    lead_id = make_lead(app, "guide", opt_in=True)
    with app.app_context():
        lead = db.session.get(Lead, lead_id)
        assert privacy.newsletter_state(lead) is privacy.Newsletter.PENDING
        assert not db.session.dirty
        assert db.session.scalars(select(Person)).one().email_normalized == "grace@example.org"
        assert db.session.scalars(select(User)).all() == []


def test_the_lead_page_tells_asked_from_confirmed(app, staff_client):
    lead_id = make_lead(app, "guide", opt_in=True)
    page = staff_client.get(f"/staff/leads/{lead_id}").get_data(as_text=True)
    assert "Asked, not yet confirmed" in page
    press_confirm(app, confirm_path(app, lead_id))
    page = staff_client.get(f"/staff/leads/{lead_id}").get_data(as_text=True)
    assert "Yes, confirmed" in page and "not yet confirmed" not in page


def test_the_box_says_a_confirmation_link_follows(client):
    page = client.get("/guide").get_data(as_text=True)
    assert "has a link to confirm" in page
