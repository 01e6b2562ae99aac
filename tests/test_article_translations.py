"""Articles in Spanish: the bundled translations, each language's list and addresses, the
hreflang alternates between an article and its translation, the sitemap, and editors
adding, reviewing and keeping translations up to date in the staff area."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, time, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from spine_site import clock
from spine_site.articles import editorial
from spine_site.articles.editorial import State
from spine_site.articles.files import export_all, import_path
from spine_site.articles.render import ArticleError
from spine_site.extensions import db
from spine_site.models import ArticleRecord
from tests.html_forms import form_posting_to
from tests.support import signed_in

EN = "/articles/what-is-a-physiatrist"
ES = "/es/articles/que-es-un-fisiatra"
SITE = "https://clinic.example"  # SITE_URL in tests/support.py
NEW = "/staff/articles/new"
TYPED = {
    "title": "Walking after a disc injury",
    "slug": "walking-after-a-disc-injury",
    "description": "How walking helps a herniated disc heal, and when to rest instead.",
    "summary": "Gentle walking is one of the best things for most disc injuries.",
    "body": "## Why walking helps\n\nWalking brings blood to the disc.",
    "faq": "Q: How far should I walk?\nA: Start with ten minutes, twice a day.",
    "related": "what-is-a-physiatrist",
    "reviewer": "Dana Reyes, MD",
    "reviewed_on": "2026-11-20",
}
SPANISH = {
    "title": "Caminar después de una lesión de disco",
    "slug": "caminar-tras-una-lesion-de-disco",
    "description": "Cómo caminar ayuda a sanar una hernia de disco.",
    "summary": "Caminar con calma es de lo mejor para la mayoría de las lesiones de disco.",
    "body": "## Por qué ayuda caminar\n\nCaminar lleva sangre al disco.",
    "faq": "Q: ¿Cuánto debo caminar?\nA: Empiece con diez minutos, dos veces al día.",
}


@pytest.fixture
def editor(app: Flask) -> FlaskClient:
    return signed_in(app, "editor@clinic.example", "editor")


def page(client: FlaskClient, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, f"GET {path}: {response.status_code}"
    return response.get_data(as_text=True)


def hreflangs(html: str) -> dict[str, str]:
    """The page's <link rel="alternate" hreflang> links: code -> href."""
    return {
        code: href
        for code, href in re.findall(
            r'<link rel="alternate" hreflang="([^"]+)" href="([^"]+)">', html
        )
    }


def language_links(html: str) -> dict[str, str]:
    """The visible links to the page in another language: code -> path."""
    return {
        code: href
        for href, code in re.findall(
            r'<a (?:class="[^"]*" )?href="([^"]+)" hreflang="([^"]+)" lang="[^"]+"', html
        )
    }


def article_links(html: str) -> set[str]:
    """The article links of a page, the link to its other language left out."""
    return set(re.findall(r'href="((?:/es)?/articles/[a-z0-9-]+)"(?! hreflang)', html))


def create(client: FlaskClient, path: str = NEW, **typed: str) -> int:
    fields = form_posting_to(page(client, path), path)
    response = client.post(path, data={**fields, **typed})
    assert response.status_code == 303, response.get_data(as_text=True)
    return int(re.search(r"/staff/articles/(\d+)", response.location).group(1))


def save(client: FlaskClient, article_id: int, **changes: str) -> None:
    path = f"/staff/articles/{article_id}"
    response = client.post(path, data={**form_posting_to(page(client, path), path), **changes})
    assert response.status_code == 303, response.get_data(as_text=True)


def press(client: FlaskClient, article_id: int, action: str, **data: str) -> str:
    path = f"/staff/articles/{article_id}"
    fields = form_posting_to(page(client, path), f"{path}/{action}")
    response = client.post(f"{path}/{action}", data={**fields, **data})
    assert response.status_code == 303 and response.location == path
    return page(client, path)


def the_row(client: FlaskClient, title: str) -> str:
    """The HTML of the article's row in the staff list (by its title, in the first cell)."""
    html = page(client, "/staff/articles")
    first_cell = re.compile(rf'^\s*<tr>\s*<td><a href="/staff/articles/\d+">{re.escape(title)}</a>')
    return next(r for r in re.findall(r"<tr>.*?</tr>", html, re.S) if first_cell.match(r))


