#!/usr/bin/env python3
"""Lighthouse (mobile preset) on six public pages of the real app under gunicorn.

    .venv/bin/python bench/lighthouse.py [--keep-json DIR]

Needs Node.js/npm and /usr/bin/chromium. Lighthouse 12.2.3 is installed with npm into
~/.cache/spine_site/lighthouse (or $LIGHTHOUSE_DIR) when it is not there yet; Lighthouse 13
wants Node 22. Starts gunicorn with gunicorn.conf.py and wsgi:app on a free loopback port,
with a fresh SQLite database in a temporary directory, then runs Lighthouse on /, the
article, /schedule, /guide, and the Spanish home page and article. Prints for each page the
four category scores, the network requests and bytes transferred, every audit that scored
below 1 and every audit Lighthouse could not run (with its weight in the category score);
then whether every score is 100 and whether the article loads in at most 3 requests and
50 KB. Exits 0 whatever the scores are: it measures. --keep-json DIR keeps the JSON reports.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from article_speed import ARTICLE, ROOT, migrated_database, start_gunicorn, wait_until_up

LIGHTHOUSE_VERSION = "12.2.3"
CHROME_PATH = "/usr/bin/chromium"
CHROME_FLAGS = (
    "--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage "
    "--disable-background-networking --disable-component-update --disable-sync --no-first-run"
)
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
PAGES = ("/", ARTICLE, "/schedule", "/guide", "/es/", "/es/articles/que-es-un-fisiatra")
ARTICLE_MAX_REQUESTS = 3
ARTICLE_MAX_BYTES = 51_200
SKIPPED_MODES = {"notApplicable", "manual", "informative"}


def lighthouse_bin() -> Path:
    """The lighthouse command, installed with npm into the cache directory if missing."""
    cache = Path(
        os.environ.get("LIGHTHOUSE_DIR") or Path.home() / ".cache/spine_site/lighthouse"
    ).expanduser()
    command = cache / "node_modules/.bin/lighthouse"
    if command.exists():
        return command
    if not shutil.which("npm"):
        raise SystemExit("npm is needed (Node.js 20): apt-get install nodejs npm")
    cache.mkdir(parents=True, exist_ok=True)
    print(f"installing lighthouse@{LIGHTHOUSE_VERSION} into {cache} ...", flush=True)
    done = subprocess.run(
        [
            "npm",
            "install",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(cache),
            f"lighthouse@{LIGHTHOUSE_VERSION}",
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode or not command.exists():
        raise SystemExit(f"npm install of lighthouse failed:\n{done.stderr[-2000:]}")
    return command


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_lighthouse(command: Path, url: str, output: Path) -> dict[str, Any] | None:
    """Lighthouse's report for `url` (also written to `output`), or None if it failed
    twice. Lighthouse 12 on this Chromium now and then loses a page's trace (NO_NAVSTART,
    "Please run Lighthouse again"): that run is repeated once, and says so."""
    for attempt in (1, 2):
        report = _lighthouse_once(command, url, output)
        if report is not None:
            return report
        if attempt == 1:
            print("  trying once more")
    return None


def _lighthouse_once(command: Path, url: str, output: Path) -> dict[str, Any] | None:
    done = subprocess.run(
        [
            str(command),
            url,
            f"--chrome-flags={CHROME_FLAGS}",
            f"--only-categories={','.join(CATEGORIES)}",
            "--output=json",
            f"--output-path={output}",
            "--quiet",
        ],
        env={**os.environ, "CHROME_PATH": CHROME_PATH},
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode or not output.exists():
        print(f"  lighthouse failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
        return None
    return json.loads(output.read_text())


def score(report: dict[str, Any], category: str) -> int | None:
    value = report["categories"].get(category, {}).get("score")
    return None if value is None else round(value * 100)


def network(report: dict[str, Any]) -> tuple[int, int]:
    """(requests, bytes transferred) from the network-requests audit."""
    items = report["audits"].get("network-requests", {}).get("details", {}).get("items", [])
    return len(items), sum(int(item.get("transferSize") or 0) for item in items)


def scored_audits(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Audits that count and scored below 1, lowest score first."""
    failing = [
        audit
        for audit in report["audits"].values()
        if audit.get("scoreDisplayMode") not in SKIPPED_MODES
        and audit.get("score") is not None
        and audit["score"] < 1
    ]
    return sorted(failing, key=lambda audit: (audit["score"], audit["id"]))


