#!/usr/bin/env python3
"""What a rate-limit layer costs an article view (which has no limit), in microseconds.

    .venv/bin/pip install -e '.[bench]'      # Flask-Limiter, for the comparison only
    .venv/bin/python bench/limiter_hook.py [--requests 4000] [--rounds 5]

Three apps from the product's factory, called in-process through WSGI (no server, no
network), interleaved round by round:
  shipped          spine_site.web.ratelimits: a limit is a decorator on the limited views only
  flask-limiter+f  Flask-Limiter 4 initialised on the same app, with a request_filter that
                   exempts GET and HEAD (its before, after and teardown hooks still run)
  flask-limiter    Flask-Limiter 4 as it comes: its hooks run in full
Prints the median time per article view of each and the difference to "shipped". Rate
limits are on (RATELIMIT_ENABLED) in all three, as in production.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ARTICLE = "/articles/what-is-a-physiatrist"
AGENT = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36"
VARIANTS = ("shipped", "flask-limiter+f", "flask-limiter")


def make_app(tmp: Path, variant: str) -> Any:
    from flask import request
    from flask_migrate import upgrade

    from spine_site import create_app

    app = create_app(
        {
            "SECRET_KEY": secrets.token_hex(32),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / (variant + '.db')}",
            "INSTANCE_PATH": str(tmp / "instance"),
            "RATELIMIT_ENABLED": True,
            "OUTBOX_IN_PROCESS": False,
            "ANALYTICS_FLUSH_SECONDS": 0,
        }
    )
    with app.app_context():
        upgrade()
    if variant != "shipped":
        from flask_limiter import Limiter

        limiter = Limiter(key_func=lambda: request.remote_addr or "", default_limits=[])
        if variant == "flask-limiter+f":
            limiter.request_filter(lambda: request.method in {"GET", "HEAD"})
        limiter.init_app(app)
        # WhiteNoise wraps the WSGI app last; the hooks above are Flask's, so they still run.
    return app


def time_views(app: Any, count: int) -> float:
    """Seconds per article view, over `count` views of a returning reader (no cookie set)."""
    from werkzeug.test import EnvironBuilder

    base = EnvironBuilder(
        path=ARTICLE,
        headers={"User-Agent": AGENT, "Cookie": "spine_visit=l=%2F"},
    ).get_environ()

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        assert status.startswith("200"), status

    wsgi = app.wsgi_app
    started = time.perf_counter()
    for _ in range(count):
        for _chunk in wsgi(dict(base), start_response):
            pass
    return (time.perf_counter() - started) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    try:
        import flask_limiter  # noqa: F401
    except ImportError:
        raise SystemExit(
            "Flask-Limiter is needed for the comparison: pip install -e '.[bench]'"
        ) from None
    tmp = Path(tempfile.mkdtemp(prefix="spine-limiter-bench-"))
    apps = {v: make_app(tmp, v) for v in VARIANTS}
    results: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for v in VARIANTS:  # warm up: the article cache, templates, the cookie header cache
        time_views(apps[v], 500)
    for _ in range(args.rounds):
        for v in VARIANTS:
            results[v].append(time_views(apps[v], args.requests))
    anchor = statistics.median(results["shipped"])
    print(f"{args.rounds} interleaved rounds of {args.requests} article views, in-process WSGI")
    for v in VARIANTS:
        median = statistics.median(results[v])
        print(
            f"{v:<16} {median * 1e6:7.1f} us/view   {1 / median:7.0f} views/s   "
            f"{(median - anchor) * 1e6:+6.1f} us vs shipped"
        )


if __name__ == "__main__":
    main()