def list_row(client: FlaskClient, title: str) -> str:
    """The article's row in the staff list, as text."""
    return " ".join(re.sub(r"<[^>]+>", " ", the_row(client, title)).split())


def translation_cell(client: FlaskClient, title: str) -> str:
    row = the_row(client, title)
    cell = re.search(r'<td class="translation-status">(.*?)</td>', row, re.S)
    assert cell is not None
    return cell.group(1)


def record(app: Flask, slug: str, language: str) -> ArticleRecord:
    found = db.session.scalar(
        select(ArticleRecord).where(ArticleRecord.slug == slug, ArticleRecord.language == language)
    )
    assert found is not None
    return found


# -- The bundled translations -------------------------------------------------------------


def test_a_fresh_database_takes_in_both_spanish_articles_as_translations(app):
    with app.app_context():
        pairs = {
            "que-es-un-fisiatra": "what-is-a-physiatrist",
            "primera-cita-de-columna": "first-spine-visit",
        }
        for slug, original in pairs.items():
            spanish = record(app, slug, "es")
            assert spanish.translation_of is not None
            assert spanish.translation_of.slug == original
            assert spanish.translation_of.language == "en"
            assert editorial.state_of(spanish) is State.PUBLISHED
            assert spanish.live is not None and spanish.live.reviewer
            # Its related articles are Spanish ones.
            assert set(spanish.live.related) <= set(pairs)


def test_the_spanish_article_is_in_spanish_and_links_to_its_english_article(client):
    html = page(client, ES)
    assert '<html lang="es">' in html
    assert "¿Qué es un fisiatra?" in html
    assert hreflangs(html) == {
        "en": SITE + EN,
        "es": SITE + ES,
        "x-default": SITE + EN,
    }
    assert language_links(html) == {"en": EN}
    ld = json.loads(re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)[1])
    page_ld = next(n for n in ld["@graph"] if n["@type"] == "MedicalWebPage")
    assert page_ld["inLanguage"] == "es-US"
    crumbs = next(n for n in ld["@graph"] if n["@type"] == "BreadcrumbList")["itemListElement"]
    assert crumbs[0]["item"] == SITE + "/es/"
    assert [c["name"] for c in crumbs[:2]] == ["Inicio", "Artículos"]
    # Related articles stay in Spanish.
    assert article_links(html) - {ES} == {"/es/articles/primera-cita-de-columna"}


def test_the_english_article_links_to_its_spanish_translation(client):
    html = page(client, EN)
    assert '<html lang="en">' in html
    assert hreflangs(html) == {"en": SITE + EN, "es": SITE + ES, "x-default": SITE + EN}
    assert language_links(html) == {"es": ES}
    ld = json.loads(re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)[1])
    assert next(n for n in ld["@graph"] if n["@type"] == "MedicalWebPage")["inLanguage"] == "en-US"
    assert not any(link.startswith("/es/") for link in article_links(html))


def test_each_language_lists_and_shows_only_its_own_articles(client):
    spanish_home = page(client, "/es/")
    assert article_links(spanish_home) == {ES, "/es/articles/primera-cita-de-columna"}
    english_home = page(client, "/")
    assert article_links(english_home) == {EN, "/articles/first-spine-visit"}
    # An address in the other language's list is not shown as this language's page: it
    # leads on to this language's version (the test of that is below).
    assert client.get("/articles/que-es-un-fisiatra").status_code == 301
    assert client.get("/es/articles/what-is-a-physiatrist").status_code == 301
    # Kept pages are kept per address: the English home page asked again is still English.
    assert article_links(page(client, "/")) == {EN, "/articles/first-spine-visit"}
    assert article_links(page(client, "/es/")) == {ES, "/es/articles/primera-cita-de-columna"}


