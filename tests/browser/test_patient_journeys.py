"""Patients on a phone and on a desktop, with JavaScript on and off, using only the keyboard.

The site sends no script at all, so "JavaScript off" proves nothing depends on it; both runs
still go through the real browser's form submission, fragment focus and layout.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from spine_site.extensions import db
from spine_site.models import FormKind, Lead

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
ARTICLE = "/articles/what-is-a-physiatrist"
PUBLIC_PAGES = ["/", ARTICLE, "/articles/first-spine-visit", "/schedule", "/guide", "/privacy"]


def active_id(page) -> str:
    return page.evaluate("document.activeElement && document.activeElement.id")


def wait_for_focus(page, element_id: str) -> None:
    """Focus after a navigation or a fragment jump lands a moment later: wait for it."""
    page.wait_for_function(
        "id => document.activeElement && document.activeElement.id === id",
        arg=element_id,
        timeout=5000,
    )


def tab_to(page, element_id: str, limit: int = 80) -> None:
    """Press Tab until `element_id` has focus, as a keyboard user would."""
    for _ in range(limit):
        if active_id(page) == element_id:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"#{element_id} was not reached with Tab")


def type_into(page, element_id: str, text: str) -> None:
    tab_to(page, element_id)
    page.keyboard.press("Control+A")
    page.keyboard.type(text)


def stored_leads(live_server) -> list[Lead]:
    with live_server.app.app_context():
        rows = db.session.scalars(select(Lead).order_by(Lead.id)).all()
        for row in rows:
            db.session.expunge(row)
        db.session.remove()
        return rows


@pytest.mark.parametrize("javascript", [True, False], ids=["js-on", "js-off"])
@pytest.mark.parametrize("device", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_keyboard_only_appointment_request_from_the_article(
    browser, live_server, device, javascript
):
    context = browser.new_context(**device, java_script_enabled=javascript)
    page = context.new_page()
    page.goto(live_server.url + ARTICLE)

    # The first Tab reaches the skip link; it takes the reader to the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"#main$"))  # (a fragment navigation: wait for it)

    # Fill in part of the form, with a mistyped email, and send it with Enter.
    type_into(page, "appt-first_name", "Ada")
    type_into(page, "appt-last_name", "Lovelace")
    type_into(page, "appt-email", "ada@example")
    type_into(page, "appt-phone", "312-867-5309")
    tab_to(page, "appt-consent")
    page.keyboard.press("Space")
    tab_to(page, "appt-first_name")
    with page.expect_navigation():
        page.keyboard.press("Enter")

    # Back with errors: the summary has focus and says what to fix, with a link per field.
    assert page.url.endswith("/schedule#appt-errors")
    wait_for_focus(page, "appt-errors")
    summary = page.locator("#appt-errors")
    assert summary.get_attribute("role") == "alert"
    links = summary.locator("a")
    assert links.count() == 1
    assert links.first.get_attribute("href") == "#appt-email"
    # What was typed is still there.
    assert page.locator("#appt-first_name").input_value() == "Ada"
    assert page.locator("#appt-consent").is_checked()
    email = page.locator("#appt-email")
    assert email.get_attribute("aria-invalid") == "true"
    assert "appt-email-error" in email.get_attribute("aria-describedby")

    # The summary's link takes the keyboard to the field.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('href')") == "#appt-email"
    page.keyboard.press("Enter")
    wait_for_focus(page, "appt-email")
    page.keyboard.press("Control+A")
    page.keyboard.type("ada@example.com")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/schedule/thanks(\?[a-z=&]*)?(#.*)?$"))

    (lead,) = stored_leads(live_server)
    assert (lead.form, lead.email, lead.placement) == (
        FormKind.APPOINTMENT,
        "ada@example.com",
        "embedded",
    )
    context.close()


@pytest.mark.parametrize("javascript", [True, False], ids=["js-on", "js-off"])
def test_keyboard_only_guide_request_on_its_own_page(browser, live_server, javascript):
    context = browser.new_context(**PHONE, java_script_enabled=javascript)
    page = context.new_page()
    page.goto(live_server.url + "/guide")
    tab_to(page, "guide-first_name")
    with page.expect_navigation():
        page.keyboard.press("Enter")  # nothing filled in
    wait_for_focus(page, "guide-errors")
    hrefs = page.locator("#guide-errors a").evaluate_all("els => els.map(e => e.hash)")
    assert hrefs == ["#guide-first_name", "#guide-email"]
    type_into(page, "guide-first_name", "Grace")
    type_into(page, "guide-email", "grace@example.org")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "Check your inbox" in page.locator("h1").inner_text()
    assert [lead.email for lead in stored_leads(live_server)] == ["grace@example.org"]
    context.close()


def test_focus_is_always_visible(browser, live_server):
    page = browser.new_page(**{"viewport": DESKTOP["viewport"]})
    page.goto(live_server.url + ARTICLE)
    seen = 0
    for _ in range(25):
        page.keyboard.press("Tab")
        outline = page.evaluate(
            "(() => { const s = getComputedStyle(document.activeElement);"
            " return [s.outlineStyle, parseFloat(s.outlineWidth)]; })()"
        )
        assert outline[0] != "none" and outline[1] >= 2, outline
        seen += 1
    assert seen == 25
    page.close()


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_pages_reflow_at_320_px_without_sideways_scrolling(browser, live_server, path):
    page = browser.new_page(viewport={"width": 320, "height": 640})
    page.goto(live_server.url + path)
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    page.close()


@pytest.mark.parametrize("path", ["/", ARTICLE, "/schedule"])
def test_text_zoomed_to_200_percent_still_fits(browser, live_server, path):
    # Text-only zoom (the browser setting that enlarges fonts, not the layout).
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(live_server.url + path)
    base = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    page.evaluate("document.documentElement.style.fontSize = '200%'")
    assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") >= 1.9 * base
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    # The main call to action is still whole on screen.
    button = page.get_by_role("link", name=re.compile("Book a visit")).first
    box = button.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 1280
    page.close()


def test_reduced_motion_is_honoured(browser, live_server):
    page = browser.new_page()
    page.emulate_media(reduced_motion="no-preference")
    page.goto(live_server.url + ARTICLE)
    assert page.evaluate("getComputedStyle(document.documentElement).scrollBehavior") == "smooth"
    page.emulate_media(reduced_motion="reduce")
    assert page.evaluate("getComputedStyle(document.documentElement).scrollBehavior") == "auto"
    page.close()
