"""Public pages and the two lead forms."""

from __future__ import annotations

import functools
import hashlib
import re
import time
from datetime import date
from io import BytesIO
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    after_this_request,
    current_app,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.http import dump_cookie, http_date

from .. import leads, tokens
from ..analytics import READER_PAGES, is_counted_view
from ..articles import Article, Library
from ..extensions import db, limiter
from ..guide import DOWNLOAD_NAME, guide_pdf
from ..models import FormKind, Lead, Person
from ..security import is_cross_site
from .forms import GuideForm, LeadForm, ResendGuideForm, ScheduleForm, visible_only

bp = Blueprint("public", __name__)

# name in URLs -> (kind stored, form class, field prefix so both forms fit on one page)
FORMS: dict[str, tuple[FormKind, type[LeadForm], str]] = {
    "schedule": (FormKind.APPOINTMENT, ScheduleForm, "appt"),
    "guide": (FormKind.GUIDE, GuideForm, "guide"),
}
TIMED_OUT = (
    "For your security this form timed out. Your details are still here: "
    "please check them and press the button again."
)
CROSS_SITE = (
    "This form was sent from another website, so we did not send it on. Your details are "
    "here: if this is your request, please check them and press the button."
)
_ARTICLE_PATH = re.compile(r"^/articles/([a-z0-9-]+)$")


def library() -> Library:
    return current_app.extensions["articles"]


# -- Attribution: remembered in a first-party, browser-session cookie -------------------

# Not signed: it holds only what the visitor's own browser sent us (the URL and Referer of
# the first page), which they could change anyway, and it is checked again when read.
VISIT_COOKIE = "spine_visit"
# name in the cookie -> longest value kept, in characters
_VISIT_LIMITS = {"l": 300, "r": 300, **{f"u_{key}": 100 for key in leads.UTM_KEYS}}


@bp.before_app_request
def remember_visit() -> None:
    """Note the landing page, campaign tags and outside referrer of a visit, once."""
    # Pages a reader lands on; not the emailed links (a signed token is no landing page),
    # files, or the manifest, which caches may keep.
    if request.method != "GET" or request.endpoint not in READER_PAGES:
        return
    args = request.args
    utm = {}
    if args:
        for key in leads.UTM_KEYS:
            value = _bounded(args.get(f"utm_{key}"), 100)
            if value:
                utm[f"u_{key}"] = value
    if VISIT_COOKIE in request.cookies and not utm:
        return
    referrer = _bounded(request.referrer, 300)
    if referrer:
        try:
            if urlsplit(referrer).netloc == request.host:
                referrer = ""  # our own pages are not a source
        except ValueError:
            referrer = ""
    # (full_path re-encodes the path; the plain path is enough when there is no query.)
    landing = request.full_path.rstrip("?") if request.query_string else request.path
    header = _visit_cookie(
        landing, referrer, tuple(utm.items()), current_app.config["SESSION_COOKIE_SECURE"]
    )

    @after_this_request
    def set_visit_cookie(response: Response) -> Response:
        response.headers.add("Set-Cookie", header)
        return response


@functools.lru_cache(maxsize=1024)
def _visit_cookie(
    landing: str, referrer: str, utm: tuple[tuple[str, str], ...], secure: bool
) -> str:
    """The Set-Cookie header for a visit. Most first visits have no referrer or campaign and
    land on one of a few pages, so the same few headers serve nearly every one of them."""
    visit = {"l": _bounded(landing, 300), "r": referrer, **dict(utm)}
    value = urlencode({k: v for k, v in visit.items() if v})
    return dump_cookie(VISIT_COOKIE, value, httponly=True, samesite="Lax", secure=secure)


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


def read_visit() -> dict[str, str]:
    try:
        pairs = parse_qsl(request.cookies.get(VISIT_COOKIE, ""), max_num_fields=10)
    except ValueError:
        return {}
    return {k: _bounded(v, _VISIT_LIMITS[k]) for k, v in pairs if k in _VISIT_LIMITS}


