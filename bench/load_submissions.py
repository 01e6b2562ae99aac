#!/usr/bin/env python3
"""Submission path under load and faults: 32 concurrent posters across 4 gunicorn workers.

    .venv/bin/python bench/load_submissions.py                       # every scenario, SQLite
    .venv/bin/python bench/load_submissions.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/loadbench
    .venv/bin/python bench/load_submissions.py --scenario smtp-down --scenario kill-worker

Each poster thread asks for the guide form like a browser (GET for the cookie and tokens,
then POST) with its own email addresses. A real SMTP server (aiosmtpd) on loopback counts
what arrives. Every scenario prints what was posted, what was stored, what was delivered and
how often, and the request latencies. Scenarios:

  normal        nothing goes wrong
  smtp-down     SMTP is down for the whole run, then comes back: every email arrives, once
  smtp-hang     SMTP accepts connections and never answers: requests stay fast
  kill-worker   a gunicorn worker is killed with SIGKILL mid-run (its posts are retried, as a
                patient would press again): no committed lead lost, none duplicated
  kill-outbox   the web workers do not send; `flask outbox work` does, and is SIGKILLed
                mid-run and started again: every email arrives once
  pg-restart    PostgreSQL restarts mid-run (PostgreSQL only): clean 503s, then recovery
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path

from aiosmtpd.controller import Controller
from article_speed import migrated_database, start_gunicorn, wait_until_up
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
CLEANUP: list = []  # servers to stop even if a scenario crashes
SCENARIOS = ["normal", "smtp-down", "smtp-hang", "kill-worker", "kill-outbox", "pg-restart"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    """A real SMTP server on loopback that remembers each Message-ID it accepted."""

    def __init__(self, port: int) -> None:
        self.ids: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.controller = Controller(self, hostname="127.0.0.1", port=port)

    async def handle_DATA(self, server, session, envelope) -> str:
        found = re.search(rb"^Message-ID:\s*(\S+)", envelope.original_content, re.M | re.I)
        with self.lock:
            self.ids[found.group(1).decode() if found else "?"] += 1
        return "250 OK"

    def start(self) -> Sink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


class Silent:
    """Accepts SMTP connections and never says a word."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self.conns: list[socket.socket] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                self.conns.append(self.sock.accept()[0])
            except TimeoutError:
                continue

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()
        for conn in self.conns:
            conn.close()
        self.sock.close()


class Site:
    def __init__(self, env: dict[str, str], workers: int, port: int, log: Path) -> None:
        self.port = port
        self.proc = start_gunicorn(workers, port, env, log, app="wsgi:app")
        wait_until_up(f"http://127.0.0.1:{port}/healthz")

    def workers(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)


