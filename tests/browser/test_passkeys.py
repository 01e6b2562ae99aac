"""A new admin signs in with a passkey, in Chromium with its virtual authenticator.

WebAuthn needs a domain, not an IP address, so this server is reached as localhost, with
SITE_URL to match (the relying party id and the origin come from it).
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from spine_site.extensions import db
from spine_site.models import AuditEvent, Passkey
from tests.browser.conftest import LiveServer
from tests.factories import STAFF_PASSWORD

pytestmark = pytest.mark.browser
ADMIN = "first.admin@clinic.example"


@pytest.fixture
def localhost_server(app_factory, smtp):
    app = app_factory(**smtp.config())
    with LiveServer(app) as server:
        server.url = server.url.replace("127.0.0.1", "localhost")
        app.config["SITE_URL"] = server.url
        yield server


def virtual_authenticator(context, page) -> tuple[object, str]:
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    found = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    return cdp, found["authenticatorId"]


def sign_in_with_password(page, base: str) -> None:
    page.goto(f"{base}/staff/login")
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_a_new_admin_enrols_a_passkey_and_signs_in_with_it(browser, localhost_server):
    app, base = localhost_server.app, localhost_server.url
    created = app.test_cli_runner().invoke(
        args=["users", "create", ADMIN, "--role", "admin"], input=STAFF_PASSWORD + "\n"
    )
    assert created.exit_code == 0, created.output
    context = browser.new_context()
    page = context.new_page()
    cdp, authenticator = virtual_authenticator(context, page)

    # The password is right, but nothing opens until a second factor is set up.
    sign_in_with_password(page, base)
    page.wait_for_url(re.compile(r"/staff/login/enrol$"))
    page.goto(f"{base}/staff/")
    page.wait_for_url(re.compile(r"/staff/login"))
    sign_in_with_password(page, base)
    page.wait_for_url(re.compile(r"/staff/login/enrol$"))

    page.get_by_label("Name for this passkey").fill("Test laptop")
    page.get_by_role("button", name="Create a passkey").click()
    page.wait_for_url(re.compile(r"/staff/security/recovery-codes$"))
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert len(credentials["credentials"]) == 1
    with app.app_context():
        (key,) = db.session.scalars(select(Passkey)).all()
        assert key.name == "Test laptop"
    page.get_by_role("button", name="Make my recovery codes").click()
    codes = page.locator("ol.recovery-codes li").all_inner_texts()
    assert len(codes) == 10

    # Sign out; then password + passkey.
    page.get_by_role("button", name=re.compile("Sign out")).click()
    page.wait_for_url(re.compile(r"/staff/login$"))
    sign_in_with_password(page, base)
    page.wait_for_url(re.compile(r"/staff/login/verify$"))
    page.get_by_role("button", name="Use your passkey").click()
    page.wait_for_url(re.compile(r"/staff/$"))
    assert "Leads" in page.content()
    with app.app_context():
        logins = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "login").order_by(AuditEvent.id)
        ).all()
        assert [e.detail["factor"] for e in logins] == ["enrolment", "passkey"]
        assert db.session.scalars(select(Passkey)).one().last_used_at is not None

    # A second passkey, on another device, from the Security page; either signs in.
    cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": authenticator})
    cdp, authenticator = virtual_authenticator(context, page)
    page.goto(f"{base}/staff/security")
    page.get_by_label("Name for this passkey").fill("Phone")
    page.get_by_role("button", name="Add a passkey").click()
    page.get_by_text("Passkey added.").wait_for()
    assert "Test laptop" in page.content() and "Phone" in page.content()
    page.get_by_role("button", name=re.compile("Sign out")).click()
    page.wait_for_url(re.compile(r"/staff/login$"))
    sign_in_with_password(page, base)
    page.wait_for_url(re.compile(r"/staff/login/verify$"))
    page.get_by_role("button", name="Use your passkey").click()
    page.wait_for_url(re.compile(r"/staff/$"))

    # The passkey is lost (the authenticator forgets it): the page says so in plain words,
    # and a recovery code still gets in.
    page.get_by_role("button", name=re.compile("Sign out")).click()
    page.wait_for_url(re.compile(r"/staff/login$"))
    cdp.send("WebAuthn.clearCredentials", {"authenticatorId": authenticator})
    sign_in_with_password(page, base)
    page.wait_for_url(re.compile(r"/staff/login/verify$"))
    page.get_by_role("button", name="Use your passkey").click()
    status = page.locator("[data-passkey-status]")
    status.filter(has_text=re.compile(r"\S")).wait_for()
    assert "use a code" in status.inner_text()
    page.get_by_label("Code").fill(codes[0].lower().replace("-", " "))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/staff/$"))
    assert "9 left" in page.content()
    context.close()
