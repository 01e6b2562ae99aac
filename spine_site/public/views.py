"""Public pages: the home page, articles, the two lead forms, the guide link, newsletter
confirmation, unsubscribe, and the small machine files. Each view parses the request, calls
one domain function and renders or redirects.
"""

from __future__ import annotations

from datetime import date
from io import BytesIO

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext
from werkzeug.exceptions import HTTPException

from spine_site import privacy, tokens
from spine_site.articles.live import Shelf
from spine_site.articles.render import Article
from spine_site.config import hours_text
from spine_site.extensions import db
from spine_site.leads import emails, intake
from spine_site.leads.contact_promise import contact_promise
from spine_site.leads.guide import DOWNLOAD_NAMES, GuideContact, guide_pdf
from spine_site.leads.intake import BEST_TIMES, CONTACT_METHODS
from spine_site.models import Lead, Person
from spine_site.ops import health
from spine_site.public import caching, media, visits
from spine_site.public.forms import ResendGuideForm
from spine_site.public.lead_forms import (
    DATABASE_DOWN,
    FORMS,
    PageResult,
    articles_in,
    embedded_forms,
    fresh_form,
    handle_form,
    library,
    rate_limited_message,
    render_form_page,
    rerender_after_failure,
)
from spine_site.web import errors, i18n
from spine_site.web.i18n import localized
from spine_site.web.ratelimits import limited
from spine_site.web.security import is_cross_site

bp = Blueprint("public", __name__)
# The staff preview of an article shows the same forms; blueprints never import each other,
# so this one offers them on the app.
bp.record_once(lambda state: state.app.extensions.setdefault("article_forms", embedded_forms))
# Hooks run after_request in reverse order of registration: caching answers 304s first, so
# count_view sees the status the reader gets.
visits.register(bp)
caching.register(bp)
i18n.register(bp)
# The pages that read the same in every language, each linking to the others.
TRANSLATED_ENDPOINTS = {
    "public.index",
    "public.schedule",
    "public.guide",
    "public.thanks",
    "public.privacy",
}


@bp.errorhandler(429)
def too_many_requests(exc: HTTPException):
    """A 429 on a form post shows the form again with what was typed, not a bare error."""
    return errors.http_error(exc, rerender_after_failure(rate_limited_message(), 429))


def _database_unavailable(exc: Exception) -> Response:
    return errors.database_unavailable(exc, lambda: rerender_after_failure(DATABASE_DOWN, 503))


for _error in errors.DATABASE_UNAVAILABLE:
    bp.register_error_handler(_error, _database_unavailable)


CONTACT_CODES = {code for code, _ in CONTACT_METHODS}
TIME_CODES = {code for code, _ in BEST_TIMES}


# -- Pages ------------------------------------------------------------------------------


@localized(bp, "/", methods=["GET"])
def index() -> Response:
    """The home page, listing the articles of its language (kept by path, so /es/ and /
    are kept apart)."""
    articles = library().all
    return caching.kept_page(
        "text/html", lambda: render_template("public/index.html", articles=articles)
    )


@localized(bp, "/articles/<slug>", methods=["GET"])
def article(slug: str) -> Response | tuple[str, int]:
    """An article of the page's language; its translations are its alternates (hreflang
    and the language link), and an article with none links to no other language."""
    articles = library()
    found = articles.get(slug)
    if found is not None:
        g.alternates = articles.alternates(found)
        return caching.kept_page("text/html", lambda: _article_with_slot(found))
    g.alternates = {}  # a redirect or a 410 has no page in another language
    moved = articles.moved_to(slug)
    if moved is not None:
        # The slug changed: old links and search results land on the article.
        return redirect(url_for("public.article", slug=moved), 301)
    if articles.is_gone(slug):
        # Taken down on purpose: 410 tells search engines to drop it; readers get the rest.
        return render_template("public/article_gone.html", articles=articles.all), 410
    translated = _translation_at(slug)
    if translated is not None:
        # Another language's address under this one's prefix (/es/articles/<English slug>):
        # the article in this page's language, where it is published.
        return redirect(translated, 301)
    abort(404)


def _translation_at(slug: str) -> str | None:
    """The path of this page's language's version of the article another language
    publishes at `slug`, if there is one."""
    language = i18n.current_language()
    for other in i18n.LANGUAGES:
        if other == language:
            continue
        shelf = articles_in(other)
        found = shelf.get(slug)
        if found is not None:
            return shelf.alternates(found).get(language)
    return None


@localized(bp, "/schedule", methods=["GET", "POST"])
@limited("RATELIMIT_FORMS")
def schedule():
    return _form_page("schedule")


@localized(bp, "/guide", methods=["GET", "POST"])
@limited("RATELIMIT_FORMS")
def guide():
    return _form_page("guide")


