"""The two public forms. They check shape; rules across records live in spine_site.leads.intake."""

from __future__ import annotations

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask import current_app
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
        raise ValidationError("Enter an email address in the form name@example.com.") from None
    if checked.ascii_email is None:
        # Accented letters before the @ need SMTPUTF8, which most mail relays lack.
        raise ValidationError(
            "We can't send email to an address with accented letters before the @. "
            "Please use another address, or call us."
        )
    # The ASCII form (an international domain in punycode) is what SMTP can deliver to.
    field.data = checked.ascii_email


def us_phone(form: PostForm, field: TelField) -> None:
    """Parse with a US default and store in E.164, e.g. +12175550134."""
    if not field.data:
        return
    try:
        number = phonenumbers.parse(field.data, "US")
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ValidationError("Enter a phone number we can call, like (217) 555-0134.")
    field.data = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _choices(blank: str, options: list[tuple[str, str]]) -> list[SelectChoice]:
    return [SelectChoice("", blank), *(SelectChoice(value, label) for value, label in options)]


def _required(what: str) -> DataRequired:
    return DataRequired(message=f"Enter your {what}.")


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
    website = StringField("Leave this field empty", filters=[visible_only])

    # Shared fields; subclasses add the rest.
    first_name = StringField(
        "First name",
        filters=[_strip],
        validators=[_required("first name"), Length(max=100), one_line],
        render_kw={"autocomplete": "given-name"},
    )
    email = EmailField(
        "Email",
        filters=[_strip],
        validators=[_required("email address"), Length(max=254), one_line, email_address],
        render_kw={"autocomplete": "email", "spellcheck": "false"},
    )


class ScheduleForm(LeadForm):
    last_name = StringField(
        "Last name",
        filters=[_strip],
        validators=[_required("last name"), Length(max=100), one_line],
        render_kw={"autocomplete": "family-name"},
    )
    phone = TelField(
        "Phone",
        filters=[_strip],
        validators=[_required("phone number"), Length(max=40), one_line, us_phone],
        render_kw={"autocomplete": "tel"},
    )
    contact_method = SelectField(
        "Preferred contact method",
        choices=_choices("No preference", CONTACT_METHODS),
        validators=[Optional()],
    )
    best_time = SelectField(
        "Best time to call",
        choices=_choices("Any time", BEST_TIMES),
        validators=[Optional()],
    )
    reason = SelectField(
        "Reason for visit",
        choices=_choices("Choose one (optional)", REASONS),
        validators=[Optional()],
    )
    message = TextAreaField(
        "Anything else we should know?",
        filters=[unix_newlines],
        validators=[Optional(), Length(max=MESSAGE_MAX), multi_line],
        description=f"Optional, up to {MESSAGE_MAX} characters. Please don't include urgent "
        "symptoms: call 911 in an emergency.",
    )
    consent = BooleanField(
        "I agree that the clinic may contact me by phone, text message or email about this "
        "request.",
        validators=[
            DataRequired(message="Tick this box so we can contact you about your request.")
        ],
    )

    field_order = APPOINTMENT_FIELDS


class GuideForm(LeadForm):
    opt_in = BooleanField(
        "Also send me occasional emails with new articles and clinic news (the guide email "
        "has a link to confirm). I can unsubscribe at any time."
    )

    field_order = GUIDE_FIELDS


class ResendGuideForm(PostForm):
    """Only a CSRF token: the signed link in the URL says whose guide to resend."""
