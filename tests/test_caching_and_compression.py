"""How pages and files travel: hashed static names, immutable caching, compression, 304s."""

from __future__ import annotations

import gzip
import re
import time

import brotli
import pytest

from spine_site.web import assets
from tests.html_forms import form_posting_to

ARTICLE = "/articles/what-is-a-physiatrist"


def static_links(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/static/[^"]+)"', html)


def fetch(client, url, **kwargs):
    """A static file's response, read and closed (WhiteNoise hands over an open file)."""
    response = client.get(url, **kwargs)
    response.get_data()
    response.close()
    return response


def test_pages_link_static_files_by_content_hash(client):
    links = static_links(client.get("/").get_data(as_text=True))
    assert any(link.startswith("/static/css/site.") for link in links)
    for link in links:
        assert assets.FINGERPRINTED.search(link), link


def test_hashed_files_are_cached_for_good_and_keep_the_security_headers(client):
    css = next(u for u in static_links(client.get("/").get_data(as_text=True)) if ".css" in u)
    response = fetch(client, css)
    assert response.status_code == 200
    # A year, as docs/deploy.md says (WhiteNoise alone would say ten).
    assert response.headers["Cache-Control"] == "max-age=31536000, public, immutable"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cross-Origin-Resource-Policy"] == "same-origin"
    assert "Access-Control-Allow-Origin" not in response.headers
    assert b".skip-link" in response.data
    # An unhashed name still works (an old page), but is not cached for long.
    plain = fetch(client, "/static/css/site.css")
    assert plain.status_code == 200 and plain.data == response.data
    assert "immutable" not in plain.headers["Cache-Control"]


@pytest.mark.parametrize(
    ("encoding", "decode"), [("br", brotli.decompress), ("gzip", gzip.decompress)]
)
def test_static_and_html_are_compressed_when_the_browser_accepts_it(client, encoding, decode):
    plain_page = client.get(ARTICLE).get_data()
    page = client.get(ARTICLE, headers={"Accept-Encoding": encoding})
    assert page.headers["Content-Encoding"] == encoding
    assert "Accept-Encoding" in page.headers["Vary"]
    html = decode(page.data)
    assert b"<h1>What Is a Physiatrist?</h1>" in html
    assert len(page.data) < len(plain_page) / 3
    css = next(u for u in static_links(html.decode()) if ".css" in u)
    packed = fetch(client, css, headers={"Accept-Encoding": encoding})
    assert packed.headers["Content-Encoding"] == encoding
    assert decode(packed.data) == fetch(client, css).data


def test_a_changed_file_gets_a_new_name(tmp_path):
    source = tmp_path / "static"
    (source / "css").mkdir(parents=True)
    (source / "css" / "a.css").write_text("body{color:red}")
    first = assets.build(source, tmp_path / "out")["css/a.css"]
    (source / "css" / "a.css").write_text("body{color:blue}")
    second = assets.build(source, tmp_path / "out")["css/a.css"]
    assert first != second
    for name in (first, second):
        assert (tmp_path / "out" / name).exists() and (tmp_path / "out" / f"{name}.br").exists()
    assert (tmp_path / "out" / second).read_text() == "body{color:blue}"


@pytest.mark.parametrize("path", ["/", ARTICLE, "/schedule", "/guide", "/privacy"])
def test_public_pages_answer_304_to_a_reader_who_has_them(client, path):
    first = client.get(path)
    assert first.status_code == 200
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    assert client.get(path, headers={"If-Modified-Since": modified}).status_code == 304
    # Another version of the page is sent whole.
    assert client.get(path, headers={"If-None-Match": 'W/"other"'}).status_code == 200


def test_pages_with_a_form_are_private_and_the_token_does_not_change_the_etag(client):
    one, two = client.get(ARTICLE), client.get(ARTICLE)
    token = form_posting_to(one.get_data(as_text=True), "/guide")["guide-form_token"]
    other = form_posting_to(two.get_data(as_text=True), "/guide")["guide-form_token"]
    assert token != other  # each rendering has its own token...
    assert one.headers["ETag"] == two.headers["ETag"]  # ...but it is the same page
    assert one.headers["Cache-Control"] == "private, no-cache"
    assert client.get("/privacy").headers["Cache-Control"] == "no-cache"


def test_staff_pages_are_never_stored_or_validated(client):
    response = client.get("/staff/login")
    assert "no-store" in response.headers["Cache-Control"]
    assert "ETag" not in response.headers


def test_the_web_manifest_names_the_clinic_and_its_icons_exist(client, app):
    html = client.get("/").get_data(as_text=True)
    assert '<link rel="manifest" href="/manifest.webmanifest">' in html
    response = client.get("/manifest.webmanifest")
    assert response.mimetype == "application/manifest+json"
    manifest = response.get_json()
    assert manifest["name"] == app.config["CLINIC_NAME"] and manifest["start_url"] == "/"
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512", "any"} <= sizes
    assert any(icon.get("purpose") == "maskable" for icon in manifest["icons"])
    for icon in manifest["icons"]:
        image = fetch(client, icon["src"])
        assert image.status_code == 200 and image.mimetype == icon["type"], icon


def test_a_short_form_token_life_renews_the_page_sooner(app_factory):
    client = app_factory(FORM_TOKEN_MAX_AGE=600).test_client()
    etag = client.get(ARTICLE).headers["ETag"]
    # The ETag names the 5-minute period (half the token's life), not the day.
    period = int(etag.strip('W/"').split("-")[1])
    assert period == int(time.time() // 300) or period == int(time.time() // 300) - 1


@pytest.mark.parametrize("headers", [{}, {"Accept-Encoding": "br"}, {"If-None-Match": 'W/"x"'}])
def test_the_app_leaves_the_date_header_to_the_server(client, headers):
    # gunicorn and werkzeug add Date themselves; a second one from the app would be sent too.
    assert client.get(ARTICLE, headers=headers).headers.getlist("Date") == []


def test_the_token_pattern_the_etag_ignores_matches_every_token_made(app):
    # One definition of the token's format (tokens.py): if it drifted from what
    # new_form_token makes, every page with a form would get a new ETag per request.
    from spine_site import tokens

    with app.test_request_context():
        for reissued in (False, True):
            token = tokens.new_form_token(reissued=reissued)
            assert re.fullmatch(tokens.FORM_TOKEN_PATTERN, token), token
