"""Signing in: the password step, the second step, and the sessions they start.

Throttling (docs/staff.md, "Failed sign-ins") never gives anyone a switch that locks staff
out:
- Passwords count per address (RATELIMIT_LOGIN), and per address and typed email
  (LOGIN_MAX_FAILURES within LOGIN_LOCK_MINUTES), never per account: wrong passwords from ten
  addresses do not stop the right one from an eleventh, and an email with no account is
  answered like one with.
- Authenticator codes count per account, from every address, since six digits could
  otherwise be guessed from many addresses at once; only someone who has the password can
  spend these, and a passkey or a recovery code still works meanwhile.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from limits import RateLimitItemPerMinute
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import delete, func, select

from spine_site.accounts import audit, mfa, users
from spine_site.accounts.users import _DUMMY_HASH, hasher, session_hash
from spine_site.clock import utcnow
from spine_site.extensions import db
from spine_site.models import AuditEvent, StaffSession, User
from spine_site.transaction import atomic
from spine_site.web.ratelimits import client_address


class SignInThrottled(Exception):
    """Too many failures from here; wait `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = max(1, retry_after)


def _typed_email(email: str) -> str:
    typed = email.strip().lower()[:320]
    # No account has control characters in its address (and PostgreSQL refuses NUL in text).
    return "" if any(ord(ch) < 32 for ch in typed) else typed


def _limit() -> tuple[FixedWindowRateLimiter, RateLimitItemPerMinute]:
    config = current_app.config
    limiter: FixedWindowRateLimiter = current_app.extensions["rate_limiter"]
    return limiter, RateLimitItemPerMinute(
        config["LOGIN_MAX_FAILURES"], config["LOGIN_LOCK_MINUTES"]
    )


def _email_key(typed: str) -> tuple[str, str, str]:
    # A keyed hash, so the store never holds what was typed (often a password or a name).
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, typed.encode(), hashlib.sha256).hexdigest()[:32]
    return ("signin-email", client_address(), digest)


def check_password(email: str, password: str) -> User | None:
    """The first step: the account, if the password is right and the account active; the
    outcome audited in a transaction of its own. Raises SignInThrottled, the same for every
    email, after LOGIN_MAX_FAILURES failures for this email from this address."""
    typed = _typed_email(email)
    limiter, item = _limit()
    key = _email_key(typed)
    if not limiter.test(item, *key):
        reset_at = limiter.get_window_stats(item, *key).reset_time
        raise SignInThrottled(int(reset_at - utcnow().timestamp()) + 1)
    user = db.session.scalar(select(User).where(User.email == typed)) if typed else None
    try:
        # A miss costs the same time as a hit: the unknown email checks a dummy hash.
        hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
        ok = user is not None and user.active
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok:
        limiter.hit(item, *key)
        # What was typed is not kept unless it names an account: people type passwords
        # and patients' details into the wrong box.
        with atomic():
            audit.record("login_failed", user=user, detail={} if user else {"account": "unknown"})
        return None
    with atomic():
        if hasher.check_needs_rehash(user.password_hash):
            user.password_hash = hasher.hash(password)
        # A right password not followed by a sign-in is worth seeing: it may be a stolen one.
        audit.record("login_password", user=user)
    return user


def pending_user(user_id: object, since: float) -> User | None:
    """The account between the password and the second step (its id kept in the session,
    with when its password was right). Void once the account's password, factors or access
    changed after that moment: a reset must not leave a half-finished sign-in usable."""
    if not isinstance(user_id, int):
        return None
    user = db.session.get(User, user_id)
    if user is None or not user.active:
        return None
    changed = user.failures_reset_at
    return None if changed is not None and changed.timestamp() >= since else user


def code_wait(user: User) -> int:
    """Seconds until this account may try another code; 0 when it may now."""
    config = current_app.config
    window = timedelta(minutes=config["LOGIN_LOCK_MINUTES"])
    since = utcnow() - window
    for mark in (user.last_login_at, user.failures_reset_at):
        if mark is not None and mark > since:
            since = mark
    failures = db.session.execute(
        select(func.count(), func.min(AuditEvent.created_at)).where(
            AuditEvent.action == "mfa_failed",
            AuditEvent.user_id == user.id,
            AuditEvent.created_at > since,
        )
    ).one()
    if failures[0] < config["LOGIN_MAX_FAILURES"]:
        return 0
    return int((failures[1] + window - utcnow()).total_seconds()) + 1


def check_code(user: User, code: str) -> str | None:
    """An authenticator or recovery code: which it was ("totp", "recovery"), or None.
    Raises SignInThrottled after too many wrong app codes; recovery codes (80 bits) are not
    throttled, so the throttle cannot lock the owner out."""
    # One box takes both: six digits are the app's code, anything else a recovery code.
    cleaned = mfa.clean_code(code)
    with atomic():
        if not mfa.is_six_digits(cleaned):
            if mfa.use_recovery_code(user, cleaned):
                return "recovery"
            audit.record("recovery_failed", user=user)
            return None
        # Parallel guesses queue on the account's row, so each sees the others' failures.
        users.lock_account(user)
        wait = code_wait(user)
        if not wait:
            if mfa.check_totp(user, cleaned):
                return "totp"
            audit.record("mfa_failed", user=user)
            return None
        audit.record("mfa_throttled", user=user)
    raise SignInThrottled(wait)


@atomic()
def start_session(user: User, factor: str) -> None:
    """A new signed-in session for this browser; `user.session_key` is what its cookie holds.
    `factor`: totp, recovery, passkey, enrolment, or none (development, no factor yet)."""
    max_age = timedelta(hours=current_app.config["STAFF_SESSION_HOURS"])
    # Sessions past their absolute limit are dead anyway; clear them out as we go.
    db.session.execute(
        delete(StaffSession).where(
            StaffSession.user_id == user.id, StaffSession.created_at < utcnow() - max_age
        )
    )
    key = secrets.token_urlsafe(32)
    db.session.add(StaffSession(user_id=user.id, key_hash=session_hash(key), second_factor=factor))
    user.last_login_at = utcnow()
    audit.record("login", user=user, detail={"factor": factor})
    user.session_key = key


def load_user(session_id: str) -> User | None:
    """Flask-Login's loader: the session's row must exist, be young enough, and its account
    be active. Signing out deletes the row, so an old cookie opens nothing."""
    user_id, _, key = session_id.partition(":")
    if not user_id.isdigit() or not key:
        return None
    oldest = utcnow() - timedelta(hours=current_app.config["STAFF_SESSION_HOURS"])
    row = db.session.execute(
        select(User, StaffSession.second_factor)
        .join(StaffSession, StaffSession.user_id == User.id)
        .where(
            StaffSession.key_hash == session_hash(key),
            User.id == int(user_id),
            StaffSession.created_at > oldest,
        )
    ).first()
    if row is None or not row[0].active:
        return None
    user = row[0]
    user.session_key = key
    user.session_factor = row[1]
    return user


@atomic()
def end_session(user: User, *, reason: str | None = None) -> None:
    """Sign out: this browser's session ends on the server, not only in its cookie."""
    db.session.execute(
        delete(StaffSession).where(StaffSession.key_hash == session_hash(user.session_key))
    )
    audit.record("logout", user=user, detail={"reason": reason} if reason else {})
