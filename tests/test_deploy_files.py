"""The shipped deploy/ files, checked as an operator would use them (issue 13).

- deploy/spine_site.env.example reads the same in python-dotenv (Flask's `--env-file`, the
  admin commands) as systemd's EnvironmentFile reads it (the services): quoted values with
  spaces, `<` and `>`.
- The systemd units pass `systemd-analyze verify`.
- deploy/nginx/ passes `nginx -t`, and a smoke run puts nginx in front of gunicorn and the
  outbox worker on loopback, each started as docs/deploy.md starts it, and uses the site
  through nginx over https: the stylesheet, a guide request and its email, a staff sign-in,
  and the address the audit log records.
"""

from __future__ import annotations

import http.client
import http.server
import os
import re
import shutil
import signal
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pyotp
import pytest
from dotenv import dotenv_values

from tests.html_forms import GUIDE, PUBLIC_FORM_PREFIX, fill, form_posting_to
from tests.production_server import (
    ROOT,
    check_nginx_config,
    nginx_binary,
    nginx_config,
    start_gunicorn,
    start_nginx,
    stop_nginx,
)
from tests.support import IN_CI, STATIC_BUILD_DIR, free_port, start_smtp

DEPLOY = ROOT / "deploy"
ENV_EXAMPLE = DEPLOY / "spine_site.env.example"
UNITS = sorted((DEPLOY / "systemd").glob("spine-*.*"))
VENV_BIN = Path(sys.executable).parent
ADMIN_EMAIL = "admin@example.org"
ADMIN_PASSWORD = "tidal-Quartz-91-lantern"
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
SPOOFED = "203.0.113.9"


# -- the environment file ---------------------------------------------------------------


def test_the_example_environment_file_reads_as_intended():
    values = dotenv_values(ENV_EXAMPLE)
    assert values["CLINIC_NAME"] == "Valor Spine"
    assert values["MAIL_DEFAULT_SENDER"] == "Valor Spine <care@example-clinic.com>"
    assert values["CLINIC_PHONE"] == "(217) 555-0134"
    assert values["CLINIC_STREET"] == "100 Example Avenue, Suite 200"
    assert values["DATABASE_URL"].startswith("postgresql+psycopg://spine@/spine_site?host=")
    assert values["TRUSTED_PROXIES"] == "1"
    assert None not in values.values()  # no line dotenv could not read as KEY=value


def test_the_example_environment_file_is_in_the_form_both_readers_share():
    # systemd's EnvironmentFile: no `export`, no $-expansion, a comment only on its own line;
    # a value with a space unquoted would be cut by a shell but kept by systemd and dotenv
    # alike only when quoted, so every value is double-quoted.
    for line in ENV_EXAMPLE.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        assert re.fullmatch(r'[A-Z][A-Z0-9_]*="[^"$\\`]*"', line), line


def test_the_documented_commands_use_the_env_file_not_env_xargs():
    doc = (ROOT / "docs" / "deploy.md").read_text()
    assert "xargs" not in doc and "env $(" not in doc
    assert "--env-file /etc/spine_site/spine_site.env" in doc
    for name in ("web.service", "outbox.service", "purge.timer", "backup.timer", "digest.timer"):
        assert f"deploy/systemd/spine-{name}" in doc or f"spine-{name}" in doc


# -- systemd ------------------------------------------------------------------------------