def test_the_sitemap_lists_both_languages_with_alternates_both_ways(client):
    response = client.get("/sitemap.xml")
    assert response.status_code == 200
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9", "x": "http://www.w3.org/1999/xhtml"}
    root = ET.fromstring(response.data)
    alternates: dict[str, dict[str, str]] = {}
    for url in root.findall("s:url", ns):
        loc = url.find("s:loc", ns).text
        links = url.findall("x:link", ns)
        assert all(link.get("rel") == "alternate" for link in links)
        alternates[loc.removeprefix(SITE)] = {
            link.get("hreflang"): link.get("href") for link in links
        }
    pairs = [
        ("/", "/es/"),
        (EN, ES),
        ("/articles/first-spine-visit", "/es/articles/primera-cita-de-columna"),
        ("/schedule", "/es/schedule"),
        ("/guide", "/es/guide"),
        ("/privacy", "/es/privacy"),
    ]
    assert set(alternates) == {path for pair in pairs for path in pair}
    for english, spanish in pairs:
        expected = {"en": SITE + english, "es": SITE + spanish, "x-default": SITE + english}
        assert alternates[english] == expected, english
        assert alternates[spanish] == expected, spanish


# -- Editors add, review and keep translations up to date --------------------------------


def test_an_editor_adds_a_translation_which_needs_its_own_medical_review(app, editor):
    english = create(editor, **TYPED)
    press(editor, english, "publish")
    reader = app.test_client()
    english_page = page(reader, "/articles/" + TYPED["slug"])
    # No translation yet: no hreflang to Spanish, no language link to a missing page.
    assert "es" not in hreflangs(english_page) and language_links(english_page) == {}
    cell = translation_cell(editor, TYPED["title"])
    assert "No Spanish translation" in cell
    add = f"{NEW}?translation_of={english}"
    assert f'href="{add}"' in cell and "Add Spanish translation" in cell

    # The form starts from the English text and slug, without the English review.
    form = form_posting_to(page(editor, add), add)
    assert form["title"] == TYPED["title"] and form["slug"] == TYPED["slug"]
    assert form["reviewer"] == "" and form["reviewed_on"] == ""
    # The related English article's Spanish translation takes its place.
    assert form["related"].strip() == "que-es-un-fisiatra"

    spanish = create(editor, add, **SPANISH)
    with app.app_context():
        made = db.session.get(ArticleRecord, spanish)
        assert made.language == "es" and made.translation_of_id == english
        assert editorial.state_of(made) is State.DRAFT
        assert made.head.number == 1 and made.head.related == ["que-es-un-fisiatra"]
    assert translation_cell(editor, TYPED["title"]).strip().endswith("Spanish: draft</a>")
    edit_page = page(editor, f"/staff/articles/{spanish}")
    assert "Language: <strong>Spanish</strong>" in edit_page
    assert f'Translation of <a href="/staff/articles/{english}">{TYPED["title"]}</a>' in edit_page
    english_edit = page(editor, f"/staff/articles/{english}")
    assert f'Spanish translation: <a href="/staff/articles/{spanish}">' in english_edit
    # Asking for a second translation leads to the one there is.
    again = editor.get(add)
    assert again.status_code == 303 and again.location.endswith(f"/staff/articles/{spanish}")
    # A translation is not translated.
    page(editor, f"{NEW}?translation_of={spanish}", 404)

    press(editor, spanish, "submit")
    assert "Spanish: in review" in translation_cell(editor, TYPED["title"])
    refused = press(editor, spanish, "publish")
    assert "Add the medical reviewer&#39;s name and the review date" in refused
    page(reader, "/es/articles/" + SPANISH["slug"], 404)
    save(editor, spanish, reviewer="Dana Reyes, MD")
    assert "Add the medical reviewer" in press(editor, spanish, "publish")
    page(reader, "/es/articles/" + SPANISH["slug"], 404)

    today = datetime.now(clock_zone(app)).date()
    save(editor, spanish, reviewed_on=today.isoformat())
    assert "Published: readers see it now" in press(editor, spanish, "publish")
    assert "Spanish: published" in translation_cell(editor, TYPED["title"])

    spanish_path = "/es/articles/" + SPANISH["slug"]
    english_path = "/articles/" + TYPED["slug"]
    spanish_page = page(reader, spanish_path)
    assert SPANISH["title"] in spanish_page and '<html lang="es">' in spanish_page
    assert language_links(spanish_page) == {"en": english_path}
    english_page = page(reader, english_path)
    assert hreflangs(english_page)["es"] == SITE + spanish_path
    assert language_links(english_page) == {"es": spanish_path}
    assert spanish_path in article_links(page(reader, "/es/"))
    assert spanish_path not in article_links(page(reader, "/"))


