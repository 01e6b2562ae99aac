#!/usr/bin/env python3
"""The article page against a constant string of the same size, from one gunicorn setup.

    .venv/bin/python bench/article_speed.py [--workers 5] [--connections 32] [--seconds 10]

Needs wrk (apt-get install wrk). Starts gunicorn on 127.0.0.1 with bench/constant_app.py,
runs wrk against the constant route, then the article, then the constant again, and prints
requests per second, p50 and p99 latency, and the article/constant ratio (target: at least
0.80, and article p99 under 25 ms at 32 connections on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARTICLE = "/articles/what-is-a-physiatrist"
BROWSER_AGENT = (
    "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Mobile Safari/537.36"
)


def wait_until_up(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server did not come up at {url}")


def to_ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(us|ms|m|s)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def run_wrk(
    url: str, connections: int, seconds: int, script: Path | None = None
) -> dict[str, float]:
    extra = ["-s", str(script)] if script else []
    # A browser's User-Agent, so each article view is counted as one (analytics), as it is
    # for a patient; no cookie and no Accept-Encoding: a first visit, uncompressed.
    agent = ["-H", f"User-Agent: {BROWSER_AGENT}"]
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", *agent, *extra, url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    if "Requests/sec" not in out or "50%" not in out:
        raise SystemExit("wrk printed something unexpected:\n" + out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {
        "rps": rps,
        "p50": p50,
        "p99": p99,
        "non2xx": float(non2xx.group(1)) if non2xx else 0.0,
        "socket_errors": 1.0 if errors else 0.0,
    }


def migrated_database(url: str, env: dict[str, str]) -> None:
    """An empty database at `url` with the schema applied; PostgreSQL's is made afresh.

    A PostgreSQL database named in --database-url is dropped and created again (connecting to
    the server's `postgres` database), so each run counts only its own rows.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(url)
    if target.get_backend_name() == "postgresql":
        server = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
        server.dispose()
    done = subprocess.run(
        [str(ROOT / ".venv/bin/flask"), "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"flask db upgrade failed:\n{done.stderr[-2000:]}")


def start_gunicorn(
    workers: int, port: int, env: dict[str, str], log: Path, app: str = "bench.constant_app:app"
) -> subprocess.Popen:
    """gunicorn with the project's gunicorn.conf.py, its errors appended to `log`."""
    return subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "-c",
            "gunicorn.conf.py",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            app,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("a"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--port", type=int, default=8077)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    tmp = Path(tempfile.mkdtemp(prefix="spine-article-bench-"))
    env = {
        **os.environ,
        "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
        "RATELIMIT_ENABLED": "false",
        "PYTHONPATH": str(ROOT),
    }
    subprocess.run(
        [str(ROOT / ".venv/bin/flask"), "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    base = f"http://127.0.0.1:{args.port}"
    server = start_gunicorn(args.workers, args.port, env, tmp / "server.log")
    try:
        wait_until_up(base + ARTICLE)
        wait_until_up(base + "/bench/constant")
        sizes = {
            path: len(urllib.request.urlopen(base + path).read())
            for path in (ARTICLE, "/bench/constant")
        }
        print(
            f"gunicorn sync x{args.workers}, wrk -t2 -c{args.connections} "
            f"-d{args.seconds}s; body {sizes[ARTICLE]:,} bytes (article) vs "
            f"{sizes['/bench/constant']:,} (constant)"
        )
        runs = []
        for label, path in (
            ("constant", "/bench/constant"),
            ("article", ARTICLE),
            ("constant", "/bench/constant"),
            ("article", ARTICLE),
        ):
            figures = run_wrk(base + path, args.connections, args.seconds)
            runs.append((label, figures))
            print(
                f"{label:<9} {figures['rps']:8.0f} req/s   p50 {figures['p50']:6.2f} ms   "
                f"p99 {figures['p99']:6.2f} ms   non-2xx {figures['non2xx']:.0f}"
            )
        constant = sum(f["rps"] for label, f in runs if label == "constant") / 2
        article = sum(f["rps"] for label, f in runs if label == "article") / 2
        article_p99 = max(f["p99"] for label, f in runs if label == "article")
        print(
            f"ratio article/constant: {article / constant:.2f} (target >= 0.80); "
            f"article p99 {article_p99:.1f} ms (target < 25 ms)"
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
