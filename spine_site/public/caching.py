"""HTTP caching of the public pages: ETag, Last-Modified and 304s; and the pages that are the
same for every visitor kept as bytes inside their views, with only the form token filled in
per request.

The ETag of a page is a digest of its body without form tokens (a weak validator: two
renderings that differ only in their token say the same thing), so a returning reader gets a
304 for a page with a form too.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, Response, current_app, request
from werkzeug.http import http_date
from werkzeug.utils import get_content_type

from spine_site import tokens
from spine_site.articles.render import Library

# A form token as it appears in a page: not part of what the page says.
_FORM_TOKEN = re.compile(tokens.FORM_TOKEN_PATTERN.encode())
_DAY = 24 * 3600
# Stand-in for the one per-visitor part of a kept page: the forms' token.
TOKEN_SLOT = "\x00form-token-slot\x00"


@dataclass(frozen=True)
class KeptPage:
    """A rendered page, split where the form token goes (one part: no form)."""

    # The copy of the articles it was made from: the pages list them, so a new copy makes
    # every page again.
    made_from: Library
    content_type: str
    parts: tuple[bytes, ...]
    # Of the body without its form token: the same digest conditional_html gives any page.
    digest: str


def register(bp: Blueprint) -> None:
    bp.after_request(conditional_html)


def token_window() -> tuple[int, int]:
    """The current renewal period of pages with a form: (its number, its length in seconds).

    A returning reader gets a 304 and the copy they have, form token included, within one
    period: a day, or half the token's lifetime if that is shorter, so a kept copy's token
    never expires before the page is renewed.
    """
    period = max(60, min(_DAY, current_app.config["FORM_TOKEN_MAX_AGE"] // 2))
    return int(time.time() // period), period


def conditional_html(response: Response) -> Response:
    if (
        request.method not in {"GET", "HEAD"}
        or response.status_code != 200
        or response.mimetype != "text/html"
        or response.is_streamed
    ):
        return response
    if "ETag" not in response.headers:  # (a kept page has its own already)
        body = response.get_data()
        stable = _FORM_TOKEN.sub(b"", body)
        _set_caching_headers(response, _digest(stable), carries_token=len(stable) != len(body))
    if "If-None-Match" in request.headers or "If-Modified-Since" in request.headers:
        response = response.make_conditional(request)
        # make_conditional adds a Date; the server adds its own, and two confuse caches.
        response.headers.pop("Date", None)
    return response


def _digest(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=12).hexdigest()


def _set_caching_headers(response: Response, digest: str, *, carries_token: bool) -> None:
    """ETag, Cache-Control and Last-Modified of an HTML page."""
    changed = current_app.extensions["content_changed"]
    headers = response.headers
    if carries_token:
        window, period = token_window()
        response.set_etag(f"{digest}-{window}", weak=True)
        # The form token is this reader's: no shared cache may hand it to another.
        headers["Cache-Control"] = "private, no-cache"
        changed = max(changed, window * period)
    else:
        response.set_etag(digest, weak=True)
        headers["Cache-Control"] = "no-cache"
    headers["Last-Modified"] = http_date(changed)


def kept_page(mimetype: str, render: Callable[[], str]) -> Response:
    """This request's page, rendered once per process and then kept by its path.

    Rendering is most of the cost of a page: the home page, an article, the two form pages,
    robots.txt and the sitemap are the same for every visitor, but for the form token of a
    page with forms (rendered as TOKEN_SLOT and filled in per request). Both forms of an
    article share one token: a submission's key also covers its content, so the two forms'
    submissions never collide. Pages are made again when the articles change.
    """
    articles: Library = current_app.extensions["articles"].current()
    pages: dict[str, KeptPage] = current_app.extensions.setdefault("public_pages", {})
    page = pages.get(request.path)
    if page is None or page.made_from is not articles:
        parts = tuple(part.encode() for part in render().split(TOKEN_SLOT))
        content_type = get_content_type(mimetype, "utf-8")
        page = KeptPage(articles, content_type, parts, _digest(b"".join(parts)))
        pages[request.path] = page
    has_token = len(page.parts) > 1
    body = tokens.new_form_token().encode().join(page.parts) if has_token else page.parts[0]
    response = Response(body, content_type=page.content_type)
    if response.mimetype == "text/html":
        _set_caching_headers(response, page.digest, carries_token=has_token)
    return response
