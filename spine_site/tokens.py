"""Signed tokens: form tokens, guide download links, unsubscribe links.

Each kind has its own salt, so a token made for one purpose is refused by the others.
"""

from __future__ import annotations

import functools
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer


def _serializer(salt: str) -> URLSafeSerializer:
    config = current_app.config
    # Old keys (SECRET_KEY_FALLBACKS) still verify links already emailed after a key rotation.
    keys = (*(config.get("SECRET_KEY_FALLBACKS") or []), config["SECRET_KEY"])
    return _cached_serializer(keys, salt)


@functools.lru_cache(maxsize=32)
def _cached_serializer(keys: tuple[str, ...], salt: str) -> URLSafeSerializer:
    # Built once per key set: every article view signs a token, so this is on the hot path.
    return URLSafeSerializer(list(keys), salt=salt)


@dataclass(frozen=True)
class FormToken:
    nonce: str
    issued_at: float
    # Issued to a form sent back to be submitted again: a person has been typing all along,
    # so the minimum fill time does not apply to it.
    reissued: bool = False


def new_form_token(reissued: bool = False) -> str:
    """A token for one rendering of a form: its nonce dedupes submits, its time catches bots."""
    data: dict[str, object] = {"n": secrets.token_urlsafe(16), "t": time.time()}
    if reissued:
        data["r"] = 1
    return _serializer("form-token").dumps(data)


def read_form_token(token: str, max_age: int) -> FormToken | None:
    try:
        data = _serializer("form-token").loads(token)
        issued = float(data["t"])
        nonce = str(data["n"])
        reissued = bool(data.get("r"))
    except (BadSignature, KeyError, TypeError, ValueError, AttributeError):
        return None
    if time.time() - issued > max_age:
        return None
    return FormToken(nonce=nonce, issued_at=issued, reissued=reissued)


@dataclass(frozen=True)
class GuideLink:
    lead_id: int
    issued_at: datetime
    expired: bool


def guide_token(lead_id: int, issued_at: datetime | None = None) -> str:
    issued_at = issued_at or datetime.now(UTC)
    return _serializer("guide-download").dumps({"l": lead_id, "t": int(issued_at.timestamp())})


def read_guide_token(token: str) -> GuideLink | None:
    """None for a token that was not made here; expired tokens still name their lead."""
    try:
        data = _serializer("guide-download").loads(token)
        lead_id = int(data["l"])
        issued_at = datetime.fromtimestamp(int(data["t"]), UTC)
    except (BadSignature, KeyError, TypeError, ValueError, OverflowError, OSError):
        return None
    days = current_app.config["GUIDE_LINK_DAYS"]
    expired = datetime.now(UTC) - issued_at > timedelta(days=days)
    return GuideLink(lead_id=lead_id, issued_at=issued_at, expired=expired)


def unsubscribe_token(person_id: int) -> str:
    return _serializer("unsubscribe").dumps({"p": person_id})


def read_unsubscribe_token(token: str) -> int | None:
    try:
        return int(_serializer("unsubscribe").loads(token)["p"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
