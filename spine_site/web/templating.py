"""What every template can use: the clinic's identity, absolute URLs, JSON-LD."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import phonenumbers
from flask import Flask, current_app, has_request_context, request
from flask_babel import force_locale, gettext
from markupsafe import Markup

from spine_site.articles.render import Article
from spine_site.config import clinic_details
from spine_site.leads.intake import BEST_TIMES, CONTACT_METHODS, REASONS
from spine_site.web.i18n import LANGUAGES, PREFIXES, TAGS, current_language


def absolute(path: str) -> str:
    return current_app.config["SITE_URL"] + path


def tel(number: str, extension: str | None = None) -> str:
    """A tel: target in E.164; an extension follows a comma, the dialers' pause. (RFC 3966's
    `;ext=4` is dialled as keypad letters on Android; docs/staff.md, "Phone numbers".)"""
    try:
        target = phonenumbers.format_number(
            phonenumbers.parse(number, "US"), phonenumbers.PhoneNumberFormat.E164
        )
    except phonenumbers.NumberParseException:
        target = "".join(ch for ch in number if ch.isdigit() or ch == "+")
    return f"{target},{extension}" if extension else target


def mailto(address: str) -> str:
    """A mailto: link to exactly this address. Characters an address may hold (`?`, `&`,
    `%`, `/`, `#` ...) are percent-encoded, so one like `a?cc=x@evil.example&...@example.com`
    stays one recipient and adds no header to the message a click starts (RFC 6068)."""
    return "mailto:" + quote(address, safe="@")


def json_ld(data: Any) -> Markup:
    """Serialise for a <script type="application/ld+json"> block, safe against '</script>'."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def clinic_json_ld(config: dict[str, Any]) -> dict[str, Any]:
    c = clinic_details(config)
    return {
        "@type": "MedicalClinic",
        "@id": config["SITE_URL"] + "/#clinic",
        "name": c["name"],
        "url": config["SITE_URL"] + "/",
        "telephone": c["phone"],
        "openingHours": c["hours"],
        "medicalSpecialty": "PhysicalMedicineAndRehabilitation",
        "address": {
            "@type": "PostalAddress",
            "streetAddress": c["street"],
            "addressLocality": c["city"],
            "addressRegion": c["region"],
            "postalCode": c["postcode"],
            "addressCountry": c["country"],
        },
    }


# A reviewer named with a title or degree is a person; "Valor Spine physician team" is not.
_PERSON = re.compile(r"\b(Dr|MD|DO|PhD|DPT|PA-C|NP|RN)\b\.?")


def _reviewer_type(name: str) -> str:
    return "Person" if _PERSON.search(name) else "Organization"


def _review(article: Article) -> dict[str, Any]:
    """Who reviewed the page and when; nothing for a preview not yet reviewed (a published
    article always has both: editorial.review_missing)."""
    if not article.reviewer:
        return {}
    return {
        "lastReviewed": (article.reviewed or article.updated).isoformat(),
        "reviewedBy": {"@type": _reviewer_type(article.reviewer), "name": article.reviewer},
    }


def article_ld(article: Article) -> dict[str, Any]:
    """The article's structured data: the page, its FAQ, its breadcrumbs, the clinic."""
    config = current_app.config
    site = config["SITE_URL"]
    url = absolute(article.path)
    # The breadcrumbs are in the article's language and lead to its language's home page.
    home = site + PREFIXES[article.language] + "/"
    with force_locale(article.language):
        names = (gettext("Home"), gettext("Articles"))
    return {
        "@context": "https://schema.org",
        "@graph": [
            clinic_json_ld(config),
            {
                "@type": "MedicalWebPage",
                "@id": url + "#page",
                "url": url,
                "name": article.title,
                "headline": article.title,
                "description": article.description,
                "datePublished": article.published.isoformat(),
                "dateModified": article.updated.isoformat(),
                **_review(article),
                "publisher": {"@id": site + "/#clinic"},
                "inLanguage": TAGS[article.language],
                "audience": {"@type": "MedicalAudience", "audienceType": "Patient"},
            },
            {
                "@type": "FAQPage",
                "@id": url + "#faq",
                "mainEntity": [
                    {
                        "@type": "Question",
                        "name": item.question,
                        "acceptedAnswer": {"@type": "Answer", "text": item.answer_text},
                    }
                    for item in article.faq
                ],
            },
            {
                "@type": "BreadcrumbList",
                "itemListElement": [
                    {"@type": "ListItem", "position": n, "name": name, "item": item}
                    for n, (name, item) in enumerate(
                        [(names[0], home), (names[1], home + "#articles"), (article.title, url)], 1
                    )
                ],
            },
        ],
    }


