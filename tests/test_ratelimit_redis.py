"""Rate limits shared through Redis hold across worker processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.support import IN_CI

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
ROOT = Path(__file__).resolve().parent.parent

# One "worker process": builds the app on the shared database and posts the guide form.
WORKER = """
import json, sys
from tests.support import base_overrides
from tests.html_forms import GUIDE, fill, form_posting_to
from spine_site import create_app
from pathlib import Path
settings = json.loads(sys.argv[1])
overrides = base_overrides(Path(settings.pop("tmp")), settings.pop("uri"))
app = create_app({**overrides, **settings})
statuses = []
for n in range(int(sys.argv[2])):
    client = app.test_client()
    fields = form_posting_to(client.get("/guide").get_data(as_text=True), "/guide")
    data = fill(fields, "guide", {**GUIDE, "email": f"p{n}@example.org"})
    statuses.append(client.post("/guide", data=data).status_code)
print(json.dumps(statuses))
"""


def redis_is_up() -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(REDIS_URL)
    try:
        with socket.create_connection((parts.hostname, parts.port or 6379), timeout=1):
            return True
    except OSError:
        return False


def run_worker(settings: dict, posts: int) -> list[int]:
    result = subprocess.run(
        [sys.executable, "-c", WORKER, json.dumps(settings), str(posts)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def shared_settings(app, tmp_path, **extra) -> dict:
    return {
        "tmp": str(tmp_path / "worker"),
        "uri": app.config["SQLALCHEMY_DATABASE_URI"],
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_FORMS": "4 per minute",
        **extra,
    }


def test_form_limit_holds_across_worker_processes_with_redis(app, tmp_path):
    if not redis_is_up():
        if IN_CI:
            pytest.fail(f"Redis is not reachable at {REDIS_URL}; .ci/run should have started it")
        pytest.skip(f"no Redis at {REDIS_URL} (set TEST_REDIS_URL, or start redis-server)")
    settings = shared_settings(
        app,
        tmp_path,
        RATELIMIT_STORAGE_URI=REDIS_URL,
        RATELIMIT_KEY_PREFIX=f"test-{uuid.uuid4().hex}",  # this run's own keys
    )
    first = run_worker(settings, 3)
    second = run_worker(settings, 3)
    assert first == [303, 303, 303]
    assert second == [303, 429, 429], "the second process saw the first one's posts"


def test_memory_storage_does_not_hold_across_processes(app, tmp_path):
    """The contrast that makes RATELIMIT_STORAGE_URI=redis:// necessary with workers."""
    settings = shared_settings(app, tmp_path)
    assert run_worker(settings, 3) == [303, 303, 303]
    assert run_worker(settings, 3) == [303, 303, 303]