def clock_zone(app: Flask):
    with app.app_context():
        return clock.clinic_zone()


def test_publishing_the_english_article_again_after_the_review_marks_needs_update(
    app, editor, monkeypatch
):
    english = create(editor, **TYPED)
    press(editor, english, "publish")
    today = datetime.now(clock_zone(app)).date()
    spanish = create(
        editor,
        f"{NEW}?translation_of={english}",
        **SPANISH,
        reviewer="Dana Reyes, MD",
        reviewed_on=today.isoformat(),
    )
    press(editor, spanish, "publish")
    # Reviewed the day the English article was published: up to date.
    assert "Spanish: published" in translation_cell(editor, TYPED["title"])

    # The next day the English article changes and is published again.
    tomorrow = clock.utcnow() + timedelta(days=1)
    monkeypatch.setattr("spine_site.articles.editorial.utcnow", lambda: tomorrow)
    save(editor, english, body=TYPED["body"] + "\n\nA new paragraph.")
    assert "Spanish: published" in translation_cell(editor, TYPED["title"]), "saved, not published"
    press(editor, english, "publish")
    cell = translation_cell(editor, TYPED["title"])
    assert "Spanish needs update" in cell and "Spanish: published" not in cell
    assert "(Spanish needs update)" in page(editor, f"/staff/articles/{english}")

    # The translation brought up to date and reviewed again.
    save(editor, spanish, body=SPANISH["body"] + "\n\nUn párrafo nuevo.")
    save(editor, spanish, reviewed_on=(today + timedelta(days=1)).isoformat())
    press(editor, spanish, "publish")
    assert "Spanish: published" in translation_cell(editor, TYPED["title"])


def test_needs_update_compares_clinic_days(app):
    """The English article's latest publish, as a clinic-time date, against the
    translation's review date: the same clinic day is up to date, the next one is not,
    whatever the UTC date (23:30 in Chicago is the next day in UTC)."""
    with app.app_context():
        zone = clock.clinic_zone()
        spanish = record(app, "que-es-un-fisiatra", "es")
        english = spanish.translation_of
        reviewed = spanish.live.reviewed_on
        assert reviewed == date(2026, 11, 20)

        def at(day: date, hour: int, minute: int) -> bool:
            english.publish_at = datetime.combine(day, time(hour, minute), tzinfo=zone)
            return editorial.needs_update(spanish)

        assert not at(reviewed, 23, 30)
        assert english.publish_at.astimezone(UTC).date() > reviewed  # a UTC date would say yes
        assert at(reviewed + timedelta(days=1), 0, 30)
        assert not at(reviewed - timedelta(days=30), 9, 0)
        # Only a published English article counts.
        english.unpublished_at = clock.utcnow()
        assert not at(reviewed + timedelta(days=1), 9, 0)
        db.session.rollback()


def test_an_article_without_a_translation_shows_no_spanish(app, editor):
    english = create(editor, **TYPED)
    press(editor, english, "publish")
    html = page(app.test_client(), "/articles/" + TYPED["slug"])
    assert hreflangs(html) == {}
    assert "/es/" not in "".join(language_links(html).values())
    assert "No Spanish translation" in list_row(editor, TYPED["title"])
    # A draft translation is not a page either.
    create(editor, f"{NEW}?translation_of={english}", **SPANISH)
    html = page(app.test_client(), "/articles/" + TYPED["slug"])
    assert hreflangs(html) == {} and language_links(html) == {}


# -- Addresses per language ----------------------------------------------------------------


