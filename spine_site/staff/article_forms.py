"""The article editor's forms, and the plain-text formats of its FAQ and related fields.

The FAQ is typed as blocks of "Q: question" and "A: answer" lines (an answer may run on over
more lines); related articles as their addresses, separated by commas or line breaks. The
forms check shape; editorial.problems checks the rules and its messages land on the fields.
"""

from __future__ import annotations

import re
from dataclasses import asdict

from wtforms import (
    DateField,
    RadioField,
    SelectChoice,
    StringField,
    TextAreaField,
)
from wtforms.validators import Length, Optional, ValidationError

from spine_site.articles.editorial import SLUG, Draft
from spine_site.staff.forms import ClinicTimeField
from spine_site.web.forms import PostForm, multi_line, one_line, unix_newlines

FAQ_HELP = (
    'One block per question: a line starting "Q:", then a line starting "A:" with the '
    "answer. Leave a blank line between questions."
)
RELATED_HELP = "Addresses of other articles, like what-is-a-physiatrist, separated by commas."


def parse_faq(text: str) -> list[dict[str, str]]:
    """The FAQ items in "Q: ... / A: ..." text; raises ValueError on text outside them."""
    items: list[dict[str, str]] = []
    part = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        key = line[:2].lower()
        if key in ("q:", "a:"):
            if key == "q:":
                items.append({"q": "", "a": ""})
            elif not items or items[-1]["a"]:
                raise ValueError("Each answer (A:) needs its question (Q:) above it.")
            part = key[0]
            line = line[2:].strip()
        elif part is None:
            raise ValueError('Start each question with "Q:" and each answer with "A:".')
        assert part is not None
        items[-1][part] = f"{items[-1][part]} {line}".strip()
    return items


def format_faq(items: list[dict[str, str]]) -> str:
    return "\n\n".join(f"Q: {item.get('q', '')}\nA: {item.get('a', '')}" for item in items)


def parse_related(text: str) -> list[str]:
    slugs = [s.strip().lower() for s in re.split(r"[,\s]+", text) if s.strip()]
    return list(dict.fromkeys(slugs))


def _faq_readable(form: object, field: TextAreaField) -> None:
    try:
        parse_faq(field.data or "")
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def _related_readable(form: object, field: TextAreaField) -> None:
    if any(not SLUG.match(s) for s in parse_related(field.data or "")):
        raise ValidationError(RELATED_HELP)


class ArticleForm(PostForm):
    title = StringField("Title", filters=[unix_newlines], validators=[one_line])
    slug = StringField(
        "Address (slug)",
        filters=[unix_newlines],
        validators=[one_line],
        description="The end of the page's address: /articles/what-is-a-physiatrist. "
        "Changing it after publishing sends the old address on to the new one.",
    )
    description = TextAreaField(
        "Description",
        filters=[unix_newlines],
        validators=[one_line],
        description="One or two sentences for search results and link previews.",
    )
    summary = TextAreaField(
        "Summary",
        filters=[unix_newlines],
        validators=[Length(max=2000), multi_line],
        description="The lead paragraph under the title (the description if left empty).",
    )
    body = TextAreaField(
        "Body (Markdown)",
        filters=[unix_newlines],
        validators=[Length(max=100_000), multi_line],
        description="## for a section heading, **bold**, [link text](https://…), - for a list.",
    )
    faq = TextAreaField(
        "Frequently asked questions",
        filters=[unix_newlines],
        validators=[Length(max=20_000), multi_line, _faq_readable],
        description=FAQ_HELP,
    )
    related = TextAreaField(
        "Related articles",
        filters=[unix_newlines],
        validators=[Length(max=2000), _related_readable],
        description=RELATED_HELP,
    )
    reviewer = StringField(
        "Medical reviewer",
        filters=[unix_newlines],
        validators=[one_line],
        description="Name and credentials, e.g. Dana Reyes, MD. Needed before publishing.",
    )
    reviewed_on = DateField(
        "Review date", validators=[Optional()], description="Needed before publishing."
    )
    note = StringField(
        "Note about this change (optional)",
        filters=[unix_newlines],
        validators=[Length(max=200), one_line],
    )

    def validate_reviewed_on(self, field: DateField) -> None:
        if field.data is not None and not 2000 <= field.data.year <= 2100:
            raise ValidationError("Enter the review date as a date, like 2026-11-29.")

    def plain_errors(self) -> None:
        """WTForms' own message for a date it could not read, in our words."""
        if self.reviewed_on.errors and self.reviewed_on.data is None:
            self.reviewed_on.errors = ["Enter the review date as a date, like 2026-11-29."]
            # A date input cannot show text that is not a date (and a browser never sends it).
            self.reviewed_on.raw_data = None

    def draft(self) -> Draft:
        """The typed article. An FAQ that could not be read counts as none here; its field
        carries the error (validate), so such a draft is never saved."""
        try:
            faq = parse_faq(self.faq.data or "")
        except ValueError:
            faq = []
        return Draft(
            title=self.title.data or "",
            slug=(self.slug.data or "").lower(),
            description=self.description.data or "",
            summary=self.summary.data or "",
            body=self.body.data or "",
            faq=faq,
            related=parse_related(self.related.data or ""),
            reviewer=self.reviewer.data or "",
            reviewed_on=self.reviewed_on.data,
        )

    def show_problems(self, found: dict[str, str]) -> None:
        for name, message in found.items():
            self[name].errors = [message]

    @classmethod
    def of(cls, draft: Draft) -> ArticleForm:
        typed = asdict(draft) | {"faq": format_faq(draft.faq), "related": ", ".join(draft.related)}
        return cls(formdata=None, **typed)


class PublishForm(PostForm):
    when = RadioField(
        "When",
        choices=[SelectChoice("now", "Now"), SelectChoice("later", "At a set time")],
        default="now",
    )
    at = ClinicTimeField("Date and time", description="In the clinic's time zone.")
