#!/usr/bin/env python3
"""Two web "hosts" behind one nginx, one killed mid-run (docs/deploy.md, section 10).

    .venv/bin/python bench/two_hosts.py
    .venv/bin/python bench/two_hosts.py --posters 32 --per-poster 25

Two gunicorns with gunicorn.conf.py, on 127.0.0.2 and 127.0.0.3 (two loopback addresses
stand for two machines), share one PostgreSQL database, one SECRET_KEY and one Redis for the
rate limits, behind nginx running the shipped deploy/nginx/ files with both in its upstream
block. Poster threads ask for the guide over https like a browser (GET for the cookie and
tokens, then POST; a failed POST is pressed again with the same form, as a patient would).
A second into the run the first host's gunicorn, master and workers, is killed with SIGKILL.
Every poster's request must end stored exactly once, and every email must reach the SMTP
server (aiosmtpd on loopback). A message the killed host had handed to SMTP but not yet
marked sent is sent again by the other host once its lease runs out (at-least-once delivery
across a crash): such duplicates are counted and printed, not hidden; at most one per worker
of the killed host.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from article_speed import migrated_database, wait_until_up  # noqa: E402
from load_submissions import Sink, free_port, percentile  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from tests.production_server import (  # noqa: E402
    check_nginx_config,
    nginx_binary,
    nginx_config,
    start_nginx,
    stop_nginx,
)

HOSTS = ("127.0.0.2", "127.0.0.3")
TLS = ssl.create_default_context()
TLS.check_hostname = False  # nginx serves a throwaway self-signed certificate here
TLS.verify_mode = ssl.CERT_NONE


def start_host(address: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env={**env, "BIND": f"{address}:{port}"},
        stdout=subprocess.DEVNULL,
        stderr=log.open("a"),
    )
    wait_until_up(f"http://{address}:{port}/healthz", seconds=60)
    return process


def kill_host(process: subprocess.Popen) -> None:
    """The machine goes away: master and workers at once, no graceful shutdown."""
    children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True)
    for pid in [process.pid, *map(int, children.stdout.split())]:
        with contextlib.suppress(ProcessLookupError):  # a worker may already be gone
            os.kill(pid, signal.SIGKILL)
    process.wait()


def submit(port: int, email: str, latencies: list[float], statuses: Counter) -> bool:
    """One patient over https through nginx: GET the form, POST it, press again on failure."""
    html, cookie = "", ""
    for _ in range(20):
        try:
            conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=15, context=TLS)
            conn.request("GET", "/guide")
            page = conn.getresponse()
            html = page.read().decode()
            cookie = (page.getheader("Set-Cookie") or "").split(";")[0]
            if page.status == 200:
                break
        except OSError:
            pass
        statuses["GET failed (tried again)"] += 1
        time.sleep(0.2)
    else:
        return False
    fields = dict(re.findall(r'name="(guide-[a-z_]+)" type="hidden" value="([^"]*)"', html))
    fields.update({"guide-first_name": "Load", "guide-email": email, "guide-website": ""})
    body = urllib.parse.urlencode(fields)
    origin = f"https://127.0.0.1:{port}"
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": cookie,
        "Origin": origin,
        "Referer": f"{origin}/guide",
    }
    for _ in range(10):
        started = time.monotonic()
        try:
            conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=15, context=TLS)
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
        if response.status in (429, 502, 503, 504):
            time.sleep(0.3)  # the patient presses again
            continue
        return False
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posters", type=int, default=16)
    parser.add_argument("--per-poster", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per host")
    parser.add_argument(
        "--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/spine_two_hosts"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="two-hosts-"))
    smtp_port, upstream_port = free_port(), free_port()
    http_port, https_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("RATELIMIT_", "MAIL_"))},
        "SPINE_ENV": "production",
        "SECRET_KEY": "two-hosts-bench-key-" + "0123456789abcdef" * 3,
        "DATABASE_URL": args.database_url,
        "SITE_URL": f"https://127.0.0.1:{https_port}",
        "TRUSTED_PROXIES": "1",
        "RATELIMIT_STORAGE_URI": args.redis_url,
        "RATELIMIT_ENABLED": "false",  # one client address posts everything here
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_port),
        "MAIL_TIMEOUT": "5",
        "FORM_MIN_FILL_SECONDS": "0",
        "OUTBOX_BACKOFF_SECONDS": "1",
        "OUTBOX_POLL_SECONDS": "1",
        "OUTBOX_LEASE_SECONDS": "10",
        "WEB_CONCURRENCY": str(args.workers),
        "LOG_FORMAT": "text",
    }
    migrated_database(args.database_url, env)
    sink = Sink(smtp_port).start()
    hosts = [start_host(a, upstream_port, env, tmp / f"{a}.log") for a in HOSTS]
    nginx = nginx_binary()
    conf = nginx_config(tmp, upstream_port, http_port, https_port)
    # The shipped upstream has one server; two hosts as docs/deploy.md, section 10, lists them.
    servers = "\n".join(
        f"    server {a}:{upstream_port} max_fails=1 fail_timeout=5s;" for a in HOSTS
    )
    conf.write_text(conf.read_text().replace(f"    server 127.0.0.1:{upstream_port};", servers))
    check_nginx_config(nginx, conf)
    proxy = start_nginx(nginx, conf, https_port)

    latencies: list[float] = []
    statuses: Counter = Counter()
    stored = Counter()
    lock = threading.Lock()

    def poster(n: int) -> None:
        for i in range(args.per_poster):
            if submit(https_port, f"h{n}-{i}@two-hosts.example", latencies, statuses):
                with lock:
                    stored["ok"] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=poster, args=(n,)) for n in range(args.posters)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    kill_host(hosts[0])
    killed_at = time.monotonic() - started
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started

    engine = create_engine(args.database_url)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            left = conn.execute(
                text("SELECT count(*) FROM outbox_email WHERE status <> 'sent'")
            ).scalar_one()
        if left == 0:
            break
        time.sleep(0.5)
    with engine.connect() as conn:
        leads = conn.execute(text("SELECT count(*) FROM lead")).scalar_one()
        distinct = conn.execute(text("SELECT count(DISTINCT lower(email)) FROM lead")).scalar_one()
        emails = conn.execute(text("SELECT count(*) FROM outbox_email")).scalar_one()
        sent = conn.execute(
            text("SELECT count(*) FROM outbox_email WHERE status = 'sent'")
        ).scalar_one()
    engine.dispose()
    stop_nginx(proxy)
    hosts[1].send_signal(signal.SIGTERM)
    hosts[1].wait(timeout=30)
    delivered = sum(sink.ids.values())
    duplicates = sum(c - 1 for c in sink.ids.values() if c > 1)
    distinct_delivered = len(sink.ids)
    sink.stop()

    expected = args.posters * args.per_poster
    print(f"two hosts x {args.workers} workers behind nginx, {args.posters} posters")
    print(f"killed host {HOSTS[0]} (SIGKILL, master and workers) at {killed_at:.1f} s")
    print(f"posted {expected}, answered 303 {stored['ok']} in {elapsed:.1f} s")
    print(f"leads stored {leads} ({distinct} distinct emails); emails queued {emails}, sent {sent}")
    print(
        f"delivered to SMTP {delivered} ({distinct_delivered} distinct Message-IDs), "
        f"duplicates {duplicates} (a send cut off by the kill, repeated by the other host)"
    )
    print("statuses:", dict(statuses))
    print(
        f"POST latency ms: p50 {percentile(latencies, 0.5):.0f}, "
        f"p99 {percentile(latencies, 0.99):.0f}, max {max(latencies):.0f}"
    )
    ok = (
        stored["ok"] == expected == leads == distinct
        and sent == emails == distinct_delivered
        and duplicates <= args.workers
    )
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
