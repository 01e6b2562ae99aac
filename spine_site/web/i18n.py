"""The languages of the public side: English at the site's root, Spanish under /es/.

A public page is declared once with `localized(bp, rule)`: it answers at `rule` and at `/es`
+ `rule`, as one endpoint whose `language` (a URL default, taken off before the view runs)
is the page's language, so `url_for` inside a page builds links in the same language.
Nothing follows `Accept-Language`: a shared link and a search engine get the language they
asked for. Staff pages are English; a page reached by a link in an email follows the
language of its lead (`use_language`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, current_app, g, has_request_context, request, url_for
from flask_babel import Babel, refresh

# Code -> the language's name in English (staff pages, exports, analytics).
LANGUAGES: dict[str, str] = {"en": "English", "es": "Spanish"}
# Code -> its own name, as the link to it reads on a page in the other language.
NATIVE_NAMES: dict[str, str] = {"en": "English", "es": "Español"}
DEFAULT = "en"
PREFIXES: dict[str, str] = {"en": "", "es": "/es"}
# What `<html lang>`, Content-Language and the guide PDF say: US English and US Spanish.
TAGS: dict[str, str] = {"en": "en-US", "es": "es-US"}

babel = Babel()


def language_of_path(path: str) -> str:
    """The language of the page at `path`: its prefix's (/es/...), else English."""
    for code, prefix in PREFIXES.items():
        if prefix and (path == prefix or path.startswith(prefix + "/")):
            return code
    return DEFAULT


def current_language() -> str:
    """The language of this request's page: set by its route (or by its lead), else read
    from the path, so that a 404 under /es/ is in Spanish too; English outside a request."""
    if not has_request_context():
        return DEFAULT
    return g.get("language") or language_of_path(request.path)


def use_language(language: str) -> None:
    """Render the rest of this request in `language` (a known one; else English)."""
    g.language = language if language in LANGUAGES else DEFAULT
    refresh()  # Flask-Babel keeps the locale it read first for the request


def localized(bp: Blueprint, rule: str, **options: Any) -> Callable[[Callable], Callable]:
    """Like `bp.route(rule)`, once per language: `/schedule` and `/es/schedule`."""

    def decorator(view: Callable) -> Callable:
        endpoint = options.pop("endpoint", view.__name__)
        for language, prefix in PREFIXES.items():
            path = prefix + rule if prefix else rule
            bp.add_url_rule(path, endpoint, view, defaults={"language": language}, **options)
        return view

    return decorator


def alternates() -> dict[str, str]:
    """This page in each language that has it (code -> path), for hreflang links and the
    language switch: `g.alternates` if the view set it, else the same endpoint in every
    language; empty for a page with no counterpart."""
    if "alternates" in g:
        return g.alternates
    rule = request.url_rule
    if rule is None or not rule.defaults or "language" not in rule.defaults:
        return {}
    if request.endpoint not in current_app.extensions["translated_endpoints"]:
        return {}
    # The path alone: a query string is the visitor's, and a page kept as bytes would hand
    # it to every later reader. (A page whose query matters sets g.alternates itself.)
    args = dict(request.view_args or {})
    return {code: url_for(request.endpoint, **args, language=code) for code in LANGUAGES}


def init_app(app: Flask, *, translated_endpoints: set[str]) -> None:
    """Flask-Babel with the page's language; `translated_endpoints` are the localized pages
    that read the same in every language (so each links to the others)."""
    babel.init_app(app, locale_selector=current_language)
    app.extensions["translated_endpoints"] = translated_endpoints
    app.jinja_env.globals.update(LANGUAGES=LANGUAGES, NATIVE_NAMES=NATIVE_NAMES, LANGUAGE_TAGS=TAGS)

    @app.context_processor
    def _language() -> dict[str, Any]:
        return {
            "language": current_language(),
            "alternates": alternates() if has_request_context() else {},
        }


def register(bp: Blueprint) -> None:
    """The blueprint's routes take their language from the URL and build links in it."""

    @bp.url_value_preprocessor
    def _take_language(endpoint: str | None, values: dict[str, Any] | None) -> None:
        if values is not None and "language" in values:
            g.language = values.pop("language")

    @bp.url_defaults
    def _keep_language(endpoint: str, values: dict[str, Any]) -> None:
        if "language" not in values and current_app.url_map.is_endpoint_expecting(
            endpoint, "language"
        ):
            values["language"] = current_language()