def _form_page(name: str) -> PageResult | Response:
    """GET (and HEAD, which must change nothing either): the form's own empty page, kept as
    bytes; POST: the submission."""
    if request.method != "POST":
        path = request.path
        return caching.kept_page("text/html", lambda: _form_page_with_slot(name, path))
    return handle_form(name)


def _article_with_slot(found: Article) -> str:
    """An article with its two forms empty, the token left as the slot caching fills in."""
    forms = {}
    for name in FORMS:
        form = fresh_form(name, "embedded", found.path)
        form.form_token.data = caching.TOKEN_SLOT
        forms[name] = form
    return render_template(
        "public/article.html",
        article=found,
        related=library().related(found),
        forms=forms,
        problems={},
    )


def _form_page_with_slot(name: str, path: str) -> str:
    """A form's own page (/schedule, /guide), empty, the token left as the slot. It lists
    the articles, so it is made again when they change, as the articles are."""
    form = fresh_form(name, "page", path)
    form.form_token.data = caching.TOKEN_SLOT
    page, _ = render_form_page(name, form, [], 200)
    return str(page)


@localized(bp, "/<any(schedule, guide):name>/thanks", methods=["GET"])
def thanks(name: str) -> str:
    """The page after a form (Post/Redirect/Get). After the schedule form it says how and
    when we will reach the patient, from the choice codes in its query string
    (lead_forms.thanks_choices); anything else there reads as no preference."""
    promise = None
    # The choices it words its promise from, and only those, follow to the other language.
    choices = {
        key: request.args[key]
        for key, known in (("contact", CONTACT_CODES), ("time", TIME_CODES))
        if name == "schedule" and request.args.get(key) in known
    }
    g.alternates = {
        code: url_for("public.thanks", name=name, language=code, **choices)
        for code in i18n.LANGUAGES
    }
    if name == "schedule":
        promise = contact_promise(
            choices.get("contact"),
            choices.get("time"),
            hours_text(current_app.config, i18n.current_language()),
        )
    return render_template("public/thanks.html", name=name, promise=promise, articles=library().all)


# -- Guide download ---------------------------------------------------------------------


def _lead_for_link(token: str) -> tuple[tokens.GuideLink, Lead]:
    """The link and its lead, the rest of the request then in the lead's language (the
    guide, the expired page, a fresh link's email); an unknown link's page is in the URL's."""
    link = tokens.read_guide_token(token)
    lead = db.session.get(Lead, link.lead_id) if link else None
    if link is None or lead is None:
        abort(Response(render_template("public/guide_link_invalid.html"), 404))
    i18n.use_language(lead.language)
    return link, lead


