"""The two lead forms on the public side: rendering them (on their own pages or inside an
article), and handling a post: cross-site check, form token, validation, then intake.
"""

from __future__ import annotations

import re

from flask import Response, current_app, g, redirect, render_template, request, url_for
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from spine_site import tokens
from spine_site.articles.live import Shelf
from spine_site.articles.render import Article
from spine_site.leads import intake
from spine_site.models import FormKind
from spine_site.public import visits
from spine_site.public.forms import GuideForm, LeadForm, ScheduleForm
from spine_site.web.i18n import current_language
from spine_site.web.security import is_cross_site

# name in URLs -> (kind stored, form class, field prefix so both forms fit on one page)
FORMS: dict[str, tuple[FormKind, type[LeadForm], str]] = {
    "schedule": (FormKind.APPOINTMENT, ScheduleForm, "appt"),
    "guide": (FormKind.GUIDE, GuideForm, "guide"),
}
# Shown above a form sent back, in the language of its page.
TIMED_OUT = _l(
    "For your security this form timed out. Your details are still here: "
    "please check them and press the button again."
)
CROSS_SITE = _l(
    "This form was sent from another website, so we did not send it on. Your details are "
    "here: if this is your request, please check them and press the button."
)
DATABASE_DOWN = _l(
    "We couldn't save your request just now. Your details are still here: please "
    "try again in a minute, or call us."
)
# An article's path in any language: /articles/<slug>, /es/articles/<slug>.
_ARTICLE_PATH = re.compile(r"^(?:/es)?/articles/([a-z0-9-]+)$")
# endpoint -> form name, for the pages that take a post
FORM_ENDPOINTS = {"public.schedule": "schedule", "public.guide": "guide"}

PageResult = tuple[str, int]


def library() -> Shelf:
    """The published articles in this page's language."""
    return articles_in(current_language())


def articles_in(language: str) -> Shelf:
    return current_app.extensions["articles"].shelf(language)


def fresh_form(name: str, placement: str, source_page: str) -> LeadForm:
    _, cls, prefix = FORMS[name]
    form = cls(formdata=None, prefix=prefix)
    form.form_token.data = tokens.new_form_token()
    form.placement.data = placement
    form.source_page.data = source_page
    return form


def embedded_forms(page_path: str) -> dict[str, LeadForm]:
    """Both forms, empty, as an article page at `page_path` shows them (and so the staff
    preview of an article, which the public blueprint offers them to on the app)."""
    return {name: fresh_form(name, "embedded", page_path) for name in FORMS}


def render_article(
    found: Article,
    forms: dict[str, LeadForm] | None = None,
    problems: dict[str, list[str]] | None = None,
    status: int = 200,
) -> PageResult:
    forms = forms or {}
    for name in FORMS:
        forms.setdefault(name, fresh_form(name, "embedded", found.path))
    g.alternates = library().alternates(found)
    return render_template(
        "public/article.html",
        article=found,
        related=library().related(found),
        forms=forms,
        problems=problems or {},
    ), status


def render_form_page(name: str, form: LeadForm, problems: list[str], status: int) -> PageResult:
    path = form.source_page.data or ""
    match = _ARTICLE_PATH.match(path)
    article = library().get(match.group(1)) if match else None
    if form.placement.data == "embedded" and article is not None and article.path == path:
        # The form was inside an article: show the article again, errors in place.
        return render_article(article, {name: form}, problems={name: problems}, status=status)
    return render_template(
        f"public/{name}.html", form=form, problems=problems, articles=library().all
    ), status


def handle_form(name: str) -> PageResult | Response:
    """A form posted: a lead stored (then thanks), or the form back, filled. (Its empty page,
    for GET, is caching.fresh_form_page.)"""
    kind, cls, prefix = FORMS[name]
    form = cls(prefix=prefix)
    max_age = current_app.config["FORM_TOKEN_MAX_AGE"]
    if is_cross_site(request):
        # Another website posted this: store nothing, but show the patient what they typed
        # on our own page, where pressing the button again is a same-site post. A token
        # still good keeps its time (the minimum fill time still applies to it).
        if tokens.read_form_token(form.form_token.data or "", max_age) is None:
            form.form_token.data = tokens.new_form_token()
        return render_form_page(name, form, [str(CROSS_SITE)], 403)
    valid = form.validate()
    token = tokens.read_form_token(form.form_token.data or "", max_age)
    if token is None:
        # The page sat open too long (or the token was damaged): keep every value, ask again.
        # Only a token of ours that merely expired earns the waiver of the minimum fill time
        # (the patient has been typing all along); a missing or forged one, which is what a
        # bot would send to get that waiver, gets a plain new token.
        expired = tokens.read_form_token(form.form_token.data or "", max_age=2**31) is not None
        form.form_token.data = tokens.new_form_token(reissued=expired)
        return render_form_page(name, form, [str(TIMED_OUT)], 400)
    if not valid:
        return render_form_page(name, form, [], 422)
    intake.capture(
        kind,
        form.submitted(),
        form_nonce=token.nonce,
        attribution=visits.attribution(form.source_page.data, form.placement.data),
        spam_reason=intake.spam_reason(form.website.data, token),
        language=current_language(),
    )
    # Suspected spam sees the same thank-you page: nothing tells a bot it was caught.
    return redirect(url_for("public.thanks", name=name, **thanks_choices(form)), 303)


def thanks_choices(form: LeadForm) -> dict[str, str]:
    """The choice codes the thank-you page words its promise from (how and when we will
    reach the patient), for its query string. Only these codes, which the form validated
    against its own options, and only when picked: nothing a patient typed, nothing that
    identifies them, so the page stays the same for everyone who chose the same, and
    cacheable, with no cookie or session on the public side."""
    picked = {
        "contact": getattr(form, "contact_method", None),
        "time": getattr(form, "best_time", None),
    }
    return {key: field.data for key, field in picked.items() if field is not None and field.data}


def rerender_after_failure(message: str | LazyString, status: int) -> PageResult | None:
    """A form post that could not be handled shows the form again with what was typed."""
    name = FORM_ENDPOINTS.get(request.endpoint or "")
    if request.method != "POST" or name is None:
        return None
    _, cls, prefix = FORMS[name]
    return render_form_page(name, cls(prefix=prefix), [str(message)], status)


def rate_limited_message() -> str:
    return _(
        "We've had several requests from your connection in a short time. Your details are "
        "still here: please wait a minute and try again, or call us at %(phone)s.",
        phone=current_app.config["CLINIC_PHONE"],
    )
