"""The patient's pages in Spanish (issue 26): every page of the funnel under /es/ says
`<html lang="es">`, names its English twin (and is named by it) with hreflang links, shows a
link to the other language, and carries no English sentence; the forms answer in Spanish,
keep what was typed, and store a Spanish lead.
"""

from __future__ import annotations

import html as htmllib
import re
from html.parser import HTMLParser
from io import BytesIO

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from spine_site.config import clinic_details, hours_text
from spine_site.extensions import db
from spine_site.leads import intake
from spine_site.models import Lead
from spine_site.public.lead_forms import library, render_article
from spine_site.web.i18n import use_language
from tests.html_forms import GUIDE, SCHEDULE, fill, form_posting_to

# Spanish page -> its English twin.
PAGES = {
    "/es/": "/",
    "/es/schedule": "/schedule",
    "/es/guide": "/guide",
    "/es/privacy": "/privacy",
    "/es/schedule/thanks": "/schedule/thanks",
    "/es/schedule/thanks?contact=text&time=evening": "/schedule/thanks?contact=text&time=evening",
    "/es/guide/thanks": "/guide/thanks",
}
# Common English words, whole words only: any of them in a page's visible text means a
# sentence was left in English. None is also a Spanish word (not "a", "me", "no", "error").
ENGLISH = [
    "the", "and", "your", "you", "please", "with", "appointment", "guide", "call", "email",
    "first name", "last name", "required", "phone", "enter", "we", "our", "to", "of", "for",
    "is", "are", "this", "that", "free", "request", "thank", "here", "what", "how", "when",
    "time", "about", "not", "can", "will", "back", "pain", "care", "home", "privacy",
    "articles", "fix", "below", "submit", "book", "visit", "main", "skip",
    "morning", "afternoon", "evening", "emergency", "reason", "optional", "updated",
]  # fmt: skip
_ENGLISH = re.compile(r"\b(" + "|".join(re.escape(w) for w in ENGLISH) + r")\b", re.IGNORECASE)