@localized(bp, "/guide/download/<token>", methods=["GET"])
def guide_download(token: str):
    link, lead = _lead_for_link(token)
    if link.expired:
        return render_template(
            "public/guide_expired.html", form=ResendGuideForm(), token=token
        ), 410
    if request.method == "GET":  # a HEAD (link checkers) is not a download
        intake.record_download(lead)
    language = i18n.current_language()  # the lead's (_lead_for_link)
    response = send_file(
        BytesIO(guide_pdf(GuideContact.from_config(current_app.config, language))),
        mimetype="application/pdf",
        download_name=DOWNLOAD_NAMES[language],
        as_attachment=False,
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


@localized(bp, "/guide/download/<token>/resend", methods=["POST"])
@limited("RATELIMIT_FORMS")
def guide_resend(token: str):
    link, lead = _lead_for_link(token)
    if not link.expired:
        abort(404)  # only an expired link offers a fresh one
    form = ResendGuideForm()
    if not form.validate():
        return render_template(
            "public/guide_expired.html", form=form, token=token, timed_out=True
        ), 400
    if not emails.resend_guide(lead):
        return render_template(
            "public/guide_expired.html", form=form, token=token, too_many=True
        ), 429
    return redirect(url_for("public.thanks", name="guide"), 303)


# -- Newsletter confirmation (double opt-in) --------------------------------------------


@localized(bp, "/newsletter/confirm/<token>", methods=["GET", "POST"])
def newsletter_confirm(token: str):
    """GET shows a button and changes nothing: mail scanners open links to check them, and
    that must not sign anyone up. The button's POST confirms."""
    page = "public/newsletter_confirm.html"
    link = tokens.read_newsletter_token(token)
    lead = db.session.get(Lead, link.lead_id) if link else None
    if link is None or lead is None:  # not ours, cut short, or the person was erased
        return render_template(page, problem="invalid"), 404
    i18n.use_language(lead.language)
    state = privacy.newsletter_state(lead)
    if link.expired and state is not privacy.Newsletter.CONFIRMED:
        days = tokens.NEWSLETTER_CONFIRM_DAYS
        return render_template(page, problem="expired", days=days), 410
    if request.method != "POST":  # GET, and HEAD (which Flask routes here too)
        return render_template(page, token=token, state=state.value)
    if is_cross_site(request):
        # Another website made the browser post: ask the patient to press the button here.
        return render_template(page, token=token, state=state.value, cross_site=True), 403
    state = privacy.confirm_newsletter(lead)
    return render_template(page, token=token, state=state.value)


# -- Unsubscribe (RFC 8058 one-click on POST) -------------------------------------------


@localized(bp, "/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str):
    """In the URL's language: the token names a person, who may have leads in both, and an
    email links the page in its own language (/es/unsubscribe/... from a Spanish one)."""
    person_id = tokens.read_unsubscribe_token(token)
    if person_id is None:
        abort(404)
    if request.method != "POST":  # GET, and HEAD: a link checker unsubscribes nobody
        return render_template("public/unsubscribe.html", token=token, done=False)
    person = db.session.get(Person, person_id)
    if person is not None:  # an erased person has nothing left to send to
        privacy.unsubscribe(person)
    return render_template("public/unsubscribe.html", token=token, done=True)


# -- Small pages and machine files ------------------------------------------------------


@localized(bp, "/privacy", methods=["GET"], endpoint="privacy")
def privacy_page() -> str:
    return render_template("public/privacy.html")


@bp.get("/sitemap.xml")
def sitemap() -> Response:
    shelves = {code: articles_in(code) for code in i18n.LANGUAGES}
    return caching.kept_page("application/xml", lambda: _sitemap(shelves))


def _sitemap(shelves: dict[str, Shelf]) -> str:
    """Every public page in every language it has, each naming its versions in the other
    languages (hreflang, both ways) and English as the x-default."""
    groups: list[tuple[dict[str, str], dict[str, date | None]]] = []
    home: dict[str, date | None] = {}
    for code, shelf in shelves.items():
        home[code] = max((a.updated for a in shelf.all), default=date.today())
    groups.append(({code: url_for("public.index", language=code) for code in shelves}, home))
    seen: set[tuple[str, str]] = set()
    for shelf in shelves.values():
        for found in shelf.all:
            if (found.language, found.slug) in seen:
                continue
            versions = shelf.versions(found)
            seen.update((a.language, a.slug) for a in versions.values())
            groups.append(
                (
                    {code: a.path for code, a in versions.items()},
                    {code: a.updated for code, a in versions.items()},
                )
            )
    for name in ("schedule", "guide", "privacy"):
        paths = {code: url_for(f"public.{name}", language=code) for code in shelves}
        groups.append((paths, dict.fromkeys(shelves)))
    pages = [
        {
            "loc": path,
            "lastmod": lastmods[code],
            "alternates": _hreflang(paths) if len(paths) > 1 else [],
        }
        for paths, lastmods in groups
        for code, path in paths.items()
    ]
    return render_template("public/sitemap.xml", pages=pages)


def _hreflang(paths: dict[str, str]) -> list[tuple[str, str]]:
    links = list(paths.items())
    if i18n.DEFAULT in paths:
        links.append(("x-default", paths[i18n.DEFAULT]))
    return links


@bp.get("/robots.txt")
def robots() -> Response:
    return caching.kept_page("text/plain", lambda: render_template("public/robots.txt"))


@bp.get("/healthz")
def healthz():
    if not health.database_reachable():
        return {"status": "unavailable", "database": "unreachable"}, 503
    return {"status": "ok"}


@bp.get("/healthz/ready")
def readiness() -> Response:
    """Whether to send this process traffic: database, Redis (when used), mail queue age."""
    problems = health.readiness_problems()
    if problems:
        return Response("not ready: " + "; ".join(problems) + "\n", 503, mimetype="text/plain")
    return Response("ready\n", mimetype="text/plain")


@localized(bp, "/manifest.webmanifest", methods=["GET"])
def manifest() -> Response:
    """The web app manifest: the clinic's name and icons when a patient saves the site. Each
    language has its own, so a site saved from /es/ opens at /es/."""
    name = current_app.config["CLINIC_NAME"]

    def icon(name: str, kind: str, sizes: str, **extra: str) -> dict[str, str]:
        return {"src": url_for("static", filename=name), "type": kind, "sizes": sizes, **extra}

    body = {
        "name": name,
        "short_name": name[:12],
        "description": gettext(
            "Non-surgical spine care and patient education from %(clinic)s.", clinic=name
        ),
        "lang": i18n.TAGS[i18n.current_language()],
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


bp.add_url_rule("/media/<name>", view_func=media.media)
