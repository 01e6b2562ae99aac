"""Editors write, preview, review and publish articles in the staff area, through the pages
as each role would: the buttons, the state machine, revisions, and what readers then get."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html.parser import HTMLParser

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from spine_site import clock
from spine_site.accounts.audit import AuditEvent
from spine_site.extensions import db
from spine_site.models import ArticleRecord
from tests.html_forms import form_posting_to, forms_in
from tests.support import signed_in

NEW = "/staff/articles/new"
TYPED = {
    "title": "Walking after a disc injury",
    "slug": "walking-after-a-disc-injury",
    "description": "How walking helps a herniated disc heal, and when to rest instead.",
    "summary": "Gentle walking is one of the best things for most disc injuries.",
    "body": "## Why walking helps\n\nRest helps most back pain for a day or two.\n\n"
    "Then walking brings blood to the disc.",
    "faq": "Q: How far should I walk?\nA: Start with ten minutes, twice a day.",
    "related": "what-is-a-physiatrist",
    "reviewer": "Dana Reyes, MD",
    "reviewed_on": "2026-11-20",
}


@pytest.fixture
def editor(app: Flask) -> FlaskClient:
    return signed_in(app, "editor@clinic.example", "editor")


def page(client: FlaskClient, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, f"GET {path}: {response.status_code}"
    return response.get_data(as_text=True)


def create(client: FlaskClient, **typed: str) -> int:
    """Write a new article on the "New article" page; returns its id."""
    fields = form_posting_to(page(client, NEW), NEW)
    response = client.post(NEW, data={**fields, **TYPED, **typed})
    assert response.status_code == 303, response.get_data(as_text=True)
    return int(re.search(r"/staff/articles/(\d+)", response.location).group(1))


def save(client: FlaskClient, article_id: int, **changes: str) -> TestResponse:
    """Change fields on the edit page and press Save."""
    path = f"/staff/articles/{article_id}"
    return client.post(path, data={**form_posting_to(page(client, path), path), **changes})


def press(client: FlaskClient, article_id: int, action: str, **data: str) -> str:
    """Press a button on the article's page; returns the page it comes back to."""
    path = f"/staff/articles/{article_id}"
    fields = form_posting_to(page(client, path), f"{path}/{action}")
    response = client.post(f"{path}/{action}", data={**fields, **data})
    assert response.status_code == 303 and response.location == path
    return page(client, path)


def state_in_list(client: FlaskClient, title: str = TYPED["title"]) -> str:
    html = page(client, "/staff/articles")
    row = next(r for r in re.findall(r"<tr>.*?</tr>", html, re.S) if title in r)
    return " ".join(re.sub(r"<[^>]+>", " ", re.findall(r"<td>(.*?)</td>", row, re.S)[1]).split())


def public(client: FlaskClient, slug: str = TYPED["slug"]) -> TestResponse:
    return client.get(f"/articles/{slug}")


def audited(app: Flask, action: str) -> int:
    with app.app_context():
        return len(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all())


def bundled_title(app: Flask) -> str:
    return app.extensions["articles"].get("what-is-a-physiatrist").title


# -- The state machine, through the buttons ------------------------------------------------


def test_draft_review_publish_unpublish_and_publish_again(app, editor):
    article = create(editor)
    assert state_in_list(editor) == "draft"
    reader = app.test_client()
    assert public(reader).status_code == 404

    assert "Submitted for review" in press(editor, article, "submit")
    assert state_in_list(editor) == "in review"
    assert public(reader).status_code == 404

    assert "Published: readers see it now" in press(editor, article, "publish")
    assert state_in_list(editor) == "published"
    shown = public(reader)
    assert shown.status_code == 200
    html = shown.get_data(as_text=True)
    assert TYPED["title"] in html and "Then walking brings blood to the disc." in html
    assert "Medically reviewed by Dana Reyes, MD" in html and "How far should I walk?" in html
    assert TYPED["title"] in page(reader, "/")  # the home page lists it

    assert "Unpublished" in press(editor, article, "unpublish")
    assert state_in_list(editor) == "unpublished"
    gone = public(reader)
    assert gone.status_code == 410
    assert bundled_title(app) in gone.get_data(as_text=True)
    assert "/articles/what-is-a-physiatrist" in gone.get_data(as_text=True)

    press(editor, article, "publish")
    assert state_in_list(editor) == "published" and public(reader).status_code == 200
    assert audited(app, "article_publish") == 2 and audited(app, "article_unpublish") == 1


