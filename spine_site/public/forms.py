"""The two public forms. They check shape; rules across records live in spine_site.leads.intake."""

from __future__ import annotations

import re

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    SelectChoice,
    SelectField,
    StringField,
    TelField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from spine_site.leads.intake import (
    APPOINTMENT_FIELDS,
    BEST_TIMES,
    CONTACT_METHODS,
    EXTENSION_MAX_DIGITS,
    GUIDE_FIELDS,
    REASONS,
)
from spine_site.web.forms import PostForm, multi_line, one_line, unix_newlines, visible_only

MESSAGE_MAX = 2000


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def email_address(form: PostForm, field: EmailField) -> None:
    """Syntax always; DNS deliverability only when EMAIL_CHECK_DELIVERABILITY is set."""
    if not field.data:
        return
    try:
        checked = validate_email(
            field.data,
            check_deliverability=current_app.config["EMAIL_CHECK_DELIVERABILITY"],
        )
    except EmailNotValidError:
        raise ValidationError(_("Enter an email address in the form name@example.com.")) from None
    if checked.ascii_email is None:
        # Accented letters before the @ need SMTPUTF8, which most mail relays lack.
        raise ValidationError(
            _(
                "We can't send email to an address with accented letters before the @. "
                "Please use another address, or call us."
            )
        )
    # The ASCII form (an international domain in punycode) is what SMTP can deliver to.
    field.data = checked.ascii_email


# A mark between a number and its extension: "ext. 4", "extension 4", "x4", "#4", ",4",
# ";ext=4". phonenumbers reads an extension after any of these when it is digits; this finds
# the mark when it is not, to say what is wrong with the extension.
_EXTENSION_MARK = re.compile(r"\s*(?:ext(?:ension)?\.?|x|#|,|;\s*ext=)\s*", re.IGNORECASE)
PHONE_HELP = _l("Enter a phone number we can call, like (217) 555-0134.")


class PhoneField(TelField):
    """A phone number, with an extension if it has one, as the patient typed it.

    `data` stays what was typed, so a form sent back shows it unchanged. The `phone_number`
    validator reads it into `number` (E.164, e.g. +13125550123) and `extension` ("4").
    """

    number: str | None = None
    extension: str | None = None


def _valid_number(text: str) -> phonenumbers.PhoneNumber | None:
    """The number in `text` read with a US default, or None when it is not one we can call.

    `00` before a country code is how most of the world dials abroad (0044 20 7946 0958), and
    a US number never starts with 0, so it reads as `+`; `011`, the US way, phonenumbers
    reads itself.
    """
    text = text.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, "US")
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def _extension_problem(text: str) -> str | None:
    """What is wrong with the extension of a number that did not read, if it is the
    extension: a good number, a mark, then something that is not a short run of digits."""
    for mark in _EXTENSION_MARK.finditer(text):
        number = _valid_number(text[: mark.start()])
        if number is None or number.extension:
            continue
        rest = text[mark.end() :].strip()
        if rest.isdigit() and len(rest) > EXTENSION_MAX_DIGITS:
            return _extension_too_long()
        return _("Write the extension in digits after the number, like (217) 555-0134 ext. 4.")
    return None


def phone_number(form: PostForm, field: PhoneField) -> None:
    """Read the number (US by default) into E.164 and its extension, if any, into digits."""
    if not field.data:
        return
    number = _valid_number(field.data)
    if number is None:
        raise ValidationError(_extension_problem(field.data) or str(PHONE_HELP))
    extension = phonenumbers.normalize_digits_only(number.extension or "")
    if len(extension) > EXTENSION_MAX_DIGITS:
        raise ValidationError(_extension_too_long())
    # E.164 has no extension: it is kept apart, and dialled after the number.
    field.number = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    field.extension = extension or None


def _extension_too_long() -> str:
    return _("An extension has at most %(count)s digits.", count=EXTENSION_MAX_DIGITS)


