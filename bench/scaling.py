#!/usr/bin/env python3
"""How the article and the guide submission scale with workers and connections (issue 16).

    .venv/bin/python bench/scaling.py [--seconds 5] [--database-url URL] [--svg docs/scaling.svg]

Needs wrk. Runs the product (wsgi:app) under gunicorn with the project's gunicorn.conf.py,
first with 1, 2, 4 and 8 sync workers at 32 connections, then with 5 workers at 1, 8, 32 and
128 connections; at each point wrk reads the article as a first-time phone visitor, then posts
the guide form with a new email each request (bench/submission_speed.py's way: a cookie and
tokens from one GET of the form, a Lua script making each address unique). Prints requests
per second and p99 at each point and draws both curves into an SVG chart (by hand, no
plotting library). SQLite in a temporary folder by default; --database-url for PostgreSQL
(the database named there is dropped and created again).
"""

from __future__ import annotations

import argparse
import http.client
import math
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path

from article_speed import (
    ARTICLE,
    BROWSER_AGENT,
    migrated_database,
    run_wrk,
    start_gunicorn,
    to_ms,
    wait_until_up,
)
from public_pages import refuse_busy_port, wait_until_booted
from sqlalchemy import create_engine, text
from submission_speed import LUA

ROOT = Path(__file__).resolve().parent.parent
WORKERS = [1, 2, 4, 8]
CONNECTIONS = [1, 8, 32, 128]
SERIES = {"article": "#1f5f99", "submission": "#b4521e"}
DASH = ' stroke-dasharray="6 4"'  # the submission's line, told apart without colour too


