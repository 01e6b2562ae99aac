"""Staff accounts: passwords and their rule, roles, and what admins do to accounts."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import delete, func, select
from zxcvbn import zxcvbn

from spine_site.accounts import audit
from spine_site.clock import utcnow
from spine_site.extensions import db
from spine_site.models import AuditEvent, Role, StaffSession, User
from spine_site.transaction import atomic

# argon2id with argon2-cffi's defaults (RFC 9106 "low memory": t=3, m=64 MiB, p=4): above
# the OWASP ASVS 5.0 floor for argon2id (m=19 MiB, t=2, p=1).
hasher = PasswordHasher()
PASSWORD_MIN = 12
PASSWORD_MAX = 256
PASSWORD_MIN_SCORE = 3
ZXCVBN_MAX = 72
PASSWORD_RULE = (
    "At least 12 characters, and not easy to guess: a few unrelated words work well. "
    "Common passwords, names, dates, repeats (aaaa) and sequences (1234) are refused."
)
# Verified against when the email is unknown, so a miss costs the same time as a hit.
_DUMMY_HASH = hasher.hash(secrets.token_urlsafe(16))


class UserError(ValueError):
    """A request about an account that cannot be done; the message says why, plainly."""


class PasswordGuessing(Exception):
    """Too many wrong current passwords in one session: it has been ended."""


def normalize_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise UserError("Enter an email address in the form name@example.com.") from None


def check_password_rules(password: str, email: str = "") -> None:
    """Length, not composition (ASVS 5.0): 12 to 256 characters, not the email, and zxcvbn's
    "safely unguessable" (score 3 of 4), which refuses common passwords, repeats, sequences,
    dates, keyboard patterns, and the clinic's or the person's own name."""
    if len(password) < PASSWORD_MIN:
        raise UserError(f"Use at least {PASSWORD_MIN} characters for the password.")
    if len(password) > PASSWORD_MAX:
        raise UserError(f"Use at most {PASSWORD_MAX} characters for the password.")
    if email and password.strip().lower() == email.lower():
        raise UserError("The password can't be the email address.")
    local = email.partition("@")[0]
    clinic = current_app.config["CLINIC_NAME"].lower()
    # zxcvbn refuses more than 72 characters; a password is judged by its first 72.
    verdict = zxcvbn(
        password[:ZXCVBN_MAX],
        user_inputs=[
            email,
            local,
            *local.replace(".", " ").split(),
            clinic.replace(" ", ""),  # "valorspine2026" is one word to a guesser
            *clinic.split(),
        ],
    )
    if verdict["score"] < PASSWORD_MIN_SCORE:
        warning = verdict["feedback"]["warning"] or "That password is too easy to guess."
        raise UserError(
            f"{warning.rstrip('.')}. Choose something harder to guess: a few unrelated words "
            "work well; avoid names, dates, repeats and common passwords."
        )


def create_user(email: str, role: Role, password: str) -> User:
    """Add an account to the caller's transaction (flushed, so it has its id)."""
    email = normalize_email(email)
    check_password_rules(password, email)
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise UserError(f"An account for {email} already exists.")
    user = User(email=email, role=Role(role), password_hash=hasher.hash(password))
    db.session.add(user)
    db.session.flush()
    return user


def set_password(user: User, password: str, *, keep_current: bool = False) -> None:
    """Change the password and end the account's sessions (all, or all but this one)."""
    check_password_rules(password, user.email)
    user.password_hash = hasher.hash(password)
    user.failures_reset_at = utcnow()  # a sign-in begun with the old password is void
    end_sessions(user, keep_current=keep_current)


def end_sessions(user: User, *, keep_current: bool = False) -> None:
    """End the account's signed-in sessions (or all but this one), in the caller's
    transaction."""
    clauses = [StaffSession.user_id == user.id]
    if keep_current and user.session_key:
        clauses.append(StaffSession.key_hash != session_hash(user.session_key))
    db.session.execute(delete(StaffSession).where(*clauses))