def test_publishing_needs_a_medical_reviewer_and_a_review_date(app, editor):
    article = create(editor, reviewer="", reviewed_on="")
    refused = press(editor, article, "publish")
    assert "Add the medical reviewer&#39;s name and the review date before publishing" in refused
    assert public(app.test_client()).status_code == 404

    save(editor, article, reviewer="Dana Reyes, MD")
    assert "Add the medical reviewer" in press(editor, article, "publish")
    assert state_in_list(editor) == "draft"

    save(editor, article, reviewed_on="2026-11-21")
    press(editor, article, "publish")
    html = public(app.test_client()).get_data(as_text=True)
    assert "Medically reviewed by Dana Reyes, MD on" in html and "November 21, 2026" in html
    assert '"lastReviewed": "2026-11-21"' in html or '"lastReviewed":"2026-11-21"' in html


def test_a_scheduled_article_appears_when_its_time_comes(app, editor, monkeypatch):
    article = create(editor)
    with app.app_context():
        zone = clock.clinic_zone()
    tomorrow = (datetime.now(zone) + timedelta(days=1)).date()
    done = press(editor, article, "publish", when="later", at=f"{tomorrow.isoformat()}T09:00")
    assert "Scheduled: readers see it from" in done
    expected = datetime.combine(tomorrow, datetime.min.time(), tzinfo=zone).replace(hour=9)
    with app.app_context():
        record = db.session.get(ArticleRecord, article)
        assert record.publish_at == expected
    assert state_in_list(editor).startswith(f"scheduled for {tomorrow.isoformat()} 09:00")
    reader = app.test_client()
    assert public(reader).status_code == 404
    assert audited(app, "article_schedule") == 1

    later = expected + timedelta(minutes=1)
    monkeypatch.setattr("spine_site.articles.live.utcnow", lambda: later)
    monkeypatch.setattr("spine_site.articles.editorial.utcnow", lambda: later)
    assert public(reader).status_code == 200
    assert state_in_list(editor) == "published"


def test_a_publish_time_without_a_date_is_refused_in_plain_words(app, editor):
    article = create(editor)
    path = f"/staff/articles/{article}"
    fields = form_posting_to(page(editor, path), f"{path}/publish")
    refused = editor.post(f"{path}/publish", data={**fields, "when": "later", "at": ""})
    assert refused.status_code == 422
    assert "Enter the date and time to publish" in refused.get_data(as_text=True)
    assert state_in_list(editor) == "draft"


# -- Revisions, compare, restore ----------------------------------------------------------


def test_every_save_is_a_revision_compare_shows_words_and_restore_adds_one(app, editor):
    article = create(editor)
    body = TYPED["body"].replace("Rest helps", "Walking helps")
    assert save(editor, article, body=body, note="Walking first").status_code == 303
    assert "Nothing had changed" in (
        save(editor, article).status_code == 303 and page(editor, f"/staff/articles/{article}")
    )

    revisions = page(editor, f"/staff/articles/{article}/revisions")
    assert "Walking first" in revisions and "editor@clinic.example" in revisions
    assert len(re.findall(r"<tr>", revisions)) == 3  # the heading row and two revisions

    compared = page(editor, f"/staff/articles/{article}/compare?a=1&b=2")
    removed = re.findall(r'<del class="diff-removed">(.*?)</del>', compared, re.S)
    added = re.findall(r'<ins class="diff-added">(.*?)</ins>', compared, re.S)
    assert any("Rest" in r for r in removed) and any("Walking" in a for a in added)
    assert "Body" in compared and '<h2 id="diff-1">Title</h2>' not in compared

    fields = form_posting_to(revisions, f"/staff/articles/{article}/revisions/1/restore")
    response = editor.post(f"/staff/articles/{article}/revisions/1/restore", data=fields)
    assert response.status_code == 303
    edit = page(editor, f"/staff/articles/{article}")
    assert "Revision 1 restored as revision 3" in edit
    assert "Rest helps most back pain" in edit
    history = page(editor, f"/staff/articles/{article}/revisions")
    assert "restored from revision 1" in history
    assert "These two revisions read the same" in page(
        editor, f"/staff/articles/{article}/compare?a=1&b=3"
    )
    assert audited(app, "article_restore") == 1
    assert page(editor, f"/staff/articles/{article}/compare?a=1&b=9", 404)