def attribution(form: LeadForm) -> leads.Attribution:
    seen = read_visit()
    source_page = form.source_page.data or ""
    if not source_page.startswith("/") or source_page.startswith("//"):
        source_page = request.path
    placement = form.placement.data if form.placement.data in {"embedded", "page"} else "page"
    return leads.Attribution(
        utm={key: seen[f"u_{key}"] for key in leads.UTM_KEYS if seen.get(f"u_{key}")},
        referrer=seen.get("r") or None,
        landing_page=seen.get("l") or None,
        source_page=source_page,
        placement=placement,
    )


# -- Conditional requests: ETag, Last-Modified and 304 on every public HTML page -------------

# A form token as it appears in a page (tokens.new_form_token): not part of what the page says.
_FORM_TOKEN = re.compile(rb"[A-Za-z0-9_-]{22}\.\d{10,}\.[01]\.[A-Za-z0-9_-]{43}")
_DAY = 24 * 3600


def _token_period() -> int:
    # A returning reader gets a 304 and the copy they have, form token included, within one
    # period: a day, or half the token's lifetime if that is shorter, so a kept copy's token
    # never expires before the page is renewed.
    return max(60, min(_DAY, current_app.config["FORM_TOKEN_MAX_AGE"] // 2))


def _token_window() -> tuple[int, int]:
    """The current renewal period of pages with a form: (its number, its length in seconds)."""
    period = _token_period()
    return int(time.time() // period), period


@bp.after_request
def count_view(response: Response) -> Response:
    # One in-memory counter bump; analytics.ViewCounter adds the counts up in batches.
    if is_counted_view(request, response):
        counter = current_app.extensions["view_counter"]
        counter.add(request.path)
        counter.start()
    return response


@bp.after_request
def conditional_html(response: Response) -> Response:
    if (
        request.method not in {"GET", "HEAD"}
        or response.status_code != 200
        or response.mimetype != "text/html"
        or response.is_streamed
    ):
        return response
    changed = current_app.extensions["content_changed"]
    window, period = _token_window()
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


# -- Pages ------------------------------------------------------------------------------


@bp.get("/")
def index() -> str:
    return render_template("public/index.html", articles=library().all)


@bp.get("/articles/<slug>")
def article(slug: str):
    found = library().get(slug)
    if found is None:
        abort(404)
    return fresh_article_page(found)


# Stand-in for the one per-visitor part of an article page: the forms' token.
_TOKEN_SLOT = "\x00form-token-slot\x00"


def fresh_article_page(found: Article) -> Response:
    """An article with empty forms: rendered once per process, then only the token changes.

    Rendering two forms field by field is most of the cost of the page; the result is the
    same for every visitor but for the form token, filled in per request. (Both forms share
    it: a submission's key also covers its content, so the two forms' submissions never
    collide.)
    """
    cache: dict[str, list[bytes]] = current_app.extensions.setdefault("article_pages", {})
    digests: dict[str, str] = current_app.extensions.setdefault("article_digests", {})
    parts = cache.get(found.slug)
    if parts is None:
        forms = {}
        for name in FORMS:
            form = fresh_form(name, "embedded", found.path)
            form.form_token.data = _TOKEN_SLOT
            forms[name] = form
        page = render_template(
            "public/article.html",
            article=found,
            related=library().related(found),
            forms=forms,
            problems={},
        )
        # Kept as UTF-8 bytes: a request then joins bytes, with nothing to encode.
        parts = cache[found.slug] = [part.encode() for part in page.split(_TOKEN_SLOT)]
        digests[found.slug] = hashlib.blake2b(page.encode(), digest_size=12).hexdigest()
    body = tokens.new_form_token().encode().join(parts)
    response = Response(body, mimetype="text/html")
    response.set_etag(f"{digests[found.slug]}-{_token_window()[0]}", weak=True)
    return response


def fresh_form(name: str, placement: str, source_page: str) -> LeadForm:
    _, cls, prefix = FORMS[name]
    form = cls(formdata=None, prefix=prefix)
    form.form_token.data = tokens.new_form_token()
    form.placement.data = placement
    form.source_page.data = source_page
    return form


def render_article(
    found: Article,
    forms: dict[str, LeadForm] | None = None,
    problems: dict[str, list[str]] | None = None,
    status: int = 200,
):
    forms = forms or {}
    for name in FORMS:
        forms.setdefault(name, fresh_form(name, "embedded", found.path))
    return render_template(
        "public/article.html",
        article=found,
        related=library().related(found),
        forms=forms,
        problems=problems or {},
    ), status


def render_form_page(name: str, form: LeadForm, problems: list[str], status: int):
    path = form.source_page.data or ""
    match = _ARTICLE_PATH.match(path)
    if form.placement.data == "embedded" and match and library().get(match.group(1)):
        # The form was inside an article: show the article again, errors in place.
        return render_article(
            library().get(match.group(1)), {name: form}, problems={name: problems}, status=status
        )
    return render_template(
        f"public/{name}.html", form=form, problems=problems, articles=library().all
    ), status


def form_limit() -> str:
    return current_app.config["RATELIMIT_FORMS"]


def handle_form(name: str):
    kind, cls, prefix = FORMS[name]
    if request.method == "GET":
        return render_form_page(name, fresh_form(name, "page", request.path), [], 200)

    form = cls(prefix=prefix)
    if is_cross_site(request):
        # Another website posted this: store nothing, but show the patient what they typed
        # on our own page, where pressing the button again is a same-site post. A token
        # still good keeps its time (the minimum fill time still applies to it).
        max_age = current_app.config["FORM_TOKEN_MAX_AGE"]
        if tokens.read_form_token(form.form_token.data or "", max_age) is None:
            form.form_token.data = tokens.new_form_token()
        return render_form_page(name, form, [CROSS_SITE], 403)
    valid = form.validate()
    token = tokens.read_form_token(
        form.form_token.data or "", current_app.config["FORM_TOKEN_MAX_AGE"]
    )
    problems: list[str] = []
    if token is None:
        # The page sat open too long (or the token was damaged): keep every value, ask again.
        # Only a token of ours that merely expired earns the waiver of the minimum fill time
        # (the patient has been typing all along); a missing or forged one, which is what a
        # bot would send to get that waiver, gets a plain new token.
        expired = tokens.read_form_token(form.form_token.data or "", max_age=2**31) is not None
        form.form_token.data = tokens.new_form_token(reissued=expired)
        problems.append(TIMED_OUT)
        valid = False
    if not valid:
        return render_form_page(name, form, problems, 400 if problems else 422)

    spam_reason = None
    if form.website.data:
        spam_reason = "honeypot"
    elif (
        not token.reissued
        and time.time() - token.issued_at < current_app.config["FORM_MIN_FILL_SECONDS"]
    ):
        spam_reason = "too_fast"
    result = leads.capture(
        kind,
        form.data,
        form_nonce=token.nonce,
        attribution=attribution(form),
        spam_reason=spam_reason,
    )
    if result.created and not result.lead.is_spam:
        current_app.extensions["outbox_sender"].wake()
    # Suspected spam sees the same thank-you page: nothing tells a bot it was caught.
    return redirect(url_for("public.thanks", name=name), 303)


@bp.route("/schedule", methods=["GET", "POST"])
@limiter.limit(form_limit, methods=["POST"])
def schedule():
    return handle_form("schedule")


@bp.route("/guide", methods=["GET", "POST"])
@limiter.limit(form_limit, methods=["POST"])
def guide():
    return handle_form("guide")


def rerender_after_failure(message: str, status: int):
    """A form post that could not be handled shows the form again with what was typed."""
    names = {"public.schedule": "schedule", "public.guide": "guide"}
    name = names.get(request.endpoint or "")
    if request.method != "POST" or name is None:
        return None
    _, cls, prefix = FORMS[name]
    return render_form_page(name, cls(prefix=prefix), [message], status)


def rerender_after_rate_limit():
    """A 429 on a form post shows the form again with what was typed, not a bare error."""
    return rerender_after_failure(
        "We've had several requests from your connection in a short time. Your details are "
        f"still here: please wait a minute and try again, or call us at "
        f"{current_app.config['CLINIC_PHONE']}.",
        429,
    )


@bp.get("/<any(schedule, guide):name>/thanks")
def thanks(name: str) -> str:
    return render_template("public/thanks.html", name=name, articles=library().all)


# -- Guide download ---------------------------------------------------------------------


def _lead_for_link(token: str) -> tuple[tokens.GuideLink, Lead]:
    link = tokens.read_guide_token(token)
    lead = db.session.get(Lead, link.lead_id) if link else None
    if link is None or lead is None:
        abort(Response(render_template("public/guide_link_invalid.html"), 404))
    return link, lead


@bp.get("/guide/download/<token>")
def guide_download(token: str):
    link, lead = _lead_for_link(token)
    if link.expired:
        return render_template(
            "public/guide_expired.html", form=ResendGuideForm(), token=token
        ), 410
    if request.method == "GET":  # a HEAD (link checkers) is not a download
        leads.record_download(lead)
    config = current_app.config
    response = send_file(
        BytesIO(guide_pdf(config["CLINIC_NAME"], config["CLINIC_PHONE"])),
        mimetype="application/pdf",
        download_name=DOWNLOAD_NAME,
        as_attachment=False,
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/guide/download/<token>/resend")
@limiter.limit(form_limit)
def guide_resend(token: str):
    link, lead = _lead_for_link(token)
    if not link.expired:
        abort(404)  # only an expired link offers a fresh one
    form = ResendGuideForm()
    if not form.validate():
        return render_template(
            "public/guide_expired.html", form=form, token=token, timed_out=True
        ), 400
    if not leads.resend_guide(lead):
        return render_template(
            "public/guide_expired.html", form=form, token=token, too_many=True
        ), 429
    current_app.extensions["outbox_sender"].wake()
    return redirect(url_for("public.thanks", name="guide"), 303)


# -- Unsubscribe (RFC 8058 one-click on POST) -------------------------------------------


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str):
    person_id = tokens.read_unsubscribe_token(token)
    if person_id is None:
        abort(404)
    if request.method == "GET":
        return render_template("public/unsubscribe.html", token=token, done=False)
    person = db.session.get(Person, person_id)
    if person is not None:  # an erased person has nothing left to send to
        leads.unsubscribe(person)
    return render_template("public/unsubscribe.html", token=token, done=True)


# -- Small pages and machine files ------------------------------------------------------


@bp.get("/privacy")
def privacy() -> str:
    return render_template("public/privacy.html")


@bp.get("/sitemap.xml")
def sitemap() -> Response:
    newest = max((a.updated for a in library().all), default=date.today())
    pages: list[dict[str, Any]] = [{"loc": url_for("public.index"), "lastmod": newest}]
    pages += [{"loc": a.path, "lastmod": a.updated} for a in library().all]
    pages += [{"loc": url_for(f"public.{n}"), "lastmod": None} for n in ("schedule", "guide")]
    pages.append({"loc": url_for("public.privacy"), "lastmod": None})
    body = render_template("public/sitemap.xml", pages=pages)
    return Response(body, mimetype="application/xml")


@bp.get("/robots.txt")
def robots() -> Response:
    body = render_template("public/robots.txt")
    return Response(body, mimetype="text/plain")


@bp.get("/healthz")
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
    except SQLAlchemyError:
        db.session.rollback()
        return {"status": "unavailable", "database": "unreachable"}, 503
    return {"status": "ok"}


@bp.get("/manifest.webmanifest")
def manifest() -> Response:
    """The web app manifest: the clinic's name and icons when a patient saves the site."""
    name = current_app.config["CLINIC_NAME"]

    def icon(name: str, kind: str, sizes: str, **extra: str) -> dict[str, str]:
        return {"src": url_for("static", filename=name), "type": kind, "sizes": sizes, **extra}

    body = {
        "name": name,
        "short_name": name[:12],
        "description": f"Non-surgical spine care and patient education from {name}.",
        "start_url": url_for("public.index"),
        "scope": "/",
        "display": "browser",
        "background_color": "#ffffff",
        "theme_color": "#124a6e",
        "icons": [
            icon("img/favicon.svg", "image/svg+xml", "any"),
            icon("img/icon-192.png", "image/png", "192x192"),
            icon("img/icon-512.png", "image/png", "512x512"),
            icon("img/icon-maskable-512.png", "image/png", "512x512", purpose="maskable"),
        ],
    }
    response = current_app.json.response(body)
    response.mimetype = "application/manifest+json"
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@bp.get("/favicon.ico")
def favicon():
    # 302: the target's name carries the file's hash, which changes with the file.
    return redirect(url_for("static", filename="img/favicon.svg"), 302)
