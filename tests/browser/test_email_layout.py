"""Each email's HTML part in Chromium at a 600 px mail pane and a 360 px phone: no sideways
scrolling, readable text, buttons a thumb can hit, and not one request to anywhere.

Chromium stands in for a mail client's web view; every request the page makes is routed,
recorded and refused, so an image, font or stylesheet from any origin fails the test.
"""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from tests.test_email_rendering import every_email_built, html_of

pytestmark = pytest.mark.browser
WIDTHS = (600, 360)
# Calls to action (styled links standing on their own, outside a sentence) in each email.
BUTTONS = {
    "appointment_confirmation": 0,
    "guide": 1,
    "guide_with_news": 2,
    "staff_notification": 1,
    "staff_digest": 1,
}

MEASURE = """() => {
  const texts = [...document.body.querySelectorAll('*')].filter(e =>
    [...e.childNodes].some(n => n.nodeType === Node.TEXT_NODE && n.textContent.trim()));
  const box = e => { const r = e.getBoundingClientRect(); return {w: r.width, h: r.height}; };
  return {
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: innerWidth,
    smallText: texts.map(e => [e.textContent.trim().slice(0, 40), getComputedStyle(e).fontSize])
      .filter(([, size]) => parseFloat(size) < 14),
    buttons: [...document.querySelectorAll('a')].filter(a => !a.closest('p'))
      .map(a => ({label: a.textContent.trim(), ...box(a)})),
    phoneLines: [...document.querySelectorAll('a[href^="tel:"]')]
      .map(a => a.getClientRects().length),
    column: document.querySelector('p').closest('table').getBoundingClientRect().width,
  };
}"""


@pytest.fixture(scope="module")
def emails(tmp_path_factory, migrated_template) -> dict[str, EmailMessage]:
    return every_email_built(tmp_path_factory.mktemp("emails"), migrated_template)


def open_offline(browser, html: str, width: int):
    """The HTML in a page of this width, with every request recorded and refused."""
    page = browser.new_page(viewport={"width": width, "height": 800})
    requests: list[str] = []

    def refuse(route):
        requests.append(route.request.url)
        route.abort()

    page.route("**/*", refuse)
    page.set_content(html, wait_until="load")
    return page, requests


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", list(BUTTONS))
def test_the_email_fits_reads_and_taps_without_loading_anything(browser, emails, name, width):
    page, requests = open_offline(browser, html_of(emails[name]), width)
    try:
        seen = page.evaluate(MEASURE)
    finally:
        page.close()
    assert [url for url in requests if not url.startswith("data:")] == []
    assert seen["scrollWidth"] <= seen["innerWidth"], seen
    assert seen["smallText"] == []
    assert len(seen["buttons"]) == BUTTONS[name], seen["buttons"]
    for button in seen["buttons"]:
        assert button["h"] >= 44 and button["w"] >= 44, button
    assert all(lines == 1 for lines in seen["phoneLines"]), "a phone number wraps"
    assert seen["column"] <= 600


def test_the_column_stops_at_600px_on_a_wide_screen(browser, emails):
    page, _ = open_offline(browser, html_of(emails["guide"]), 1200)
    try:
        assert page.evaluate(MEASURE)["column"] == 600
    finally:
        page.close()


def test_a_request_to_another_origin_would_be_caught(browser):
    """The recorder above sees what an email with a tracking pixel or web font would load."""
    html = (
        '<html><head><link rel="stylesheet" href="https://fonts.example/a.css"></head>'
        '<body><img src="https://pixel.example/open.gif" alt=""></body></html>'
    )
    page, requests = open_offline(browser, html, 600)
    page.close()
    assert sorted(requests) == ["https://fonts.example/a.css", "https://pixel.example/open.gif"]
