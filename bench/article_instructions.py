#!/usr/bin/env python3
"""Instructions per article view, counted by valgrind's callgrind: a figure that does not
move with the machine's load, for comparing two versions of the code.

    .venv/bin/python bench/article_instructions.py [--views 500] [--against REV]

Needs valgrind (apt-get install valgrind). For each version it runs the app in-process
(the WSGI app called directly, rate limits on, views counted, a first visit each time:
no cookie) twice under callgrind, once with no article views and once with --views, after
the same warm-up, and divides the difference by --views: start-up costs cancel out. Each
count is the median of three runs (two at a time), after one run that only compiles.
--against REV also measures that git revision (checked out into a temporary worktree,
run with this checkout's .venv), so a change can be compared with what came before it.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"

# Run under callgrind with the checkout to measure first on sys.path.
SERVE = """
import sys, tempfile
from pathlib import Path
from flask_migrate import upgrade
from werkzeug.test import EnvironBuilder
from spine_site import create_app

views = int(sys.argv[1])
tmp = Path(tempfile.mkdtemp())
app = create_app({
    "SECRET_KEY": "k" * 64, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'bench.db'}",
    "INSTANCE_PATH": str(tmp / "instance"), "STATIC_BUILD_DIR": str(tmp / "static"),
    "RATELIMIT_ENABLED": True, "OUTBOX_IN_PROCESS": False, "ANALYTICS_FLUSH_SECONDS": 0,
})
with app.app_context():
    upgrade()
agent = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36"
environ = EnvironBuilder(
    path="/articles/what-is-a-physiatrist", headers={"User-Agent": agent}
).get_environ()

def start_response(status, headers, exc_info=None):
    assert status.startswith("200"), status

for _ in range(20 + views):  # 20 to warm every per-process cache in both runs alike
    for _chunk in app.wsgi_app(dict(environ), start_response):
        pass
"""


def instructions(checkout: Path, views: int, out: Path) -> int:
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            str(PYTHON),
            "-c",
            SERVE,
            str(views),
        ],
        cwd=checkout,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(checkout),
            "SPINE_ENV": "production",
            # A fixed hash seed: set and dict orders, and so the work done, repeat exactly.
            "PYTHONHASHSEED": "0",
        },
        capture_output=True,
        text=True,
        timeout=1800,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode or not found:
        raise SystemExit(f"callgrind run failed in {checkout}:\n{done.stderr[-3000:]}")
    return int(found.group(1))


def per_view(checkout: Path, views: int, tmp: Path) -> float:
    # A first run, not counted, writes every __pycache__: a run that compiles the code does
    # hundreds of millions of instructions more than one that finds it compiled.
    instructions(checkout, 0, tmp / "compile")
    runs = [(n, i) for n in (0, views) for i in range(3)]
    with ThreadPoolExecutor(2) as pool:
        counts = list(
            pool.map(lambda run: instructions(checkout, run[0], tmp / f"{run[0]}-{run[1]}"), runs)
        )
    base = statistics.median(counts[:3])
    loaded = statistics.median(counts[3:])
    return (loaded - base) / views


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--views", type=int, default=500)
    parser.add_argument("--against", help="a git revision to measure as well")
    args = parser.parse_args()
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind is needed: apt-get install valgrind")
    tmp = Path(tempfile.mkdtemp(prefix="spine-instructions-"))
    results = {"working tree": per_view(ROOT, args.views, tmp)}
    if args.against:
        tree = tmp / "against"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(tree), args.against],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        try:
            results[args.against] = per_view(tree, args.views, tmp)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT)
    print(f"instructions per article view (callgrind, {args.views} views after 20 to warm up)")
    for name, count in results.items():
        print(f"  {name:<14} {count:12,.0f}")
    if args.against:
        change = results["working tree"] / results[args.against] - 1
        print(f"  change: {change:+.1%} against {args.against}")


if __name__ == "__main__":
    sys.exit(main())
