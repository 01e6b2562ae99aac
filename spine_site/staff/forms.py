"""Forms of the staff area. Every POST form carries a CSRF token (CSRFProtect)."""

from __future__ import annotations

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
from spine_site.models import LeadStatus, Role
from spine_site.web.forms import PostForm, multi_line, unix_newlines

STATUS_LABELS = {
    LeadStatus.NEW: "New",
    LeadStatus.CONTACTED: "Contacted",
    LeadStatus.SCHEDULED: "Scheduled",
    LeadStatus.CLOSED: "Closed",
    LeadStatus.NOT_A_FIT: "Not a fit",
}
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


class UserCreateForm(PostForm):
    email = EmailField("Email", validators=[DataRequired("Enter an email."), Length(max=320)])
    role = SelectField(
        "Role", choices=[SelectChoice(r.value, label) for r, label in ROLE_LABELS.items()]
    )


class RoleForm(PostForm):
    role = SelectField(
        "Role", choices=[SelectChoice(r.value, label) for r, label in ROLE_LABELS.items()]
    )


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
    when = DateTimeLocalField(
        "Next try",
        format="%Y-%m-%dT%H:%M",
        validators=[Optional()],
        description="In the clinic's time zone. Leave empty for no follow-up.",
    )


class OwnerForm(PostForm):
    owner = SelectField("Owner", choices=[])
