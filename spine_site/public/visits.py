"""Visit attribution and page-view counting, at the edge of the public pages.

The landing page, campaign tags and outside referrer of a visit go in a first-party,
browser-session cookie (`spine_visit`) and are read back when a form is sent. Views of the
pages a reader lands on are counted (pageviews.py), without cookies.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit

from flask import Blueprint, Response, after_this_request, current_app, request
from werkzeug.http import dump_cookie

from spine_site.analytics import pageviews
from spine_site.leads.intake import UTM_KEYS, Attribution
from spine_site.web.forms import visible_only

# The pages a reader lands on and reads: their views are counted (GET answered 200 or 304),
# and the visit cookie is set on them. Not the emailed links (a signed token is no landing
# page), files, or the manifest, which caches may keep. Articles are counted by path.
READER_PAGES = frozenset(
    {"public.index", "public.article", "public.schedule", "public.guide", "public.privacy"}
)

# Not signed: it holds only what the visitor's own browser sent us (the URL and Referer of
# the first page), which they could change anyway, and it is checked again when read.
VISIT_COOKIE = "spine_visit"
# name in the cookie -> longest value kept, in characters
_VISIT_LIMITS = {"l": 300, "r": 300, **{f"u_{key}": 100 for key in UTM_KEYS}}

# Crawlers, link previews, monitors and scripts that say what they are; and no User-Agent at
# all, which no browser sends. Searched for in the lower-cased User-Agent, since a case-blind
# search (re.IGNORECASE) of so many words is many times slower, and this runs on every view.
_BOT = re.compile(
    r"bot|crawl|spider|slurp|preview|monitor|scan|headless|lighthouse|curl|wget|python|"
    r"httpclient|java/|go-http|okhttp|werkzeug|facebookexternalhit|whatsapp|embedly|"
    r"feedfetcher|validator"
)


def register(bp: Blueprint) -> None:
    bp.before_request(remember_visit)
    bp.after_request(count_view)


def remember_visit() -> None:
    """Note the landing page, campaign tags and outside referrer of a visit, once."""
    if request.method != "GET" or request.endpoint not in READER_PAGES:
        return
    args = request.args
    utm = {}
    if args:
        for key in UTM_KEYS:
            value = _bounded(args.get(f"utm_{key}"), 100)
            if value:
                utm[f"u_{key}"] = value
    if VISIT_COOKIE in request.cookies and not utm:
        return
    visit = {
        "l": _bounded(request.full_path.rstrip("?"), 300),
        "r": _outside_referrer(_bounded(request.referrer, 300), request.host),
        **utm,
    }
    value = urlencode({k: v for k, v in visit.items() if v})
    secure = current_app.config["SESSION_COOKIE_SECURE"]
    header = dump_cookie(VISIT_COOKIE, value, httponly=True, samesite="Lax", secure=secure)

    @after_this_request
    def set_visit_cookie(response: Response) -> Response:
        response.headers.add("Set-Cookie", header)
        return response


def _bounded(value: str | None, limit: int) -> str:
    """Visible characters only: at most `limit` of them, and 3 * `limit` once URL-encoded.

    The cookie carries these; long non-Latin values would otherwise push it past the 4 KB
    browsers keep (at most 900 + 900 + 5 * 300 characters here).
    """
    if not value:
        return ""
    text = str(visible_only(value))[:limit]
    while len(quote_plus(text)) > 3 * limit:
        text = text[:-1]
    return text


def _outside_referrer(value: str, own_host: str) -> str:
    """An http(s) URL of another site, or "": our own pages are not a source, and anything
    that does not parse as a web address (http://[::1, javascript:...) is not kept."""
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return ""
    if parts.scheme not in {"http", "https"} or not host or parts.netloc == own_host:
        return ""
    return value


def _own_path(value: str) -> str:
    """A path on this site (/articles/...), or "": never another host (//evil.example)."""
    return value if value.startswith("/") and not value.startswith("//") else ""


def read_visit() -> dict[str, str]:
    """The visit cookie as the browser sent it back, checked again: it is not signed, so it
    holds only what the visitor could have typed anyway, and is read as such."""
    try:
        pairs = parse_qsl(request.cookies.get(VISIT_COOKIE, ""), max_num_fields=10)
    except ValueError:
        return {}
    seen = {k: _bounded(v, _VISIT_LIMITS[k]) for k, v in pairs if k in _VISIT_LIMITS}
    if "r" in seen:
        seen["r"] = _outside_referrer(seen["r"], request.host)
    if "l" in seen:
        seen["l"] = _own_path(seen["l"])
    return {k: v for k, v in seen.items() if v}


def attribution(source_page: str | None, placement: str | None) -> Attribution:
    """The visit's attribution, with where the form was (as the form itself reported it)."""
    seen = read_visit()
    page = source_page or ""
    if not page.startswith("/") or page.startswith("//"):
        page = request.path
    return Attribution(
        utm={key: seen[f"u_{key}"] for key in UTM_KEYS if seen.get(f"u_{key}")},
        referrer=seen.get("r") or None,
        landing_page=seen.get("l") or None,
        source_page=page,
        placement=placement if placement in {"embedded", "page"} else "page",
    )


# -- Page views ---------------------------------------------------------------------------


def is_counted_view(response: Response) -> bool:
    """A reader page's GET answered 200 or 304 counts unless a bot or a prefetch asked."""
    if request.method != "GET" or response.status_code not in (200, 304):
        return False
    headers = request.headers
    agent = headers.get("User-Agent")
    if request.endpoint not in READER_PAGES or not agent or _BOT.search(agent.lower()):
        return False
    # A page the browser fetched ahead in case it is needed has not been seen.
    purpose = headers.get("Sec-Purpose") or headers.get("Purpose") or headers.get("X-Moz") or ""
    return "prefetch" not in purpose and "prerender" not in purpose


def count_view(response: Response) -> Response:
    # One in-memory counter bump; pageviews.ViewCounter adds the counts up in batches.
    if is_counted_view(response):
        counter = pageviews.counter()
        counter.add(request.path)
        counter.start()
    return response
