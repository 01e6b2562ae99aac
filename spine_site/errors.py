"""Error pages in plain words. A form posted too often comes back filled in, not lost."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

MESSAGES = {
    400: (
        "Something in that request didn't look right",
        "Please go back, check what you entered and try again.",
    ),
    404: (
        "We couldn't find that page",
        "The link may be old or mistyped. Try the home page or one of our articles.",
    ),
    405: ("That page can't be used that way", "Please go back and try again."),
    413: (
        "That was more than we can accept",
        "What you sent was too large. Please shorten your message and try again, "
        "or call us instead.",
    ),
    429: (
        "Too many requests",
        "You've sent several requests in a short time. Please wait a minute and try again, "
        "or call us instead.",
    ),
    500: (
        "Something went wrong on our side",
        "We're sorry. Nothing you did caused this. Please try again in a few minutes, or call us.",
    ),
    503: ("We're briefly unavailable", "Please try again in a minute, or call us."),
}


def render_error(code: int):
    title, detail = MESSAGES.get(code, MESSAGES[400] if code < 500 else MESSAGES[500])
    return render_template("errors/error.html", code=code, title=title, detail=detail), code


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if isinstance(exc, CSRFError) and request.blueprint == "staff":
            from .staff.views import after_csrf_failure

            return after_csrf_failure()
        if exc.code == 429:
            from .public.views import rerender_after_rate_limit

            page = rerender_after_rate_limit()
            if page is not None:
                return page
        return render_error(exc.code or 500)

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(SQLAlchemyTimeoutError)
    def _database_unavailable(exc: Exception):
        # The database is restarting or unreachable: a clear 503, not a crash; a form keeps
        # what the patient typed. pool_pre_ping reconnects once it is back.
        log.warning(
            "database unavailable on %s %s: %s", request.method, request.path, type(exc).__name__
        )
        from .extensions import db
        from .public.views import rerender_after_failure

        db.session.rollback()
        page = rerender_after_failure(
            "We couldn't save your request just now. Your details are still here: please "
            "try again in a minute, or call us.",
            503,
        )
        response = page if page is not None else render_error(503)
        if isinstance(response, tuple):
            response = app.make_response(response)
        response.headers["Retry-After"] = "10"
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render_error(500)