def test_a_spanish_article_may_keep_the_english_slug_and_renames_per_language(app, editor):
    english = create(editor, **TYPED)
    press(editor, english, "publish")
    shared = TYPED["slug"]
    spanish = create(
        editor,
        f"{NEW}?translation_of={english}",
        **{**SPANISH, "slug": shared},
        reviewer="Dana Reyes, MD",
        reviewed_on="2026-11-20",
    )
    press(editor, spanish, "publish")
    reader = app.test_client()
    assert 'lang="es"' in page(reader, f"/es/articles/{shared}")

    # The English article moves first: its old address is the English one's to keep.
    save(editor, english, slug="walking-and-discs")
    press(editor, english, "publish")
    moved = reader.get(f"/articles/{shared}")
    assert moved.status_code == 301 and moved.location.endswith("/articles/walking-and-discs")
    assert page(reader, f"/es/articles/{shared}")  # the Spanish page has not moved
    # Then the Spanish one: the old slug is already kept (by the English article), and the
    # Spanish address still leads on, to the translation.
    save(editor, spanish, slug="caminar-y-discos")
    press(editor, spanish, "publish")
    moved = reader.get(f"/es/articles/{shared}")
    assert moved.status_code == 301 and moved.location.endswith("/es/articles/caminar-y-discos")
    moved = reader.get(f"/articles/{shared}")
    assert moved.status_code == 301 and moved.location.endswith("/articles/walking-and-discs")

    # Unpublishing the translation: its addresses are gone, the English ones are not.
    press(editor, spanish, "unpublish")
    assert reader.get("/es/articles/caminar-y-discos").status_code == 410
    assert reader.get("/articles/walking-and-discs").status_code == 200
    english_page = page(reader, "/articles/walking-and-discs")
    assert hreflangs(english_page) == {} and language_links(english_page) == {}


def test_a_spanish_slug_taken_in_spanish_is_refused_but_free_in_english(app, editor):
    path = f"{NEW}?translation_of="
    with app.app_context():
        first_visit = record(app, "first-spine-visit", "en").id
    english = create(editor, **TYPED)
    # The Spanish address of another Spanish article is taken.
    fields = form_posting_to(page(editor, path + str(english)), path + str(english))
    response = editor.post(
        path + str(english), data={**fields, **SPANISH, "slug": "que-es-un-fisiatra"}
    )
    assert response.status_code == 422
    assert "Another article uses this address" in response.get_data(as_text=True)
    # An English article may use a slug only a Spanish article has.
    create(editor, **{**TYPED, "slug": "primera-cita-de-columna", "title": "Another"})
    assert first_visit  # (the bundled English article is untouched)


# -- Files in and out ---------------------------------------------------------------------


def test_export_writes_spanish_articles_to_es_and_import_takes_them_back(app, tmp_path):
    with app.app_context():
        written = export_all(tmp_path)
        spanish_file = tmp_path / "es" / "que-es-un-fisiatra.md"
        assert spanish_file in written and (tmp_path / "what-is-a-physiatrist.md") in written
        text = spanish_file.read_text(encoding="utf-8")
        assert text.startswith("---\nlanguage: es\ntranslation_of: what-is-a-physiatrist\n")
        assert "language:" not in (tmp_path / "what-is-a-physiatrist.md").read_text()
        results = import_path(tmp_path)
        assert {(a.language, a.slug): status for a, status in results} == {
            ("en", "what-is-a-physiatrist"): "unchanged",
            ("en", "first-spine-visit"): "unchanged",
            ("es", "que-es-un-fisiatra"): "unchanged",
            ("es", "primera-cita-de-columna"): "unchanged",
        }
        db.session.rollback()


