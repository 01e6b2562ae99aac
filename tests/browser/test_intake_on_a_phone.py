"""Intake staff on a 390 px phone: a request worked from the queue to "scheduled", by touch
and with the keyboard, and no staff page slides sideways."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from spine_site.extensions import db
from spine_site.models import ContactAttempt, Lead, LeadStatus
from tests.factories import STAFF_PASSWORD, make_lead, make_user, totp_code
from tests.site_pages import seed_site, staff_pages

pytestmark = pytest.mark.browser
ADMIN = "admin@clinic.example"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
SIDEWAYS = "document.scrollingElement.scrollWidth - window.innerWidth"


def sign_in_by_keyboard(page, base: str, app) -> None:
    page.goto(f"{base}/staff/login")
    page.get_by_label("Email").focus()
    page.keyboard.type(ADMIN)
    page.keyboard.press("Tab")
    page.keyboard.type(STAFF_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/staff/login/verify$"))
    page.get_by_label("Code").focus()
    page.keyboard.type(totp_code(app, ADMIN))
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/staff/$"))


def test_a_request_worked_from_the_queue_to_scheduled_on_a_phone(browser, live_server):
    app, base = live_server.app, live_server.url
    seed_site(app, ADMIN)
    lead_id = make_lead(
        app,
        first_name="Phoebe",
        last_name="Walker",
        email="phoebe@example.org",
        contact_method="text",
        best_time="morning",
    )
    context = browser.new_context(**PHONE)
    page = context.new_page()
    sign_in_by_keyboard(page, base, app)
    assert page.evaluate(SIDEWAYS) <= 0

    card = page.locator("li.queue-card", has_text="Phoebe Walker")
    assert "Waiting" in card.inner_text() and "Text message, morning" in card.inner_text()
    assert card.locator('a[href^="sms:"]').count() == 1
    # By touch: open "Record a try" on the card; the channel is already "Text", as she
    # asked; one tap records it and comes back to the queue.
    card.locator("summary", has_text="Record a try").tap()
    assert card.get_by_label("Text").is_checked()
    with page.expect_navigation():
        card.get_by_role("button", name="Sent").tap()
    assert page.url == f"{base}/staff/"
    assert f"Sent: recorded for request #{lead_id}." in page.content()
    assert page.evaluate(SIDEWAYS) <= 0

    # With the keyboard: the lead's page from "Mine", then "Reached", then "Scheduled".
    page.goto(f"{base}/staff/?view=mine")
    link = page.get_by_role("link", name="Phoebe Walker")
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/staff/leads/{lead_id}$"))
    assert page.evaluate(SIDEWAYS) <= 0
    page.get_by_role("radio", name="Call").focus()
    page.keyboard.press("Space")
    page.get_by_role("button", name="Reached").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(f"/staff/leads/{lead_id}#attempts")
    assert "Status: Contacted" in page.content()
    page.get_by_label("Status", exact=True).focus()
    page.keyboard.press("End")  # keyboard choice in a select: to the last, then up
    page.get_by_label("Status", exact=True).select_option("scheduled")
    page.get_by_role("button", name="Save status").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "Status changed to Scheduled" in page.content()
    with app.app_context():
        lead = db.session.get(Lead, lead_id)
        assert lead.status is LeadStatus.SCHEDULED
        outcomes = db.session.scalars(
            select(ContactAttempt.outcome).where(ContactAttempt.lead_id == lead_id)
        ).all()
        assert [o.value for o in outcomes] == ["sent", "reached"]
        assert lead.first_reached_at is not None
    context.close()


def test_no_staff_page_scrolls_sideways_at_390_px(browser, live_server):
    app, base = live_server.app, live_server.url
    site = seed_site(app, ADMIN)
    make_lead(
        app,
        first_name="Maximiliana-Alexandrina",
        last_name="Worthington-Featherstonehaugh",
        email="a.very.long.address.for.wrapping@subdomain.example-clinic-partner.org",
        utm={"utm_campaign": "winter-back-pain-awareness-campaign-2026-long-name"},
    )
    context = browser.new_context(**PHONE)
    page = context.new_page()
    sign_in_by_keyboard(page, base, app)
    wide = []
    for name, path, status in staff_pages(site):
        response = page.goto(base + path)
        assert response is not None and response.status == status, path
        overflow = page.evaluate(SIDEWAYS)
        if overflow > 0:
            culprits = page.evaluate(
                """() => [...document.querySelectorAll('body *')]
                  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1
                           && !e.closest('.table-scroll'))
                  .slice(0, 5).map(e => e.tagName + '.' + e.className)"""
            )
            wide.append(f"{name} ({path}): {overflow}px wider; {culprits}")
    context.close()
    assert wide == [], "\n".join(wide)


# Every one-tap control on the page as it opens, by what it does, with its box in the
# viewport's coordinates: the contact links and each channel and outcome of "record a try".
ONE_TAP_BOXES = """() => {
  const kinds = {
    'a[href^="tel:"]': 'call', 'a[href^="sms:"]': 'text', 'a[href^="mailto:"]': 'email',
  };
  const controls = [];
  for (const [selector, kind] of Object.entries(kinds)) {
    document.querySelectorAll('main ' + selector).forEach((c) => controls.push([kind, c]));
  }
  document.querySelectorAll('main form.attempt-form input[type=radio]')
    .forEach((c) => controls.push(['channel ' + c.value, c]));
  document.querySelectorAll('main form.attempt-form button[type=submit]')
    .forEach((c) => controls.push(['outcome ' + c.value, c]));
  return controls.map(([kind, c]) => {
    const box = c.getBoundingClientRect();
    return {kind, top: box.top, bottom: box.bottom, left: box.left, right: box.right};
  });
}"""
FIRST_SCREEN = {
    "call", "text", "email",
    "channel call", "channel text", "channel email",
    "outcome reached", "outcome voicemail", "outcome no_answer", "outcome wrong_number",
    "outcome sent",
}  # fmt: skip


def test_a_try_on_a_long_message_is_one_tap_without_scrolling(browser, live_server):
    """A 2,000-character, many-line message sits below the call/text/email links and the try
    buttons, which all fit the first screen of a 390x844 phone (issue 25, item 8)."""
    app, base = live_server.app, live_server.url
    make_user(app, ADMIN, "admin")
    line = "The pain starts in my lower back and runs down the left leg when I sit."
    message = "\n".join(f"{n}. {line}" for n in range(1, 28))[:2000]
    assert len(message) == 2000 and message.count("\n") >= 25
    lead_id = make_lead(app, first_name="Siân", last_name="O'Neil", message=message)
    context = browser.new_context(**PHONE)
    page = context.new_page()
    sign_in_by_keyboard(page, base, app)
    page.goto(f"{base}/staff/leads/{lead_id}")
    assert page.evaluate("window.scrollY") == 0
    assert page.evaluate(SIDEWAYS) <= 0
    controls = page.evaluate(ONE_TAP_BOXES)
    seen = {c["kind"] for c in controls}
    assert seen == FIRST_SCREEN, seen
    on_screen = [c for c in controls if c["top"] >= 0 and c["bottom"] <= 844 and c["right"] <= 390]
    tops = {c["kind"]: round(c["top"]) for c in controls}
    assert {c["kind"] for c in on_screen} == FIRST_SCREEN, f"not all on screen: {tops}"
    # The message is on the page, whole, below the one-tap controls.
    message_box = page.locator("main .message", has_text="27. The pain").first.bounding_box()
    assert message_box["y"] >= max(c["bottom"] for c in on_screen)

    button = page.get_by_role("button", name="No answer")
    box = button.bounding_box()
    assert page.evaluate("window.scrollY") == 0 and box["y"] + box["height"] <= 844
    with page.expect_navigation():
        button.tap()
    assert page.url.endswith(f"/staff/leads/{lead_id}#attempts")
    assert (
        page.locator(".flash")
        .inner_text()
        .startswith(f"No answer: recorded for request #{lead_id}.")
    )
    assert (
        page.locator("#attempts ~ ol.attempts li").first.inner_text().startswith("Call: No answer")
    )
    assert page.evaluate(SIDEWAYS) <= 0
    context.close()
    with app.app_context():
        outcomes = db.session.scalars(
            select(ContactAttempt.outcome).where(ContactAttempt.lead_id == lead_id)
        ).all()
        assert [o.value for o in outcomes] == ["no_answer"]
