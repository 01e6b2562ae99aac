"""What the second-factor pages share: the one CSP that lets our passkey script run, and
the WebAuthn challenge kept in this browser's session between the options and the answer
(the database says whether it is still unanswered: accounts/passkeys.py)."""

from __future__ import annotations

from typing import Any

from flask import render_template, session

from spine_site.web.security import CONTENT_SECURITY_POLICY

# Only the pages that offer passkeys run a script, and only our own file.
PASSKEY_PAGE_POLICY = f"{CONTENT_SECURITY_POLICY}; script-src 'self'"


def passkey_page(
    template: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any
):
    body = render_template(template, **context)
    return body, status, {**(headers or {}), "Content-Security-Policy": PASSKEY_PAGE_POLICY}


def keep_challenge(challenge: bytes, purpose: str) -> None:
    session["webauthn"] = {"challenge": challenge.hex(), "for": purpose}


def take_challenge(purpose: str) -> bytes | None:
    """The challenge this browser was sent for this purpose, gone from the session once
    taken (a copied cookie still holds it: passkeys.spend_challenge counts it once)."""
    data: Any = session.pop("webauthn", None)
    if not isinstance(data, dict) or data.get("for") != purpose:
        return None
    try:
        return bytes.fromhex(data.get("challenge", ""))
    except (TypeError, ValueError):
        return None
