"""What every form here shares: a base that reads only real form bodies, and the text
checks both sides' forms use (hidden characters, line breaks, unreadable bytes)."""

from __future__ import annotations

import re
from typing import Any

from flask import request
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.datastructures import CombinedMultiDict
from wtforms import Field
from wtforms.validators import ValidationError

from spine_site.web.i18n import current_language

# Stands for "read the request", as opposed to an explicit formdata (None: an empty form).
_FROM_REQUEST: Any = object()


class PostForm(FlaskForm):
    """A FlaskForm that never takes its data from a JSON body.

    Flask-WTF would fill a form from JSON, where a list body or a number in a field crashes
    WTForms' filters. Browsers send forms url-encoded or multipart; anything else is an
    empty submission, answered like any other incomplete form. The form body is handed to
    FlaskForm explicitly, so none of its request-reading is used.
    """

    class Meta:
        # WTForms' own messages ("Field cannot be longer than 100 characters.") in the page's
        # language, from the catalogs WTForms ships: WTForms loads each language's once and
        # keeps it (its Meta.cache_translations). Flask-WTF's translation hook, switched off
        # in config (WTF_I18N_ENABLED), would read the catalog's file on every request.
        @property
        def locales(self) -> list[str]:
            return [current_language()]

    def __init__(self, formdata: Any = _FROM_REQUEST, **kwargs: Any) -> None:
        if formdata is _FROM_REQUEST:
            formdata = _submitted_form()
        super().__init__(formdata=formdata, **kwargs)


def _submitted_form() -> Any:
    if request.method not in {"POST", "PUT", "PATCH", "DELETE"}:
        return None
    if request.files:
        return CombinedMultiDict((request.files, request.form))
    return request.form


# -- Text checks both sides' forms use
# Invisible characters that change how text reads or where it breaks: direction overrides
# and isolates, marks, zero-width space, word joiner, BOM. (ZWJ and ZWNJ stay allowed: some
# scripts need them in ordinary names.)
_INVISIBLE = frozenset(
    "\u061c\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2066\u2067\u2068\u2069\ufeff"
)


def unix_newlines(value: object) -> object:
    # Browsers send CRLF; counted as one character each, as the patient sees them.
    if isinstance(value, str):
        return value.replace("\r\n", "\n").replace("\r", "\n").strip()
    return value


# Control characters (Unicode category Cc), line and paragraph separators (Zl, Zp) and the
# invisible ones above, as one character class: a regex scan, not a Python loop per character,
# since attribution runs this on every page view.
# Unicode's Cc category is exactly these two ranges (and will stay so: it is closed).
_CC = "\x00-\x1f\x7f-\x9f"
_OTHER_HIDDEN = re.escape("\u2028\u2029" + "".join(sorted(_INVISIBLE)))
_HIDDEN = re.compile(f"[{_CC}{_OTHER_HIDDEN}]")
# A message may also hold line breaks (\n) and tabs (\t).
_HIDDEN_IN_TEXT = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_OTHER_HIDDEN}]")


def visible_only(value: object) -> object:
    """For hidden fields: drop hidden characters instead of failing (nobody typed them)."""
    if isinstance(value, str):
        return _HIDDEN.sub("", value).strip()
    return value


def _has_hidden(text: str, multiline: bool = False) -> bool:
    return (_HIDDEN_IN_TEXT if multiline else _HIDDEN).search(text) is not None


def _unreadable(form: object, field: Field) -> None:
    # U+FFFD is what bytes that were not valid UTF-8 became on the way in.
    if field.data and "\ufffd" in field.data:
        raise ValidationError(
            _(
                "%(label)s has characters we couldn't read. Please type it again.",
                label=field.label.text,
            )
        )


def one_line(form: object, field: Field) -> None:
    _unreadable(form, field)
    if field.data and _has_hidden(field.data):
        raise ValidationError(
            _("%(label)s can't contain line breaks or hidden characters.", label=field.label.text)
        )


def multi_line(form: object, field: Field) -> None:
    _unreadable(form, field)
    if field.data and _has_hidden(field.data, multiline=True):
        raise ValidationError(
            _("%(label)s can't contain hidden control characters.", label=field.label.text)
        )