def clinic_time(value: datetime | None) -> str:
    """A stored UTC time as the clinic reads it: 2026-11-26 13:05 CST."""
    if value is None:
        return ""
    local = value.astimezone(ZoneInfo(current_app.config["CLINIC_TIMEZONE"]))
    return local.strftime("%Y-%m-%d %H:%M %Z")


def phone_display(e164: str, extension: str | None = None) -> str:
    """As the clinic reads it: (312) 555-0123 ext. 4; abroad +44 20 7946 0958."""
    try:
        number = phonenumbers.parse(e164, "US")
    except phonenumbers.NumberParseException:
        shown = e164
    else:
        style = (
            phonenumbers.PhoneNumberFormat.NATIONAL
            if number.country_code == 1
            else phonenumbers.PhoneNumberFormat.INTERNATIONAL
        )
        shown = phonenumbers.format_number(number, style)
    return f"{shown} ext. {extension}" if extension else shown


def _chosen(choices: list[tuple[str, Any]]) -> Callable[[str | None], str]:
    """A filter that shows a form's stored code as the patient read it ("Text message"), in
    the current language (English on staff pages); an unknown code as it is."""
    labels = dict(choices)
    return lambda value: str(labels.get(value or "", value or ""))


def language_name(code: str | None) -> str:
    """A lead's language as staff read it ("Spanish"), from its code ("es")."""
    return LANGUAGES.get(code or "", code or "")


def waiting(minutes: int) -> str:
    """Business minutes as staff say them: "45 min", "2 h 10 min". Hours, never days: 24
    business hours are three working days, and "1 day" would read as one."""
    hours, mins = divmod(max(0, minutes), 60)
    if hours == 0:
        return f"{mins} min"
    return f"{hours} h {mins} min" if mins else f"{hours} h"


def host(url: str | None) -> str:
    """The host of a stored URL, or "" for anything that does not parse (e.g. "http://[::1"):
    a value a visitor sent must never make a staff page fail."""
    if not url:
        return ""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def dict_without(mapping: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k not in keys}


def dict_with(mapping: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**mapping, **changes}


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(absolute=absolute, json_ld=json_ld, article_ld=article_ld)
    app.jinja_env.filters.update(
        tel=tel,
        mailto=mailto,
        clinic_time=clinic_time,
        phone_display=phone_display,
        reason_label=_chosen(REASONS),
        contact_label=_chosen(CONTACT_METHODS),
        best_time_label=_chosen(BEST_TIMES),
        language_name=language_name,
        waiting=waiting,
        host=host,
        dict_without=dict_without,
        dict_with=dict_with,
    )

    # The favicon, inlined as a data: URL: browsers ask for an icon on every first visit, and
    # this saves that request (an article page stays within 3 requests).
    svg = (Path(app.static_folder or "static") / "img" / "favicon.svg").read_text().strip()
    # Single quotes inside, so the attribute needs no escaping; only <, >, # and % encoded.
    favicon = Markup("data:image/svg+xml," + quote(svg.replace('"', "'"), safe="/:='"))

    @app.context_processor
    def _site() -> dict[str, Any]:
        config = current_app.config
        return {
            "favicon": favicon,
            "clinic": clinic_details(config, current_language()),
            "site_url": config["SITE_URL"],
            # Outside a request (a command rendering an email) there is no page.
            "canonical": config["SITE_URL"] + (request.path if has_request_context() else "/"),
            "clinic_ld": clinic_json_ld(config),
        }
