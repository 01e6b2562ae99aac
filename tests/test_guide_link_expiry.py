"""The emailed guide link works for GUIDE_LINK_DAYS (14 by default) and not a second more.

The clock the link is read with is held still, so the edges are exact: the last second of
day 14 downloads, the first second after gives the expired page (410). A link valid one day
longer or shorter, or expiring at the very instant of day 14 instead of after it, fails here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import ClassVar

import pytest

from spine_site import tokens
from tests.factories import make_lead

ISSUED = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
DAY, SECOND = timedelta(days=1), timedelta(seconds=1)


class HeldClock(datetime):
    """datetime whose now() is whatever the test set: tokens.py reads the time through it."""

    at: ClassVar[datetime] = ISSUED

    @classmethod
    def now(cls, tz=None) -> datetime:  # type: ignore[override]
        return cls.at if tz is None else cls.at.astimezone(tz)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> type[HeldClock]:
    monkeypatch.setattr(tokens, "datetime", HeldClock)
    HeldClock.at = ISSUED
    return HeldClock


def status_at(app, clock: type[HeldClock], lead_id: int, age: timedelta) -> int:
    with app.test_request_context():
        link = f"/guide/download/{tokens.guide_token(lead_id, ISSUED)}"
    clock.at = ISSUED + age
    return app.test_client().get(link).status_code


@pytest.mark.parametrize(
    ("age", "status"),
    [
        (timedelta(0), 200),
        (13 * DAY, 200),
        (14 * DAY - SECOND, 200),
        (14 * DAY, 200),  # "valid for 14 days" includes the 14th day's last instant
        (14 * DAY + SECOND, 410),
        (15 * DAY, 410),
    ],
)
def test_the_default_link_lasts_exactly_fourteen_days(app, clock, age, status):
    assert app.config["GUIDE_LINK_DAYS"] == 14  # the documented default, from config.py
    lead_id = make_lead(app, "guide")
    assert status_at(app, clock, lead_id, age) == status


@pytest.mark.parametrize(("age", "status"), [(3 * DAY, 200), (3 * DAY + SECOND, 410)])
def test_the_setting_decides_how_long(app_factory, clock, age, status):
    app = app_factory(GUIDE_LINK_DAYS=3)
    lead_id = make_lead(app, "guide")
    assert status_at(app, clock, lead_id, age) == status


def test_an_expired_link_still_offers_a_fresh_one(app, clock):
    lead_id = make_lead(app, "guide")
    with app.test_request_context():
        link = f"/guide/download/{tokens.guide_token(lead_id, ISSUED)}"
    clock.at = ISSUED + 14 * DAY + SECOND
    page = app.test_client().get(link)
    assert page.status_code == 410
    assert f'action="{link}/resend"' in page.get_data(as_text=True)


def test_a_link_signed_with_a_dropped_key_says_so_and_offers_the_guide_form(app):
    # docs/staff.md, "Secrets at rest": what a patient sees after the old key is removed.
    lead_id = make_lead(app, "guide")
    with app.test_request_context():
        link = f"/guide/download/{tokens.guide_token(lead_id)}"
    app.config.update(SECRET_KEY="a-new-key-" + "0123456789" * 4, SECRET_KEY_FALLBACKS=[])
    page = app.test_client().get(link)
    assert page.status_code == 404
    html = page.get_data(as_text=True)
    assert "This link doesn't work" in html and 'href="/guide"' in html
