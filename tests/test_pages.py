"""A reader's view of the public pages: content, structure, SEO, and nothing third-party."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit
from xml.etree import ElementTree

import pytest

ARTICLE = "/articles/what-is-a-physiatrist"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.resources: list[str] = []
        self.actions: set[str] = set()
        self.ids: set[str] = set()
        self.ld: list[str] = []
        self._in_ld = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("href"):
            self.hrefs.append(a["href"])
        if tag in {"img", "script", "iframe", "source", "video", "audio"} and a.get("src"):
            self.resources.append(a["src"])
        # canonical and alternate (hreflang) name pages; browsers do not fetch them.
        if tag == "link" and a.get("href") and a.get("rel") not in {"canonical", "alternate"}:
            self.resources.append(a["href"])
        if tag == "form" and a.get("action"):
            self.resources.append(a["action"])
            self.actions.add(a["action"])
        self._in_ld = tag == "script" and a.get("type") == "application/ld+json"

    def handle_endtag(self, tag):
        self._in_ld = False

    def handle_data(self, data):
        if self._in_ld:
            self.ld.append(data)


def parse(html: str) -> _Links:
    p = _Links()
    p.feed(html)
    return p


def test_home_lists_articles_and_both_calls_to_action(client):
    html = client.get("/").get_data(as_text=True)
    assert 'href="/articles/what-is-a-physiatrist"' in html
    assert 'href="/articles/first-spine-visit"' in html
    assert 'href="/schedule"' in html and 'href="/guide"' in html


def test_article_has_toc_table_faq_disclaimer_related_and_both_forms(client):
    response = client.get(ARTICLE)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    page = parse(html)
    toc = re.search(r'<nav class="toc".*?</nav>', html, re.S).group(0)
    anchors = re.findall(r'href="#([^"]+)"', toc)
    assert len(anchors) >= 6
    assert all(anchor in page.ids for anchor in anchors), "every TOC entry has its heading"
    table = re.search(r"<table>.*?</table>", html, re.S).group(0)
    for specialist in ("Physiatrist", "Pain Management", "Spine Surgeon"):
        assert specialist.lower() in table.lower()
    assert html.count("<details>") == 7 and "<summary>Is a physiatrist a real doctor?" in html
    assert "Medical disclaimer" in html and "not medical advice" in html
    assert 'href="/articles/first-spine-visit"' in html.split('id="related-title"')[1]
    # Sent back with errors, the page opens at (and focuses) the form's error summary.
    assert 'action="/schedule#appt-errors"' in html and 'action="/guide#guide-errors"' in html
    assert "80%" in html and "40%" in html and "World Health Organization" in html


def test_article_seo_tags_and_json_ld(client):
    html = client.get(ARTICLE).get_data(as_text=True)
    assert "<title>What Is a Physiatrist? | Valor Spine</title>" in html
    assert f'<link rel="canonical" href="https://clinic.example{ARTICLE}">' in html
    assert 'property="og:title"' in html and 'property="og:type" content="article"' in html
    description = re.search(r'<meta name="description" content="([^"]+)"', html).group(1)
    assert 50 < len(description) <= 160
    (ld,) = parse(html).ld
    graph = json.loads(ld)["@graph"]
    types = {node["@type"] for node in graph}
    assert types == {"MedicalClinic", "MedicalWebPage", "FAQPage", "BreadcrumbList"}
    faq = next(n for n in graph if n["@type"] == "FAQPage")
    assert len(faq["mainEntity"]) == 7
    assert all(
        q["acceptedAnswer"]["text"] and "**" not in q["acceptedAnswer"]["text"]
        for q in faq["mainEntity"]
    )


def test_titles_and_descriptions_are_unique(client):
    seen_titles, seen_desc = set(), set()
    for path in ("/", ARTICLE, "/articles/first-spine-visit", "/schedule", "/guide", "/privacy"):
        html = client.get(path).get_data(as_text=True)
        title = re.search(r"<title>(.*?)</title>", html).group(1)
        desc = re.search(r'<meta name="description" content="([^"]+)"', html).group(1)
        assert title not in seen_titles and desc not in seen_desc, path
        seen_titles.add(title)
        seen_desc.add(desc)


def test_unknown_article_is_a_friendly_404(client):
    response = client.get("/articles/no-such-thing")
    assert response.status_code == 404
    assert "find that page" in response.get_data(as_text=True)


def test_sitemap_lists_every_article_with_lastmod(client, app):
    response = client.get("/sitemap.xml")
    assert response.mimetype == "application/xml"
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    root = ElementTree.fromstring(response.data)
    entries = {u.find("s:loc", ns).text: u.find("s:lastmod", ns) for u in root}
    for article in app.extensions["articles"].all:
        lastmod = entries[f"https://clinic.example{article.path}"]
        assert lastmod is not None and lastmod.text == article.updated.isoformat()
    assert "https://clinic.example/" in entries


def test_robots_points_to_sitemap_and_keeps_private_paths_out(client):
    body = client.get("/robots.txt").get_data(as_text=True)
    assert "Sitemap: https://clinic.example/sitemap.xml" in body
    assert "Disallow: /guide/download/" in body and "Disallow: /unsubscribe/" in body
    # The staff area is not advertised; its pages say noindex themselves.
    assert "staff" not in body
    response = client.get("/staff/login")
    assert response.headers["X-Robots-Tag"] == "noindex, nofollow"
    assert '<meta name="robots" content="noindex, nofollow">' in response.get_data(as_text=True)


def test_healthz_reports_database(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_healthz_is_503_when_the_database_is_gone(app_factory, tmp_path):
    app = app_factory(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/missing/dir/db.sqlite3")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503


def _crawl(client) -> dict[str, int]:
    seen: dict[str, int] = {}
    queue = ["/"]
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        with client.get(path) as response:
            seen[path] = response.status_code
            if response.mimetype != "text/html":
                continue
            html = response.get_data(as_text=True)
        page = parse(html)
        for href in page.hrefs + page.resources:
            if href.startswith(("tel:", "mailto:", "data:")):
                continue
            url = urlsplit(urljoin("https://clinic.example" + path, href))
            assert url.netloc == "clinic.example", f"{path} links off-site to {href}"
            # (A form's action names the error summary of the page its POST answers with.)
            if url.fragment and url.path == urlsplit(path).path and href not in page.actions:
                assert url.fragment in page.ids, f"{path}: anchor #{url.fragment} missing"
            if url.path not in seen:
                queue.append(url.path)
    return seen


def test_crawl_finds_no_broken_internal_link_and_no_off_site_link(client):
    statuses = _crawl(client)
    assert ARTICLE in statuses and "/articles/first-spine-visit" in statuses
    broken = {p: s for p, s in statuses.items() if s >= 400}
    assert broken == {}
    assert len(statuses) >= 8


@pytest.mark.parametrize("path", ["/", ARTICLE, "/schedule", "/guide", "/privacy"])
def test_pages_load_nothing_from_third_parties(client, path):
    html = client.get(path).get_data(as_text=True)
    for resource in parse(html).resources:
        assert not re.match(r"^(https?:)?//", resource), resource
    assert "@import" not in html and "googleapis" not in html


def test_every_input_has_a_visible_label(client):
    for path in ("/schedule", "/guide", ARTICLE):
        html = client.get(path).get_data(as_text=True)
        for field_id in re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', html):
            if field_id.endswith(("csrf_token", "form_token", "source_page", "placement")):
                continue
            assert f'<label for="{field_id}">' in html, f"{path}: {field_id} has no label"
        assert "* indicates required fields" in re.sub(r"<[^>]+>", "", html)


def test_static_stylesheet_and_favicon_are_served(client):
    with client.get("/static/css/site.css") as css:
        assert css.status_code == 200 and css.mimetype == "text/css"
    response = client.get("/favicon.ico")
    assert response.status_code == 302  # not 301: the target's hashed name changes
    with client.get(response.headers["Location"]) as icon:
        assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"


@pytest.mark.parametrize(
    "path",
    ["/", "/articles/what-is-a-physiatrist", "/schedule", "/guide", "/privacy", "/guide/thanks"],
)
def test_public_pages_open_no_session(client, path):
    response = client.get(path)
    assert response.status_code == 200
    # No session cookie for a reader, and nothing that makes the page differ per cookie.
    names = [c.split("=")[0] for c in response.headers.getlist("Set-Cookie")]
    assert "session" not in names
    assert "Cookie" not in response.headers.get("Vary", "")