def session_hash(key: str) -> str:
    """What the database keeps of a session's key: a copy of the table opens no session."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_temporary_password() -> str:
    """A password an admin hands over once; about 100 bits."""
    return secrets.token_urlsafe(16)


def password_matches(user: User, password: str) -> bool:
    try:
        return hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# -- What admins (and the command line) do to accounts: each audits, in one transaction ----


@atomic()
def create_account(
    email: str, role: Role, *, by: User | None, password: str | None = None
) -> tuple[User, str]:
    """Create an account and return it with its password: the one given, or a temporary one
    for the admin to hand over. `by` None is the command line."""
    password = password or new_temporary_password()
    user = create_user(email, role, password)
    audit.record(
        "user_create",
        user=by,
        actor=None if by else "command line",
        target=f"user:{user.id}",
        detail={"role": user.role.value},
    )
    return user, password


@atomic()
def change_role(user: User, role: Role | str, *, by: User) -> None:
    """Give another person's account a new role; nobody changes their own."""
    if user.id == by.id:
        raise UserError("You can't change your own role; ask another admin.")
    old = user.role
    user.role = Role(role)
    audit.record(
        "user_role",
        user=by,
        target=f"user:{user.id}",
        detail={"from": old.value, "to": user.role.value},
    )


@atomic()
def set_active(user: User, active: bool, *, by: User) -> None:
    """Enable an account (lifting any sign-in lock), or disable it and end its sessions."""
    if user.id == by.id:
        raise UserError("You can't disable your own account.")
    user.active = active
    user.failures_reset_at = utcnow()  # a sign-in begun before is void, even if re-enabled
    if not active:
        end_sessions(user)
    audit.record("user_enable" if active else "user_disable", user=by, target=f"user:{user.id}")


@atomic()
def reset_password(user: User, *, by: User) -> str:
    """Give the account a temporary password (ending its sessions); returns it, to hand over."""
    temporary = new_temporary_password()
    set_password(user, temporary)
    audit.record("user_password", user=by, target=f"user:{user.id}")
    return temporary


def change_own_password(user: User, current: str, new: str, confirm: str) -> None:
    """A signed-in person's own change: the current password first, the new one twice. After
    LOGIN_MAX_FAILURES wrong current passwords within LOGIN_LOCK_MINUTES the session ends
    (PasswordGuessing), so a stolen session cannot be used to guess the password."""
    if not password_matches(user, current):
        if _count_wrong_password(user):
            raise PasswordGuessing
        raise UserError("The current password is not right.")
    if new != confirm:
        raise UserError("The two new passwords are different.")
    with atomic():
        set_password(user, new, keep_current=True)
        audit.record("user_password", user=user, target=f"user:{user.id}")


@atomic()
def _count_wrong_password(user: User) -> bool:
    """Audit a wrong current password (committed here: the refusal is raised after it); True
    when it was one too many, and the account's sessions have ended."""
    lock_account(user)
    audit.record("password_check_failed", user=user)
    if _recent(user, "password_check_failed") < current_app.config["LOGIN_MAX_FAILURES"]:
        return False
    end_sessions(user)
    audit.record("password_check_throttled", user=user)
    return True


def lock_account(user: User) -> None:
    """Hold the account's row until the caller commits (PostgreSQL's FOR UPDATE): parallel
    requests that count failures, or remove factors, then take turns instead of each seeing
    the count before the others' writes. (SQLite allows one writer at a time anyway.)"""
    db.session.execute(select(User.id).where(User.id == user.id).with_for_update())


def _recent(user: User, action: str) -> int:
    since = utcnow() - timedelta(minutes=current_app.config["LOGIN_LOCK_MINUTES"])
    return (
        db.session.scalar(
            select(func.count()).where(
                AuditEvent.action == action,
                AuditEvent.user_id == user.id,
                AuditEvent.created_at > since,
            )
        )
        or 0
    )
