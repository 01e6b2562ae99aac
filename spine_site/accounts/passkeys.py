"""Passkeys (WebAuthn) as a second factor, with py_webauthn.

The relying party is this site: its id is SITE_URL's host name and the only origin accepted
is SITE_URL's scheme, host and port, so a passkey made here answers nowhere else. Passkeys
sign a fresh challenge each time; nothing stored here is secret (a public key, a counter).

A challenge is answered once: the browser's session, which can be copied, holds it, and
checking an answer first deletes its WebAuthnChallenge row, in whichever worker. A synced
passkey's counter stays 0, so the counter cannot catch a replayed answer; this can.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import delete, select
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from spine_site.accounts import audit
from spine_site.accounts.mfa import FactorError, refuse_removing_last
from spine_site.clock import utcnow
from spine_site.extensions import db
from spine_site.models import Passkey, User, WebAuthnChallenge
from spine_site.transaction import atomic

NAME_MAX = 60
# How long a challenge waits for its answer: time for the person to touch their key.
CHALLENGE_SECONDS = 300


def relying_party() -> tuple[str, str]:
    """(rp id, origin) from SITE_URL."""
    parts = urlsplit(current_app.config["SITE_URL"])
    return parts.hostname or "localhost", f"{parts.scheme}://{parts.netloc}"


def _descriptors(user: User) -> list[PublicKeyCredentialDescriptor]:
    known = {t.value for t in AuthenticatorTransport}
    return [
        PublicKeyCredentialDescriptor(
            id=key.credential_id,
            transports=[AuthenticatorTransport(t) for t in key.transports if t in known],
        )
        for key in user.passkeys
    ]


def registration_options(user: User) -> tuple[str, bytes]:
    """Options for navigator.credentials.create() as JSON, and the challenge, now issued
    to this account for adding a passkey."""
    rp_id, _ = relying_party()
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=current_app.config["CLINIC_NAME"],
        user_name=user.email,
        # A handle that says nothing about the person: the account's number.
        user_id=f"staff-{user.id}".encode(),
        exclude_credentials=_descriptors(user),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
    )
    issue_challenge(user, options.challenge, "register")
    return options_to_json(options), options.challenge


def add_passkey(
    user: User, credential: str, challenge: bytes, name: str, *, by: User | None
) -> Passkey:
    """Check a new credential against the challenge and keep it; FactorError if it fails.
    The challenge is spent first, whatever the outcome."""
    if not spend_challenge(user, challenge, "register"):
        raise FactorError("That took too long, or was already sent. Please try again.")
    rp_id, origin = relying_party()
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
        )
        listed = json.loads(credential).get("response", {}).get("transports") or []
        transports = [t for t in listed if isinstance(t, str) and t.isascii()][:8]
    except (WebAuthnException, ValueError, KeyError, TypeError, AttributeError):
        raise FactorError("That passkey could not be checked. Please try again.") from None
    # Printable text only (a NUL or a control character has no place in a name).
    name = ("".join(ch for ch in name if ch.isprintable()).strip() or "Passkey")[:NAME_MAX]
    with atomic():
        taken = select(Passkey.id).where(Passkey.credential_id == verified.credential_id)
        if db.session.scalar(taken):
            raise FactorError("That passkey is already registered.")
        key = Passkey(
            user_id=user.id,
            credential_id=verified.credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            transports=[t[:20] for t in transports],
            name=name,
        )
        db.session.add(key)
        db.session.flush()
        audit.record("passkey_added", user=by or user, target=f"user:{user.id}")
    return key


def _challenge_hash(challenge: bytes) -> str:
    return hashlib.sha256(challenge).hexdigest()


@atomic()
def issue_challenge(user: User, challenge: bytes, purpose: str) -> None:
    """Keep a challenge just sent to this account until it is answered or expires; the
    expired challenges of every account are deleted on the way."""
    now = utcnow()
    db.session.execute(delete(WebAuthnChallenge).where(WebAuthnChallenge.expires_at <= now))
    db.session.add(
        WebAuthnChallenge(
            challenge_hash=_challenge_hash(challenge),
            user_id=user.id,
            purpose=purpose,
            expires_at=now + timedelta(seconds=CHALLENGE_SECONDS),
        )
    )


@atomic()
def spend_challenge(user: User, challenge: bytes, purpose: str) -> bool:
    """True the first time this account answers a live challenge issued to it for this
    purpose, in any worker; False after that, or once it expired (the row is gone)."""
    spent = db.session.execute(
        delete(WebAuthnChallenge).where(
            WebAuthnChallenge.challenge_hash == _challenge_hash(challenge),
            WebAuthnChallenge.user_id == user.id,
            WebAuthnChallenge.purpose == purpose,
            WebAuthnChallenge.expires_at > utcnow(),
        )
    )
    return spent.rowcount == 1


def authentication_options(user: User) -> tuple[str, bytes]:
    """Options for navigator.credentials.get(), for this account's passkeys only, and the
    challenge, now issued to this account for signing in."""
    rp_id, _ = relying_party()
    options = generate_authentication_options(
        rp_id=rp_id,
        allow_credentials=_descriptors(user),
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    issue_challenge(user, options.challenge, "login")
    return options_to_json(options), options.challenge


def check_passkey(user: User, credential: str, challenge: bytes) -> bool:
    """A sign-in assertion from one of this account's passkeys, to a challenge not answered
    before: a failure is audited, a success moves the passkey's counter (each in a
    transaction of its own, after the one that spends the challenge)."""
    rp_id, origin = relying_party()
    if not spend_challenge(user, challenge, "login"):
        with atomic():
            audit.record("passkey_failed", user=user, detail={"challenge": "spent or expired"})
        return False
    try:
        raw_id = base64url_to_bytes(json.loads(credential)["rawId"])
        key = next(k for k in user.passkeys if k.credential_id == raw_id)
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=key.public_key,
            credential_current_sign_count=key.sign_count,
        )
    except (WebAuthnException, StopIteration, ValueError, KeyError, TypeError, AttributeError):
        with atomic():
            audit.record("passkey_failed", user=user)
        return False
    with atomic():
        key.sign_count = verified.new_sign_count
        key.last_used_at = utcnow()
    return True


@atomic()
def remove_passkey(user: User, passkey_id: int, *, by: User) -> None:
    refuse_removing_last(user, passkeys=0)  # locks the account and reads its factors afresh
    key = next((k for k in user.passkeys if k.id == passkey_id), None)
    if key is None:
        raise FactorError("That passkey is not on your account.")
    refuse_removing_last(user, passkeys=1)
    db.session.delete(key)
    audit.record("passkey_removed", user=by, target=f"user:{user.id}")
