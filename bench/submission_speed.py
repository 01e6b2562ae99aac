#!/usr/bin/env python3
"""The guide form's submission path against a bare insert into the same database.

    .venv/bin/python bench/submission_speed.py [--database-url URL] [--seconds 10]

Needs wrk. Starts gunicorn (4 workers) on bench/constant_app.py, opens the guide form once
for a cookie and tokens, then has wrk POST it with a different email every request (so each
is a new lead: validation, person lookup, insert, the guide email rendered and queued, one
commit) and, for comparison, POST the same body to a route that only inserts one row.
Prints requests per second and latency for both and the ratio, and checks that every 303
became exactly one lead.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import secrets
import signal
import tempfile
import time
import urllib.parse
from pathlib import Path

from article_speed import migrated_database, run_wrk, start_gunicorn, wait_until_up
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent

# Every request a new address: thread number, counter and a per-run prefix keep them unique
# (a repeat would be recognised as the same submission and not stored again).
LUA = """
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
counter = 0
request = function()
  counter = counter + 1
  local email = "RUN-" .. tid .. "-" .. counter .. "%%40load.example"
  local body = string.gsub(wrk.body, "EMAIL", email)
  return wrk.format("POST", nil, nil, body)
end
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--port", type=int, default=8079)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="spine-submit-bench-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
    env = {
        **os.environ,
        "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": url,
        "RATELIMIT_ENABLED": "false",
        "FORM_MIN_FILL_SECONDS": "0",
        "OUTBOX_IN_PROCESS": "false",  # queue only: delivery is not the path measured here
        "PYTHONPATH": str(ROOT),
        "LOG_FORMAT": "text",
    }
    migrated_database(url, env)
    engine = create_engine(url)
    with engine.begin() as conn:
        for table in ("outbox_email", "guide_download", "lead", "person"):
            conn.execute(text(f"DELETE FROM {table}"))
        conn.execute(text("DROP TABLE IF EXISTS bench_insert"))
    base = f"http://127.0.0.1:{args.port}"
    server = start_gunicorn(args.workers, args.port, env, tmp / "server.log")
    try:
        wait_until_up(base + "/healthz")
        conn = http.client.HTTPConnection("127.0.0.1", args.port)
        conn.request("GET", "/guide")
        page = conn.getresponse()
        cookie = page.getheader("Set-Cookie").split(";")[0]
        html = page.read().decode()
        fields = dict(re.findall(r'name="(guide-[a-z_]+)" type="hidden" value="([^"]*)"', html))
        fields.update({"guide-first_name": "Load", "guide-website": ""})
        body = urllib.parse.urlencode(fields) + "&guide-email=EMAIL"
        script = tmp / "post.lua"
        lua_head = (
            f"wrk.method = 'POST'\nwrk.body = [[{body}]]\n"
            f"wrk.headers['Content-Type'] = 'application/x-www-form-urlencoded'\n"
            f"wrk.headers['Cookie'] = '{cookie}'\n"
        )
        print(
            f"database: {url.split('://')[0]}; gunicorn sync x{args.workers}; "
            f"wrk -t2 -c{args.connections} -d{args.seconds}s, a new email each request"
        )
        results = {}
        for label, path in (
            ("bare insert", "/bench/insert"),
            ("submission", "/guide"),
            ("bare insert", "/bench/insert"),
            ("submission", "/guide"),
        ):
            script.write_text(lua_head + LUA.replace("RUN", secrets.token_hex(4)))
            figures = run_wrk(base + path, args.connections, args.seconds, script=script)
            results.setdefault(label, []).append(figures)
            print(
                f"{label:<12} {figures['rps']:7.0f} req/s   p50 {figures['p50']:7.2f} ms   "
                f"p99 {figures['p99']:7.2f} ms   non-3xx {figures['non2xx']:.0f}"
            )
        time.sleep(1)
        with engine.connect() as db:
            leads = db.execute(text("SELECT count(*) FROM lead")).scalar_one()
            dupes = db.execute(
                text(
                    "SELECT count(*) FROM (SELECT email FROM lead GROUP BY email "
                    "HAVING count(*) > 1) d"
                )
            ).scalar_one()
            emails = db.execute(text("SELECT count(*) FROM outbox_email")).scalar_one()
        bare = sum(f["rps"] for f in results["bare insert"]) / 2
        sub = sum(f["rps"] for f in results["submission"]) / 2
        posted = round(sum(f["rps"] for f in results["submission"]) * args.seconds)
        print(
            f"ratio submission/bare insert: {sub / bare:.2f}; about {posted} submissions "
            f"answered 303, leads stored {leads}, each with its email queued: "
            f"{emails == leads}, addresses stored twice {dupes}"
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
