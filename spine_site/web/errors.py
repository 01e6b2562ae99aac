"""Error pages in plain words, for the whole app. Each blueprint adds its own handlers where
it can do better (the public forms come back filled in; staff pages keep a note's draft).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask, Response, g, make_response, render_template, request
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from werkzeug.exceptions import HTTPException

from spine_site.extensions import db

log = logging.getLogger(__name__)

# The database is restarting or unreachable: these mean "try again soon", not a bug.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, SQLAlchemyTimeoutError)

# (title, detail) of each error page, in the page's language: an error under /es/ reads in
# Spanish (i18n.current_language reads the path when no route set the language).
MESSAGES: dict[int, tuple[LazyString, LazyString]] = {
    400: (
        _l("Something in that request didn't look right"),
        _l("Please go back, check what you entered and try again."),
    ),
    404: (
        _l("We couldn't find that page"),
        _l("The link may be old or mistyped. Try the home page or one of our articles."),
    ),
    405: (_l("That page can't be used that way"), _l("Please go back and try again.")),
    413: (
        _l("That was more than we can accept"),
        _l(
            "What you sent was too large. Please shorten your message and try again, "
            "or call us instead."
        ),
    ),
    429: (
        _l("Too many requests"),
        _l(
            "You've sent several requests in a short time. Please wait a minute and try "
            "again, or call us instead."
        ),
    ),
    500: (
        _l("Something went wrong on our side"),
        _l(
            "We're sorry. Nothing you did caused this. Please try again in a few minutes, "
            "or call us."
        ),
    ),
    503: (_l("We're briefly unavailable"), _l("Please try again in a minute, or call us.")),
}


def render_error(code: int) -> tuple[str, int]:
    title, detail = MESSAGES.get(code, MESSAGES[400] if code < 500 else MESSAGES[500])
    # An error page is no version of the page asked for: no hreflang, no language switch.
    g.alternates = {}
    page = render_template("errors/error.html", code=code, title=str(title), detail=str(detail))
    return page, code


def http_error(exc: HTTPException, page: object = None) -> Response:
    """The plain page for an HTTP error (or `page`, made by a blueprint that can do better),
    keeping the error's Retry-After (a rate limit says when to try again)."""
    response = make_response(page if page is not None else render_error(exc.code or 500))
    for name, value in exc.get_headers():
        if name == "Retry-After":
            response.headers[name] = value
    return response


def database_unavailable(exc: Exception, page: Callable[[], object] | None = None) -> Response:
    """A clear 503 with Retry-After, after the failed transaction is rolled back; `page`
    makes what a blueprint would rather show (the form with what was typed)."""
    log.warning(
        "database unavailable on %s %s: %s", request.method, request.path, type(exc).__name__
    )
    db.session.rollback()
    shown = page() if page is not None else None
    response = make_response(shown if shown is not None else render_error(503))
    response.headers["Retry-After"] = "10"
    return response


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, http_error)

    for error in DATABASE_UNAVAILABLE:
        app.register_error_handler(error, database_unavailable)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render_error(500)
