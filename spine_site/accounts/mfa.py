"""Second factors kept on the server: authenticator-app codes (TOTP) and recovery codes.

`by` is the person acting (None: the command line).

The TOTP secret must be readable by the server to check a code, so it is encrypted (Fernet)
under a key derived from SECRET_KEY with HKDF: a copy of the database alone gives nobody the
codes. A secret read with a key in SECRET_KEY_FALLBACKS is re-encrypted at its next use.
Recovery codes are 80 random bits each, stored as SHA-256: too many to try from a copy of the
table, so no slow hash is needed.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import time
from collections.abc import Iterable
from typing import NamedTuple

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, current_app
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from spine_site.accounts import audit, users
from spine_site.clock import utcnow
from spine_site.extensions import db
from spine_site.models import Passkey, RecoveryCode, StaffSession, User
from spine_site.transaction import atomic

log = logging.getLogger(__name__)

TOTP_STEP = 30
TOTP_DIGITS = 6
RECOVERY_CODES = 10
# No 0/O, 1/I/L: a code copied from paper is read back right. 32 symbols = 5 bits each.
_RECOVERY_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_RECOVERY_LENGTH = 16  # 16 x 5 bits = 80 bits


class FactorError(ValueError):
    """A second-factor request that cannot be done; the message says why, plainly."""


def _fernet(secret_key: str) -> Fernet:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"spine_site totp secret v1"
    ).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def _keyring() -> MultiFernet:
    config = current_app.config
    keys = [config["SECRET_KEY"], *(config.get("SECRET_KEY_FALLBACKS") or ())]
    return MultiFernet([_fernet(key) for key in keys])


def seal(secret: str) -> str:
    return _keyring().encrypt(secret.encode()).decode()


def unseal(sealed: str) -> str | None:
    """The secret, or None when no key we hold opens it (SECRET_KEY changed, no fallback)."""
    try:
        return _keyring().decrypt(sealed.encode()).decode()
    except InvalidToken:
        return None


class SealedSecrets(NamedTuple):
    """Ids of accounts with an authenticator secret, by the key that opens it."""

    current: list[int]
    fallback: list[int]  # only a key in SECRET_KEY_FALLBACKS: run `flask users reencrypt`
    unreadable: list[int]  # no key held: these people cannot use their authenticator app


def sealed_secrets() -> SealedSecrets:
    """Try every stored TOTP secret with SECRET_KEY, then with the fallbacks (one query)."""
    current_key, ring = _fernet(current_app.config["SECRET_KEY"]), _keyring()
    found = SealedSecrets([], [], [])
    rows = db.session.execute(
        select(User.id, User.totp_secret).where(User.totp_secret.is_not(None)).order_by(User.id)
    )
    for user_id, sealed in rows:
        for key, kind in ((current_key, found.current), (ring, found.fallback)):
            try:
                key.decrypt(sealed.encode())
            except InvalidToken:
                continue
            kind.append(user_id)
            break
        else:
            found.unreadable.append(user_id)
    return found


def warn_about_sealed_secrets(app: Flask) -> SealedSecrets | None:
    """Log what a key change left behind; None when the database cannot say (not yet made).
    A warning, not a refusal to start: the patients' forms and every other account keep
    working, and the commands that repair it run on this same app."""
    try:
        with app.app_context():
            found = sealed_secrets()
    except SQLAlchemyError:
        return None
    if found.unreadable:
        log.warning(
            "AUTHENTICATOR SECRETS UNREADABLE: %d staff accounts (ids %s) hold an "
            "authenticator secret that neither SECRET_KEY nor SECRET_KEY_FALLBACKS opens; they "
            "cannot sign in with their app. Put the old key back in SECRET_KEY_FALLBACKS and run "
            "`flask users reencrypt`, or reset their factors (`flask users reset-mfa EMAIL`). "
            "docs/deploy.md, section 8.",
            len(found.unreadable),
            ", ".join(map(str, found.unreadable)),
        )
    if found.fallback:
        log.info(
            "%d authenticator secrets are still sealed with a key in SECRET_KEY_FALLBACKS: run "
            "`flask users reencrypt` before removing that key.",
            len(found.fallback),
        )
    return found


@atomic()
def reencrypt_all() -> tuple[int, int]:
    """Re-encrypt every TOTP secret with the current SECRET_KEY; (done, unreadable)."""
    done = lost = 0
    ring = _keyring()
    for user in db.session.scalars(select(User).where(User.totp_secret.is_not(None))):
        try:
            user.totp_secret = ring.rotate(user.totp_secret.encode()).decode()
            done += 1
        except InvalidToken:
            lost += 1
    audit.record("mfa_reencrypt", actor="command line", detail={"done": done, "lost": lost})
    return done, lost


def has_totp(user: User) -> bool:
    return user.totp_secret is not None and user.totp_added_at is not None


def has_factor(user: User) -> bool:
    return has_totp(user) or bool(user.passkeys)


def new_totp_secret() -> tuple[str, str]:
    """A new secret (160 bits, as RFC 4226 recommends) and its sealed form, which the
    enrolment page keeps in the session until a code from it is confirmed."""
    secret = pyotp.random_base32()
    return secret, seal(secret)


def totp_uri(secret: str, email: str) -> str:
    issuer = current_app.config["CLINIC_NAME"]
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The otpauth:// link as an inline SVG QR code, drawn here: no image service sees it."""
    return segno.make(uri, error="m").svg_inline(scale=4, border=2, dark="#000", light="#fff")


def _current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // TOTP_STEP)


def _matching_step(secret: str, code: str, after: int | None, now: float | None = None) -> int:
    """The step (now, or one either side for clock skew) whose code this is; -1 for none.
    A step at or before `after` (the last one accepted) never matches: each code works once."""
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP)
    step = _current_step(now)
    for candidate in (step, step - 1, step + 1):
        if after is not None and candidate <= after:
            continue
        if secrets.compare_digest(totp.at(candidate * TOTP_STEP), code):
            return candidate
    return -1


