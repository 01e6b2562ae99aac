"""How a built email leaves: SMTP (STARTTLS, implicit TLS, AUTH), or .eml files in development.

A transport sends one message or raises. `Rejected` means the mail server refused this
message for good (trying again cannot help); any other exception is worth another try.

A server's reply text is chosen by whoever runs that server (the recipient's, when a relay
passes its refusal on): "550 call billing at ... https://evil.example/verify" would read to
staff like a message from the clinic. So what is stored and shown of a failure is
`failure_summary`, the reply's code and a fixed explanation; `server_text`, the server's
own words, is for the log.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol

from spine_site.clock import utcnow

# One logger for everything about delivery, the outbox's: an operator follows mail by one name.
log = logging.getLogger("spine_site.mail.outbox")


class Rejected(Exception):
    """The mail server refused this message for good (a 5xx reply about it)."""

    def __init__(self, reply: smtplib.SMTPException) -> None:
        super().__init__(failure_summary(reply))
        self.reply = reply


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None: ...


# 530 asks for STARTTLS or AUTH first (RFC 3207, RFC 4954): the setup is wrong, not this
# message, and the next try may have it right.
_SETUP_REPLIES = {530}
_SETUP_EXPLANATION = "the mail server asks for STARTTLS or a sign-in first (the MAIL_ settings)"


# A reply's words in the log: one line, not much of it, and no mail address (a refusal
# often quotes the recipient's, which is a patient's).
_SERVER_TEXT_MAX = 300
_ADDRESS = re.compile(r"\S+@\S+")


def _reply_text(code: int, text: bytes | str) -> str:
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {' '.join(words.split())}"


def permanent_refusal(exc: smtplib.SMTPException) -> bool:
    """True when the server refused this message for good; False means try again.

    Only replies about this message count: its recipient (RCPT, every recipient with a 5xx)
    or its content (DATA). A refused sender or sign-in is the same for every message, so
    those are retried (and shown on the lead page) while someone fixes the settings.
    """
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(500 <= c < 600 and c not in _SETUP_REPLIES for c in codes)
    return isinstance(exc, smtplib.SMTPDataError) and 500 <= exc.smtp_code < 600


def _explained(codes: list[int], explanation: str) -> str:
    shown = sorted({code for code in codes if 100 <= code < 600})
    return f"SMTP {', '.join(map(str, shown))}: {explanation}" if shown else explanation


def failure_summary(exc: Exception) -> str:
    """What staff are shown of a failed send: the reply's code and a fixed explanation of
    it, never the server's words. An error with no reply (no connection, a timeout, a
    certificate) is its type and the message this machine's libraries wrote."""
    if isinstance(exc, Rejected):
        exc = exc.reply
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        if codes and all(c in _SETUP_REPLIES for c in codes):
            return _explained(codes, _SETUP_EXPLANATION)
        if codes and all(500 <= c < 600 for c in codes):
            return _explained(codes, "the receiving mail server refused the address")
        return _explained(codes, "the receiving mail server could not take the address for now")
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        return _explained([code], _explanation(exc, for_now=400 <= code < 500))
    return f"{type(exc).__name__}: {exc}"


def _explanation(exc: smtplib.SMTPResponseException, *, for_now: bool) -> str:
    if exc.smtp_code in _SETUP_REPLIES:
        return _SETUP_EXPLANATION
    if isinstance(exc, smtplib.SMTPDataError):
        if for_now:
            return "the receiving mail server could not take the message for now"
        return "the receiving mail server refused the message"
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return "the mail server refused the sender address (MAIL_DEFAULT_SENDER)"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return "the mail server refused the sign-in (MAIL_USERNAME, MAIL_PASSWORD)"
    if isinstance(exc, smtplib.SMTPConnectError | smtplib.SMTPHeloError):
        return "the mail server refused the connection"
    return "the mail server refused, for now" if for_now else "the mail server refused"


def server_text(exc: Exception) -> str | None:
    """The server's own reply, for the log only (see the module's docstring), or None when
    the failure had no reply; mail addresses in it are left out."""
    if isinstance(exc, Rejected):
        exc = exc.reply
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        text = "; ".join(_reply_text(code, words) for code, words in exc.recipients.values())
    elif isinstance(exc, smtplib.SMTPResponseException):
        text = _reply_text(exc.smtp_code, exc.smtp_error)
    else:
        return None
    return _ADDRESS.sub("[address]", text)[:_SERVER_TEXT_MAX]


@dataclass
class SMTPTransport:
    host: str
    port: int
    use_tls: bool
    use_ssl: bool
    username: str | None
    password: str | None
    timeout: float
    # Certificate authorities to trust for the mail server instead of the system's (PEM).
    ca_file: str | None = None

    def tls_context(self) -> ssl.SSLContext:
        # Certificates are always checked, host name included: the mail carries health
        # requests, and a STARTTLS that accepts any certificate protects against nobody.
        return ssl.create_default_context(cafile=self.ca_file)

    def send(self, message: EmailMessage) -> None:
        try:
            self._send(message)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError) as exc:
            if permanent_refusal(exc):
                raise Rejected(exc) from exc
            raise

    def _send(self, message: EmailMessage) -> None:
        if self.use_ssl:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self.tls_context()
            )
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with client:
            if self.use_tls:
                # Raises if the server does not offer STARTTLS: never a silent plain-text send.
                client.starttls(context=self.tls_context())
            if self.username:
                client.login(self.username, self.password or "")
            client.send_message(message)


@dataclass
class FileTransport:
    """The development default: each message becomes an .eml file; the site's own links in it
    are logged, so a developer can click them. Only links to `site_url`: text a patient typed
    (a name holding a URL, say) never reaches the log."""

    directory: Path
    site_url: str = ""

    def send(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = utcnow().strftime("%Y%m%dT%H%M%S%f")
        msgid = str(message["Message-ID"]).strip("<>").split("@")[0]
        path = self.directory / f"{stamp}-{msgid}.eml"
        path.write_bytes(bytes(message))
        # Worded to stand out in `dev.py serve`'s request log: the links are what a developer
        # came for (the guide download, the newsletter confirmation), ready to click.
        log.info("Mail written: %s (subject: %s)", path, message["Subject"])
        body = message.get_body(("plain",))
        if body is not None:
            for url in re.findall(r"https?://\S+", body.get_content()):
                if self.site_url and url.startswith(self.site_url + "/"):
                    log.info("    Open: %s", url)


def transport_for(config: Mapping[str, Any]) -> Transport:
    """SMTP when MAIL_SERVER is set, else .eml files under MAIL_FILE_DIR."""
    if config.get("MAIL_SERVER"):
        return SMTPTransport(
            host=config["MAIL_SERVER"],
            port=int(config["MAIL_PORT"]),
            use_tls=bool(config["MAIL_USE_TLS"]),
            use_ssl=bool(config["MAIL_USE_SSL"]),
            username=config.get("MAIL_USERNAME"),
            password=config.get("MAIL_PASSWORD"),
            timeout=float(config["MAIL_TIMEOUT"]),
            ca_file=config.get("MAIL_CA_FILE"),
        )
    return FileTransport(Path(config["MAIL_FILE_DIR"]), config["SITE_URL"])
