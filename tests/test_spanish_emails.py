"""A Spanish-speaking patient's whole path after the form: the emails in Spanish (subject,
both parts, greeting, footer, Content-Language), every link in them opening the /es/ page,
the guide PDF in Spanish and tagged as the English one is, and the pages those links reach
(the download, its expired page and fresh link, newsletter confirmation, unsubscribe).

Emails go through the real SMTP server, as sent. English emails say Content-Language: en;
staff emails stay English and say nothing about the patient.
"""

from __future__ import annotations

import html as htmllib
import io
import re
import sys
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pikepdf
import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import select

from spine_site import tokens
from spine_site.extensions import db
from spine_site.leads import emails, guide
from spine_site.leads.guide import DOWNLOAD_NAMES, GuideContact, guide_pdf
from spine_site.models import EmailKind, Lead, OutboxEmail
from tests.html_forms import GUIDE, PUBLIC_FORM_PREFIX, SCHEDULE, fill, form_posting_to
from tests.support import IN_CI, deliver
from tests.test_guide import structure_types

SITE = "https://clinic.example"
URL = re.compile(r"https?://[^\s<>\"']+")
# English words that have no business in a Spanish patient email (whole words, any case).
ENGLISH = (
    "hello",
    "thank you",
    "your",
    "guide",
    "download",
    "link",
    "emergency",
    "unsubscribe here",
    "request an appointment",
    "clinic news",
    "please",
)


def submit_in_spanish(client: FlaskClient, name: str, values: dict[str, str]):
    """Open the Spanish page of a public form (/es/guide, /es/schedule) and send it."""
    page = f"/es/{name}"
    fields = form_posting_to(client.get(page).get_data(as_text=True), page)
    return client.post(page, data=fill(fields, PUBLIC_FORM_PREFIX[name], values))