class _VisibleText(HTMLParser):
    """The words a reader meets: text, and the attributes a browser or screen reader shows
    (alt, title, placeholder, aria-label, a button's value). Not <head> (its description is
    checked apart), scripts (JSON-LD), styles, or an element marked as another language
    (`lang="en"`: the link to the English page)."""

    SKIP = frozenset({"head", "script", "style", "template"})
    SHOWN_ATTRIBUTES = ("alt", "title", "placeholder", "aria-label", "value")
    VOID = frozenset(
        {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._stack: list[tuple[str, bool]] = []

    def _hidden(self) -> bool:
        return any(hidden for _, hidden in self._stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        other_language = tag != "html" and a.get("lang", "es")[:2] != "es"
        hidden = tag in self.SKIP or other_language or a.get("type") == "hidden"
        if not (hidden or self._hidden()):
            for name in self.SHOWN_ATTRIBUTES:
                if a.get(name) and not (name == "value" and tag in {"option", "input"}):
                    self.parts.append(a[name])
        if tag not in self.VOID:
            self._stack.append((tag, hidden))

    def handle_endtag(self, tag: str) -> None:
        while self._stack:
            open_tag, _ = self._stack.pop()
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self._hidden():
            self.parts.append(data)


def visible_text(page: str, clinic: dict[str, str]) -> str:
    parser = _VisibleText()
    parser.feed(page)
    text = " ".join(parser.parts)
    # The clinic's own name, address and phone are the same in every language.
    for key in ("name", "street", "city", "region", "postcode", "phone"):
        text = text.replace(clinic[key], " ")
    return re.sub(r"\s+", " ", text)


def english_words(page: str, clinic: dict[str, str]) -> list[str]:
    text = visible_text(page, clinic)
    meta = re.findall(r'<(?:title|meta name="description" content=")([^<"]*)', page)
    text += " " + " ".join(htmllib.unescape(m) for m in meta)
    for key in ("name", "phone"):
        text = text.replace(clinic[key], " ")
    return [text[max(0, m.start() - 40) : m.end() + 40].strip() for m in _ENGLISH.finditer(text)]


def clinic(app) -> dict[str, str]:
    config = app.config
    return {
        key: config[f"CLINIC_{key.upper()}"]
        for key in ("name", "street", "city", "region", "postcode", "phone")
    }


def alternates(page: str) -> dict[str, str]:
    found = re.findall(r'<link rel="alternate" hreflang="([^"]+)" href="([^"]+)">', page)
    return {code: htmllib.unescape(href) for code, href in found}


def language_link(page: str) -> tuple[str, str, str] | None:
    """(href, hreflang, text) of the visible link to the page in the other language."""
    match = re.search(
        r'<a class="language-link" href="([^"]+)" hreflang="([^"]+)" lang="[^"]+" '
        r'rel="alternate">([^<]+)</a>',
        page,
    )
    return (htmllib.unescape(match.group(1)), match.group(2), match.group(3)) if match else None


# -- Every page of the funnel, in both languages -----------------------------------------


@pytest.mark.parametrize("spanish, english", PAGES.items())
def test_a_spanish_page_and_its_english_twin_name_each_other(client, app, spanish, english):
    site = app.config["SITE_URL"]
    es = client.get(spanish)
    en = client.get(english)
    assert (es.status_code, en.status_code) == (200, 200)
    es_page, en_page = es.get_data(as_text=True), en.get_data(as_text=True)
    assert '<html lang="es">' in es_page
    assert '<html lang="en">' in en_page
    expected = {"en": site + english, "es": site + spanish, "x-default": site + english}
    assert alternates(es_page) == expected
    assert alternates(en_page) == expected
    assert language_link(es_page) == (english, "en", "English")
    assert language_link(en_page) == (spanish, "es", "Español")


@pytest.mark.parametrize("spanish", PAGES)
def test_a_spanish_page_has_no_english_sentence(client, app, spanish):
    response = client.get(spanish)
    assert response.status_code == 200
    assert english_words(response.get_data(as_text=True), clinic(app)) == []


def test_the_word_check_finds_english(client, app):
    """The check above can fail: the English pages are full of the words it looks for."""
    for english in set(PAGES.values()):
        found = english_words(client.get(english).get_data(as_text=True), clinic(app))
        assert len(found) > 5, english


def test_the_spanish_clinic_hours_are_shown_on_spanish_pages(app_factory):
    app = app_factory(
        CLINIC_HOURS_TEXT="Monday to Thursday, 7 am to 4 pm",
        CLINIC_HOURS_TEXT_ES="De lunes a jueves, de 7 a. m. a 4 p. m.",
    )
    client = app.test_client()
    for path in ("/es/", "/es/schedule", "/es/schedule/thanks", "/es/no-such-page"):
        page = htmllib.unescape(client.get(path).get_data(as_text=True))
        assert "De lunes a jueves, de 7 a. m. a 4 p. m." in page, path
        assert "Monday to Thursday" not in page, path
    english = htmllib.unescape(client.get("/schedule/thanks").get_data(as_text=True))
    assert "Monday to Thursday, 7 am to 4 pm" in english and "De lunes" not in english


def test_hours_without_a_spanish_wording_fall_back_to_the_english_one():
    config = {"CLINIC_HOURS_TEXT": "Mon-Fri 8-5", "CLINIC_HOURS_TEXT_ES": None}
    assert hours_text(config, "es") == "Mon-Fri 8-5"
    assert hours_text({**config, "CLINIC_HOURS_TEXT_ES": "Lun-Vie 8-5"}, "es") == "Lun-Vie 8-5"
    assert hours_text({**config, "CLINIC_HOURS_TEXT_ES": "Lun-Vie 8-5"}, "en") == "Mon-Fri 8-5"
    details = clinic_details({**config, "CLINIC_HOURS_TEXT_ES": "Lun-Vie 8-5"}, "es")
    assert details["hours_text"] == "Lun-Vie 8-5"


def test_other_spanish_error_pages_are_in_spanish(client, app):
    refused = client.post("/es/privacy")
    assert refused.status_code == 405
    page = refused.get_data(as_text=True)
    assert "Esa página no se puede usar de esa manera" in page
    assert english_words(page, clinic(app)) == []


def test_the_spanish_thank_you_page_words_the_promise_in_spanish(client):
    page = htmllib.unescape(
        client.get("/es/schedule/thanks?contact=text&time=evening").get_data(as_text=True)
    )
    assert "le enviará un mensaje de texto, como usted pidió" in page
    assert "Usted pidió que le contactemos al final de la tarde" in page
    assert "lo más tarde posible. Horario: De lunes a viernes, de 8 a. m. a 5 p. m." in page


def test_the_spanish_not_found_page_is_in_spanish(client, app):
    response = client.get("/es/no-such-page")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert '<html lang="es">' in page
    assert "No encontramos esa página" in page
    assert 'href="/es/"' in page  # the home page link stays in Spanish
    assert english_words(page, clinic(app)) == []
    english = client.get("/no-such-page").get_data(as_text=True)
    assert "We couldn&#39;t find that page" in english or "We couldn't find that page" in english


def test_a_spanish_post_refused_as_too_frequent_is_in_spanish(app_factory):
    app = app_factory(RATELIMIT_ENABLED=True, RATELIMIT_FORMS="1 per minute")
    client = app.test_client()
    fields = form_posting_to(client.get("/es/guide").get_data(as_text=True), "/es/guide")
    data = fill(fields, "guide", {"first_name": "Rosa", "email": ""})
    assert client.post("/es/guide", data=data).status_code == 422
    refused = client.post("/es/guide", data=data)
    assert refused.status_code == 429
    page = htmllib.unescape(refused.get_data(as_text=True))
    assert "Recibimos varias solicitudes desde su conexión" in page
    assert 'value="Rosa"' in page
    assert english_words(refused.get_data(as_text=True), clinic(app)) == []


# -- The forms in Spanish -----------------------------------------------------------------


def open_spanish(client, name: str) -> dict[str, str]:
    return form_posting_to(client.get(f"/es/{name}").get_data(as_text=True), f"/es/{name}")


def test_a_spanish_schedule_form_with_a_bad_phone_answers_in_spanish(client, app):
    fields = open_spanish(client, "schedule")
    typed = {**SCHEDULE, "first_name": "José", "phone": "12345"}
    response = client.post("/es/schedule", data=fill(fields, "appt", typed))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    text = htmllib.unescape(page)
    assert '<html lang="es">' in page
    assert "Corrija 1 dato a continuación" in text
    assert (
        "Escriba un número de teléfono al que podamos llamar, por ejemplo (217) 555-0134." in text
    )
    # What was typed is all still there.
    assert 'value="José"' in text and 'value="12345"' in text
    assert "Pain down my left leg for six weeks." in text
    assert '<option selected value="sciatica">Ciática</option>' in text
    assert english_words(page.replace(SCHEDULE["message"], ""), clinic(app)) == []
    with app.app_context():
        assert db.session.scalars(select(Lead)).all() == []


def test_an_empty_spanish_schedule_form_lists_every_problem_in_spanish(client, app):
    fields = open_spanish(client, "schedule")
    response = client.post("/es/schedule", data=fields)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    text = htmllib.unescape(page)
    for message in (
        "Escriba su nombre.",
        "Escriba su apellido.",
        "Escriba su correo electrónico.",
        "Escriba su número de teléfono.",
        "Marque esta casilla para que podamos comunicarnos con usted sobre su solicitud.",
    ):
        assert message in text
    assert "Corrija 5 datos a continuación" in text
    assert english_words(page, clinic(app)) == []


def test_an_empty_spanish_guide_form_answers_in_spanish(client, app):
    response = client.post("/es/guide", data=open_spanish(client, "guide"))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Escriba su nombre." in htmllib.unescape(page)
    assert english_words(page, clinic(app)) == []


def test_wtforms_own_messages_are_in_spanish_too(client):
    """A name over 100 characters fails WTForms' own Length check, in the page's language
    (WTForms' own catalog, through the forms' Meta.locales)."""
    fields = open_spanish(client, "guide")
    typed = {**GUIDE, "first_name": "A" * 101}
    page = client.post("/es/guide", data=fill(fields, "guide", typed)).get_data(as_text=True)
    assert "El campo no puede tener más de 100 caracteres." in htmllib.unescape(page)
    english = client.post(
        "/guide", data=fill(form_posting_to(client.get("/guide").text, "/guide"), "guide", typed)
    )
    assert "Field cannot be longer than 100 characters." in english.get_data(as_text=True)


def test_a_spanish_email_and_extension_problem_is_in_spanish(client):
    fields = open_spanish(client, "schedule")
    typed = {**SCHEDULE, "email": "not an address", "phone": "312-555-0123 ext. 123456789"}
    page = htmllib.unescape(
        client.post("/es/schedule", data=fill(fields, "appt", typed)).get_data(as_text=True)
    )
    assert "Escriba un correo electrónico con el formato nombre@ejemplo.com." in page
    assert "Una extensión tiene como máximo 8 dígitos." in page


def test_a_spanish_form_sent_back_for_its_token_or_from_another_site_says_why_in_spanish(
    client, app
):
    fields = fill(open_spanish(client, "guide"), "guide", {**GUIDE, "first_name": "Lucía"})
    damaged = {**fields, "guide-form_token": fields["guide-form_token"][:-2] + "xx"}
    timed_out = client.post("/es/guide", data=damaged)
    assert timed_out.status_code == 400
    page = timed_out.get_data(as_text=True)
    assert "Por su seguridad, este formulario caducó." in htmllib.unescape(page)
    assert 'value="Lucía"' in page
    assert english_words(page.replace(GUIDE["email"], ""), clinic(app)) == []

    other_site = client.post("/es/guide", data=fields, headers={"Sec-Fetch-Site": "cross-site"})
    assert other_site.status_code == 403
    page = other_site.get_data(as_text=True)
    assert "Este formulario se envió desde otro sitio web" in htmllib.unescape(page)
    assert english_words(page.replace(GUIDE["email"], ""), clinic(app)) == []
    with app.app_context():
        assert db.session.scalars(select(Lead)).all() == []


def test_a_spanish_form_the_database_could_not_take_says_so_in_spanish(client, app, monkeypatch):
    def database_down(*args: object, **kwargs: object) -> None:
        raise OperationalError("INSERT", {}, ConnectionError("server closed the connection"))

    monkeypatch.setattr(intake, "capture", database_down)
    fields = fill(open_spanish(client, "schedule"), "appt", SCHEDULE)
    response = client.post("/es/schedule", data=fields)
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "No pudimos guardar su solicitud en este momento." in htmllib.unescape(page)
    assert 'value="Ada"' in page
    typed = page.replace(SCHEDULE["message"], "")
    assert english_words(typed, clinic(app)) == []


def test_a_valid_spanish_schedule_post_stores_a_spanish_lead(client, app):
    fields = open_spanish(client, "schedule")
    response = client.post("/es/schedule", data=fill(fields, "appt", SCHEDULE))
    assert response.status_code == 303
    assert response.headers["Location"] == "/es/schedule/thanks?contact=phone&time=morning"
    thanks = client.get(response.headers["Location"])
    assert thanks.status_code == 200
    assert "Gracias, recibimos su solicitud" in htmllib.unescape(thanks.get_data(as_text=True))
    with app.app_context():
        (lead,) = db.session.scalars(select(Lead)).all()
        assert lead.language == "es"
        assert lead.consent_version is not None and lead.consent_version.endswith("-es")


def test_a_valid_spanish_guide_post_goes_to_the_spanish_thank_you_page(client, app):
    fields = open_spanish(client, "guide")
    response = client.post("/es/guide", data=fill(fields, "guide", GUIDE))
    assert response.status_code == 303
    assert response.headers["Location"] == "/es/guide/thanks"
    with app.app_context():
        (lead,) = db.session.scalars(select(Lead)).all()
        assert lead.language == "es"


def test_the_spanish_form_offers_its_choices_in_spanish(client):
    page = htmllib.unescape(client.get("/es/schedule").get_data(as_text=True))
    for label in (
        "Llamada telefónica",
        "Mensaje de texto",
        "Por la mañana",
        "Al final de la tarde",
    ):
        assert f">{label}</option>" in page
    assert "Acepto que la clínica se comunique conmigo" in page


# -- Staff and exports stay English -------------------------------------------------------


def test_a_spanish_leads_choices_read_in_english_for_staff(client, app, admin_client):
    fields = open_spanish(client, "schedule")
    typed = {**SCHEDULE, "contact_method": "text", "best_time": "evening"}
    assert client.post("/es/schedule", data=fill(fields, "appt", typed)).status_code == 303
    with app.app_context():
        lead_id = db.session.scalars(select(Lead.id)).one()
    page = htmllib.unescape(admin_client.get(f"/staff/leads/{lead_id}").get_data(as_text=True))
    assert "Text message" in page and "Sciatica" in page
    assert "Mensaje de texto" not in page and "Ciática" not in page
    csv = admin_client.get("/staff/leads/export.csv").get_data(as_text=True)
    assert "Text message" in csv and "Early evening" in csv and "Sciatica" in csv
    assert "Mensaje" not in csv and "Ciática" not in csv
    with admin_client.get("/staff/leads/export.xlsx") as response:
        workbook = load_workbook(BytesIO(response.data))
    cells = {str(c.value) for row in workbook.worksheets[0].iter_rows() for c in row if c.value}
    assert {"Text message", "Early evening", "Sciatica"} <= cells
    assert not {"Mensaje de texto", "Al final de la tarde", "Ciática"} & cells


# -- An article's own words around its text -----------------------------------------------

ARTICLE_CHROME = {
    # English -> Spanish
    "On this page": "En esta página",
    "Frequently asked questions": "Preguntas frecuentes",
    "Medical disclaimer": "Aviso médico",
    "Related articles": "Artículos relacionados",
    "Medically reviewed by": "Revisado médicamente por",
    "Schedule an appointment": "Programar una cita",
    "Download the free guide": "Descargue la guía gratuita",
    "This article is general health information": "Este artículo ofrece información general",
}


def test_an_article_page_says_its_own_words_in_the_pages_language(app):
    """The words around an article (its contents list, review line, FAQ and disclaimer
    headings, the two forms) follow the page's language: the bundled physiatrist article and
    its Spanish translation, each rendered in its own language."""
    slugs = {"es": "que-es-un-fisiatra", "en": "what-is-a-physiatrist"}
    for language, words in (("es", ARTICLE_CHROME.values()), ("en", ARTICLE_CHROME)):
        with app.test_request_context("/es/" if language == "es" else "/"):
            use_language(language)
            article = library().get(slugs[language])
            assert article is not None and article.faq and article.toc and article.reviewed
            page, status = render_article(article)
        assert status == 200
        text = htmllib.unescape(page)
        for phrase in words:
            assert phrase in text, (language, phrase)
        if language == "es":
            for english in ARTICLE_CHROME:
                assert english not in text, english
            reviewed = article.reviewed
            months = ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto"]
            months += ["septiembre", "octubre", "noviembre", "diciembre"]
            spanish_date = f"{reviewed.day} de {months[reviewed.month - 1]} de {reviewed.year}"
            assert f">{spanish_date}</time>" in text
            assert 'action="/es/schedule#appt-errors"' in text


# -- What the language links carry, and where they are left out --------------------------


def test_a_visitors_query_string_never_reaches_the_language_links_of_a_kept_page(client, app):
    """Kept pages are shared by every reader of their path: a query one visitor sent (a
    campaign tag, or anything) must not become the links every later reader gets."""
    site = app.config["SITE_URL"]
    for path, twin in (("/es/", "/"), ("/schedule", "/es/schedule"), ("/guide", "/es/guide")):
        tagged = client.get(path + "?utm_source=x&evil=%22%3E").get_data(as_text=True)
        clean = client.get(path).get_data(as_text=True)
        for page in (tagged, clean):
            assert "evil" not in page and "utm_source" not in page
            assert set(alternates(page).values()) == {site + path, site + twin}


def test_the_thank_you_page_keeps_only_its_choices_in_the_other_language(client, app):
    site = app.config["SITE_URL"]
    page = client.get("/schedule/thanks?contact=text&time=dusk&x=1").get_data(as_text=True)
    assert alternates(page)["es"] == site + "/es/schedule/thanks?contact=text"
    assert language_link(page) == ("/es/schedule/thanks?contact=text", "es", "Español")


@pytest.mark.parametrize("path", ["/es/no-such-page", "/no-such-page"])
def test_an_error_page_has_no_language_links(client, path):
    page = client.get(path).get_data(as_text=True)
    assert alternates(page) == {} and language_link(page) is None


def test_each_language_has_its_own_web_manifest(client):
    """A site saved to a phone's home screen from /es/ opens at /es/, described in Spanish."""
    spanish = client.get("/es/").get_data(as_text=True)
    assert '<link rel="manifest" href="/es/manifest.webmanifest">' in spanish
    es = client.get("/es/manifest.webmanifest").get_json()
    en = client.get("/manifest.webmanifest").get_json()
    assert (es["start_url"], es["lang"]) == ("/es/", "es-US")
    assert (en["start_url"], en["lang"]) == ("/", "en-US")
    assert es["description"].startswith("Cuidado de la columna sin cirugía")
    assert en["description"].startswith("Non-surgical spine care")


def test_robots_keeps_the_spanish_private_paths_out_too(client):
    body = client.get("/robots.txt").get_data(as_text=True)
    for path in ("/guide/download/", "/unsubscribe/", "/schedule/thanks", "/guide/thanks"):
        assert f"Disallow: {path}" in body and f"Disallow: /es{path}" in body
