"""Per-address rate limits on form posts and sign-ins, kept in memory or in Redis.

Built on the `limits` library's public API (the engine Flask-Limiter itself runs on): a
decorator on the few views that take posts, counting only the methods it names, with the
login's count-only-failures rule (`count_when`) beside it.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Collection
from typing import Any

from flask import Flask, Response, current_app, request
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

log = logging.getLogger(__name__)


class RateLimited(TooManyRequests):
    """A 429 that says when to try again (Retry-After)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after=max(1, retry_after))


def init_app(app: Flask) -> None:
    uri = app.config.get("RATELIMIT_STORAGE_URI") or "memory://"
    prefix = app.config.get("RATELIMIT_KEY_PREFIX")
    options = {"key_prefix": prefix} if prefix and not uri.startswith("memory://") else {}
    # Fixed windows: one counter per address and limit, the cheapest to keep in Redis.
    app.extensions["rate_limiter"] = FixedWindowRateLimiter(storage_from_string(uri, **options))


def warn_if_counted_per_worker(app: Flask, workers: int) -> bool:
    """Log a WARNING if each of several worker processes keeps its own counts (memory://:
    5 workers, 5 times the sign-in guesses); True if so. Development is left alone."""
    uri = app.config.get("RATELIMIT_STORAGE_URI") or "memory://"
    if (
        workers <= 1
        or not uri.startswith("memory://")
        or not app.config.get("RATELIMIT_ENABLED", True)
        or app.config.get("ENV_NAME") == "development"
    ):
        return False
    log.warning(
        "RATE LIMITS COUNT PER WORKER: %d worker processes each keep their own counts in "
        "memory (RATELIMIT_STORAGE_URI=memory://), so every address gets %d times the "
        "limits on forms and sign-ins. Set RATELIMIT_STORAGE_URI=redis://127.0.0.1:6379/0 "
        "(a Redis every worker reaches; docs/deploy.md) to share them.",
        workers,
        workers,
    )
    return True


def client_address() -> str:
    """The address limits count against (ProxyFix, when configured, has already set it)."""
    return request.remote_addr or "unknown"


def limited(
    setting: str,
    *,
    methods: Collection[str] = ("POST",),
    count_when: Callable[[Response], bool] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Limit a view by client address with the limits in the `setting` named: every request
    with one of `methods` counts, or with `count_when` only one whose response passes it."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        scope = f"{view.__module__}.{view.__name__}"

        @functools.wraps(view)
        def limited_view(*args: Any, **kwargs: Any) -> Any:
            config = current_app.config
            if request.method not in methods or not config["RATELIMIT_ENABLED"]:
                return view(*args, **kwargs)
            limiter: FixedWindowRateLimiter = current_app.extensions["rate_limiter"]
            items = parse_many(config[setting])
            key = (client_address(), scope)
            if count_when is None:
                for item in items:
                    if not limiter.hit(item, *key):
                        raise RateLimited(_seconds_left(limiter, item, key))
                return view(*args, **kwargs)
            for item in items:
                if not limiter.test(item, *key):
                    raise RateLimited(_seconds_left(limiter, item, key))
            response = current_app.make_response(view(*args, **kwargs))
            if count_when(response):
                for item in items:
                    limiter.hit(item, *key)
            return response

        return limited_view

    return decorate


def _seconds_left(
    limiter: FixedWindowRateLimiter, item: RateLimitItem, key: tuple[str, str]
) -> int:
    reset_at = limiter.get_window_stats(item, *key).reset_time
    return int(reset_at - time.time()) + 1
