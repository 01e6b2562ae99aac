#!/usr/bin/env python3
"""The public pages against a bare Flask app serving the same bytes.

    .venv/bin/python bench/public_pages.py [--rounds 3] [--seconds 10] [--connections 32]

Needs wrk. Starts the product with gunicorn (the project's gunicorn.conf.py, sync workers,
bench/constant_app.py as in article_speed.py: the product plus its two bench routes), fetches
each public page once as a phone browser on a first visit, and writes the bodies and their
Content-Types for bench/bare_flask_app.py, which imports nothing of the product. The bare app
runs on another port under gunicorn with the same worker count and class, given on the command
line (gunicorn.conf.py loads the product's log filter and rate-limit check, so it is not used
for the anchor; it adds no per-request work: the access log is off). Then wrk runs each page
against the bare app and the product, interleaved, round after round, and the script prints
the product/bare ratio per page (target >= 0.50, p99 < 30 ms at 32 connections).
/healthz asks the database on every call, so it is also measured against the bare app's
/healthz-with-database, which runs one `SELECT 1` on the same SQLite file before answering.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from article_speed import (
    ARTICLE,
    BROWSER_AGENT,
    migrated_database,
    run_wrk,
    start_gunicorn,
    wait_until_up,
)

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ARTICLE, "/", "/schedule", "/guide", "/healthz", "/robots.txt", "/sitemap.xml"]
# Pages also measured against a bare view that asks the database first: product path -> bare path.
WITH_DATABASE = {"/healthz": "/healthz-with-database"}
# The floor every public page keeps (docs/benchmarks.md): product/bare req/s, worst p99.
TARGET_RATIO = 0.5
TARGET_P99_MS = 30


def product_env(tmp: Path) -> dict[str, str]:
    """The product's settings for a run: SQLite in `tmp`, production mode, no rate limits."""
    env = {k: v for k, v in os.environ.items() if k not in {"SPINE_ENV", "GUNICORN_CMD_ARGS"}}
    env.update(
        {
            "SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
            "RATELIMIT_ENABLED": "false",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def refuse_busy_port(port: int) -> None:
    """Stop if something already listens there: wait_until_up would measure it instead."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(f"port {port} is in use (another bench?); pick another with --port")


def cpu_ticks_of_children(parent: int) -> dict[int, int]:
    """CPU time so far (clock ticks) of each process whose parent is `parent`, from /proc."""
    ticks = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            ticks[int(stat.parent.name)] = int(fields[11]) + int(fields[12])
    return ticks


def wait_until_booted(server: subprocess.Popen, workers: int, seconds: float = 60) -> None:
    """Every worker forked and idle: a worker still importing the app would take CPU from
    the run (wait_until_up only proves that one worker answers)."""
    deadline, before = time.monotonic() + seconds, {}
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu_ticks_of_children(server.pid)
        if len(now) == workers and all(now[pid] - before.get(pid, -99) <= 1 for pid in now):
            return
        before = now
    raise SystemExit(f"gunicorn's {workers} workers were not all up within {seconds:.0f} s")


def fetch(url: str) -> tuple[bytes, str]:
    """A page as a first-time visitor gets it: no cookie, no compression."""
    request = urllib.request.Request(url, headers={"User-Agent": BROWSER_AGENT})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read(), response.headers["Content-Type"]


def write_pages(base: str, folder: Path) -> dict[str, int]:
    """Each page's body and Content-Type from the product, for the bare app; sizes by path."""
    folder.mkdir()
    index, sizes = {}, {}
    for number, path in enumerate(PAGES):
        body, content_type = fetch(base + path)
        (folder / f"page{number}").write_bytes(body)
        index[path] = {"file": f"page{number}", "content_type": content_type}
        sizes[path] = len(body)
    (folder / "index.json").write_text(json.dumps(index, indent=1))
    return sizes


def start_bare(workers: int, port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    """The bare app under gunicorn: the product's worker settings, given explicitly."""
    return subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            *("-c", "/dev/null"),  # not ./gunicorn.conf.py, which gunicorn would find
            *("-w", str(workers), "-k", "sync"),
            *("--timeout", "60", "--graceful-timeout", "20", "--keep-alive", "5"),
            *("-b", f"127.0.0.1:{port}"),
            "bench.bare_flask_app:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("a"),
    )


def check_bare(bare: str, folder: Path) -> None:
    """The bare app answers every path with exactly the bytes and type the product sent."""
    index = json.loads((folder / "index.json").read_text())
    for path, page in index.items():
        body, content_type = fetch(bare + path)
        if body != (folder / page["file"]).read_bytes() or content_type != page["content_type"]:
            raise SystemExit(f"the bare app's {path} differs from the product's")


def measure(url: str, args: argparse.Namespace) -> dict[str, float]:
    figures = run_wrk(url, args.connections, args.seconds)
    if figures["non2xx"]:
        raise SystemExit(f"{url}: {figures['non2xx']:.0f} non-2xx responses; see the logs")
    return figures


def line(label: str, f: dict[str, float]) -> str:
    return f"{label} {f['rps']:6.0f} req/s p50 {f['p50']:6.2f} p99 {f['p99']:6.2f} ms"


def interleaved(bare: str, product: str, args: argparse.Namespace) -> dict[str, list]:
    """For each round and page: the bare app, then the product. Pairs of figures by path."""
    pairs = [(path, path, path) for path in PAGES] + [
        (f"{path} vs {anchor}", anchor, path) for path, anchor in WITH_DATABASE.items()
    ]
    runs: dict[str, list] = {label: [] for label, _, _ in pairs}
    for number in range(1, args.rounds + 1):
        print(f"round {number}")
        for label, bare_path, path in pairs:
            b = measure(bare + bare_path, args)
            p = measure(product + path, args)
            runs[label].append((b, p))
            ratio = p["rps"] / b["rps"]
            print(f"  {label:<32} {line('bare', b)} | {line('product', p)} | {ratio:.2f}")
    return runs


def summary(runs: dict[str, list]) -> None:
    print(
        "\nper page: product/bare by round, median; worst product p99 "
        f"(targets {TARGET_RATIO:.2f}, {TARGET_P99_MS} ms)"
    )
    for path, pairs in runs.items():
        ratios = [p["rps"] / b["rps"] for b, p in pairs]
        p99 = max(p["p99"] for _, p in pairs)
        met = statistics.median(ratios) >= TARGET_RATIO and p99 < TARGET_P99_MS
        print(
            f"  {path:<32} {' '.join(f'{r:.2f}' for r in ratios)}  "
            f"median {statistics.median(ratios):.2f}  p99 {p99:6.2f} ms  "
            f"{'met' if met else 'NOT met'}"
        )


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--bare-port", type=int, default=8092)
    return parser.parse_args()


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)  # figures as they come, also into a file
    args = parse()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    tmp = Path(tempfile.mkdtemp(prefix="spine-public-bench-"))
    env = product_env(tmp)
    migrated_database(env["DATABASE_URL"], env)
    product, bare = (f"http://127.0.0.1:{port}" for port in (args.port, args.bare_port))
    refuse_busy_port(args.port)
    refuse_busy_port(args.bare_port)
    servers = [start_gunicorn(args.workers, args.port, env, tmp / "product.log")]
    try:
        wait_until_up(product + ARTICLE)
        wait_until_booted(servers[0], args.workers)
        sizes = write_pages(product, tmp / "pages")
        bare_env = {
            **env,
            "BARE_PAGES_DIR": str(tmp / "pages"),
            "BARE_DATABASE_URL": env["DATABASE_URL"],
        }
        servers.append(start_bare(args.workers, args.bare_port, bare_env, tmp / "bare.log"))
        wait_until_up(bare + "/healthz")
        wait_until_booted(servers[1], args.workers)
        check_bare(bare, tmp / "pages")
        print(
            f"gunicorn sync x{args.workers} for both; wrk -t2 -c{args.connections} "
            f"-d{args.seconds}s, {args.rounds} rounds; bodies: "
            + ", ".join(f"{path} {size:,} B" for path, size in sizes.items())
        )
        summary(interleaved(bare, product, args))
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"logs in {tmp}")


if __name__ == "__main__":
    main()