def test_the_systemd_units_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        if IN_CI:
            pytest.fail("systemd-analyze is missing in CI: .ci/run should have installed systemd")
        pytest.skip("systemd-analyze is not installed (a machine without systemd)")
    # The units name the venv of /srv/spine_site, which exists only on a deployed host;
    # verify checks that each command is executable, so point them at this checkout's venv.
    for unit in UNITS:
        text = unit.read_text().replace("/srv/spine_site/.venv/bin/", f"{VENV_BIN}/")
        (tmp_path / unit.name).write_text(text)
    result = subprocess.run(
        [analyze, "verify", "--man=no", *(str(tmp_path / u.name) for u in UNITS)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # verify exits 0 on an unknown key too; any line it prints is a finding.
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), (
        result.stdout + result.stderr
    )


def test_every_timer_has_its_service():
    names = {u.name for u in UNITS}
    for timer in (u for u in UNITS if u.suffix == ".timer"):
        assert timer.with_suffix(".service").name in names


# -- nginx ---------------------------------------------------------------------------------


def test_the_shipped_nginx_site_passes_nginx_t(tmp_path):
    nginx = nginx_binary()
    conf = nginx_config(tmp_path, free_port(), free_port(), free_port())
    check_nginx_config(nginx, conf)


def test_the_site_does_not_serve_the_unhashed_static_folder():
    # Pages link /static/css/site.<hash>.css, which exists only in the app's static build.
    site = (DEPLOY / "nginx" / "spine_site.conf").read_text()
    assert "alias /srv/spine_site/static" not in site
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in site


def test_nginx_lets_article_images_through_and_nothing_else_that_large(app):
    """The app takes image uploads up to IMAGE_MAX_BYTES; nginx must let them reach it, on
    that one path only (every other body stays at 64k)."""
    site = (DEPLOY / "nginx" / "spine_site.conf").read_text()
    block = re.search(r"location = /staff/images \{(.*?)\}", site, re.S)
    assert block, "no location for /staff/images"
    size = re.search(r"client_max_body_size (\d+)m;", block.group(1))
    assert size and int(size.group(1)) * 1024 * 1024 > app.config["IMAGE_MAX_BYTES"]
    assert "proxy_pass http://spine_site;" in block.group(1)
    assert re.findall(r"client_max_body_size (\S+);", site) == ["64k", f"{size.group(1)}m"]


def test_nginx_leaves_pages_as_the_app_sent_them_so_staff_pages_stay_uncompressed(tmp_path):
    """The app compresses public pages itself and leaves staff pages uncompressed (a search
    term beside the CSRF token: BREACH). nginx, whose Debian main config says `gzip on`,
    must not compress what the app left alone."""
    body = b"<!doctype html><title>x</title>" + b"<p>search term and token</p>" * 200

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    nginx = nginx_binary()
    https_port = free_port()
    conf = nginx_config(tmp_path, upstream.server_address[1], free_port(), https_port)
    process = start_nginx(nginx, conf, https_port)
    try:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        for path in ("/staff/leads?q=alice", "/"):
            connection = http.client.HTTPSConnection("127.0.0.1", https_port, context=context)
            connection.request("GET", path, headers={"Accept-Encoding": "gzip, br"})
            answer = connection.getresponse()
            assert answer.status == 200
            assert answer.getheader("Content-Encoding") is None, path
            assert answer.read() == body
            connection.close()
    finally:
        stop_nginx(process)
        upstream.shutdown()
        upstream.server_close()


# -- smoke: nginx + gunicorn + the outbox worker, as the docs start them --------------------


class Browser:
    """An https client through nginx: keeps cookies, follows nothing, trusts the throwaway
    certificate, and can add a header of its own to every request."""

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}
        self.headers = headers or {}
        self._tls = ssl.create_default_context()
        self._tls.check_hostname = False
        self._tls.verify_mode = ssl.CERT_NONE

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], str]:
        """One request; a form is posted from `path` itself, with the Origin and Referer a
        browser sends (Flask-WTF checks the Referer on https)."""
        connection = http.client.HTTPSConnection(
            "127.0.0.1", self.port, context=self._tls, timeout=15
        )
        headers = dict(self.headers)
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = f"https://127.0.0.1:{self.port}"
            headers["Referer"] = f"https://127.0.0.1:{self.port}{path}"
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        for value in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        answer = {k.lower(): v for k, v in response.getheaders()}
        connection.close()
        return response.status, answer, text


def _env_file(tmp: Path, settings: dict[str, str]) -> Path:
    """deploy/spine_site.env.example with this run's values, written in the example's own
    form (KEY="value"); the example's other lines, spaces and quotes included, are kept."""
    lines, seen = [], set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        key = line.split("=", 1)[0]
        if key in ("MAIL_USERNAME", "MAIL_PASSWORD"):
            continue  # the loopback SMTP server takes mail without a login
        if key in settings:
            line = f'{key}="{settings[key]}"'
            seen.add(key)
        lines.append(line)
    lines += [f'{k}="{v}"' for k, v in settings.items() if k not in seen]
    path = tmp / "spine_site.env"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o640)
    return path


def _base_env() -> dict[str, str]:
    # What systemd gives a service before EnvironmentFile: no settings of the caller's.
    return {"PATH": f"{VENV_BIN}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}


def _flask(env_file: Path, *args: str, stdin: str | None = None) -> str:
    """`flask --app wsgi --env-file FILE ...`, as the deploy guide runs admin commands."""
    result = subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "wsgi", "--env-file", str(env_file), *args],
        cwd=ROOT,
        env=_base_env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


