"""What the second-factor pages share: the one CSP that lets our passkey script run, and
the WebAuthn challenge kept in the session for one use."""

from __future__ import annotations

import time
from typing import Any

from flask import render_template, session

from spine_site.accounts import passkeys
from spine_site.web.security import CONTENT_SECURITY_POLICY

# Only the pages that offer passkeys run a script, and only our own file: everywhere else
# the policy still allows none.
PASSKEY_PAGE_POLICY = f"{CONTENT_SECURITY_POLICY}; script-src 'self'"
CHALLENGE_SECONDS = 300


def passkey_page(
    template: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any
):
    body = render_template(template, **context)
    return body, status, {**(headers or {}), "Content-Security-Policy": PASSKEY_PAGE_POLICY}


def keep_challenge(challenge: bytes, purpose: str) -> None:
    session["webauthn"] = {"challenge": challenge.hex(), "at": time.time(), "for": purpose}


def take_challenge(purpose: str) -> bytes | None:
    """The challenge made for this purpose a moment ago; gone once taken, so an answer to it
    cannot be sent twice from this browser."""
    data: Any = session.pop("webauthn", None)
    if not isinstance(data, dict) or data.get("for") != purpose:
        return None
    if not isinstance(data.get("at"), float | int) or time.time() - data["at"] > CHALLENGE_SECONDS:
        return None
    try:
        challenge = bytes.fromhex(data.get("challenge", ""))
    except (TypeError, ValueError):
        return None
    # The cookie can be copied; the store that says a challenge was answered cannot.
    return challenge if passkeys.spend_challenge(challenge, CHALLENGE_SECONDS) else None
