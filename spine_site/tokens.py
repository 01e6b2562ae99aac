"""Signed tokens: form tokens, guide download links, unsubscribe links, newsletter
confirmation links.

Each kind has its own salt, so a token made for one purpose is refused by the others.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer


def _serializer(salt: str) -> URLSafeSerializer:
    config = current_app.config
    # Old keys (SECRET_KEY_FALLBACKS) still verify links already emailed after a key rotation.
    keys = [*(config.get("SECRET_KEY_FALLBACKS") or []), config["SECRET_KEY"]]
    return URLSafeSerializer(keys, salt=salt)


@dataclass(frozen=True)
class FormToken:
    nonce: str
    issued_at: float
    # Issued to a form sent back to be submitted again: a person has been typing all along,
    # so the minimum fill time does not apply to it.
    reissued: bool = False


def _form_keys() -> list[bytes]:
    config = current_app.config
    # The newest key signs; the fallbacks still accept forms rendered before a key rotation.
    keys = (config["SECRET_KEY"], *(config.get("SECRET_KEY_FALLBACKS") or []))
    # A key of its own for form tokens, so no other signature made with SECRET_KEY can pass
    # for one.
    return [hmac.new(k.encode(), b"spine_site form-token", hashlib.sha256).digest() for k in keys]


def _form_signature(key: bytes, payload: str) -> str:
    mac = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


# What new_form_token() makes (nonce, milliseconds, reissue flag, signature): pages that carry
# a form use it to tell the per-visitor token from what the page says.
FORM_TOKEN_PATTERN = r"[A-Za-z0-9_-]{22}\.\d{10,}\.[01]\.[A-Za-z0-9_-]{43}"


def new_form_token(reissued: bool = False) -> str:
    """A token for one rendering of a form: its nonce dedupes submits, its time catches bots
    (the shape of FORM_TOKEN_PATTERN)."""
    payload = f"{secrets.token_urlsafe(16)}.{int(time.time() * 1000)}.{1 if reissued else 0}"
    return f"{payload}.{_form_signature(_form_keys()[0], payload)}"


def read_form_token(token: str, max_age: int) -> FormToken | None:
    payload, _, signature = token.rpartition(".")
    # (compare_digest refuses non-ASCII text; no token of ours has any.)
    if not payload or len(token) > 200 or not token.isascii():
        return None
    if not any(
        hmac.compare_digest(_form_signature(key, payload), signature) for key in _form_keys()
    ):
        return None
    try:
        nonce, millis, flag = payload.split(".")
        issued = int(millis) / 1000
    except ValueError:
        return None
    if time.time() - issued > max_age:
        return None
    return FormToken(nonce=nonce, issued_at=issued, reissued=flag == "1")


@dataclass(frozen=True)
class GuideLink:
    lead_id: int
    issued_at: datetime
    expired: bool


def _lead_token(salt: str, lead_id: int, issued_at: datetime | None) -> str:
    issued_at = issued_at or datetime.now(UTC)
    return _serializer(salt).dumps({"l": lead_id, "t": int(issued_at.timestamp())})


def _read_lead_token(salt: str, token: str, days: int) -> tuple[int, datetime, bool] | None:
    """(lead id, issued at, expired); None for a token that was not made here. An expired
    token still names its lead."""
    try:
        data = _serializer(salt).loads(token)
        lead_id = int(data["l"])
        issued_at = datetime.fromtimestamp(int(data["t"]), UTC)
    except (BadSignature, KeyError, TypeError, ValueError, OverflowError, OSError):
        return None
    return lead_id, issued_at, datetime.now(UTC) - issued_at > timedelta(days=days)


def guide_token(lead_id: int, issued_at: datetime | None = None) -> str:
    return _lead_token("guide-download", lead_id, issued_at)


def read_guide_token(token: str) -> GuideLink | None:
    found = _read_lead_token("guide-download", token, current_app.config["GUIDE_LINK_DAYS"])
    return GuideLink(*found) if found else None


def unsubscribe_token(person_id: int) -> str:
    return _serializer("unsubscribe").dumps({"p": person_id})


def read_unsubscribe_token(token: str) -> int | None:
    try:
        return int(_serializer("unsubscribe").loads(token)["p"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None


# How long the emailed "confirm your newsletter sign-up" link works. Long enough for a patient
# who reads their mail weekly; a consent nobody confirmed within a month is treated as not given.
NEWSLETTER_CONFIRM_DAYS = 30


@dataclass(frozen=True)
class NewsletterLink:
    lead_id: int
    expired: bool


def newsletter_token(lead_id: int, issued_at: datetime | None = None) -> str:
    return _lead_token("newsletter-confirm", lead_id, issued_at)


def read_newsletter_token(token: str) -> NewsletterLink | None:
    found = _read_lead_token("newsletter-confirm", token, NEWSLETTER_CONFIRM_DAYS)
    return NewsletterLink(lead_id=found[0], expired=found[2]) if found else None