_GIVE_AUTHENTICATOR = """
import sys
import threading
import pyotp
from sqlalchemy import select, update
from spine_site import create_app
from spine_site.accounts import mfa
from spine_site.extensions import db
from spine_site.models import User

email, secret = sys.argv[1:3]
app = create_app()
with app.app_context():
    user = db.session.scalar(select(User).where(User.email == email))
    assert mfa.confirm_totp(user, secret, pyotp.TOTP(secret).now(), by=None)
    # A code works once; clear the used-step mark so the sign-in below may use this step's.
    db.session.execute(update(User).where(User.id == user.id).values(totp_last_step=None))
    db.session.commit()
"""


def _wait_for(condition, seconds: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_smoke_nginx_gunicorn_and_the_outbox_worker_as_documented(tmp_path):
    nginx = nginx_binary()
    smtp = start_smtp()
    http_port, https_port = free_port(), free_port()
    env_file = _env_file(
        tmp_path,
        {
            "SPINE_ENV": "production",
            "SECRET_KEY": "smoke-test-key-" + "0123456789abcdef" * 3,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'spine_site.sqlite3'}",
            "SITE_URL": f"https://127.0.0.1:{https_port}",
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(smtp.port),
            "MAIL_USE_TLS": "false",
            "MAIL_DEFAULT_SENDER": "Valor Spine <care@example.org>",
            "STAFF_NOTIFY_EMAIL": "intake@example.org",
            "RATELIMIT_STORAGE_URI": "memory://",
            "STATIC_BUILD_DIR": str(STATIC_BUILD_DIR),
            # The form's minimum fill time, shortened so the smoke run need not wait 3 s.
            "FORM_MIN_FILL_SECONDS": "1",
        },
    )
    # docs/deploy.md, section 3: the database, then the first admin (password on stdin).
    _flask(env_file, "db", "upgrade")
    _flask(env_file, "users", "create", ADMIN_EMAIL, "--role", "admin", stdin=ADMIN_PASSWORD + "\n")
    # The admin's first sign-in would enrol an authenticator; give it one as the Security
    # page does (a right code confirms it), so the sign-in below is the everyday one.
    service_env = {**_base_env(), **{k: v or "" for k, v in dotenv_values(env_file).items()}}
    subprocess.run(
        [sys.executable, "-c", _GIVE_AUTHENTICATOR, ADMIN_EMAIL, TOTP_SECRET],
        cwd=ROOT,
        env=service_env,
        check=True,
        capture_output=True,
        timeout=120,
    )

    # The services as the units start them: EnvironmentFile's values, nothing else.
    server = start_gunicorn(service_env, tmp_path / "gunicorn.log", workers=2)
    outbox_log = (tmp_path / "outbox.log").open("wb")
    outbox = subprocess.Popen(
        [str(VENV_BIN / "flask"), "--app", "wsgi", "--env-file", str(env_file), "outbox", "work"],
        cwd=ROOT,
        env=_base_env(),
        stdout=outbox_log,
        stderr=subprocess.STDOUT,
    )
    conf = nginx_config(tmp_path, server.port, http_port, https_port)
    check_nginx_config(nginx, conf)
    proxy = start_nginx(nginx, conf, https_port)
    try:
        browser = Browser(https_port)

        # HTTP goes to HTTPS.
        plain = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
        plain.request("GET", "/staff/login")
        redirect = plain.getresponse()
        plain.close()
        assert redirect.status == 301
        assert redirect.getheader("Location") == "https://127.0.0.1/staff/login"

        # The stylesheet the home page links, through nginx, cached for good.
        status, _, home = browser.request("GET", "/")
        assert status == 200
        (stylesheet,) = set(re.findall(r'href="(/static/css/site\.[0-9a-f]+\.css)"', home))
        status, headers, css = browser.request("GET", stylesheet)
        assert status == 200 and css.strip()
        assert "immutable" in headers["cache-control"]
        assert headers["content-type"].startswith("text/css")

        # A guide request through nginx sends its email, Valor Spine's name intact.
        prefix = PUBLIC_FORM_PREFIX["guide"]
        fields = form_posting_to(browser.request("GET", "/guide")[2], "/guide")
        time.sleep(1.2)  # past FORM_MIN_FILL_SECONDS, as a person typing would be
        status, headers, _ = browser.request("POST", "/guide", fill(fields, prefix, GUIDE))
        assert status == 303, status
        _wait_for(lambda: smtp.inbox.messages, 15, "the guide email")
        guide = smtp.inbox.messages[0]
        assert guide["To"].endswith(f"<{GUIDE['email']}>") or guide["To"] == GUIDE["email"]
        assert str(guide["From"]) == "Valor Spine <care@example.org>"

        # Staff sign-in over https, from a client that claims another address.
        staff = Browser(https_port, headers={"X-Forwarded-For": SPOOFED})
        page = staff.request("GET", "/staff/login")[2]
        fields = form_posting_to(page, "")
        form = {**fields, "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        status, headers, _ = staff.request("POST", "/staff/login", form)
        assert status == 303 and headers["location"].endswith("/staff/login/verify"), status
        fields = form_posting_to(staff.request("GET", "/staff/login/verify")[2], "")
        code = pyotp.TOTP(TOTP_SECRET).now()
        status, headers, _ = staff.request("POST", "/staff/login/verify", {**fields, "code": code})
        assert status == 303, status
        status, _, queue = staff.request("GET", "/staff/")
        assert status == 200 and "sign out" in queue.lower()

        # The audit log names the address nginx saw, not the one the client sent.
        status, _, audit = staff.request("GET", "/staff/audit")
        assert status == 200
        assert "127.0.0.1" in audit and SPOOFED not in audit
    finally:
        stop_nginx(proxy)
        outbox.send_signal(signal.SIGTERM)
        try:
            outbox.wait(timeout=15)
        except subprocess.TimeoutExpired:
            outbox.kill()
            outbox.wait()
        outbox_log.close()
        gunicorn_log = server.stop()
        smtp.controller.stop()
    # Both audit rows of the sign-in have nginx's view of the client (the command line's rows,
    # creating the account and its authenticator, have no address).
    with sqlite3.connect(tmp_path / "spine_site.sqlite3") as database:
        rows = database.execute("SELECT action, ip FROM audit_event").fetchall()
    signin = [ip for action, ip in rows if action.startswith("login")]
    assert len(signin) == 2 and set(signin) == {"127.0.0.1"}, rows
    assert "Traceback" not in gunicorn_log, gunicorn_log[-3000:]
    assert "Traceback" not in (tmp_path / "outbox.log").read_text()


def test_nginx_is_present_in_ci():
    # .ci/run installs nginx; a CI run that skipped the nginx checks would prove nothing.
    if IN_CI:
        nginx_binary()


# -- requirements.lock ---------------------------------------------------------------------


def test_the_lock_names_no_index_or_folder_of_the_machine_that_made_it():
    # An operator's pip reads the lock's options as its own: an index or wheel folder of the
    # machine that compiled it is at best missing there, at worst someone else's server.
    lock = (ROOT / "requirements.lock").read_text()
    for option in ("--index-url", "--extra-index-url", "--find-links", "-f ", "-i "):
        assert not re.search(rf"^\s*{re.escape(option)}", lock, re.M), option
    assert not re.search(r"file:|/opt/|/work/|/home/|/root/|/tmp/", lock)


def test_the_lock_pins_async_timeout_for_python_before_3_11_3():
    # redis needs async-timeout below Python 3.11.3; Debian 12's python3 is 3.11.2. A lock
    # compiled on a later 3.11 leaves it out, and pip then refuses it as unpinned.
    lock = (ROOT / "requirements.lock").read_text()
    assert re.search(
        r"^async-timeout==[\d.]+ ; python_full_version < '3\.11\.3' \\$", lock, re.M
    ), "async-timeout is not pinned for Python below 3.11.3"
    # Extras stay named, as pip 23 with --require-hashes wants (docs/deploy.md).
    assert re.search(r"^fonttools\[woff\]==", lock, re.M)


def test_nginx_does_not_tell_its_version(tmp_path):
    # server_tokens off: no "nginx/1.22.1" in the Server header or on nginx's own error pages.
    nginx = nginx_binary()
    http_port, https_port = free_port(), free_port()
    conf = nginx_config(tmp_path, free_port(), http_port, https_port)  # nothing upstream
    proxy = start_nginx(nginx, conf, https_port)
    try:
        plain = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
        plain.request("GET", "/")
        redirect = plain.getresponse()
        redirect_body = redirect.read().decode()
        plain.close()
        status, headers, body = Browser(https_port).request("GET", "/")
    finally:
        stop_nginx(proxy)
    assert redirect.status == 301 and status == 502
    assert redirect.getheader("Server") == "nginx" and headers["server"] == "nginx"
    for page in (redirect_body, body):
        assert "nginx" in page and "nginx/" not in page
