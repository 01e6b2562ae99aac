"""An editor writes a new article at a desk, previews it, adds the medical review and
publishes it; a patient then reads it on a phone."""

from __future__ import annotations

import re

import pytest

from tests.factories import STAFF_PASSWORD, make_user, totp_code

pytestmark = pytest.mark.browser

EDITOR = "editor@clinic.example"
PHONE = {"width": 390, "height": 844}
BODY = (
    "## When to see a physiatrist\n\n"
    "If your back pain lasts longer than a few weeks, a physiatrist can help you move again.\n\n"
    "- Pain that wakes you at night\n- Numbness in a leg\n"
)


def test_an_editor_writes_previews_and_publishes_and_a_phone_reads_it(browser, live_server):
    app, base = live_server.app, live_server.url
    make_user(app, EDITOR, "editor")
    desk = browser.new_context(viewport={"width": 1280, "height": 900})
    page = desk.new_page()
    page.goto(f"{base}/staff/")
    page.get_by_label("Email").fill(EDITOR)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/staff/login/verify$"))
    page.get_by_label("Code").fill(totp_code(app, EDITOR))
    page.get_by_role("button", name="Continue").click()
    # An editor's start page is the article list.
    page.wait_for_url(re.compile(r"/staff/articles$"))

    page.get_by_role("link", name="New article").click()
    page.wait_for_url(re.compile(r"/staff/articles/new$"))
    page.get_by_label("Title").fill("When to see a physiatrist")
    page.get_by_label("Address (slug)").fill("when-to-see-a-physiatrist")
    page.get_by_label("Description").fill("Signs that your back pain needs a specialist.")
    page.get_by_label("Body (Markdown)").fill(BODY)
    page.get_by_label("Frequently asked questions").fill(
        "Q: Do I need a referral?\nA: Most insurance plans do not ask for one."
    )
    page.get_by_role("button", name="Save and preview").click()
    page.wait_for_url(re.compile(r"/staff/articles/\d+/preview$"))
    assert "Preview" in page.locator(".preview-banner").inner_text()
    assert page.locator("article h1").inner_text() == "When to see a physiatrist"
    assert page.locator("meta[name=robots]").get_attribute("content") == "noindex"

    page.get_by_role("link", name="Back to the editor").click()
    page.wait_for_url(re.compile(r"/staff/articles/\d+$"))
    assert "draft" in page.locator(".article-state").inner_text()
    # Without the medical review, publishing is refused in plain words.
    page.get_by_role("button", name="Publish").click()
    page.wait_for_load_state()
    assert "medical reviewer" in page.locator(".flash-error").inner_text()

    page.get_by_label("Medical reviewer").fill("Dana Reyes, MD")
    page.get_by_label("Review date").fill("2026-11-20")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_load_state()
    assert "Saved as revision 2" in page.content()
    page.get_by_label("Now").check()
    page.get_by_role("button", name="Publish").click()
    page.wait_for_load_state()
    assert "Published: readers see it now" in page.content()
    assert page.locator(".article-state").inner_text() == "published"
    desk.close()

    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    reader = phone.new_page()
    response = reader.goto(f"{base}/articles/when-to-see-a-physiatrist")
    assert response is not None and response.status == 200
    assert reader.locator("h1").inner_text() == "When to see a physiatrist"
    assert "a physiatrist can help you move again" in reader.locator(".prose").inner_text()
    assert "Numbness in a leg" in reader.locator(".prose li").nth(1).inner_text()
    meta = reader.locator(".article-header .meta").inner_text()
    assert "Medically reviewed by Dana Reyes, MD on November 20, 2026" in meta
    assert reader.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.close()