def wrk(url: str, connections: int, seconds: int, script: Path | None = None) -> dict:
    """run_wrk, and at one connection wrk with one thread (it needs a connection a thread)."""
    if connections >= 2:
        return run_wrk(url, connections, seconds, script)
    extra = ["-s", str(script)] if script else []
    agent = ["-H", f"User-Agent: {BROWSER_AGENT}"]
    out = subprocess.run(
        ["wrk", "-t1", "-c1", f"-d{seconds}s", "--latency", *agent, *extra, url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
        "p99": to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
        "non2xx": float(non2xx.group(1)) if non2xx else 0.0,
    }


def post_script(port: int, folder: Path) -> Path:
    """A wrk script posting the guide form, cookie and tokens from one GET, a new email each."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", "/guide", headers={"User-Agent": BROWSER_AGENT})
    page = conn.getresponse()
    cookie = page.getheader("Set-Cookie").split(";")[0]
    html = page.read().decode()
    fields = dict(re.findall(r'name="(guide-[a-z_]+)" type="hidden" value="([^"]*)"', html))
    fields.update({"guide-first_name": "Load", "guide-website": ""})
    body = urllib.parse.urlencode(fields) + "&guide-email=EMAIL"
    script = folder / f"post-{secrets.token_hex(4)}.lua"
    script.write_text(
        f"wrk.method = 'POST'\nwrk.body = [[{body}]]\n"
        "wrk.headers['Content-Type'] = 'application/x-www-form-urlencoded'\n"
        f"wrk.headers['Cookie'] = '{cookie}'\n" + LUA.replace("RUN", secrets.token_hex(4))
    )
    return script


def point(port: int, connections: int, args: argparse.Namespace, tmp: Path) -> dict:
    """The article, then the submission, at one setting; fails on any unexpected status."""
    base = f"http://127.0.0.1:{port}"
    article = wrk(base + ARTICLE, connections, args.seconds)
    submission = wrk(base + "/guide", connections, args.seconds, post_script(port, tmp))
    for name, figures in (("article", article), ("submission", submission)):
        if figures["non2xx"]:
            raise SystemExit(f"{name}: {figures['non2xx']:.0f} responses not 2xx/3xx")
    return {"article": article, "submission": submission}


def sweep(args: argparse.Namespace, env: dict[str, str], tmp: Path) -> dict[str, dict]:
    """Figures by (workers, connections): the worker sweep at 32, the connection sweep at 5."""
    settings = [(w, [32]) for w in WORKERS] + [(5, CONNECTIONS)]
    results: dict[str, dict] = {"workers": {}, "connections": {}}
    for workers, connection_counts in settings:
        refuse_busy_port(args.port)
        server = start_gunicorn(workers, args.port, env, tmp / "server.log", app="wsgi:app")
        try:
            wait_until_up(f"http://127.0.0.1:{args.port}{ARTICLE}")
            wait_until_booted(server, workers)
            run_wrk(f"http://127.0.0.1:{args.port}{ARTICLE}", 32, 1)  # every worker warm
            for connections in connection_counts:
                figures = point(args.port, connections, args, tmp)
                if connection_counts == [32]:
                    results["workers"][workers] = figures
                else:
                    results["connections"][connections] = figures
                print(
                    f"workers {workers}  connections {connections:>3}   "
                    + "   ".join(
                        f"{name} {f['rps']:6.0f} req/s p99 {f['p99']:7.1f} ms"
                        for name, f in figures.items()
                    )
                )
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    return results


def axis_ticks(bottom: float, top: float) -> list[float]:
    """Log-scale gridlines (1, 3, 10, 30, ...) from the last one under `bottom` to past `top`."""
    steps = [m * 10**e for e in range(0, 6) for m in (1, 3)]
    low = max([s for s in steps if s <= bottom] or [1])
    high = min(s for s in steps if s >= top)
    return [s for s in steps if low <= s <= high]


def chart(x0: float, title: str, xlabel: str, series: dict[str, dict], ticks: list) -> str:
    """One line chart, 400 x 300 from x0: log y axis, evenly spaced x categories."""
    left, top, width, height = x0 + 70, 50, 300, 190
    low, high = math.log10(ticks[0]), math.log10(ticks[-1])

    def y(value: float) -> float:
        return top + height - (math.log10(max(value, ticks[0])) - low) / (high - low) * height

    xs = list(next(iter(series.values())))
    step = width / (len(xs) - 1)
    parts = [
        f'<text x="{left + width / 2}" y="28" class="title">{title}</text>',
        f'<text x="{left + width / 2}" y="{top + height + 40}" class="label">{xlabel}</text>',
        f'<text transform="translate({x0 + 16},{top + height / 2}) rotate(-90)" '
        f'class="label">requests per second (log scale)</text>',
    ]
    for tick in ticks:
        parts.append(
            f'<line x1="{left}" x2="{left + width}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            f'class="grid"/><text x="{left - 6}" y="{y(tick) + 4:.1f}" class="tick-y">'
            f"{tick:,.0f}</text>"
        )
    for i, x in enumerate(xs):
        parts.append(
            f'<text x="{left + i * step}" y="{top + height + 18}" class="tick-x">{x}</text>'
        )
    parts.append(
        f'<path d="M{left},{top} V{top + height} H{left + width}" class="axis" fill="none"/>'
    )
    for name, values in series.items():
        points = [(left + i * step, y(values[x])) for i, x in enumerate(xs)]
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        dash = DASH if name == "submission" else ""
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{SERIES[name]}" '
            f'stroke-width="2.5"{dash}/>'
        )
        for (px, py), x in zip(points, xs, strict=True):
            parts.append(
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="4" fill="{SERIES[name]}"/>'
                f'<text x="{px:.1f}" y="{py - 9:.1f}" class="value">{values[x]:,.0f}</text>'
            )
    return "\n".join(parts)


def svg(results: dict[str, dict], database: str, seconds: int) -> str:
    """Both charts, a legend, and a title and description a screen reader can read out."""
    rates = {
        sweep: {name: {k: v[name]["rps"] for k, v in by.items()} for name in SERIES}
        for sweep, by in results.items()
    }
    top = max(v for by in rates.values() for s in by.values() for v in s.values())
    low = min(v for by in rates.values() for s in by.values() for v in s.values())
    ticks = axis_ticks(low, top * 1.3)
    desc = "; ".join(
        f"{name}, " + ", ".join(f"{k} {unit}: {v:,.0f}" for k, v in rates[sweep][name].items())
        for sweep, unit in (("workers", "workers"), ("connections", "connections"))
        for name in SERIES
    )
    legend = "".join(
        f'<line x1="{300 + i * 160}" x2="{330 + i * 160}" y1="305" y2="305" stroke="{c}" '
        f'stroke-width="2.5"{DASH if n == "submission" else ""}/>'
        f'<text x="{336 + i * 160}" y="309" class="legend">{n}</text>'
        for i, (n, c) in enumerate(SERIES.items())
    )
    return f"""<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 800 330" width="800"
 height="330" role="img" aria-labelledby="scaling-title scaling-desc">
<title id="scaling-title">Article and guide submission throughput against gunicorn workers
 and wrk connections ({database})</title>
<desc id="scaling-desc">Requests per second, {seconds} s per point, 2 cores. Left: sync
 workers at 32 connections. Right: connections at 5 workers. {desc}.</desc>
<style>
text {{ font-family: system-ui, sans-serif; fill: #222; }}
.title {{ font-size: 15px; font-weight: 600; text-anchor: middle; }}
.label {{ font-size: 13px; text-anchor: middle; }}
.tick-x {{ font-size: 12px; text-anchor: middle; }}
.tick-y {{ font-size: 11px; text-anchor: end; }}
.value {{ font-size: 10px; text-anchor: middle; }}
.legend {{ font-size: 13px; }}
.grid {{ stroke: #ddd; }}
.axis {{ stroke: #444; }}
</style>
<rect width="800" height="330" fill="#fff"/>
{chart(0, "Against workers (32 connections)", "gunicorn sync workers", rates["workers"], ticks)}
{chart(400, "Against connections (5 workers)", "wrk connections", rates["connections"], ticks)}
{legend}
</svg>
"""


def run_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"SPINE_ENV", "GUNICORN_CMD_ARGS"}}
    env.update(
        {
            "SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": url,
            "RATELIMIT_ENABLED": "false",
            "FORM_MIN_FILL_SECONDS": "0",
            "OUTBOX_IN_PROCESS": "false",  # queue only, as in bench/submission_speed.py
            "PYTHONPATH": str(ROOT),
            "LOG_FORMAT": "text",
        }
    )
    return env


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)  # figures as they come, also into a file
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--port", type=int, default=8095)
    parser.add_argument("--svg", type=Path, default=ROOT / "docs/scaling.svg")
    args = parser.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    tmp = Path(tempfile.mkdtemp(prefix="spine-scaling-bench-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
    env = run_env(url)
    migrated_database(url, env)
    database = url.split("://")[0]
    print(f"database: {database}; wrk -t2 (-t1 at one connection), {args.seconds} s a point")
    results = sweep(args, env, tmp)
    with create_engine(url).connect() as db:
        leads = db.execute(text("SELECT count(*) FROM lead")).scalar_one()
        twice = db.execute(
            text(
                "SELECT count(*) FROM (SELECT email FROM lead GROUP BY email HAVING count(*) > 1) d"
            )
        ).scalar_one()
    print(f"leads stored {leads:,}, addresses stored twice {twice}")
    args.svg.write_text(svg(results, database, args.seconds))
    print(f"chart written to {args.svg}")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