def test_import_makes_a_new_translation_and_refuses_an_unknown_original(app, tmp_path):
    folder = tmp_path / "es"
    folder.mkdir()
    good = folder / "caminar.md"
    good.write_text(
        "---\nlanguage: es\ntranslation_of: first-spine-visit\ntitle: Caminar\n"
        "description: Caminar ayuda.\npublished: 2026-11-01\nupdated: 2026-11-02\n"
        "reviewer: Dana Reyes, MD\nstate: draft\n---\n\nCaminar ayuda a la espalda.\n",
        encoding="utf-8",
    )
    with app.app_context():
        # first-spine-visit has its Spanish translation already: one per language.
        with pytest.raises(editorial.EditorialError, match="already has a Spanish"):
            import_path(good)
        db.session.rollback()
        english = editorial.create(
            editorial.Draft(title="Walking", slug="walking", description="d", body="b"), None
        )
        good.write_text(
            good.read_text(encoding="utf-8").replace("first-spine-visit", "walking"),
            encoding="utf-8",
        )
        [(made, status)] = import_path(good)
        assert status == "new" and made.language == "es" and made.translation_of is english
        assert editorial.state_of(made) is State.DRAFT
        unknown = folder / "otro.md"
        unknown.write_text(
            good.read_text(encoding="utf-8").replace(
                "translation_of: walking", "translation_of: nope"
            ),
            encoding="utf-8",
        )
        with pytest.raises(ArticleError, match="translation_of names no English article"):
            import_path(unknown)
        db.session.rollback()


def test_the_commands_export_and_import_the_spanish_folder(app, tmp_path):
    out = tmp_path / "out"
    result = app.test_cli_runner().invoke(args=["articles", "export", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out / 'es' / 'que-es-un-fisiatra.md'}" in result.output
    spanish = out / "es" / "que-es-un-fisiatra.md"
    spanish.write_text(
        spanish.read_text(encoding="utf-8").replace(
            "¿Qué es un fisiatra?", "¿Qué es un médico fisiatra?"
        ),
        encoding="utf-8",
    )
    result = app.test_cli_runner().invoke(args=["articles", "import", str(out)])
    assert result.exit_code == 0, result.output
    assert "updated: es/que-es-un-fisiatra" in result.output
    assert "unchanged: what-is-a-physiatrist" in result.output
    html = page(app.test_client(), ES)
    assert "¿Qué es un médico fisiatra?" in html
    assert "¿Qué es un médico fisiatra?" not in page(app.test_client(), EN)


def test_the_preview_of_a_spanish_article_is_the_spanish_page(app, editor):
    with app.app_context():
        spanish = record(app, "que-es-un-fisiatra", "es").id
    html = page(editor, f"/staff/articles/{spanish}/preview")
    assert '<html lang="es">' in html and "¿Qué es un fisiatra?" in html
    assert 'href="/es/articles/primera-cita-de-columna"' in html
    # The staff pages themselves stay English.
    assert '<html lang="en">' in page(editor, f"/staff/articles/{spanish}")


def test_the_list_shows_each_translation_under_its_english_article(editor):
    html = page(editor, "/staff/articles")
    titles = re.findall(r'<tr>\s*<td><a href="/staff/articles/\d+">([^<]+)</a>', html)
    assert titles.index("¿Qué es un fisiatra?") == titles.index("What Is a Physiatrist?") + 1
    first_visit = titles.index("What to Expect at Your First Spine Appointment")
    assert titles[first_visit + 1].startswith("Qué esperar en su primera cita")


def test_a_spanish_articles_table_is_named_in_spanish_for_screen_readers(client):
    """The comparison table's scrolling region is announced in the page's language."""
    spanish, english = page(client, ES), page(client, EN)
    assert 'role="region" tabindex="0" aria-label="Tabla comparativa"' in spanish
    assert "Comparison table" not in spanish
    assert 'role="region" tabindex="0" aria-label="Comparison table"' in english


def test_an_address_in_the_other_languages_slug_leads_to_the_article_in_this_language(
    client,
):
    """/es/articles/<English slug> (a Spanish reader who edited the address, or a link
    written by hand) opens the Spanish article, and the other way round."""
    english_slug, spanish_slug = EN.rsplit("/", 1)[1], ES.rsplit("/", 1)[1]
    to_spanish = client.get(f"/es/articles/{english_slug}")
    assert (to_spanish.status_code, to_spanish.headers["Location"]) == (301, ES)
    to_english = client.get(f"/articles/{spanish_slug}")
    assert (to_english.status_code, to_english.headers["Location"]) == (301, EN)
    assert client.get("/es/articles/no-such-article").status_code == 404