def text_of(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def html_of(message: EmailMessage) -> str:
    return message.get_body(("html",)).get_content()


def words_of(message: EmailMessage) -> str:
    """Subject, text part and the HTML part's words (links left out), spaces joined."""
    shown = htmllib.unescape(re.sub(r"<[^>]+>", " ", html_of(message)))
    words = URL.sub(" ", f"{message['Subject']} {text_of(message)} {shown}")
    return re.sub(r"\s+", " ", words)


def flowing(text: str) -> str:
    """The text with its line breaks (the 72-column wrapping) read as spaces."""
    return re.sub(r"\s+", " ", text)


def site_links(message: EmailMessage) -> set[str]:
    """Every link to the site in either part (the List-Unsubscribe one too)."""
    found = set(URL.findall(text_of(message)))
    found |= {htmllib.unescape(h) for h in re.findall(r'href="([^"]+)"', html_of(message))}
    found |= set(URL.findall(message["List-Unsubscribe"] or ""))
    return {link for link in found if link.startswith(SITE)}


def one_email(smtp, address: str) -> EmailMessage:
    (message,) = smtp.inbox.to(address)
    return message


def the_path(link: str) -> str:
    return link.removeprefix(SITE)


def link_to(message: EmailMessage, part: str) -> str:
    (link,) = {link for link in site_links(message) if part in link}
    return the_path(link)


def assert_spanish(message: EmailMessage) -> None:
    assert message["Content-Language"] == "es"
    words = words_of(message).lower()
    for english in ENGLISH:
        assert not re.search(rf"\b{english}\b", words), english
    assert '<html lang="es"' in html_of(message)
    assert "En una emergencia, llame al 911." in text_of(message)
    assert "En una emergencia, llame al 911." in html_of(message)
    # Every link opens the Spanish page: the site's root is /es/, every other page under it.
    links = site_links(message)
    assert links
    for link in links:
        assert link.startswith(f"{SITE}/es/"), link


def spanish_guide_email(smtp_app: Flask, smtp, **values: str) -> EmailMessage:
    """Grace asks for the guide on /es/guide; her email, as delivered."""
    client = smtp_app.test_client()
    response = submit_in_spanish(client, "guide", {**GUIDE, **values})
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/es/")
    assert deliver(smtp_app) == 1
    return one_email(smtp, GUIDE["email"])


def pdf_text(data: bytes) -> str:
    return re.sub(
        r"\s+", " ", " ".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    )


def need_weasyprint() -> None:
    try:
        import weasyprint  # noqa: F401
    except OSError as exc:
        if IN_CI:
            pytest.fail(f"WeasyPrint cannot load Pango in CI ({exc}): .ci/run installs it")
        pytest.skip(f"no Pango ({exc}): apt-get install {guide.PANGO_PACKAGES}")


@pytest.fixture
def fresh_guide_caches():
    guide.forget_built()
    yield
    guide.forget_built()


# -- The guide email and the guide ------------------------------------------------------


def test_a_spanish_guide_request_gets_a_spanish_email_with_spanish_links(smtp_app, smtp):
    message = spanish_guide_email(smtp_app, smtp)
    assert message["Subject"] == f"Su guía gratuita de {smtp_app.config['CLINIC_NAME']}"
    assert_spanish(message)
    text, html = text_of(message), html_of(message)
    assert text.splitlines()[0] == "Hola, Grace:"
    assert "<p>Hola, Grace:</p>" in html
    for phrase in (
        "Aquí tiene su copia gratuita de la",
        "Guía para pacientes sobre el cuidado de la columna sin cirugía",
        "El enlace funciona durante 14 días.",
        "Recibe este correo porque pidió nuestra guía.",
    ):
        assert phrase in flowing(text) and phrase in flowing(html), phrase
    assert "Descargar la guía (PDF)" in html
    assert "cancele su suscripción aquí" in html
    # The phone stands on its own line after its label, as a mail app offers to call it.
    assert re.search(r"^Llame al: \(\d{3}\) \d{3}-\d{4}$", text, re.MULTILINE), text
    assert link_to(message, "/download/").startswith("/es/guide/download/")
    assert link_to(message, "schedule") == "/es/schedule"
    unsubscribe = f"{SITE}{link_to(message, 'unsubscribe')}"
    assert unsubscribe.startswith(f"{SITE}/es/unsubscribe/")
    assert message["List-Unsubscribe"] == f"<{unsubscribe}>"
    assert f"{SITE}/es/" in text.splitlines()  # the footer's link to the site
    # The newsletter block is only for a ticked box.
    assert "noticias de la clínica" not in text


def test_the_spanish_download_link_serves_the_tagged_spanish_guide(smtp_app, smtp):
    need_weasyprint()
    message = spanish_guide_email(smtp_app, smtp)
    response = smtp_app.test_client().get(link_to(message, "/download/"))
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert DOWNLOAD_NAMES["es"] in response.headers["Content-Disposition"]
    assert DOWNLOAD_NAMES["es"] != DOWNLOAD_NAMES["en"]
    pdf = pikepdf.open(io.BytesIO(response.data))
    root = pdf.Root
    assert str(root.Lang) == "es-US"
    assert root.MarkInfo.Marked is True
    assert root.ViewerPreferences.DisplayDocTitle is True
    with pdf.open_metadata() as meta:
        assert meta["dc:title"] == "Guía para pacientes sobre el cuidado de la columna sin cirugía"
    tags = structure_types(pdf)
    assert {"/H1", "/H2", "/H3", "/P", "/L", "/LI"} <= set(tags)
    headings = [t for t in tags if t in ("/H1", "/H2", "/H3")]
    assert headings[0] == "/H1" and headings.count("/H1") == 1
    links = {
        str(annot.A.URI)
        for page in pdf.pages
        for annot in page.get("/Annots", [])
        if annot.Subtype == "/Link" and "/URI" in annot.get("/A", {})
    }
    assert f"{SITE}/es/schedule" in links and f"{SITE}/schedule" not in links
    # Its website link opens the Spanish home page.
    assert f"{SITE}/es/" in links and f"{SITE}/" not in links
    text = pdf_text(response.data)
    for spanish in (
        "Qué traer a su primera consulta",
        "Comuníquese con nosotros",
        "Teléfono:",
        "Horario:",
        "Pida una cita",
        "clinic.example/es/schedule",
        "Página 2 de",
        "llame al 911",
        smtp_app.config["CLINIC_HOURS_TEXT_ES"],
    ):
        assert spanish in text, spanish
    english_hours = smtp_app.config["CLINIC_HOURS_TEXT"]
    for english in (
        "Contact us",
        "Phone:",
        "Website:",
        "Page 2 of",
        "What to bring",
        english_hours,
    ):
        assert english not in text, english


def test_each_language_has_its_own_built_guide(app, fresh_guide_caches):
    with app.app_context():
        english = guide_pdf(GuideContact.from_config(app.config))
        spanish = guide_pdf(GuideContact.from_config(app.config, "es"))
        # Asked again, each comes from the cache: the same bytes, not the other language's.
        assert guide_pdf(GuideContact.from_config(app.config, "en")) is english
        assert guide_pdf(GuideContact.from_config(app.config, "es")) is spanish
    assert "What to bring to your first visit" in pdf_text(english)
    assert "Qué traer a su primera consulta" in pdf_text(spanish)
    assert "What to bring" not in pdf_text(spanish)


def test_a_spanish_bait_name_gets_the_plain_spanish_greeting(smtp_app, smtp):
    message = spanish_guide_email(smtp_app, smtp, first_name="Account Suspended")
    assert text_of(message).splitlines()[0] == "Hola:"
    assert "<p>Hola:</p>" in html_of(message)
    assert "Suspended" not in words_of(message)


def test_a_spanish_guide_request_with_news_asks_for_confirmation_in_spanish(smtp_app, smtp):
    message = spanish_guide_email(smtp_app, smtp, opt_in="y")
    assert_spanish(message)
    text = text_of(message)
    assert "Un paso más para recibir las noticias de la clínica." in text
    assert "Confirmar los correos de noticias de la clínica" in html_of(message)
    confirm = link_to(message, "/newsletter/confirm/")
    assert confirm.startswith("/es/newsletter/confirm/")
    client = smtp_app.test_client()
    page = client.get(confirm).get_data(as_text=True)
    assert "Confirmar los correos de noticias de la clínica" in page
    assert "Sí, envíenme noticias de la clínica" in page
    assert "Confirm clinic news" not in page
    done = client.post(confirm, data=form_posting_to(page, confirm))
    assert done.status_code == 200
    assert "Ya está suscrito a las noticias de la clínica" in done.get_data(as_text=True)


def test_a_spanish_leads_confirmation_link_is_spanish_at_the_english_address_too(smtp_app, smtp):
    """The lead decides the page's language: a link copied without its /es/ stays Spanish."""
    message = spanish_guide_email(smtp_app, smtp, opt_in="y")
    english_address = link_to(message, "/newsletter/confirm/").removeprefix("/es")
    page = smtp_app.test_client().get(english_address).get_data(as_text=True)
    assert "Sí, envíenme noticias de la clínica" in page


def test_unsubscribe_from_a_spanish_email_is_in_spanish(smtp_app, smtp):
    message = spanish_guide_email(smtp_app, smtp)
    unsubscribe = link_to(message, "unsubscribe")
    client = smtp_app.test_client()
    page = client.get(unsubscribe).get_data(as_text=True)
    assert "¿Dejar de recibir las noticias de la clínica?" in page
    assert "Cancelar la suscripción" in page and "Stop clinic news" not in page
    done = client.post(unsubscribe, data=form_posting_to(page, unsubscribe))
    assert done.status_code == 200
    assert "Su suscripción fue cancelada" in done.get_data(as_text=True)
    # The English address of the same token is the English page.
    english = client.get(unsubscribe.removeprefix("/es")).get_data(as_text=True)
    assert "Stop clinic news emails?" in english


# -- Expired and broken links -----------------------------------------------------------


def spanish_guide_lead(smtp_app: Flask, smtp) -> int:
    spanish_guide_email(smtp_app, smtp)
    with smtp_app.app_context():
        return db.session.scalars(select(Lead.id)).one()


def test_an_expired_spanish_link_offers_a_fresh_one_in_spanish(smtp_app, smtp):
    lead_id = spanish_guide_lead(smtp_app, smtp)
    with smtp_app.test_request_context():
        token = tokens.guide_token(lead_id, datetime.now(UTC) - timedelta(days=20))
    old = f"/es/guide/download/{token}"
    client = smtp_app.test_client()
    response = client.get(old)
    assert response.status_code == 410
    page = response.get_data(as_text=True)
    assert "Este enlace de descarga ya venció" in page
    assert "Envíenme un enlace nuevo" in page
    assert "expired" not in page.lower()
    resent = client.post(f"{old}/resend", data=form_posting_to(page, f"{old}/resend"))
    assert resent.status_code == 303
    assert resent.headers["Location"] == "/es/guide/thanks"
    assert deliver(smtp_app) == 1
    _, fresh = smtp.inbox.to(GUIDE["email"])
    assert_spanish(fresh)
    assert fresh["Subject"].startswith("Su guía gratuita")
    download = client.get(link_to(fresh, "/download/"))
    assert download.status_code == 200
    assert DOWNLOAD_NAMES["es"] in download.headers["Content-Disposition"]


def test_an_expired_spanish_link_at_the_english_address_is_still_spanish(smtp_app, smtp):
    lead_id = spanish_guide_lead(smtp_app, smtp)
    with smtp_app.test_request_context():
        token = tokens.guide_token(lead_id, datetime.now(UTC) - timedelta(days=20))
    page = smtp_app.test_client().get(f"/guide/download/{token}").get_data(as_text=True)
    assert "Este enlace de descarga ya venció" in page
    # Its button posts to the Spanish address, so the fresh link's pages stay Spanish too.
    form_posting_to(page, f"/es/guide/download/{token}/resend")


def test_a_broken_link_is_explained_in_the_language_of_its_address(app):
    client = app.test_client()
    spanish = client.get("/es/guide/download/not-a-token")
    assert spanish.status_code == 404
    page = spanish.get_data(as_text=True)
    assert "Este enlace no funciona" in page and "Obtenga la guía gratuita" in page
    assert 'href="/es/guide"' in page
    english = client.get("/guide/download/not-a-token")
    assert english.status_code == 404
    assert "This link doesn" in english.get_data(as_text=True)


# -- The appointment confirmation -------------------------------------------------------


def test_a_spanish_appointment_request_is_confirmed_in_spanish_and_staff_in_english(smtp_app, smtp):
    client = smtp_app.test_client()
    values = {**SCHEDULE, "email": "ana@example.com", "first_name": "Ana"}
    assert submit_in_spanish(client, "schedule", values).status_code == 303
    assert deliver(smtp_app) == 2
    message = one_email(smtp, "ana@example.com")
    assert message["Subject"] == (
        f"Recibimos su solicitud de cita - {smtp_app.config['CLINIC_NAME']}"
    )
    assert message["Content-Language"] == "es"
    text, html = text_of(message), html_of(message)
    assert text.splitlines()[0] == "Hola, Ana:"
    text, html = flowing(text), flowing(html)
    for phrase in (
        "Gracias por pedir una cita con",
        "Ya tenemos su solicitud.",
        "Si prefiere llamarnos primero, nuestro número es",
        "llame al 911 o vaya a la sala de emergencias más cercana.",
        "Por favor, no responda a este correo con detalles médicos",
        "En una emergencia, llame al 911.",
    ):
        assert phrase in text and phrase in html, phrase
    # How and when intake will reach her, with the clinic's hours in Spanish.
    assert smtp_app.config["CLINIC_HOURS_TEXT_ES"] in text
    english_hours = smtp_app.config["CLINIC_HOURS_TEXT"]
    for english in ("Hello", "Thank you for asking", "would rather call", "In an emergency"):
        assert english not in text and english not in html, english
    assert english_hours not in text and english_hours not in html
    assert '<html lang="es"' in html
    assert f"{SITE}/es/" in text_of(message).splitlines()
    staff = one_email(smtp, smtp_app.config["STAFF_NOTIFY_EMAIL"])
    assert staff["Subject"].startswith("New appointment request #")
    assert staff["Content-Language"] is None
    staff_words = words_of(staff)
    assert "In an emergency, call 911." in staff_words
    for word in ("Hola", "emergencia", "Ana", "ana@example.com", "sciatica", "ciática"):
        assert word not in staff_words, word


# -- English stays English; the lead's language holds outside its own request -----------


def test_english_patient_emails_say_content_language_en(smtp_app, smtp):
    client = smtp_app.test_client()
    page = client.get("/guide").get_data(as_text=True)
    fields = fill(form_posting_to(page, "/guide"), "guide", GUIDE)
    assert client.post("/guide", data=fields).status_code == 303
    assert deliver(smtp_app) == 1
    message = one_email(smtp, GUIDE["email"])
    assert message["Content-Language"] == "en"
    assert message["Subject"].startswith("Your free guide from")
    assert text_of(message).splitlines()[0] == "Hello Grace,"
    assert '<html lang="en"' in html_of(message)
    for link in site_links(message):
        assert not link.startswith(f"{SITE}/es/"), link
    assert link_to(message, "schedule") == "/schedule"


def test_a_staff_resend_of_a_spanish_guide_is_spanish(smtp_app, smtp):
    """From a staff page (English) or no request at all, the lead's language holds."""
    lead_id = spanish_guide_lead(smtp_app, smtp)
    with smtp_app.test_request_context("/staff/leads"):
        emails.queue_guide_email(db.session.get(Lead, lead_id))
        db.session.commit()
    with smtp_app.app_context():
        kinds = db.session.scalars(select(OutboxEmail.kind)).all()
    assert kinds == [EmailKind.GUIDE, EmailKind.GUIDE]
    assert deliver(smtp_app) == 1
    _, resent = smtp.inbox.to(GUIDE["email"])
    assert_spanish(resent)
    assert text_of(resent).splitlines()[0] == "Hola, Grace:"


def test_the_guide_build_command_writes_the_spanish_guide(app, tmp_path, fresh_guide_caches):
    out = tmp_path / "guia.pdf"
    result = app.test_cli_runner().invoke(args=["guide", "build", "--language", "es", str(out)])
    assert result.exit_code == 0, result.output
    text = pdf_text(out.read_bytes())
    assert "Qué traer a su primera consulta" in text and "What to bring" not in text


class _NoPango:
    """An import hook that fails to import weasyprint the way a machine without Pango does."""

    def find_spec(self, name, path=None, target=None):
        if name == "weasyprint":
            raise OSError("cannot load library 'libpango-1.0-0': no such file")
        return None


def test_without_pango_a_spanish_lead_still_gets_the_plain_spanish_guide(
    smtp_app, smtp, monkeypatch, fresh_guide_caches
):
    message = spanish_guide_email(smtp_app, smtp)
    monkeypatch.delitem(sys.modules, "weasyprint", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_NoPango(), *sys.meta_path])
    response = smtp_app.test_client().get(link_to(message, "/download/"))
    assert response.status_code == 200
    reader = PdfReader(io.BytesIO(response.data))
    assert "WeasyPrint" not in (reader.metadata.producer or "")
    assert reader.trailer["/Root"]["/Lang"] == "es-US"
    text = pdf_text(response.data)
    for spanish in ("Qué traer a su primera consulta", "Pida una cita", "Página 2 de"):
        assert spanish in text, spanish
    assert "Page 2 of" not in text and "Request an appointment" not in text


def test_spanish_text_parts_wrap_and_carry_every_link_of_the_html(smtp_app, smtp):
    """As test_email_rendering checks the English ones: lines of at most 72 columns, and each
    link of the HTML part on a line of its own in the text part."""
    client = smtp_app.test_client()
    values = {**SCHEDULE, "email": "ana@example.com", "opt_in": "y"}
    assert submit_in_spanish(client, "schedule", values).status_code == 303
    assert submit_in_spanish(client, "guide", {**GUIDE, "opt_in": "y"}).status_code == 303
    assert deliver(smtp_app) == 3
    for message in (one_email(smtp, "ana@example.com"), one_email(smtp, GUIDE["email"])):
        lines = text_of(message).splitlines()
        for line in lines:
            urls = URL.findall(line)
            assert urls == [line] if urls else len(line) <= 72, line
        for link in re.findall(r'href="([^"]+)"', html_of(message)):
            link = htmllib.unescape(link)
            if link.startswith("tel:"):
                assert "(217) 555-0134" in lines or "Llame al: (217) 555-0134" in lines
            else:
                assert link in lines, link
