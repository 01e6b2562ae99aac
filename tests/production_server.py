"""The app as docs/deploy.md runs it: gunicorn with gunicorn.conf.py, SPINE_ENV=production,
a database made by `flask db upgrade`; and nginx with the shipped deploy/nginx/ files.

For tests of what only the real wiring shows (the access log, start-up warnings), not of
the app's behaviour, which the Flask test client covers faster.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import IN_CI, STATIC_BUILD_DIR, free_port

ROOT = Path(__file__).resolve().parent.parent

# Settings the test sets itself; anything like them in the caller's environment would change
# what is tested.
_CLEARED = (
    "SPINE_ENV",
    "FLASK_ENV",
    "FLASK_DEBUG",
    "DATABASE_URL",
    "MAIL_SERVER",
    "LOG_FORMAT",
    "GUNICORN_CMD_ARGS",
    "ACCESS_LOG",
    "WEB_CONCURRENCY",
    "BIND",
)


def production_env(tmp: Path, **settings: str) -> dict[str, str]:
    """The environment of a production start: a real secret, its own SQLite database."""
    env = {
        k: v for k, v in os.environ.items() if k not in _CLEARED and not k.startswith("RATELIMIT_")
    }
    env.update(
        SPINE_ENV="production",
        SECRET_KEY="production-test-key-" + "0123456789abcdef" * 3,
        SITE_URL="https://clinic.example",
        DATABASE_URL=f"sqlite:///{tmp / 'spine_site.sqlite3'}",
        MAIL_FILE_DIR=str(tmp / "mail"),
        STATIC_BUILD_DIR=str(STATIC_BUILD_DIR),
    )
    env.update(settings)
    return env


def upgrade_database(env: dict[str, str]) -> None:
    """`flask --app wsgi db upgrade`, as the deploy guide runs it."""
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]


@dataclass
class Gunicorn:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> str:
        """Stop gunicorn (SIGTERM, a graceful shutdown) and return everything it logged."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.log()


def start_gunicorn(env: dict[str, str], log_path: Path, workers: int = 2) -> Gunicorn:
    """`gunicorn -c gunicorn.conf.py wsgi:app` with the access log on (ACCESS_LOG=-), both
    logs in one file; returns once /healthz answers."""
    port = free_port()
    env = {**env, "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers), "ACCESS_LOG": "-"}
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Gunicorn(port, process, log_path)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited at start:\n{server.log()[-3000:]}")
        if fetch(f"{server.url}/healthz") == 200:
            return server
        time.sleep(0.2)
    server.stop()
    raise AssertionError(f"gunicorn did not answer /healthz:\n{server.log()[-3000:]}")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # the test looks at each request on its own


def _untrusting_nothing() -> ssl.SSLContext:
    # nginx in these tests serves a throwaway self-signed certificate.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


_OPENER = urllib.request.build_opener(
    _NoRedirects, urllib.request.HTTPSHandler(context=_untrusting_nothing())
)


def fetch(url: str, headers: dict[str, str] | None = None) -> int | None:
    """The status of one GET, redirects not followed; None if nothing answered."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with _OPENER.open(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


# -- nginx ------------------------------------------------------------------------------


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if found is None:
        if IN_CI:
            pytest.fail("nginx is missing; .ci/run installs it for the deploy-config tests")
        pytest.skip("nginx is not installed (apt-get install nginx) to check deploy/nginx/")
    return found


NGINX_SITE = ROOT / "deploy" / "nginx" / "spine_site.conf"
NGINX_LOG_FORMAT = ROOT / "deploy" / "nginx" / "spine_site-log.conf"


def nginx_config(tmp: Path, upstream_port: int, http_port: int, https_port: int) -> Path:
    """The shipped nginx files (deploy/nginx/, as docs/deploy.md installs them) with this
    machine's ports and paths and a throwaway certificate; nginx's own main and events blocks
    around them, everything under tmp. Only addresses, ports and paths are changed."""
    certificate, key = tmp / "site.crt", tmp / "site.key"
    openssl = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    subprocess.run(
        [*openssl, "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(certificate)],
        check=True,
        capture_output=True,
    )
    (tmp / "logs").mkdir(exist_ok=True)
    site = NGINX_SITE.read_text()
    # Loopback only, on free ports: no IPv6 listeners, no privileged ports.
    site = re.sub(r"\n\s*listen \[::\]:\d+[^;]*;", "", site)
    site = (
        site.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
        .replace("listen 443 ", f"listen 127.0.0.1:{https_port} ")
        .replace("127.0.0.1:8000", f"127.0.0.1:{upstream_port}")
        .replace("/var/log/nginx/", f"{tmp}/logs/")
        .replace("/var/www/html", f"{tmp}/www")
    )
    site = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {certificate};", site)
    site = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", site)
    temp = "\n".join(
        f"    {name}_temp_path {tmp}/{name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"pid {tmp}/nginx.pid;\nerror_log {tmp}/logs/main-error.log;\nevents {{}}\n"
        # Debian's /etc/nginx/nginx.conf turns gzip on for every site (text/html always).
        f"http {{\n{temp}\n    gzip on;\n    access_log {tmp}/logs/default-access.log;\n"
        f"{NGINX_LOG_FORMAT.read_text()}\n{site}\n}}\n"
    )
    return conf


def check_nginx_config(nginx: str, conf: Path) -> None:
    result = subprocess.run(
        [nginx, "-t", "-c", str(conf), "-p", str(conf.parent), "-e", str(conf.parent / "t.log")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr


def start_nginx(nginx: str, conf: Path, https_port: int) -> subprocess.Popen[bytes]:
    """nginx in the foreground (stopped by its PID); returns once it accepts connections."""
    errors = conf.parent / "e.log"
    process = subprocess.Popen(
        [nginx, "-c", str(conf), "-p", str(conf.parent), "-e", str(errors), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert process.poll() is None, errors.read_text()
        try:
            with socket.create_connection(("127.0.0.1", https_port), timeout=1):
                return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError("nginx did not start listening")


def stop_nginx(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGQUIT)  # graceful: logs are flushed
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
