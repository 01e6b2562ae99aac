"""Forms of the staff area. Every POST form carries a CSRF token (CSRFProtect)."""

from __future__ import annotations

from typing import Any

from wtforms import (
    DateTimeLocalField,
    EmailField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from spine_site.desk.attempts import CHANNEL_LABELS
from spine_site.leads.lead_list import STATUS_LABELS
from spine_site.models import Role
from spine_site.web.forms import PostForm, multi_line, unix_newlines

# A date typed into a staff form is this century's: a typo like year 9999 is refused in
# words before the clinic's time zone is applied to it (which could not convert it).
YEARS = range(2000, 2101)
TIME_PROBLEM = "Enter a date and time between 2000 and 2100, like 2031-03-04 09:30."


class ClinicTimeField(DateTimeLocalField):
    """A date and time as a datetime-local input sends it (in the clinic's time zone), in
    YEARS, or empty. Anything else has one plain error, and the page shows what was typed."""

    def __init__(self, label: str, **kwargs: Any) -> None:
        super().__init__(label, format="%Y-%m-%dT%H:%M", validators=[Optional()], **kwargs)

    def post_validate(self, form: Any, validation_stopped: bool) -> None:
        typed = bool(self.raw_data and self.raw_data[0].strip())
        if typed and (self.data is None or self.data.year not in YEARS):
            self.errors = [TIME_PROBLEM]


ROLE_LABELS = {
    Role.ADMIN: "Admin",
    Role.STAFF: "Intake staff",
    Role.MARKETING: "Marketing",
    Role.EDITOR: "Editor (articles)",
}


class LoginForm(PostForm):
    email = EmailField(
        "Email",
        validators=[DataRequired("Enter your email."), Length(max=320)],
        render_kw={"autocomplete": "username"},
    )
    password = PasswordField(
        "Password",
        validators=[DataRequired("Enter your password."), Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )


class StatusForm(PostForm):
    status = SelectField(
        "Status", choices=[SelectChoice(s.value, label) for s, label in STATUS_LABELS.items()]
    )
    # The status the page showed: a change applies only if nobody moved the lead meanwhile.
    seen = HiddenField()


class NoteForm(PostForm):
    body = TextAreaField(
        "Add a note",
        filters=[unix_newlines],
        validators=[DataRequired("Write the note first."), Length(max=5000), multi_line],
        render_kw={"rows": 4},
    )


class CodeForm(PostForm):
    code = StringField(
        "Code from your app, or a recovery code",
        validators=[DataRequired("Enter the code."), Length(max=40)],
        render_kw={
            "autocomplete": "one-time-code",
            "autocapitalize": "characters",
            "spellcheck": "false",
        },
    )


class ActionForm(PostForm):
    """A button that only needs a CSRF token (resend, spam, erase, disable ...)."""


class RoleForm(PostForm):
    role = SelectField(
        "Role", choices=[SelectChoice(r.value, label) for r, label in ROLE_LABELS.items()]
    )


class UserCreateForm(RoleForm):
    email = EmailField("Email", validators=[DataRequired("Enter an email."), Length(max=320)])


class PasswordChangeForm(PostForm):
    current = PasswordField(
        "Current password",
        validators=[DataRequired("Enter your current password.")],
        render_kw={"autocomplete": "current-password"},
    )
    new = PasswordField(
        "New password (at least 12 characters)",
        validators=[DataRequired("Enter a new password."), Length(max=256)],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        "New password again",
        validators=[DataRequired("Enter the new password again.")],
        render_kw={"autocomplete": "new-password"},
    )


class AttemptForm(PostForm):
    """One tap: the channel is preset from the patient's choice; each outcome is a button."""

    channel = RadioField(
        "How",
        choices=[SelectChoice(c.value, label) for c, label in CHANNEL_LABELS.items()],
        validators=[DataRequired("Choose call, text or email.")],
    )
    outcome = HiddenField()


class FollowUpForm(PostForm):
    when = ClinicTimeField(
        "Next try", description="In the clinic's time zone. Leave empty for no follow-up."
    )


class OwnerForm(PostForm):
    owner = SelectField("Owner", choices=[])