def _choices(blank: LazyString, options: list[tuple[str, LazyString]]) -> list[SelectChoice]:
    """The options in the page's language: each label is translated as it is rendered."""
    return [SelectChoice("", blank), *(SelectChoice(value, label) for value, label in options)]


def _required(message: LazyString) -> DataRequired:
    return DataRequired(message=message)


class LeadForm(PostForm):
    """Fields every public form carries besides what the patient types."""

    class Meta:
        # No session-bound CSRF token: a reader gets no session cookie. The signed form token
        # and the cross-site check (security.is_cross_site) guard these forms instead.
        csrf = False

    # Signed per rendering: dedupes double submits and dates the render (minimum fill time).
    form_token = HiddenField(filters=[visible_only])
    # Where the form was shown, for attribution and to re-render an article with errors.
    source_page = HiddenField(filters=[visible_only], validators=[Length(max=200)])
    placement = HiddenField(filters=[visible_only], validators=[Length(max=20)])
    # Honeypot: hidden from people and screen readers, filled in by naive bots.
    website = StringField(_l("Leave this field empty"), filters=[visible_only])

    # Shared fields; subclasses add the rest.
    first_name = StringField(
        _l("First name"),
        filters=[_strip],
        validators=[_required(_l("Enter your first name.")), Length(max=100), one_line],
        render_kw={"autocomplete": "given-name"},
    )
    email = EmailField(
        _l("Email"),
        filters=[_strip],
        validators=[
            _required(_l("Enter your email address.")),
            Length(max=254),
            one_line,
            email_address,
        ],
        render_kw={"autocomplete": "email", "spellcheck": "false"},
    )

    def submitted(self) -> dict[str, object]:
        """The values intake stores, once the form is valid."""
        return dict(self.data)


class ScheduleForm(LeadForm):
    last_name = StringField(
        _l("Last name"),
        filters=[_strip],
        validators=[_required(_l("Enter your last name.")), Length(max=100), one_line],
        render_kw={"autocomplete": "family-name"},
    )
    phone = PhoneField(
        _l("Phone"),
        filters=[_strip],
        validators=[
            _required(_l("Enter your phone number.")),
            Length(max=40),
            one_line,
            phone_number,
        ],
        render_kw={"autocomplete": "tel"},
    )
    contact_method = SelectField(
        _l("Preferred contact method"),
        choices=_choices(_l("No preference"), CONTACT_METHODS),
        validators=[Optional()],
    )
    best_time = SelectField(
        _l("Best time to call"),
        choices=_choices(_l("Any time"), BEST_TIMES),
        validators=[Optional()],
    )
    reason = SelectField(
        _l("Reason for visit"),
        choices=_choices(_l("Choose one (optional)"), REASONS),
        validators=[Optional()],
    )
    message = TextAreaField(
        _l("Anything else we should know?"),
        filters=[unix_newlines],
        validators=[Optional(), Length(max=MESSAGE_MAX), multi_line],
        description=_l(
            "Optional, up to %(count)s characters. Please don't include urgent "
            "symptoms: call 911 in an emergency.",
            count=MESSAGE_MAX,
        ),
    )
    consent = BooleanField(
        _l(
            "I agree that the clinic may contact me by phone, text message or email about this "
            "request."
        ),
        validators=[
            DataRequired(message=_l("Tick this box so we can contact you about your request."))
        ],
    )

    field_order = APPOINTMENT_FIELDS

    def submitted(self) -> dict[str, object]:
        """The values intake stores: the phone as E.164, its extension apart."""
        return {
            **super().submitted(),
            "phone": self.phone.number,
            "phone_extension": self.phone.extension,
        }


class GuideForm(LeadForm):
    opt_in = BooleanField(
        _l(
            "Also send me occasional emails with new articles and clinic news (the guide email "
            "has a link to confirm). I can unsubscribe at any time."
        )
    )

    field_order = GUIDE_FIELDS


class ResendGuideForm(PostForm):
    """Only a CSRF token: the signed link in the URL says whose guide to resend."""
