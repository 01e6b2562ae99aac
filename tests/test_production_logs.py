"""What a production start writes to its logs: gunicorn as gunicorn.conf.py runs it, nginx as
docs/deploy.md configures it. No filter or handler here is attached by the test: what is
checked is the wiring that ships.

Staff search for patients by name and phone (`/staff/?q=Jane+5551234`); those searches, and
any other query value, must not reach a log (issue 11, finding 9). Several workers counting
rate limits each on their own must be said loudly at start-up (finding 10).
"""

from __future__ import annotations

import json
import runpy
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from spine_site.web.ratelimits import warn_if_counted_per_worker
from tests.production_server import (
    ROOT,
    check_nginx_config,
    fetch,
    nginx_binary,
    nginx_config,
    production_env,
    start_gunicorn,
    start_nginx,
    stop_nginx,
    upgrade_database,
)
from tests.support import free_port

NAME, PHONE = "Jane", "5551234"
SEARCH = f"q={NAME}+{PHONE}"
LINK_TOKEN = "eyJsIjoxfQ.SignedLinkToken"
# A staff search, the sign-in page it sends a signed-out visitor to, a public page reached
# from a campaign link, and a staff page's address coming back as the Referer of a click.
REQUESTS = [
    (f"/staff/?{SEARCH}", {}),
    (f"/staff/login?next=%2Fstaff%2F%3F{SEARCH}", {}),
    (f"/schedule?{SEARCH}", {}),
    (f"/articles/what-is-a-physiatrist?utm_term={NAME}+{PHONE}&utm_source=news", {}),
    ("/privacy", {"Referer": f"https://clinic.example/staff/?{SEARCH}&status=new"}),
    (f"/staff/?status=new&page=2&{SEARCH}", {}),
    # Emailed links: their tokens open a patient's guide or consent.
    (f"/guide/download/{LINK_TOKEN}", {}),
    (f"/unsubscribe/{LINK_TOKEN}", {}),
    (f"/newsletter/confirm/{LINK_TOKEN}", {}),
]
PER_WORKER_WARNING = "RATE LIMITS COUNT PER WORKER"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A production environment with its database upgraded, shared by this module's starts."""
    settings = production_env(tmp_path_factory.mktemp("production"))
    upgrade_database(settings)
    return settings


