"""HTTP caching of the public pages: ETag, Last-Modified and 304s, and the article page kept
as bytes per process with only its form token filled in per request.
"""

from __future__ import annotations

import functools
import hashlib
import re
import time
from collections.abc import Callable

from flask import Blueprint, Response, current_app, render_template, request
from werkzeug.http import http_date

from .. import tokens
from ..articles import Article
from .lead_forms import FORMS, fresh_form, library, render_form_page

# A form token as it appears in a page: not part of what the page says.
_FORM_TOKEN = re.compile(tokens.FORM_TOKEN_PATTERN.encode())
_DAY = 24 * 3600
# Stand-in for the one per-visitor part of an article page: the forms' token.
_TOKEN_SLOT = "\x00form-token-slot\x00"


def register(bp: Blueprint) -> None:
    bp.after_request(conditional_html)


def _token_period() -> int:
    # A returning reader gets a 304 and the copy they have, form token included, within one
    # period: a day, or half the token's lifetime if that is shorter, so a kept copy's token
    # never expires before the page is renewed.
    return max(60, min(_DAY, current_app.config["FORM_TOKEN_MAX_AGE"] // 2))


def token_window() -> tuple[int, int]:
    """The current renewal period of pages with a form: (its number, its length in seconds)."""
    period = _token_period()
    return int(time.time() // period), period


def conditional_html(response: Response) -> Response:
    if (
        request.method not in {"GET", "HEAD"}
        or response.status_code != 200
        or response.mimetype != "text/html"
        or response.is_streamed
    ):
        return response
    changed = current_app.extensions["content_changed"]
    window, period = token_window()
    if "ETag" in response.headers:
        carries_token = True  # the article page: it set its ETag from its cached digest
    else:
        body = response.get_data()
        stable = _FORM_TOKEN.sub(b"", body)
        carries_token = len(stable) != len(body)
        digest = hashlib.blake2b(stable, digest_size=12).hexdigest()
        response.set_etag(f"{digest}-{window}" if carries_token else digest, weak=True)
    headers = response.headers
    if carries_token:
        # The form token is this reader's: no shared cache may hand it to another.
        headers["Cache-Control"] = "private, no-cache"
        changed = max(changed, window * period)
    else:
        headers["Cache-Control"] = "no-cache"
    headers["Last-Modified"] = _http_date(changed)
    environ = request.environ
    if "HTTP_IF_NONE_MATCH" in environ or "HTTP_IF_MODIFIED_SINCE" in environ:
        # (A first visit has neither; make_conditional's parsing is skipped for it.)
        response = response.make_conditional(request)
        # make_conditional adds a Date; the server adds its own, and two confuse caches.
        response.headers.pop("Date", None)
    return response


@functools.lru_cache(maxsize=8)
def _http_date(timestamp: int) -> str:
    return http_date(timestamp)


def fresh_article_page(found: Article) -> Response:
    """An article with empty forms: rendered once per process, then only the token changes.

    Rendering two forms field by field is most of the cost of the page; the result is the
    same for every visitor but for the form token, filled in per request. (Both forms share
    it: a submission's key also covers its content, so the two forms' submissions never
    collide.)
    """
    return _page_with_token(found.slug, lambda: _render_with_slot(found))


def fresh_form_page(name: str, path: str) -> Response:
    """A form's own page (/schedule, /guide), empty: kept the same way as the articles (it
    lists them, so it is made again when they change: articles_live.py clears both)."""
    return _page_with_token(f"form:{name}", lambda: _form_page_with_slot(name, path))


def fixed_page(key: str, mimetype: str, render: Callable[[], str]) -> Response:
    """A page the same for every visitor (the home page, robots.txt, the sitemap): rendered
    once per process and made again when the articles change (articles_live.py clears the
    cache). Its ETag is still the body's (conditional_html)."""
    cache: dict[str, list[bytes]] = current_app.extensions.setdefault("article_pages", {})
    parts = cache.get(key)
    if parts is None:
        parts = cache[key] = [render().encode()]
    return Response(parts[0], mimetype=mimetype)


def _page_with_token(key: str, render: Callable[[], str]) -> Response:
    cache: dict[str, list[bytes]] = current_app.extensions.setdefault("article_pages", {})
    digests: dict[str, str] = current_app.extensions.setdefault("article_digests", {})
    parts = cache.get(key)
    if parts is None:
        page = render()
        # Kept as UTF-8 bytes: a request then joins bytes, with nothing to encode.
        parts = cache[key] = [part.encode() for part in page.split(_TOKEN_SLOT)]
        digests[key] = hashlib.blake2b(page.encode(), digest_size=12).hexdigest()
    body = tokens.new_form_token().encode().join(parts)
    response = Response(body, mimetype="text/html")
    response.set_etag(f"{digests[key]}-{token_window()[0]}", weak=True)
    return response


def _form_page_with_slot(name: str, path: str) -> str:
    form = fresh_form(name, "page", path)
    form.form_token.data = _TOKEN_SLOT
    page, _ = render_form_page(name, form, [], 200)
    return str(page)


def _render_with_slot(found: Article) -> str:
    forms = {}
    for name in FORMS:
        form = fresh_form(name, "embedded", found.path)
        form.form_token.data = _TOKEN_SLOT
        forms[name] = form
    return render_template(
        "public/article.html",
        article=found,
        related=library().related(found),
        forms=forms,
        problems={},
    )