def is_six_digits(code: str) -> bool:
    # ASCII only: "١٢٣٤٥٦" passes str.isdigit() but is no code (and breaks compare_digest).
    return code.isascii() and code.isdigit() and len(code) == TOTP_DIGITS


def clean_code(code: str) -> str:
    return "".join(ch for ch in code if not ch.isspace() and ch != "-").upper()


@atomic()
def confirm_totp(user: User, secret: str, code: str, *, by: User | None) -> bool:
    """Turn on (or replace) the authenticator app once a code from it is right."""
    code = clean_code(code)
    step = _matching_step(secret, code, None) if is_six_digits(code) else -1
    if step < 0:
        return False
    replacing = has_totp(user)
    user.totp_secret = seal(secret)
    user.totp_last_step = step
    user.totp_added_at = utcnow()
    audit.record(
        "mfa_totp_replaced" if replacing else "mfa_totp_added",
        user=by or user,
        target=f"user:{user.id}",
    )
    return True


def check_totp(user: User, code: str, now: float | None = None) -> bool:
    """A sign-in code: right, from now or one step either side, and not used before. Runs in
    the caller's transaction, which audits it (signin.check_code)."""
    code = clean_code(code)
    if not has_totp(user) or not is_six_digits(code):
        return False
    secret = unseal(user.totp_secret or "")
    if secret is None:
        return False
    step = _matching_step(secret, code, user.totp_last_step, now)
    if step < 0:
        return False
    # Only a row still below this step is moved: of two requests with one code, one passes.
    moved = db.session.execute(
        update(User)
        .where(
            User.id == user.id,
            (User.totp_last_step.is_(None)) | (User.totp_last_step < step),
        )
        .values(totp_last_step=step, totp_secret=seal(secret))
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.expire(user, ["totp_last_step", "totp_secret"])
    return moved == 1


@atomic()
def remove_totp(user: User, *, by: User) -> None:
    refuse_removing_last(user, removing_totp=True)
    if not has_totp(user):
        raise FactorError("There is no authenticator app on your account.")
    user.totp_secret = user.totp_last_step = user.totp_added_at = None
    audit.record("mfa_totp_removed", user=by, target=f"user:{user.id}")


def refuse_removing_last(user: User, *, removing_totp: bool = False, passkeys: int = 0) -> None:
    """Where factors are required, keep one. The row is locked first and the factors read
    afresh, so two removals sent at once cannot each see the other's factor still there."""
    users.lock_account(user)
    db.session.refresh(user)
    db.session.expire(user, ["passkeys"])
    if not current_app.config["MFA_REQUIRED"]:
        return
    left = (0 if removing_totp else int(has_totp(user))) + len(user.passkeys) - passkeys
    if left < 1:
        raise FactorError(
            "Keep at least one passkey or authenticator app: add the new one first, then "
            "remove this one."
        )


def _hash_code(code: str) -> str:
    return hashlib.sha256(clean_code(code).encode()).hexdigest()


def _format(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


@atomic()
def new_recovery_codes(user: User, *, by: User | None) -> list[str]:
    """Ten fresh codes, replacing any earlier ones; returned once, to show, never stored."""
    codes = [
        "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        for _ in range(RECOVERY_CODES)
    ]
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=_hash_code(c)) for c in codes)
    audit.record("mfa_recovery_codes", user=by or user, target=f"user:{user.id}")
    return [_format(code) for code in codes]


def use_recovery_code(user: User, code: str) -> bool:
    """Spend one recovery code, in the caller's transaction, which audits it
    (signin.check_code)."""
    cleaned = clean_code(code)
    if len(cleaned) != _RECOVERY_LENGTH:
        return False
    # One UPDATE, guarded by used_at IS NULL: a code cannot be spent twice, even at once.
    spent = db.session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _hash_code(cleaned),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    return spent == 1


def recovery_codes_left(user: User) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )


def factor_summary(users: Iterable[User]) -> dict[int, dict[str, int | bool]]:
    """For each account: passkeys, authenticator app yes/no, recovery codes left."""
    ids = [user.id for user in users]
    passkeys, codes = (
        dict(
            db.session.execute(
                select(model.user_id, func.count())
                .where(model.user_id.in_(ids), *where)
                .group_by(model.user_id)
            ).all()
        )
        for model, where in ((Passkey, ()), (RecoveryCode, (RecoveryCode.used_at.is_(None),)))
    )
    return {
        user.id: {
            "passkeys": passkeys.get(user.id, 0),
            "totp": has_totp(user),
            "recovery": codes.get(user.id, 0),
        }
        for user in users
    }


@atomic()
def reset_factors(user: User, *, by: User | None, password: str | None = None) -> str:
    """Remove every second factor, end every session and sign-in under way, and set a new
    password (the one given, or a temporary one, returned): the account is open to enrolment
    now, so whoever knew the old password must not be the one who enrols."""
    if by is not None and by.id == user.id:
        raise FactorError("You can't reset your own second factors; ask another admin.")
    new_password = password or users.new_temporary_password()
    try:
        users.set_password(user, new_password)  # also voids sign-ins under way
    except users.UserError as exc:
        raise FactorError(str(exc)) from None
    db.session.execute(delete(Passkey).where(Passkey.user_id == user.id))
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.execute(delete(StaffSession).where(StaffSession.user_id == user.id))
    user.totp_secret = user.totp_last_step = user.totp_added_at = None
    audit.record(
        "mfa_reset", user=by, actor=None if by else "command line", target=f"user:{user.id}"
    )
    return new_password
