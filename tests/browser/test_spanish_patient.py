"""A patient who reads Spanish, on a phone: from the English article to its Spanish
translation, a Spanish appointment request with one mistake, the thank-you page, and the
guide, whose email links to the Spanish PDF. No English sentence on the way."""

from __future__ import annotations

import re
import time
from io import BytesIO

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from spine_site.extensions import db
from spine_site.models import FormKind, Lead

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}
# Words that would show an English sentence left on a Spanish page.
ENGLISH = re.compile(r"\b(the|and|your|you|please|with|enter|appointment|guide)\b", re.I)


def wait_for(condition, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def english_in(text: str) -> list[str]:
    return ENGLISH.findall(text)


def test_a_spanish_reader_requests_an_appointment_and_gets_the_spanish_guide(
    browser, live_server, smtp
):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    # The English article offers its Spanish translation; the reader takes it.
    page.goto(f"{live_server.url}/articles/what-is-a-physiatrist")
    page.locator("header a[hreflang=es]").click()
    page.wait_for_url(re.compile(r"/es/articles/que-es-un-fisiatra$"))
    assert page.locator("html").get_attribute("lang") == "es"
    assert page.locator("h1").inner_text() == "¿Qué es un fisiatra?"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert not english_in(page.locator("main").inner_text())

    # The appointment form in the article, with one mistake: a phone number too short.
    form = page.locator("#schedule form")
    form.locator("#appt-first_name").fill("Lucía")
    form.locator("#appt-last_name").fill("Hernández")
    form.locator("#appt-email").fill("lucia@example.com")
    form.locator("#appt-phone").fill("312-867")
    form.locator("#appt-reason").select_option("sciatica")
    form.locator("#appt-message").fill("Me duele más al estar sentada.")
    form.locator("#appt-consent").check()
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/es/schedule#appt-errors$"))
    summary = page.locator("#appt-errors")
    assert summary.is_visible()
    assert summary.locator("a").evaluate_all("els => els.map(e => e.hash)") == ["#appt-phone"]
    assert not english_in(summary.inner_text()), summary.inner_text()
    # What she typed is all still there.
    assert page.locator("#appt-first_name").input_value() == "Lucía"
    assert page.locator("#appt-message").input_value() == "Me duele más al estar sentada."
    assert page.locator("#appt-consent").is_checked()

    page.locator("#appt-phone").fill("312-867-5309")
    page.locator("#schedule form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/es/schedule/thanks(\?[a-z=&]*)?(#.*)?$"))
    assert page.locator("html").get_attribute("lang") == "es"
    assert not english_in(page.locator("main").inner_text())

    with live_server.app.app_context():
        lead = db.session.scalars(select(Lead)).one()
        assert (lead.form, lead.language, lead.phone) == (
            FormKind.APPOINTMENT,
            "es",
            "+13128675309",
        )
        assert lead.consent_version.endswith("-es")
        db.session.remove()
    wait_for(lambda: len(smtp.inbox.to("lucia@example.com")) == 1)
    confirmation = smtp.inbox.to("lucia@example.com")[0]
    assert confirmation["Content-Language"] == "es"

    # The guide, from the Spanish guide page.
    page.goto(f"{live_server.url}/es/guide")
    page.locator("#guide-first_name").fill("Lucía")
    page.locator("#guide-email").fill("lucia@example.com")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/es/guide/thanks(#.*)?$"))
    assert not english_in(page.locator("main").inner_text())

    wait_for(lambda: len(smtp.inbox.to("lucia@example.com")) == 2)
    guide_mail = smtp.inbox.to("lucia@example.com")[1]
    assert guide_mail["Content-Language"] == "es"
    text = guide_mail.get_body(("plain",)).get_content()
    # (The links' own paths, /es/guide/..., are addresses, not sentences.)
    assert not english_in(re.sub(r"https?://\S+", "", text)), text
    link = next(line.strip() for line in text.splitlines() if "/es/guide/download/" in line)
    assert link.startswith(live_server.url)
    response = page.request.get(link)
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    pdf = PdfReader(BytesIO(response.body()))
    assert pdf.trailer["/Root"]["/Lang"] == "es-US"
    assert "Guía para pacientes" in pdf.pages[0].extract_text()

    # Every request the pages made went to this site.
    assert requested and all(url.startswith(live_server.url) for url in requested), requested
    page.wait_for_load_state("networkidle")
    context.close()
