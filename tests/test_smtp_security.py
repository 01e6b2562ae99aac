"""Mail leaves encrypted and signed in, as the settings say: STARTTLS (MAIL_USE_TLS), implicit
TLS (MAIL_USE_SSL) and SMTP AUTH, against a real aiosmtpd server on loopback that holds a
throwaway certificate. The app trusts that certificate only when MAIL_CA_FILE names it, so
these tests also show the certificate is checked.
"""

from __future__ import annotations

import ipaddress
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from spine_site.models import EmailStatus
from tests.factories import make_lead
from tests.support import deliver, free_port, the_email

MAILER_LOGIN, MAILER_PASSWORD = "site-mailer", "mailer password 8c1f"


def throwaway_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and localhost), valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "spine_site test mail server")])
    now = datetime.now(UTC)
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "mail-server.crt", directory / "mail-server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Delivery:
    recipients: list[str]
    tls_version: str | None  # None: the message came over plain text
    login: bytes | None  # who signed in with AUTH, if anyone


@dataclass
class RecordingHandler:
    """Takes every message and notes how it arrived."""

    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        tls = server.transport.get_extra_info("ssl_object")
        delivery = Delivery(
            recipients=list(envelope.rcpt_tos),
            tls_version=tls.version() if tls is not None else None,
            login=session.auth_data.login if session.authenticated else None,
        )
        with self.lock:
            self.deliveries.append(delivery)
        return "250 OK"


def mailer_account(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    """The provider's one account; a wrong password gets 535 (handled=False: the server
    answers it)."""
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        MAILER_LOGIN.encode(),
        MAILER_PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    return throwaway_certificate(tmp_path)


@pytest.fixture
def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


@pytest.fixture
def start_server() -> Iterator[Any]:
    """Start aiosmtpd on loopback with these SMTP options; stopped after the test."""
    controllers: list[Controller] = []

    def start(**options: Any) -> tuple[int, RecordingHandler]:
        handler = RecordingHandler()
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
        controller.start()
        controllers.append(controller)
        return port, handler

    yield start
    for controller in controllers:
        controller.stop()


def test_starttls_encrypts_before_the_message_is_sent(
    app_factory, start_server, server_tls, certificate
):
    # The server refuses MAIL FROM until STARTTLS (RFC 3207's 530), as providers do.
    port, handler = start_server(tls_context=server_tls, require_starttls=True)
    app = app_factory(
        MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USE_TLS=True, MAIL_CA_FILE=str(certificate[0])
    )
    make_lead(app, "guide")
    assert deliver(app) == 1
    (delivery,) = handler.deliveries
    assert delivery.tls_version in {"TLSv1.2", "TLSv1.3"}
    assert delivery.recipients == ["grace@example.org"]


def test_a_server_without_starttls_gets_nothing_in_plain_text(app_factory, start_server):
    port, handler = start_server()  # offers no STARTTLS at all
    app = app_factory(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USE_TLS=True)
    make_lead(app, "guide")
    assert deliver(app) == 0
    assert handler.deliveries == []
    email = the_email(app)
    # Kept for another try (the server may be fixed), with the reason for staff to see.
    assert email.status is EmailStatus.QUEUED
    assert "STARTTLS" in email.last_error


def test_an_untrusted_certificate_is_refused(app_factory, start_server, server_tls):
    # Without MAIL_CA_FILE the system's authorities are trusted, and none signed this one.
    port, handler = start_server(tls_context=server_tls, require_starttls=True)
    app = app_factory(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USE_TLS=True)
    make_lead(app, "guide")
    assert deliver(app) == 0
    assert handler.deliveries == []
    email = the_email(app)
    assert email.status is EmailStatus.QUEUED
    assert "CERTIFICATE_VERIFY_FAILED" in email.last_error


def test_implicit_tls_from_the_first_byte(app_factory, start_server, server_tls, certificate):
    port, handler = start_server(ssl_context=server_tls)
    app = app_factory(
        MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USE_SSL=True, MAIL_CA_FILE=str(certificate[0])
    )
    make_lead(app, "guide")
    assert deliver(app) == 1
    (delivery,) = handler.deliveries
    assert delivery.tls_version in {"TLSv1.2", "TLSv1.3"}


def test_implicit_tls_checks_the_certificate_too(app_factory, start_server, server_tls):
    port, handler = start_server(ssl_context=server_tls)
    app = app_factory(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USE_SSL=True)
    make_lead(app, "guide")
    assert deliver(app) == 0 and handler.deliveries == []
    assert "CERTIFICATE_VERIFY_FAILED" in the_email(app).last_error


def auth_server(start_server: Any, server_tls: ssl.SSLContext) -> tuple[int, RecordingHandler]:
    # AUTH is offered only after STARTTLS and required before MAIL FROM.
    return start_server(
        tls_context=server_tls,
        require_starttls=True,
        authenticator=mailer_account,
        auth_required=True,
        auth_require_tls=True,
    )


def test_smtp_auth_signs_in_over_tls(app_factory, start_server, server_tls, certificate):
    port, handler = auth_server(start_server, server_tls)
    app = app_factory(
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=port,
        MAIL_USE_TLS=True,
        MAIL_CA_FILE=str(certificate[0]),
        MAIL_USERNAME=MAILER_LOGIN,
        MAIL_PASSWORD=MAILER_PASSWORD,
    )
    make_lead(app)  # Ada's appointment: her confirmation and the staff notice
    assert deliver(app) == 2
    assert [d.login for d in handler.deliveries] == [MAILER_LOGIN.encode()] * 2
    assert all(d.tls_version for d in handler.deliveries)


def test_a_wrong_mail_password_is_retried_not_given_up(
    app_factory, start_server, server_tls, certificate
):
    # A password is fixed in the settings, not in the message: every email would fail the
    # same way, so each is kept for a retry while someone corrects it.
    port, handler = auth_server(start_server, server_tls)
    app = app_factory(
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=port,
        MAIL_USE_TLS=True,
        MAIL_CA_FILE=str(certificate[0]),
        MAIL_USERNAME=MAILER_LOGIN,
        MAIL_PASSWORD="not the password",
    )
    make_lead(app, "guide")
    assert deliver(app) == 0 and handler.deliveries == []
    email = the_email(app)
    assert email.status is EmailStatus.QUEUED
    assert "535" in email.last_error
