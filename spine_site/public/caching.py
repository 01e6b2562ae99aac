"""HTTP caching of the public pages: ETag, Last-Modified and 304s, and the pages that are the
same for every visitor kept as bytes per process (with only the form token filled in per
request where the page has a form).

A kept page is a `CachedPage`, found by its path. Flask's views make and answer them; the
WSGI layer in front (fast_pages.py) answers most visits to them straight from here, with the
same headers, built by the same functions below.
"""

from __future__ import annotations

import functools
import hashlib
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, current_app, request
from werkzeug.http import http_date
from werkzeug.utils import get_content_type

from .. import tokens

# A form token as it appears in a page: not part of what the page says.
_FORM_TOKEN = re.compile(tokens.FORM_TOKEN_PATTERN.encode())
_DAY = 24 * 3600
# Stand-in for the one per-visitor part of a page with a form: the forms' token.
TOKEN_SLOT = "\x00form-token-slot\x00"
# Where the kept pages live: path -> CachedPage. articles_live.py empties it when the
# articles change (the pages list them).
PAGES_KEY = "public_pages"


@dataclass(frozen=True)
class CachedPage:
    """A page the same for every visitor but for its form token (if it has a form)."""

    endpoint: str
    content_type: str
    # The body as UTF-8 bytes, split where the form token goes (one part: no form).
    parts: tuple[bytes, ...]
    # ETag: the page's digest (a page with a form adds the token period: token_window).
    digest: str
    # A page without a form, compressed (by algorithm), as fast_pages.py first sends it.
    compressed: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)

    @property
    def has_token(self) -> bool:
        return len(self.parts) > 1

    @property
    def is_html(self) -> bool:
        return self.content_type.startswith("text/html")

    def body(self, config: Mapping[str, Any]) -> bytes:
        if not self.has_token:
            return self.parts[0]
        return tokens.new_form_token(config=config).encode().join(self.parts)

    def headers(self, config: Mapping[str, Any], changed: int) -> list[tuple[str, str]]:
        """What conditional_html gives an HTML page (ETag, Cache-Control, Last-Modified),
        after its Content-Type; `changed` is the content's newest change (a Unix time)."""
        headers = [("Content-Type", self.content_type)]
        if not self.is_html:
            return headers
        if self.has_token:
            window, period = token_window(config)
            # The form token is this reader's: no shared cache may hand it to another.
            return [
                *headers,
                ("ETag", f'W/"{self.digest}-{window}"'),
                ("Cache-Control", "private, no-cache"),
                ("Last-Modified", _http_date(max(changed, window * period))),
            ]
        return [
            *headers,
            ("ETag", f'W/"{self.digest}"'),
            ("Cache-Control", "no-cache"),
            ("Last-Modified", _http_date(changed)),
        ]


def register(bp: Blueprint) -> None:
    bp.after_request(conditional_html)


def token_window(config: Mapping[str, Any] | None = None) -> tuple[int, int]:
    """The current renewal period of pages with a form: (its number, its length in seconds).

    A returning reader gets a 304 and the copy they have, form token included, within one
    period: a day, or half the token's lifetime if that is shorter, so a kept copy's token
    never expires before the page is renewed.
    """
    config = current_app.config if config is None else config
    period = max(60, min(_DAY, config["FORM_TOKEN_MAX_AGE"] // 2))
    return int(time.time() // period), period


# Marks a response made from a CachedPage: its caching headers are already set.
_KEPT = "spine_site.cached_page"


def conditional_html(response: Response) -> Response:
    if (
        request.method not in {"GET", "HEAD"}
        or response.status_code != 200
        or response.mimetype != "text/html"
        or response.is_streamed
    ):
        return response
    if not getattr(response, _KEPT, False):
        _set_caching_headers(response)
    environ = request.environ
    if "HTTP_IF_NONE_MATCH" in environ or "HTTP_IF_MODIFIED_SINCE" in environ:
        # (A first visit has neither; make_conditional's parsing is skipped for it.)
        response = response.make_conditional(request)
        # make_conditional adds a Date; the server adds its own, and two confuse caches.
        response.headers.pop("Date", None)
    return response


def _set_caching_headers(response: Response) -> None:
    """ETag, Cache-Control and Last-Modified of an HTML page not kept as a CachedPage."""
    changed = current_app.extensions["content_changed"]
    body = response.get_data()
    stable = _FORM_TOKEN.sub(b"", body)
    carries_token = len(stable) != len(body)
    digest = hashlib.blake2b(stable, digest_size=12).hexdigest()
    headers = response.headers
    if carries_token:
        window, period = token_window()
        response.set_etag(f"{digest}-{window}", weak=True)
        headers["Cache-Control"] = "private, no-cache"
        changed = max(changed, window * period)
    else:
        response.set_etag(digest, weak=True)
        headers["Cache-Control"] = "no-cache"
    headers["Last-Modified"] = _http_date(changed)


@functools.lru_cache(maxsize=8)
def _http_date(timestamp: int) -> str:
    return http_date(timestamp)


def kept_page(mimetype: str, render: Callable[[], str]) -> Response:
    """This request's page, rendered once per process and then kept by its path.

    Rendering is most of the cost of a page: the home page, an article, the two form pages,
    robots.txt and the sitemap are the same for every visitor, but for the form token of a
    page with forms (rendered as TOKEN_SLOT and filled in per request). Both forms of an
    article share one token: a submission's key also covers its content, so the two forms'
    submissions never collide. Pages are made again when the articles change.
    """
    pages: dict[str, CachedPage] = current_app.extensions.setdefault(PAGES_KEY, {})
    page = pages.get(request.path)
    if page is None:
        page = pages[request.path] = _keep(get_content_type(mimetype, "utf-8"), render())
    config = current_app.config
    changed = current_app.extensions["content_changed"]
    response = Response(page.body(config), headers=page.headers(config, changed))
    setattr(response, _KEPT, True)
    return response


def _keep(content_type: str, text: str) -> CachedPage:
    parts = tuple(part.encode() for part in text.split(TOKEN_SLOT))
    if len(parts) > 1:
        digest = hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
    else:
        # The same digest conditional_html gives any page: of the body without form tokens.
        digest = hashlib.blake2b(_FORM_TOKEN.sub(b"", parts[0]), digest_size=12).hexdigest()
    return CachedPage(request.endpoint or "", content_type, parts, digest)
