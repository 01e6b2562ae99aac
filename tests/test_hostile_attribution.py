"""What a visitor sends about their visit (Referer, the spine_visit cookie, campaign tags)
is theirs to forge. It is checked when read, and no stored value can make a staff page fail.

(Security review, issue 11, finding 1: a referrer of "http://[::1" broke the lead list for
every role.)
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from spine_site.extensions import db
from spine_site.models import Lead
from tests.factories import make_lead
from tests.html_forms import GUIDE, submit_public_form

# Values no browser sends for a real visit, as they could reach the database: from an older
# version's cookie, a forged one, or an import.
MALFORMED_URLS = [
    "http://[::1",
    "http://[",
    "https://[::1]:99999/x",
    "http://%zz%zz/",
    "javascript:alert(1)",
    "://no-scheme",
    "http://",
    "//evil.example/path",
    "http://exa mple.com/",
    "http://\u202eelpmaxe.com/",
    "x" * 300,
    "http://例え.テスト/記事?q=\u00e9",
]
ODD_TEXT = ["<script>alert(1)</script>", '=HYPERLINK("http://x")', "\u202e", "a" * 100, "%00"]


def test_a_forged_visit_cookie_keeps_only_what_it_could_honestly_hold(app, client):
    forged = urlencode({"l": "//evil.example/landing", "r": "http://[::1", "u_source": "ok"})
    client.set_cookie("spine_visit", forged)
    assert submit_public_form(client, "guide", GUIDE).status_code == 303
    with app.app_context():
        lead = db.session.scalars(select(Lead)).one()
        assert (lead.referrer, lead.landing_page, lead.utm_source) == (None, None, "ok")


def test_an_outside_referrer_is_kept_and_a_broken_one_is_not(app):
    client = app.test_client()
    client.get("/guide", headers={"Referer": "https://search.example/?q=back+pain"})
    assert submit_public_form(client, "guide", GUIDE).status_code == 303
    other = app.test_client()
    other.get("/guide", headers={"Referer": "http://[::1"})
    assert (
        submit_public_form(other, "guide", {**GUIDE, "email": "b@example.org"}).status_code == 303
    )
    with app.app_context():
        stored = dict(db.session.execute(select(Lead.email, Lead.referrer)).all())
    assert stored == {
        "grace@example.org": "https://search.example/?q=back+pain",
        "b@example.org": None,
    }


@pytest.mark.parametrize(
    "path",
    [
        "/staff/",
        "/staff/?spam=include",
        "/staff/leads/{lead}",
        "/staff/leads/export.csv",
        "/staff/analytics",
        "/staff/analytics.csv",
        "/staff/audit",
        "/staff/users",
        "/staff/password",
    ],
)
def test_no_stored_value_makes_a_staff_page_fail(app, admin_client, path):
    first = None
    for n, url in enumerate(MALFORMED_URLS):
        text = ODD_TEXT[n % len(ODD_TEXT)]
        lead = make_lead(
            app,
            "guide" if n % 2 else "appointment",
            email=f"p{n}@example.org",
            referrer=url,
            landing_page=url,
            source_page=url,
            # Half without a campaign: the list then shows the referrer's host.
            utm={"source": text, "medium": url[:100], "campaign": text} if n % 2 else None,
        )
        first = first or lead
    response = admin_client.get(path.format(lead=first))
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
