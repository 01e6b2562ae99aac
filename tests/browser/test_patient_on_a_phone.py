"""A patient on a phone-size screen asks for an appointment and for the free guide."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import select

from spine_site.extensions import db
from spine_site.models import FormKind, GuideDownload, Lead

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


def wait_for(condition, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_patient_requests_an_appointment_from_the_article_and_gets_the_guide(
    browser, live_server, smtp
):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto(f"{live_server.url}/articles/what-is-a-physiatrist")
    assert page.locator("h1").inner_text() == "What Is a Physiatrist?"
    # Nothing on the page scrolls sideways on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    form = page.locator("#schedule form")
    form.get_by_role("button", name="Request an appointment").click()
    summary = page.locator("#schedule .error-summary")
    assert summary.is_visible()
    assert "Enter your first name." in summary.inner_text()
    assert page.url.endswith("/schedule#appt-errors")

    form = page.locator("#schedule form")
    form.get_by_label("First name").fill("Ada")
    form.get_by_label("Last name").fill("Lovelace")
    form.get_by_label(re.compile("^Email")).fill("ada@example.com")
    form.get_by_label(re.compile("^Phone")).fill("312-867-5309")
    form.get_by_label("Preferred contact method").select_option("text")
    form.get_by_label("Reason for visit").select_option(label="Sciatica")
    form.get_by_label("Anything else we should know?").fill("Worse when sitting.")
    form.get_by_label("I agree that the clinic may contact me").check()
    form.get_by_role("button", name="Request an appointment").click()
    page.wait_for_url(re.compile(r"/schedule/thanks(\?[a-z=&]*)?(#.*)?$"))
    assert "we have your request" in page.locator("h1").inner_text()
    # A text message was asked for: the page promises one, not a call.
    assert "will send you a text message" in page.locator("main").inner_text()

    with live_server.app.app_context():
        lead = db.session.scalars(select(Lead)).one()
        assert (lead.form, lead.phone, lead.contact_method) == (
            FormKind.APPOINTMENT,
            "+13128675309",
            "text",
        )
        assert (lead.placement, lead.source_page) == ("embedded", "/articles/what-is-a-physiatrist")
        db.session.remove()
    wait_for(lambda: len(smtp.inbox.to("ada@example.com")) == 1)

    # Now the guide, from its own page.
    page.get_by_role("link", name="Get the free guide while you wait").click()
    page.wait_for_url(re.compile(r"/guide$"))
    page.get_by_label("First name").fill("Ada")
    page.get_by_label(re.compile("^Email")).fill("ada@example.com")
    page.get_by_role("button", name="Email me the free guide").click()
    page.wait_for_url(re.compile(r"/guide/thanks(#.*)?$"))
    assert "Check your inbox" in page.locator("h1").inner_text()

    wait_for(lambda: any("guide" in m["Subject"] for m in smtp.inbox.to("ada@example.com")))
    guide_mail = next(m for m in smtp.inbox.to("ada@example.com") if "guide" in m["Subject"])
    link = next(
        line.strip()
        for line in guide_mail.get_body(("plain",)).get_content().splitlines()
        if "/guide/download/" in line
    )
    assert link.startswith(live_server.url)
    response = page.request.get(link)
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"

    with live_server.app.app_context():
        assert len(db.session.scalars(select(Lead)).all()) == 2
        assert len(db.session.scalars(select(GuideDownload)).all()) == 1
        db.session.remove()
    # Every request the pages made went to this site.
    assert requested and all(url.startswith(live_server.url) for url in requested), requested
    # Let the icon and stylesheet requests finish: a connection dropped mid-file leaves the
    # test server's file handle to the garbage collector.
    page.wait_for_load_state("networkidle")
    context.close()


def test_keyboard_user_can_skip_to_content(browser, live_server):
    page = browser.new_page(viewport=PHONE)
    page.goto(f"{live_server.url}/schedule")
    page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    assert skip.evaluate("el => el === document.activeElement")
    assert skip.is_visible()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"#main$"))  # (a fragment navigation: wait for it)
    page.wait_for_load_state("networkidle")
    page.close()
