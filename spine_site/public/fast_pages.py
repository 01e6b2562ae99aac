"""The kept public pages answered at the WSGI layer, before Flask's request cycle.

A visit to the home page, an article, a form page, robots.txt, the sitemap or /healthz (after
its question to the database) is answered
from bytes kept in memory (caching.CachedPage): rendering is already skipped, so what is left
of a request's cost is Flask's own machinery (request and app contexts, routing, some twenty
hooks and header insertions). Measured against a bare Flask app serving the same bytes
(bench/public_pages.py) that machinery left these pages at about half its rate. Here such a
visit costs a dictionary lookup and the work the hooks do for it, called from the same
functions the hooks call:

- the form token (tokens.new_form_token), the caching headers (CachedPage.headers),
- the visit cookie on a first visit (visits.first_visit_cookie) and the page-view count
  (visits.counts_as_view, pageviews),
- Flask-Compress's choice and compression, its Vary header, the security headers, HSTS over
  https (security.security_headers), the request metrics (metrics.observe), and the outbox
  sender's start.

Anything less common goes to Flask as before: other methods (HEAD included), a query string
(campaign tags set the visit cookie from it), a conditional request (If-None-Match or
If-Modified-Since: Flask answers the 304), any cookie but the visit cookie (a signed-in
member of staff, whose session Flask reads), a page not yet kept, or the freshness check of
the articles failing. tests/test_fast_pages.py sends the same requests both ways and compares
the answers header for header.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from flask import Flask
from flask_compress.flask_compress import _choose_algorithm, _compress_data
from werkzeug.http import parse_cookie

from .. import metrics
from ..extensions import compress, db
from ..health import DatabaseProbe
from ..security import security_headers
from .caching import PAGES_KEY, CachedPage
from .visits import READER_PAGES, VISIT_COOKIE, counts_as_view, first_visit_cookie

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# Kept answers that ask the database first, as their view does: /healthz.
PROBES = frozenset({"public.healthz"})
# Request headers that make the answer Flask's to give (see the module's docstring).
_TO_FLASK = ("QUERY_STRING", "HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE")


class FastPages:
    """WSGI middleware: the kept pages for plain GETs, everything else to `wsgi_app`."""

    def __init__(self, app: Flask, wsgi_app: WSGIApplication) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.config = app.config
        self.extensions = app.extensions
        # The same Vary Flask-Compress adds to every response it sees.
        self.compressible = compress.compress_mimetypes_set
        self.min_size = app.config["COMPRESS_MIN_SIZE"]
        self._probe: DatabaseProbe | None = None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        found = self._page_for(environ)
        if found is None:
            return self.wsgi_app(environ, start_response)
        page, returning = found
        headers, body = self._answer(page, environ, returning)
        start_response("200 OK", headers)
        metrics.observe(page.endpoint, "GET", 200, started)
        return [body]

    def _page_for(self, environ: WSGIEnvironment) -> tuple[CachedPage, bool] | None:
        """The kept page this request asks for, and whether it carries the visit cookie;
        None for a request Flask answers."""
        if environ.get("REQUEST_METHOD") != "GET" or any(environ.get(k) for k in _TO_FLASK):
            return None
        pages: dict[str, CachedPage] = self.extensions.get(PAGES_KEY, {})
        path = environ.get("PATH_INFO") or "/"
        if path not in pages:
            return None
        cookie = environ.get("HTTP_COOKIE")
        names = parse_cookie(cookie).keys() if cookie else set()
        if not names <= {VISIT_COOKIE} or not self._articles_current():
            return None
        # (Looked up again: a freshness check that found a change has emptied the cache.)
        page = pages.get(path)
        if page is None or (page.endpoint in PROBES and not self._database_answers()):
            return None  # (a database that does not answer: Flask's view says so, 503)
        return page, VISIT_COOKIE in names

    def _articles_current(self) -> bool:
        """Make sure this worker's copy of the articles is current, as every request that
        reads them does (articles_live.py: at most one small query every few seconds)."""
        try:
            self.extensions["articles"].current()
        except Exception:  # Flask's path meets it again and answers it (503, say)
            return False
        return True

    def _database_answers(self) -> bool:
        if self._probe is None:
            with self.app.app_context():
                self._probe = DatabaseProbe(db.engine)
        return self._probe.answers()

    def _answer(
        self, page: CachedPage, environ: WSGIEnvironment, returning: bool
    ) -> tuple[list[tuple[str, str]], bytes]:
        """The headers and body Flask's path gives this page, hook by hook, in its order."""
        config = self.config
        if config["OUTBOX_IN_PROCESS"]:
            self.extensions["outbox_sender"].ensure_running()
        body = page.body(config)
        headers: list[tuple[str, str]] = page.headers(config, self.extensions["content_changed"])
        length = len(headers)
        headers.append(("Content-Length", str(len(body))))
        path = environ.get("PATH_INFO") or "/"
        if page.endpoint in READER_PAGES:
            if not returning:
                secure = config["SESSION_COOKIE_SECURE"]
                headers.append(("Set-Cookie", first_visit_cookie(environ, path, secure)))
            if counts_as_view(environ):
                counter = self.extensions["view_counter"]
                counter.add(path)
                counter.start()
        headers.append(("Vary", "Accept-Encoding"))
        body = self._compress(page, body, environ, headers, length)
        secure = environ.get("wsgi.url_scheme") == "https"
        headers.extend(security_headers(page.is_html, secure))
        return headers, body

    def _compress(
        self,
        page: CachedPage,
        body: bytes,
        environ: WSGIEnvironment,
        headers: list[tuple[str, str]],
        length_at: int,
    ) -> bytes:
        """Flask-Compress's after_request for this page: its algorithm, level and headers."""
        algorithm = _choose_algorithm(
            compress.enabled_algorithms, environ.get("HTTP_ACCEPT_ENCODING", "")
        )
        mimetype = page.content_type.partition(";")[0]
        if algorithm is None or mimetype not in self.compressible or len(body) < self.min_size:
            return body
        if page.has_token:  # different for every visitor: compressed every time
            compressed = _compress_data(self.app, body, algorithm)
        else:  # the same bytes for everyone: compressed once
            compressed = page.compressed.get(algorithm) or page.compressed.setdefault(
                algorithm, _compress_data(self.app, body, algorithm)
            )
        headers.append(("Content-Encoding", algorithm))
        headers[length_at] = ("Content-Length", str(len(compressed)))
        return compressed


def init_app(app: Flask) -> None:
    """Put the fast pages in front of Flask (inside ProxyFix and WhiteNoise).

    Not when the app checks the Host header (TRUSTED_HOSTS, SERVER_NAME): Flask answers
    a wrong host with a 400 or 404, which this layer does not know how to.
    """
    if app.config.get("TRUSTED_HOSTS") or app.config.get("SERVER_NAME"):
        return
    app.wsgi_app = FastPages(app, app.wsgi_app)  # type: ignore[method-assign]