def test_compare_escapes_what_it_shows(app, editor):
    article = create(editor)
    save(editor, article, body=TYPED["body"] + "\n\n<b>bold</b> & <script>x()</script>")
    compared = page(editor, f"/staff/articles/{article}/compare?a=1&b=2")
    assert "<script>x()" not in compared and "&lt;script&gt;x()" in compared


# -- What readers see ---------------------------------------------------------------------


def test_readers_see_the_published_revision_not_later_drafts(app, editor):
    article = create(editor)
    press(editor, article, "publish")
    save(editor, article, body=TYPED["body"] + "\n\nA sentence still in draft.")
    assert state_in_list(editor) == "published + unpublished changes"
    assert "still in draft" not in public(app.test_client()).get_data(as_text=True)
    assert "still in draft" in page(editor, f"/staff/articles/{article}/preview")
    press(editor, article, "publish")
    assert "still in draft" in public(app.test_client()).get_data(as_text=True)


def test_a_new_slug_leaves_a_301_from_the_old_address(app, editor):
    article = create(editor)
    press(editor, article, "publish")
    save(editor, article, slug="walking-and-discs")
    reader = app.test_client()
    assert public(reader).status_code == 200, "the old address stays until it is published"
    press(editor, article, "publish")
    moved = public(reader)
    assert moved.status_code == 301 and moved.location.endswith("/articles/walking-and-discs")
    assert public(reader, "walking-and-discs").status_code == 200


def test_the_preview_is_the_public_page_marked_noindex_and_never_cached(app, editor):
    article = create(editor)
    press(editor, article, "publish")
    response = editor.get(f"/staff/articles/{article}/preview")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<meta name="robots" content="noindex">' in html
    assert response.headers["Cache-Control"] == "no-store"
    assert "noindex" in response.headers["X-Robots-Tag"]
    assert '<aside class="preview-banner"' in html and "Preview</strong>" in html

    def article_element(text: str) -> str:
        element = re.search(r'<article class="article">.*</article>', text, re.S).group(0)
        # Each page carries its own form token.
        return re.sub(r'(name="[a-z]+-form_token"[^>]*value=")[^"]*', r"\1", element)

    published = public(app.test_client()).get_data(as_text=True)
    assert article_element(html) == article_element(published)
    assert "preview-banner" not in article_element(html)


def test_an_old_revision_can_be_previewed(app, editor):
    article = create(editor)
    save(editor, article, title="Walking, gently, after a disc injury")
    old = page(editor, f"/staff/articles/{article}/preview?revision=1")
    assert f"<h1>{TYPED['title']}</h1>" in old and "an older revision" in old
    page(editor, f"/staff/articles/{article}/preview?revision=7", 404)
    page(editor, f"/staff/articles/{article}/preview?revision=x", 404)


# -- Input the rules refuse ---------------------------------------------------------------


def test_invalid_input_is_kept_with_plain_errors(app, editor):
    fields = form_posting_to(page(editor, NEW), NEW)
    typed = {
        **TYPED,
        "slug": "Bad Slug!",
        "body": "",
        "faq": "How far should I walk? Not far.",
        "reviewed_on": "next tuesday",
    }
    response = editor.post(NEW, data={**fields, **typed})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert TYPED["title"] in html and "Bad Slug!" in html and "How far should I walk?" in html
    assert "Use lowercase letters, digits and single hyphens" in html
    assert "Write the article&#39;s text." in html
    assert "Start each question with" in html
    assert "Enter the review date as a date" in html
    with app.app_context():
        assert (
            db.session.scalar(select(ArticleRecord).where(ArticleRecord.slug == "bad-slug")) is None
        )

    article = create(editor)
    kept = save(editor, article, title="", body="Changed text that must not be lost.")
    assert kept.status_code == 422
    assert "Changed text that must not be lost." in kept.get_data(as_text=True)
    assert "Enter the title." in kept.get_data(as_text=True)
    taken = save(editor, article, slug="what-is-a-physiatrist")
    assert taken.status_code == 422 and "Another article uses this address" in taken.get_data(
        as_text=True
    )


