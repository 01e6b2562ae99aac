"""Staff accounts: passwords, roles, sign-in with throttling, disabling."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from flask import current_app, has_request_context, request
from sqlalchemy import func, select

from . import audit
from .extensions import db
from .models import AuditEvent, Role, User

# argon2id with argon2-cffi's defaults (RFC 9106 "low memory": t=3, m=64 MiB, p=4): above
# the OWASP ASVS 5.0 floor for argon2id (m=19 MiB, t=2, p=1).
hasher = PasswordHasher()
PASSWORD_MIN = 12
PASSWORD_MAX = 256
# Verified against when the email is unknown, so a miss costs the same time as a hit.
_DUMMY_HASH = hasher.hash(secrets.token_urlsafe(16))


class UserError(ValueError):
    """A request about an account that cannot be done; the message says why, plainly."""


class LoginThrottled(Exception):
    """Too many recent failures for this account: refuse even a correct password."""


def normalize_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise UserError("Enter an email address in the form name@example.com.") from None


def check_password_rules(password: str, email: str = "") -> None:
    """Length, not composition (ASVS 5.0): 12 to 256 characters, not the email itself."""
    if len(password) < PASSWORD_MIN:
        raise UserError(f"Use at least {PASSWORD_MIN} characters for the password.")
    if len(password) > PASSWORD_MAX:
        raise UserError(f"Use at most {PASSWORD_MAX} characters for the password.")
    if email and password.strip().lower() == email.lower():
        raise UserError("The password can't be the email address.")


def create_user(email: str, role: Role, password: str) -> User:
    """Create an account; the caller commits."""
    email = normalize_email(email)
    check_password_rules(password, email)
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise UserError(f"An account for {email} already exists.")
    user = User(
        email=email,
        role=Role(role),
        password_hash=hasher.hash(password),
        session_token=secrets.token_hex(16),
    )
    db.session.add(user)
    db.session.flush()
    return user


def set_password(user: User, password: str) -> None:
    """Change the password and end every session the account has open."""
    check_password_rules(password, user.email)
    user.password_hash = hasher.hash(password)
    user.session_token = secrets.token_hex(16)
    user.failures_reset_at = datetime.now(UTC)  # an admin's reset also lifts a lock


def load_user(session_id: str) -> User | None:
    """Flask-Login's loader: the id and the account's current session token must match."""
    user_id, _, token = session_id.partition(":")
    if not user_id.isdigit() or not token:
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or not secrets.compare_digest(user.session_token, token):
        return None
    return user


def _failures(user: User, since: datetime, ip: str | None) -> int:
    clauses = [
        AuditEvent.action == "login_failed",
        AuditEvent.user_id == user.id,
        AuditEvent.created_at > since,
    ]
    if ip is not None:
        clauses.append(AuditEvent.ip == ip)
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(*clauses)) or 0


def authenticate(email: str, password: str) -> User | None:
    """Check a sign-in; record it in the audit log either way, and commit.

    Raises LoginThrottled when the account has had LOGIN_MAX_FAILURES failures from this
    address, or LOGIN_MAX_FAILURES_ALL from anywhere, within LOGIN_LOCK_MINUTES (counted
    since its last good sign-in or an admin's reset), whatever the password. Counting per
    address too means a stranger guessing from elsewhere cannot lock staff out of the clinic.
    """
    config = current_app.config
    typed = email.strip().lower()[:320]
    if any(ord(ch) < 32 for ch in typed):
        typed = ""  # no account has such an address (and PostgreSQL refuses NUL in text)
    # FOR UPDATE (PostgreSQL) queues concurrent sign-ins to one account, so parallel guesses
    # cannot all slip under the limit; SQLite's BEGIN IMMEDIATE already does the same.
    user = db.session.scalar(select(User).where(User.email == typed).with_for_update())
    if user is not None:
        since = datetime.now(UTC) - timedelta(minutes=config["LOGIN_LOCK_MINUTES"])
        for mark in (user.last_login_at, user.failures_reset_at):
            if mark is not None and mark > since:
                since = mark
        ip = request.remote_addr if has_request_context() else None
        if (
            _failures(user, since, ip) >= config["LOGIN_MAX_FAILURES"]
            or _failures(user, since, None) >= config["LOGIN_MAX_FAILURES_ALL"]
        ):
            audit.record("login_throttled", user=user)
            db.session.commit()
            raise LoginThrottled

    try:
        hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
        ok = user is not None and user.active
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok:
        # What was typed is not kept unless it names an account: people type passwords
        # and patients' details into the wrong box.
        audit.record("login_failed", user=user, detail={} if user else {"account": "unknown"})
        db.session.commit()
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    user.last_login_at = datetime.now(UTC)
    audit.record("login", user=user)
    db.session.commit()
    return user


def new_temporary_password() -> str:
    """A password an admin hands over once; about 100 bits."""
    return secrets.token_urlsafe(16)


def password_matches(user: User, password: str) -> bool:
    try:
        return hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# -- What admins (and the command line) do to accounts: each audits and commits ----------


def create_account(
    email: str, role: Role, *, by: User | None, password: str | None = None
) -> tuple[User, str]:
    """Create an account and return it with its password: the one given, or a temporary one
    for the admin to hand over. `by` None is the command line."""
    password = password or new_temporary_password()
    try:
        user = create_user(email, role, password)
    except UserError:
        db.session.rollback()
        raise
    audit.record(
        "user_create",
        user=by,
        actor=None if by else "command line",
        target=f"user:{user.id}",
        detail={"role": user.role.value},
    )
    db.session.commit()
    return user, password


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
    db.session.commit()


def set_active(user: User, active: bool, *, by: User) -> None:
    """Enable an account (lifting any sign-in lock), or disable it and end its sessions."""
    if user.id == by.id:
        raise UserError("You can't disable your own account.")
    user.active = active
    if active:
        user.failures_reset_at = datetime.now(UTC)
    else:
        user.session_token = secrets.token_hex(16)
    audit.record("user_enable" if active else "user_disable", user=by, target=f"user:{user.id}")
    db.session.commit()


def reset_password(user: User, *, by: User) -> str:
    """Give the account a temporary password (ending its sessions); returns it, to hand over."""
    temporary = new_temporary_password()
    set_password(user, temporary)
    audit.record("user_password", user=by, target=f"user:{user.id}")
    db.session.commit()
    return temporary


def change_own_password(user: User, current: str, new: str, confirm: str) -> None:
    """A signed-in person's own change: the current password first, the new one twice."""
    if not password_matches(user, current):
        raise UserError("The current password is not right.")
    if new != confirm:
        raise UserError("The two new passwords are different.")
    set_password(user, new)
    audit.record("user_password", user=user, target=f"user:{user.id}")
    db.session.commit()


def record_sign_out(user: User) -> None:
    audit.record("logout", user=user)
    db.session.commit()
