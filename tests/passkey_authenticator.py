"""A software passkey: what a phone or laptop authenticator does, in Python, for tests that
drive the passkey endpoints the way static/js/passkey.js does.

It makes an ES256 key, answers navigator.credentials.create() with "none" attestation, and
signs navigator.credentials.get() assertions. Its signature counter stays 0, as synced
passkeys' does, so the counter cannot tell a replayed assertion from a fresh one: only the
challenge being spent can. The browser test (tests/browser/test_passkeys.py) covers the same
endpoints with Chromium's virtual authenticator.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, encode_cbor

# Authenticator data flags: user present, user verified, attested credential data follows.
_UP, _UV, _AT = 0x01, 0x04, 0x40


class SoftAuthenticator:
    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = secrets.token_bytes(16)

    def _cose_public_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        # COSE_Key: kty EC2 (2), alg ES256 (-7), crv P-256 (1), x, y.
        return encode_cbor(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def _client_data(self, kind: str, challenge: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": False}
        ).encode()

    def create(self, options: dict[str, Any]) -> dict[str, Any]:
        """The credential JSON passkey.js posts after navigator.credentials.create()."""
        rp_hash = hashlib.sha256(options["rp"]["id"].encode()).digest()
        attested = (
            bytes(16)  # AAGUID: none
            + len(self.credential_id).to_bytes(2, "big")
            + self.credential_id
            + self._cose_public_key()
        )
        auth_data = rp_hash + bytes([_UP | _UV | _AT]) + (0).to_bytes(4, "big") + attested
        attestation = encode_cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"])
        return {
            "id": bytes_to_base64url(self.credential_id),
            "rawId": bytes_to_base64url(self.credential_id),
            "type": "public-key",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": bytes_to_base64url(client_data),
                "attestationObject": bytes_to_base64url(attestation),
                "transports": ["internal"],
            },
        }

    def get(self, options: dict[str, Any]) -> dict[str, Any]:
        """The assertion JSON passkey.js posts after navigator.credentials.get()."""
        allowed = [base64url_to_bytes(c["id"]) for c in options.get("allowCredentials", [])]
        assert self.credential_id in allowed, "the site asked for another passkey"
        rp_hash = hashlib.sha256(options["rpId"].encode()).digest()
        auth_data = rp_hash + bytes([_UP | _UV]) + (0).to_bytes(4, "big")
        client_data = self._client_data("webauthn.get", options["challenge"])
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return {
            "id": bytes_to_base64url(self.credential_id),
            "rawId": bytes_to_base64url(self.credential_id),
            "type": "public-key",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": bytes_to_base64url(client_data),
                "authenticatorData": bytes_to_base64url(auth_data),
                "signature": bytes_to_base64url(signature),
            },
        }