def errored_audits(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Audits that Lighthouse could not run (score null): a fault of the tool, not a score."""
    errored = [a for a in report["audits"].values() if a.get("scoreDisplayMode") == "error"]
    return sorted(errored, key=lambda audit: audit["id"])


def category_weights(report: dict[str, Any]) -> dict[str, float]:
    """Each audit's largest weight in any category."""
    weights: dict[str, float] = {}
    for category in report["categories"].values():
        for ref in category["auditRefs"]:
            weights[ref["id"]] = max(weights.get(ref["id"], 0.0), ref.get("weight", 0.0))
    return weights


def print_page(report: dict[str, Any]) -> None:
    scores = "  ".join(f"{category} {score(report, category)}" for category in CATEGORIES)
    requests, transferred = network(report)
    print(f"  scores: {scores}")
    print(f"  network: {requests} requests, {transferred:,} bytes transferred")
    for item in report["audits"].get("network-requests", {}).get("details", {}).get("items", []):
        print(
            f"    {int(item.get('transferSize') or 0):>8,} B  {item.get('resourceType', '?'):<10}"
            f" {item.get('statusCode', '?')}  {item.get('url')}"
        )
    if report.get("runtimeError"):
        print(f"  runtime error: {report['runtimeError']}")
    for warning in report.get("runWarnings", []):
        print(f"  warning: {warning}")
    weights = category_weights(report)
    failing = scored_audits(report)
    print(f"  audits below 1: {len(failing) or 'none'}")
    for audit in failing:
        display = f" ({audit['displayValue']})" if audit.get("displayValue") else ""
        explanation = f" - {audit['explanation']}" if audit.get("explanation") else ""
        print(
            f"    {audit['score']:.2f}  {audit['id']}: {audit['title']}{display}{explanation}"
            f" [weight {weights.get(audit['id'], 0):g}]"
        )
    errored = errored_audits(report)
    if errored:
        print(f"  audits Lighthouse could not run (no score): {len(errored)}")
        for audit in errored:
            message = (audit.get("errorMessage") or "").rsplit(": ", 1)[-1]
            print(f"    error {audit['id']} [weight {weights.get(audit['id'], 0):g}]: {message}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep-json", type=Path, metavar="DIR", help="keep the JSON reports")
    args = parser.parse_args()
    if not Path(CHROME_PATH).exists():
        raise SystemExit(f"{CHROME_PATH} is needed: apt-get install chromium")
    command = lighthouse_bin()
    version = subprocess.run(
        [str(command), "--version"], capture_output=True, text=True
    ).stdout.strip()

    tmp = Path(tempfile.mkdtemp(prefix="spine-lighthouse-"))
    out_dir = args.keep_json or tmp / "reports"
    out_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    database_url = f"sqlite:///{tmp / 'lh.sqlite3'}"
    env = {
        **os.environ,
        "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": database_url,
        "SITE_URL": base,
        "OUTBOX_IN_PROCESS": "false",
        "MAIL_FILE_DIR": str(tmp / "mail"),
        "STATIC_BUILD_DIR": str(tmp / "static-build"),
        "LOG_FORMAT": "text",
        "PYTHONPATH": str(ROOT),
    }
    server: subprocess.Popen | None = None
    results: dict[str, dict[str, Any] | None] = {}
    try:
        migrated_database(database_url, env)
        log = tmp / "server.log"
        server = start_gunicorn(2, port, env, log, app="wsgi:app")
        try:
            wait_until_up(base + "/")
        except SystemExit:
            print(log.read_text()[-3000:], file=sys.stderr)
            raise
        print(f"lighthouse {version} (mobile preset), chromium {CHROME_PATH}, app at {base}")
        for path in PAGES:
            name = "home" if path == "/" else path.strip("/").replace("/", "_")
            print(f"\n== {path}", flush=True)
            report = run_lighthouse(command, base + path, out_dir / f"{name}.json")
            results[path] = report
            if report is not None:
                print_page(report)
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    print("\nsummary")
    all_perfect = len(results) == len(PAGES)
    for path in PAGES:
        report = results.get(path)
        if report is None:
            all_perfect = False
            print(f"  {path:<34} lighthouse failed")
            continue
        scores = [score(report, category) for category in CATEGORIES]
        all_perfect = all_perfect and all(value == 100 for value in scores)
        requests, transferred = network(report)
        shown = " ".join(
            f"{category[:4]} {value}" for category, value in zip(CATEGORIES, scores, strict=True)
        )
        below = len(scored_audits(report))
        errors = len(errored_audits(report))
        print(
            f"  {path:<34} {shown}  {requests} req {transferred:>7,} B  "
            f"{below} audits below 1, {errors} errored"
        )
    article = results.get(ARTICLE)
    if article is None:
        budget = "article: no report"
    else:
        requests, transferred = network(article)
        within = requests <= ARTICLE_MAX_REQUESTS and transferred <= ARTICLE_MAX_BYTES
        budget = (
            f"article {'within' if within else 'OVER'} budget: {requests} requests "
            f"(max {ARTICLE_MAX_REQUESTS}), {transferred:,} bytes (max {ARTICLE_MAX_BYTES:,})"
        )
    print(f"\nevery score 100: {'yes' if all_perfect else 'NO'}; {budget}")
    if args.keep_json:
        print(f"JSON reports in {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