def start_outbox_worker(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "flask"), "--app", "wsgi", "outbox", "work", "--poll", "0.5"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def submit(port: int, email: str, latencies: list[float], statuses: Counter) -> bool:
    """One patient: GET the form, POST it; on a dropped connection press again (same form)."""
    cookie = ""
    for _ in range(20):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
            conn.request("GET", "/guide")
            page = conn.getresponse()
            html = page.read().decode()
            cookie = (page.getheader("Set-Cookie") or "").split(";")[0]
            break
        except OSError:
            time.sleep(0.2)
    else:
        statuses["get failed"] += 1
        return False
    fields = dict(re.findall(r'name="(guide-[a-z_]+)" type="hidden" value="([^"]*)"', html))
    fields.update({"guide-first_name": "Load", "guide-email": email, "guide-website": ""})
    body = urllib.parse.urlencode(fields)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
    for _ in range(10):
        started = time.monotonic()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
            conn.request("POST", "/guide", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
        except OSError:
            statuses["connection dropped (pressed again)"] += 1
            time.sleep(0.3)
            continue
        latencies.append((time.monotonic() - started) * 1000)
        statuses[response.status] += 1
        if response.status == 303:
            return True
        if response.status in (429, 503):
            time.sleep(1)
            continue
        return False
    return False


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def run(scenario: str, args: argparse.Namespace, url: str, tmp: Path) -> bool:
    engine = create_engine(url, pool_pre_ping=True)
    with engine.begin() as conn:
        for table in (
            "guide_download",
            "outbox_email",
            "lead_note",
            "lead_status_change",
            "audit_event",
            "lead",
            "person",
            "suppression",
        ):
            conn.execute(text(f"DELETE FROM {table}"))
    smtp_port = free_port()
    env = {
        **os.environ,
        "SECRET_KEY": args.secret,
        "DATABASE_URL": url,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_port),
        "MAIL_TIMEOUT": "5",
        "RATELIMIT_ENABLED": "false",
        "FORM_MIN_FILL_SECONDS": "0",
        "OUTBOX_BACKOFF_SECONDS": "1",
        "OUTBOX_POLL_SECONDS": "1",
        "OUTBOX_MAX_ATTEMPTS": "30",
        "OUTBOX_LEASE_SECONDS": "10",
        "OUTBOX_IN_PROCESS": "false" if scenario == "kill-outbox" else "true",
        "LOG_FORMAT": "text",
    }
    sink = Sink(smtp_port) if scenario != "smtp-hang" else None
    silent = Silent(smtp_port) if scenario == "smtp-hang" else None
    if sink and scenario != "smtp-down":
        sink.start()
    site = Site(env, args.workers, free_port(), tmp / f"{scenario}.log")
    CLEANUP.append(site.stop)
    worker = None
    if scenario == "kill-outbox":
        worker = start_outbox_worker(env)
    latencies: list[float] = []
    statuses: Counter = Counter()
    ok = Counter()
    lock = threading.Lock()

    def poster(n: int) -> None:
        for i in range(args.per_poster):
            if submit(site.port, f"p{n}-{i}@load.example", latencies, statuses):
                with lock:
                    ok["stored"] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=poster, args=(n,)) for n in range(args.posters)]
    for t in threads:
        t.start()
    fault = ""
    if scenario == "kill-worker":
        time.sleep(1.0)
        victim = site.workers()[0]
        os.kill(victim, signal.SIGKILL)
        fault = f"killed worker {victim}"
    elif scenario == "kill-outbox":
        time.sleep(1.5)
        worker.kill()
        worker.wait()
        fault = "killed the outbox worker"
        time.sleep(1.0)
        worker = start_outbox_worker(env)
    elif scenario == "pg-restart":
        time.sleep(1.0)
        version = os.listdir("/etc/postgresql")[0]
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
            check=True,
            capture_output=True,
        )
        fault = "restarted PostgreSQL"
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    if scenario == "smtp-down":
        time.sleep(2)
        sink.start()
        fault = "SMTP down during the whole run, started afterwards"
    expected = args.posters * args.per_poster

    # Wait for the outbox to drain (not for smtp-hang: it never can).
    drained_in = None
    if scenario != "smtp-hang":
        drain_start = time.monotonic()
        while time.monotonic() - drain_start < args.drain_seconds:
            with engine.connect() as conn:
                left = conn.execute(
                    text("SELECT count(*) FROM outbox_email WHERE status <> 'sent'")
                ).scalar_one()
            if left == 0:
                drained_in = time.monotonic() - drain_start
                break
            time.sleep(0.5)
    with engine.connect() as conn:
        conn.execute(
            text(
                "SELECT id, status, attempts, next_attempt_at, claimed_until, last_error "
                "FROM outbox_email WHERE status <> 'sent' ORDER BY id LIMIT 5"
            )
        ).all()
        leads = conn.execute(text("SELECT count(*) FROM lead")).scalar_one()
        emails = conn.execute(text("SELECT count(*) FROM outbox_email")).scalar_one()
        sent = conn.execute(
            text("SELECT count(*) FROM outbox_email WHERE status='sent'")
        ).scalar_one()
    if worker:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=10)
    site.stop()
    delivered = sum(sink.ids.values()) if sink else 0
    duplicates = sum(c - 1 for c in sink.ids.values() if c > 1) if sink else 0
    if sink:
        sink.stop()
    if silent:
        silent.stop()
    five_xx = sum(c for s, c in statuses.items() if isinstance(s, int) and s >= 500)

    print(f"\n== {scenario}{' (' + fault + ')' if fault else ''}")
    print(
        f"posted {expected} in {elapsed:.1f} s ({expected / elapsed:.0f}/s) by "
        f"{args.posters} posters; responses: {dict(statuses)}"
    )
    print(
        f"leads stored {leads} (expected {expected}); emails queued {emails}, sent {sent}, "
        f"delivered to SMTP {delivered}, delivered twice {duplicates}"
        + (f"; outbox drained {drained_in:.1f} s after the run" if drained_in is not None else "")
    )
    print(
        f"POST latency p50 {statistics.median(latencies):.1f} ms, p99 "
        f"{percentile(latencies, 0.99):.1f} ms, max {max(latencies):.1f} ms; 5xx {five_xx}"
    )
    good = leads == expected and emails == expected
    if scenario == "smtp-hang":
        good = good and percentile(latencies, 0.99) < 1000
    elif scenario in {"kill-outbox", "kill-worker"}:
        # Web workers send too (their sender thread). A sender killed after SMTP accepted a
        # message but before it wrote "sent" cannot know the message went out; after its
        # lease the message is sent again, with the same Message-ID (mail clients show one).
        # Plain SMTP allows no better; at most the one message in flight.
        good = good and sent == expected and delivered - duplicates == expected
        good = good and duplicates <= 1
        if duplicates:
            print(
                "note: the message in flight when the worker was killed went out again, "
                "with the same Message-ID"
            )
    else:
        good = good and sent == expected and delivered == expected and duplicates == 0
    if scenario == "pg-restart":
        # While PostgreSQL restarts, a request may get a clean 503 (and is sent again).
        good = good and five_xx == statuses.get(503, 0)
    else:
        good = good and five_xx == 0
    print("result:", "PASS" if good else "FAIL")
    return good


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url")
    parser.add_argument("--scenario", action="append", choices=SCENARIOS)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--posters", type=int, default=32)
    parser.add_argument("--per-poster", type=int, default=10)
    parser.add_argument("--drain-seconds", type=int, default=90)
    args = parser.parse_args()
    args.secret = secrets.token_hex(32)
    tmp = Path(tempfile.mkdtemp(prefix="spine-load-"))
    url = args.database_url or f"sqlite:///{tmp / 'load.sqlite3'}"
    env = {**os.environ, "SECRET_KEY": args.secret, "DATABASE_URL": url}
    migrated_database(url, env)
    scenarios = args.scenario or [
        s for s in SCENARIOS if s != "pg-restart" or url.startswith("postgresql")
    ]
    print(f"database: {url.split('://')[0]}; gunicorn workers: {args.workers}; logs in {tmp}")
    try:
        results = [run(s, args, url, tmp) for s in scenarios]
    finally:
        for stop in CLEANUP:
            with contextlib.suppress(Exception):  # already stopped
                stop()
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