# -- Who may do what ----------------------------------------------------------------------

READ_PAGES = ["", "/preview", "/revisions", "/compare?a=1&b=1"]
BUTTONS = ["", "/submit", "/publish", "/unpublish", "/revisions/1/restore"]


def token_of(client: FlaskClient) -> str:
    for form in forms_in(page(client, "/staff/security")):
        if "csrf_token" in form["fields"]:
            return form["fields"]["csrf_token"]
    raise AssertionError("no CSRF token")


def revision_rows(client: FlaskClient, article: int) -> str:
    html = page(client, f"/staff/articles/{article}/revisions")
    return re.search(r"<tbody>.*</tbody>", html, re.S).group(0)


def test_marketing_reads_articles_but_changes_nothing(app, editor, marketing_client):
    article = create(editor)
    listing = page(marketing_client, "/staff/articles")
    assert TYPED["title"] in listing and "New article" not in listing
    assert ">Articles</a>" in listing
    for suffix in READ_PAGES:
        page(marketing_client, f"/staff/articles/{article}{suffix}")
    edit = page(marketing_client, f"/staff/articles/{article}")
    assert "disabled" in edit and ">Save</button>" not in edit and "/publish" not in edit
    token = token_of(marketing_client)
    before = revision_rows(editor, article)
    for suffix in BUTTONS:
        path = f"/staff/articles/{article}{suffix}"
        response = marketing_client.post(path, data={**TYPED, "csrf_token": token})
        assert response.status_code == 403, path
    assert marketing_client.get(NEW).status_code == 403
    assert marketing_client.post(NEW, data={**TYPED, "csrf_token": token}).status_code == 403
    assert revision_rows(editor, article) == before
    assert state_in_list(editor) == "draft"


def test_intake_staff_are_kept_out_of_articles(app, editor, staff_client):
    article = create(editor)
    token = token_of(staff_client)
    assert staff_client.get("/staff/articles").status_code == 403
    assert staff_client.get(NEW).status_code == 403
    for suffix in READ_PAGES:
        assert staff_client.get(f"/staff/articles/{article}{suffix}").status_code == 403
    for suffix in BUTTONS:
        path = f"/staff/articles/{article}{suffix}"
        assert staff_client.post(path, data={"csrf_token": token}).status_code == 403
    assert "/staff/articles" not in page(staff_client, "/staff/security")


def test_a_visitor_is_sent_to_sign_in(app):
    visitor = app.test_client()
    for path in ["/staff/articles", NEW, "/staff/articles/1", "/staff/articles/1/preview"]:
        response = visitor.get(path)
        assert response.status_code == 302 and response.location.startswith("/staff/login?next=")


def test_admins_write_and_publish_too(app, admin_client):
    article = create(admin_client, slug="admin-wrote-this")
    press(admin_client, article, "publish")
    assert public(app.test_client(), "admin-wrote-this").status_code == 200


def test_an_editor_starts_on_the_articles_and_sees_no_lead_links(app, editor):
    response = editor.get("/staff/")
    assert response.status_code == 302 and response.location == "/staff/articles"
    listing = page(editor, "/staff/articles")
    assert "New article" in listing and ">Images</a>" in listing
    assert ">Leads</a>" not in listing and "/staff/?view" not in listing
    assert editor.get("/staff/leads/1").status_code == 403


# -- Sanitising, end to end ---------------------------------------------------------------

HOSTILE = (
    "## Hello\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n"
    '[x](javascript:alert(1))\n\n<iframe src="https://evil.example"></iframe>\n\n'
    '<a href="data:text/html,<script>alert(2)</script>">data link</a>\n\n'
    "[also](JaVaScRiPt:alert(3)) and ![pic](javascript:alert(4))"
)


