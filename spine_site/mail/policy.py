"""How the app's emails are serialised: list headers stay plain `<url>` at any length.

Python's default email policy folds a header longer than 78 characters, and a URL has no
whitespace to fold at, so it becomes MIME encoded words (`=?utf-8?q?=3Chttps=3A//...?=`).
Mailbox providers read List-Unsubscribe as RFC 2369/8058 say, an ASCII `<url>` list, and
skip an encoded one: one-click unsubscribe would silently stop working.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from email.headerregistry import Address
from email.policy import EmailPolicy
from email.utils import parseaddr
from typing import Any

# Headers whose values are URL lists (RFC 2369) or a fixed token (RFC 8058).
PLAIN_HEADERS = frozenset({"list-unsubscribe", "list-unsubscribe-post"})


class MailPolicy(EmailPolicy):
    """policy.default, except that PLAIN_HEADERS are folded only between URLs, never encoded."""

    def fold(self, name: str, value: Any) -> str:
        plain = self._plain(name, value)
        return plain if plain is not None else super().fold(name, value)

    def fold_binary(self, name: str, value: Any) -> bytes:
        plain = self._plain(name, value)
        return plain.encode("ascii") if plain is not None else super().fold_binary(name, value)

    def _plain(self, name: str, value: Any) -> str | None:
        text = " ".join(str(value).split())
        if name.lower() not in PLAIN_HEADERS or not text.isascii():
            return None  # a non-ASCII value needs the standard encoding to travel at all
        # Folding whitespace after each comma is allowed (RFC 2369 §2) and keeps lines short
        # when there are several URLs; one long URL stays on one line (up to 998 is legal).
        urls = re.split(r"(?<=>)\s*,\s*", text)
        return f"{name}: " + f",{self.linesep} ".join(urls) + self.linesep


MAIL_POLICY = MailPolicy()


def reply_to(config: Mapping[str, Any]) -> str:
    """MAIL_REPLY_TO, else the clinic's own address inside MAIL_DEFAULT_SENDER.

    Every email then says where a patient's reply goes, even on a setup that never thought
    about it; MAIL_REPLY_TO is for a desk that reads a different mailbox than the sender.
    """
    explicit = config.get("MAIL_REPLY_TO")
    if explicit:
        return str(explicit)
    _, address = parseaddr(str(config["MAIL_DEFAULT_SENDER"]))
    return str(Address(addr_spec=address)) if address else str(config["MAIL_DEFAULT_SENDER"])
