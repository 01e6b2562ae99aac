"""The analytics page fits the screen: on a 1366 px laptop every table shows whole (the
funnel tables were clipped there), and on a 390 px phone the page never slides sideways,
a wide table scrolling inside its own labelled box instead (issue 12)."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from spine_site import clock
from spine_site.analytics import pageviews
from spine_site.desk import casework
from spine_site.extensions import db
from spine_site.models import Lead, LeadStatus, User
from tests.factories import STAFF_PASSWORD, make_lead, make_user, totp_code

pytestmark = pytest.mark.browser

ADMIN = "admin@clinic.example"
ARTICLES = ("/articles/what-is-a-physiatrist", "/articles/first-spine-visit")
LAPTOP = {"viewport": {"width": 1366, "height": 768}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}

# Every table on the page: how wide it is against the box it sits in, how far that box
# reaches past the page's content column, whether the box is a scroll box a keyboard and a
# screen reader can use (focusable, named, scrolls), and any cell whose content overflows it.
MEASURE_TABLES = """() => {
  const content = document.querySelector('main .wrap.staff');
  const edge = content.getBoundingClientRect().right
    - parseFloat(getComputedStyle(content).paddingRight);
  return [...document.querySelectorAll('main table')].map((table) => {
    const box = table.parentElement;
    const caption = table.caption ? table.caption.textContent.trim() : '';
    return {
      name: box.getAttribute('aria-label') || caption || table.rows[0].textContent.trim(),
      tableWidth: table.getBoundingClientRect().width,
      boxWidth: box.clientWidth,
      overhang: box.getBoundingClientRect().right - edge,
      scrolls: ['auto', 'scroll'].includes(getComputedStyle(box).overflowX),
      labelled: box.getAttribute('role') === 'region' && !!box.getAttribute('aria-label')
        && box.tabIndex === 0,
      cellsCut: [...table.querySelectorAll('th, td')]
        .filter((cell) => cell.scrollWidth > cell.clientWidth + 1)
        .map((cell) => cell.textContent.trim()),
    };
  });
}"""


def seed_analytics(app) -> None:
    """A month of views and requests: every table on the page has rows, with long names."""
    with app.app_context():
        today = clock.clinic_today()
        views: Counter = Counter()
        for days_ago in range(30):
            day = today - timedelta(days=days_ago)
            for path in (*ARTICLES, "/", "/schedule", "/guide", "/privacy"):
                views[(day, path)] += 7 + days_ago % 5
        pageviews.add_views(views)
        db.session.commit()
    sources = ("spring-newsletter-back-pain-campaign-2026", "google", "facebook")
    for n in range(12):
        make_lead(
            app,
            "appointment" if n % 3 else "guide",
            email=f"patient{n}@example.com",
            days_ago=n,
            utm={"source": sources[n % 3]},
            source_page=ARTICLES[n % 2],
            placement="embedded",
        )
    make_lead(app, email="referred@example.com", referrer="https://www.example-health-forum.org/t")
    admin_id = make_user(app, ADMIN, "admin")
    with app.app_context():
        admin = db.session.get(User, admin_id)
        for lead in db.session.scalars(select(Lead).limit(4)).all():
            casework.change_status(lead, LeadStatus.CONTACTED, seen=LeadStatus.NEW, by=admin)


def sign_in(page, base: str, app) -> None:
    page.goto(f"{base}/staff/login")
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/staff/login/verify$"))
    page.get_by_label("Code").fill(totp_code(app, ADMIN))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/staff/$"))


@pytest.mark.parametrize("screen", ["laptop", "phone"])
def test_the_analytics_page_fits_the_screen(browser, live_server, screen):
    app = live_server.app
    seed_analytics(app)
    context = browser.new_context(**(LAPTOP if screen == "laptop" else PHONE))
    page = context.new_page()
    try:
        sign_in(page, live_server.url, app)
        page.goto(f"{live_server.url}/staff/analytics")
        # Open the per-day numbers, so their table is measured too.
        page.locator("details summary").first.click()
        inner = page.evaluate("window.innerWidth")
        page_width = page.evaluate("document.scrollingElement.scrollWidth")
        tables = page.evaluate(MEASURE_TABLES)
    finally:
        context.close()

    assert page_width <= inner, f"the page scrolls sideways: {page_width} px in {inner} px"
    assert len(tables) >= 6, tables  # per day, places, two funnels, sources, page views
    for table in tables:
        assert table["cellsCut"] == [], table
        # Its box stays inside the page's content column (a grid that overflows its column
        # by a few pixels hides within the page's padding, so the page width alone misses it).
        assert table["overhang"] <= 0.5, table
        fits = table["tableWidth"] <= table["boxWidth"] + 0.5
        if screen == "laptop":
            # A laptop has room for every table whole: none needs scrolling to be read.
            assert fits, table
        else:
            # A phone may scroll a wide table, inside its own labelled, focusable box.
            assert fits or (table["scrolls"] and table["labelled"]), table


# The chart's text as drawn: its font size times the scale the SVG is drawn at (a viewBox
# shrunk to a phone's width shrinks its text with it), and each table caption's box against
# the box its table scrolls in.
MEASURE_TEXT = """() => ({
  labels: [...document.querySelectorAll('svg.chart text')].map((t) => ({
    text: t.textContent,
    px: parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().d,
    shown: getComputedStyle(t).display !== 'none' && t.getBoundingClientRect().width > 0,
  })),
  captions: [...document.querySelectorAll('main table caption')].map((c) => {
    const box = c.closest('.table-scroll') || c.closest('table').parentElement;
    const inner = box.getBoundingClientRect();
    const outer = c.getBoundingClientRect();
    return {
      text: c.textContent.trim(), width: outer.width, boxWidth: box.clientWidth,
      left: outer.left - inner.left, right: inner.left + box.clientWidth - outer.right,
      cut: c.scrollWidth > c.clientWidth + 1,
    };
  }),
})"""


@pytest.mark.parametrize("screen", ["laptop", "phone"])
def test_chart_labels_are_readable_and_captions_wrap(browser, live_server, screen):
    """Axis labels are drawn at 12 CSS px or more, at 390 px as on a laptop; a long table
    caption wraps inside the box its table scrolls in (issue 25, item 10)."""
    app = live_server.app
    seed_analytics(app)
    context = browser.new_context(**(LAPTOP if screen == "laptop" else PHONE))
    page = context.new_page()
    try:
        sign_in(page, live_server.url, app)
        page.goto(f"{live_server.url}/staff/analytics")
        found = page.evaluate(MEASURE_TEXT)
        page_width = page.evaluate("document.scrollingElement.scrollWidth")
        inner = page.evaluate("window.innerWidth")
    finally:
        context.close()

    shown = [label for label in found["labels"] if label["shown"]]
    assert len(shown) >= 5, found["labels"]  # the y axis' ticks and some days
    assert {label["text"] for label in shown} >= {"0"}
    small = [(label["text"], round(label["px"], 1)) for label in shown if label["px"] < 12]
    assert small == [], f"axis labels under 12 px: {small}"
    assert any("First contact" in caption["text"] for caption in found["captions"])
    for caption in found["captions"]:
        assert caption["width"] <= caption["boxWidth"] + 0.5, caption
        assert caption["left"] >= -0.5 and caption["right"] >= -0.5, caption
        assert not caption["cut"], caption
    assert page_width <= inner