class _Tags(HTMLParser):
    """Every element and attribute of a page, as a browser would build them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: (v or "") for k, v in attrs}))


def main_of(html: str) -> str:
    """The page's <main>: what the article puts on it (the head has the site's own data:
    favicon)."""
    return re.search(r"<main.*</main>", html, re.S).group(0)


def dangerous_markup(html: str) -> list[str]:
    parser = _Tags()
    parser.feed(html)
    found = []
    for tag, attrs in parser.tags:
        if tag == "script" and attrs.get("type") != "application/ld+json":
            found.append(f"<script {attrs}>")
        if tag in {"iframe", "object", "embed"}:
            found.append(f"<{tag}>")
        for name, value in attrs.items():
            if name.startswith("on"):
                found.append(f"<{tag} {name}=...>")
            scheme = re.sub(r"[\s\x00-\x1f]", "", value).lower()
            if name in {"href", "src", "action"} and scheme.startswith(("javascript:", "data:")):
                found.append(f"<{tag} {name}={value!r}>")
    return found


def test_a_hostile_body_is_published_without_any_script(app, editor):
    article = create(editor, body=HOSTILE, faq="Q: Safe?\nA: [yes](javascript:alert(5))")
    press(editor, article, "publish")
    response = public(app.test_client())
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert dangerous_markup(main_of(html)) == []
    assert '<script type="application/ld+json">' in html  # the check saw the scripts
    # What was typed as HTML is shown as text: escaped, harmless, and visibly wrong to the
    # editor in the preview.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    for revision in ("", "?revision=1"):
        shown = page(editor, f"/staff/articles/{article}/preview{revision}")
        assert dangerous_markup(main_of(shown)) == []
    assert dangerous_markup(main_of(page(editor, f"/staff/articles/{article}"))) == []


def test_the_check_above_finds_what_it_looks_for():
    hostile = (
        '<p><img src=x onerror=alert(1)><a href=" JaVa\tscript:x">a</a><iframe></iframe>'
        '<script>alert(1)</script><a href="data:text/html,x">d</a></p>'
    )
    assert len(dangerous_markup(hostile)) == 5


def test_the_content_security_policy_of_a_new_article_is_the_bundled_ones(app, editor):
    article = create(editor)
    press(editor, article, "publish")
    reader = app.test_client()
    bundled = reader.get("/articles/what-is-a-physiatrist").headers["Content-Security-Policy"]
    new = public(reader).headers["Content-Security-Policy"]
    assert new == bundled
    # No script may run at all: nothing allows one.
    assert "default-src 'none'" in new and "script-src" not in new


def test_an_admin_makes_an_editor_account_and_its_role_shows_as_editor(app, admin_client):
    fields = form_posting_to(page(admin_client, "/staff/users"), "")
    typed = {**fields, "email": "writer@clinic.example", "role": "editor"}
    assert admin_client.post("/staff/users", data=typed).status_code == 200
    accounts = page(admin_client, "/staff/users")
    row = next(r for r in re.findall(r"<tr>.*?</tr>", accounts, re.S) if "writer@" in r)
    # The role list shows the editor's own role (not the first option, which a Save would set).
    assert re.search(r'<option selected value="editor">|<option value="editor" selected', row)


def test_two_editors_taking_one_address_at_once_get_a_plain_answer(app, editor, monkeypatch):
    """The form's check passed for both (neither had saved yet); the database's unique
    address decides, and the second editor gets the form back with the reason, not a 500."""
    create(editor, slug="pain-at-night")
    monkeypatch.setattr(
        "spine_site.articles.editorial.slug_taken", lambda slug, article, language="en": False
    )
    fields = form_posting_to(page(editor, NEW), NEW)
    response = editor.post(NEW, data={**fields, **TYPED, "slug": "pain-at-night"})
    assert response.status_code == 422
    assert "took this address a moment ago" in response.get_data(as_text=True)
    assert "Walking after a disc injury" in response.get_data(as_text=True)  # typed text kept


def test_a_preview_before_review_says_so_instead_of_an_empty_reviewer(app, editor):
    article_id = create(editor, reviewer="", reviewed_on="")
    preview = page(editor, f"/staff/articles/{article_id}/preview")
    assert "Not yet medically reviewed." in preview
    assert "Medically reviewed by" not in preview and "reviewedBy" not in preview