@pytest.fixture(scope="module")
def requested_log(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> str:
    """Everything gunicorn (two workers, default memory:// rate limits) and the app logged
    from start to a clean stop, having served REQUESTS."""
    server = start_gunicorn(env, tmp_path_factory.mktemp("gunicorn") / "log", workers=2)
    try:
        for path, headers in REQUESTS:
            assert fetch(server.url + path, headers) is not None, path
    finally:
        log = server.stop()
    return log


def test_gunicorn_logs_no_emailed_link_token(requested_log):
    assert "SignedLinkToken" not in requested_log
    for path in ("/guide/download/", "/unsubscribe/", "/newsletter/confirm/"):
        assert f"GET {path}[token] HTTP/1.1" in requested_log


def test_gunicorn_logs_the_paths_and_no_query_value(requested_log):
    assert '"GET /staff/?q=[redacted] HTTP/1.1" 302' in requested_log
    assert "GET /staff/login?next=[redacted] HTTP/1.1" in requested_log
    assert "GET /schedule?q=[redacted] HTTP/1.1" in requested_log
    assert "/articles/what-is-a-physiatrist?utm_term=[redacted]&utm_source=[redacted]" in (
        requested_log
    )
    # The staff list's own filters keep their values: they say what was looked at, not who.
    assert "GET /staff/?status=new&page=2&q=[redacted] HTTP/1.1" in requested_log
    assert NAME not in requested_log and PHONE not in requested_log


def test_the_referer_is_redacted_in_any_access_format(env, tmp_path):
    # An operator may log the referer (%(f)s) or the bare query (%(q)s) with their own
    # format, set as gunicorn's documented GUNICORN_CMD_ARGS says.
    fmt = '%(r)s %(q)s "%(f)s" "%({referer}i)s"'
    env = {**env, "GUNICORN_CMD_ARGS": f"--access-logformat='{fmt}'"}
    server = start_gunicorn(env, tmp_path / "custom.log", workers=1)
    try:
        headers = {"Referer": f"https://clinic.example/staff/?{SEARCH}"}
        assert fetch(f"{server.url}/privacy?{SEARCH}&page=3", headers) == 200
    finally:
        log = server.stop()
    assert "q=[redacted]&page=3" in log
    assert '"https://clinic.example/staff/?q=[redacted]"' in log
    assert NAME not in log and PHONE not in log


def test_the_apps_own_lines_are_redacted_in_production(env):
    # The app's logging as create_app sets it up outside development (JSON lines, the
    # redacting filter); a line naming a URL with a search in it, as a library might log.
    script = (
        "import logging; from spine_site import create_app; create_app(); "
        f"logging.getLogger('some.library').warning('GET /staff/?{SEARCH} failed')"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (line,) = [json.loads(x) for x in result.stderr.splitlines() if "some.library" in x]
    assert line["msg"] == "GET /staff/?q=[redacted] failed"


def test_several_workers_with_memory_storage_warn_at_start(requested_log):
    warnings = [
        json.loads(line)
        for line in requested_log.splitlines()
        if line.startswith("{") and PER_WORKER_WARNING in line
    ]
    # Each of the two workers says so, in the app's own JSON log lines.
    assert len(warnings) == 2
    for warning in warnings:
        assert warning["level"] == "WARNING"
        assert "2 worker processes" in warning["msg"]
        assert "RATELIMIT_STORAGE_URI=redis://" in warning["msg"]


def test_shared_storage_starts_without_the_warning(env, tmp_path):
    env = {**env, "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/15"}
    log = start_gunicorn(env, tmp_path / "redis.log", workers=2).stop()
    assert "Booting worker" in log
    assert PER_WORKER_WARNING not in log


# -- nginx as docs/deploy.md configures it ------------------------------------------------


def _nginx_logs(tmp: Path) -> str:
    return "\n".join(p.read_text() for p in sorted((tmp / "logs").glob("*.log")))


def test_the_documented_nginx_logs_no_query_through_to_gunicorn(env, tmp_path):
    nginx = nginx_binary()
    server = start_gunicorn(env, tmp_path / "gunicorn.log", workers=1)
    http_port, https_port = free_port(), free_port()
    conf = nginx_config(tmp_path, server.port, http_port, https_port)
    check_nginx_config(nginx, conf)
    process = start_nginx(nginx, conf, https_port)
    try:
        statuses = [
            fetch(f"https://127.0.0.1:{https_port}{path}", headers) for path, headers in REQUESTS
        ]
        redirect = fetch(f"http://127.0.0.1:{http_port}/staff/?{SEARCH}")
    finally:
        stop_nginx(process)
        server.stop()
    assert statuses[0] == 302 and statuses[2] == 200, statuses  # gunicorn answered
    assert redirect == 301
    access = (tmp_path / "logs" / "spine_site.access.log").read_text()
    assert access.count("\n") == len(REQUESTS) + 1
    assert '"GET /staff/?[redacted] HTTP/1.1" 302' in access
    assert '"https://clinic.example/staff/?[redacted]"' in access
    logs = _nginx_logs(tmp_path)
    assert NAME not in logs and PHONE not in logs
    assert "SignedLinkToken" not in logs and "/newsletter/confirm/[token]" in logs


def test_the_documented_nginx_keeps_queries_out_of_its_error_log(tmp_path):
    # An upstream that is down: nginx's error line would copy the request line, query and all.
    nginx = nginx_binary()
    http_port, https_port = free_port(), free_port()
    conf = nginx_config(tmp_path, free_port(), http_port, https_port)
    process = start_nginx(nginx, conf, https_port)
    try:
        headers = {"Referer": f"https://clinic.example/staff/?{SEARCH}"}
        status = fetch(f"https://127.0.0.1:{https_port}/staff/?{SEARCH}", headers)
    finally:
        stop_nginx(process)
    assert status == 502
    access = (tmp_path / "logs" / "spine_site.access.log").read_text()
    assert '"GET /staff/?[redacted] HTTP/1.1" 502' in access
    logs = _nginx_logs(tmp_path)
    assert NAME not in logs and PHONE not in logs


def test_gunicorns_error_log_is_redacted_too(tmp_path):
    # gunicorn names the request URI, query and all, when a request fails in a worker
    # ("Error handling request /staff/?q=..."); its error log gets the app's redaction.
    from gunicorn.config import Config

    logger_class = runpy.run_path(str(ROOT / "gunicorn.conf.py"))["logger_class"]
    config = Config()
    config.set("errorlog", str(tmp_path / "error.log"))
    logger = logger_class(config)
    logger.error("Error handling request %s", f"/staff/?{SEARCH}")
    for handler in logger.error_log.handlers:
        handler.flush()
    logged = (tmp_path / "error.log").read_text()
    assert "Error handling request /staff/?q=[redacted]" in logged
    assert NAME not in logged


def test_a_worker_of_another_flask_app_starts_under_gunicorn_conf(tmp_path):
    """The benches run their bare anchors with gunicorn.conf.py too: the product's start-up
    checks (rate-limit storage, sealed authenticator secrets) leave another app alone."""
    from types import SimpleNamespace

    from flask import Flask

    post_worker_init = runpy.run_path(str(ROOT / "gunicorn.conf.py"))["post_worker_init"]
    other = Flask("bare_insert_app")  # no SECRET_KEY, no database
    post_worker_init(SimpleNamespace(wsgi=other, cfg=SimpleNamespace(workers=5)))


@pytest.mark.parametrize(
    ("settings", "workers", "warned"),
    [
        ({}, 5, True),
        ({}, 1, False),
        ({"RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0"}, 5, False),
        ({"ENV_NAME": "development"}, 5, False),
        ({"RATELIMIT_ENABLED": False}, 5, False),
    ],
)
def test_the_warning_is_for_several_workers_counting_in_memory(
    app_factory, caplog, settings, workers, warned
):
    app = app_factory(
        **{"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://", **settings}
    )
    caplog.set_level("WARNING", logger="spine_site.web.ratelimits")
    assert warn_if_counted_per_worker(app, workers) is warned
    assert (PER_WORKER_WARNING in caplog.text) is warned


# -- the commands systemd runs: their lines go to the same journal --------------------------


def _flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _json_lines(stderr: str) -> list[dict[str, str]]:
    """Every line a JSON object (json.loads fails on any plain line), at least one."""
    lines = [json.loads(line) for line in stderr.splitlines()]
    assert lines and all(isinstance(line, dict) for line in lines), stderr
    return lines


def test_the_outbox_worker_logs_json_lines_from_start_to_stop(env):
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "outbox", "work", "--poll", "0.2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Its first line says it runs (within a minute: a busy machine starts the app slowly).
        ready, _, _ = select.select([worker.stderr], [], [], 60)
        assert ready, "the outbox worker logged nothing on stderr"
        started = worker.stderr.readline()  # type: ignore[union-attr]
        assert "outbox worker" in json.loads(started)["msg"], started
    finally:
        worker.send_signal(signal.SIGTERM)
        stdout, stderr = worker.communicate(timeout=30)
    assert worker.returncode == 0, stderr[-3000:]
    assert stdout == ""
    lines = _json_lines(started + stderr)
    assert lines[-1]["msg"] == "outbox worker: stopped"
    assert {line["logger"] for line in lines} == {"spine_site.cli"}

    once = _flask(env, "outbox", "work", "--once")
    assert once.returncode == 0 and once.stdout == ""
    assert [line["msg"] for line in _json_lines(once.stderr)] == ["outbox: sent 0 emails"]


def test_the_digest_and_the_purge_log_json_lines_when_done_and_when_failing(env):
    sent = _flask({**env, "STAFF_NOTIFY_EMAIL": "intake@clinic.example"}, "leads", "digest")
    assert sent.returncode == 0 and sent.stdout == ""
    # (With no MAIL_SERVER the file transport logs the mail it writes, in JSON too.)
    (line,) = [x for x in _json_lines(sent.stderr) if x["logger"] == "spine_site.cli"]
    assert line["level"] == "INFO"
    assert line["msg"].startswith("digest: sent to intake@clinic.example: Intake desk: 0 waiting")

    purged = _flask(env, "leads", "purge", "--older-than", "730")
    assert purged.returncode == 0 and purged.stdout == ""
    (line,) = _json_lines(purged.stderr)
    assert line["msg"].startswith("purge: purged 0 spam and 0 other leads older than 730 days")

    failed = _flask(env, "leads", "digest")
    assert failed.returncode == 1 and failed.stdout == ""
    (line,) = _json_lines(failed.stderr)
    assert line["level"] == "ERROR" and "STAFF_NOTIFY_EMAIL is not set" in line["msg"]


# -- a SECRET_KEY change that dropped the old key too soon ----------------------------------

_ENROL = """
import sys
from spine_site import create_app
from tests.factories import make_user

print(make_user(create_app(), sys.argv[1], "admin"))
"""


def test_a_start_without_the_key_of_a_stored_secret_warns_and_still_serves(tmp_path):
    old = production_env(tmp_path, SECRET_KEY="old-production-key-" + "0123456789abcdef" * 3)
    upgrade_database(old)
    enrolled = subprocess.run(
        [sys.executable, "-c", _ENROL, "admin@clinic.example"],
        cwd=ROOT,
        env=old,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert enrolled.returncode == 0, enrolled.stderr[-3000:]
    admin_id = enrolled.stdout.split()[-1]
    # The key rotated and the old one left out of SECRET_KEY_FALLBACKS, as docs/deploy.md
    # section 8 used to allow before `flask users reencrypt`.
    new = {**old, "SECRET_KEY": "new-production-key-" + "fedcba9876543210" * 3}
    server = start_gunicorn(new, tmp_path / "gunicorn.log", workers=2)
    try:
        # A warning, not a refusal: the site serves.
        assert fetch(server.url + "/privacy") == 200
        assert fetch(server.url + "/staff/login") == 200
    finally:
        log = server.stop()
    warnings = [
        json.loads(line)
        for line in log.splitlines()
        if line.startswith("{") and "AUTHENTICATOR SECRETS UNREADABLE" in line
    ]
    assert len(warnings) == 2, log[-3000:]  # one per worker, as loud as it should be
    for warning in warnings:
        assert warning["level"] == "WARNING"
        assert f"1 staff accounts (ids {admin_id})" in warning["msg"]
        assert "flask users reencrypt" in warning["msg"] and "reset-mfa" in warning["msg"]
