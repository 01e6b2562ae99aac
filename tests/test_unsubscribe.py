"""Marketing opt-out: a confirm page on GET, RFC 8058 one-click on POST."""

from __future__ import annotations

from sqlalchemy import select

from spine_site import privacy, tokens
from spine_site.extensions import db
from spine_site.models import Lead, Suppression
from tests.factories import make_lead


def opted_in_person(app) -> int:
    """Grace (grace@example.org), who asked for the guide and for marketing email."""
    lead_id = make_lead(app, "guide", opt_in=True)
    with app.app_context():
        return db.session.get(Lead, lead_id).person_id


def url_for_person(app, person_id: int) -> str:
    with app.test_request_context():
        return f"/unsubscribe/{tokens.unsubscribe_token(person_id)}"


def test_get_asks_to_confirm_and_changes_nothing(app):
    url = url_for_person(app, opted_in_person(app))
    response = app.test_client().get(url)
    assert response.status_code == 200 and "<button" in response.get_data(as_text=True)
    # A link checker's HEAD (which Flask routes to the same view) changes nothing either.
    assert app.test_client().head(url).status_code == 200
    with app.app_context():
        assert db.session.scalar(select(Lead.marketing_opt_in)) is True


def test_one_click_post_unsubscribes_without_csrf(app):
    url = url_for_person(app, opted_in_person(app))
    response = app.test_client().post(url, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert "unsubscribed" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Lead.marketing_opt_in)) is False
        assert "GRACE@example.org" in privacy.suppressed_since(["GRACE@example.org"])
    # Twice is harmless.
    assert app.test_client().post(url).status_code == 200
    with app.app_context():
        assert len(db.session.scalars(select(Suppression)).all()) == 1


def test_forged_token_is_404(app):
    opted_in_person(app)
    assert app.test_client().post("/unsubscribe/eyJwIjoxfQ.forged").status_code == 404
