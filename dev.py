#!/usr/bin/env python3
"""The README's two commands, with nothing but Python 3.11+ installed.

    python3 dev.py serve   create .venv, install, upgrade the database, serve on :5000
    python3 dev.py test    create .venv, install with test tools, run the whole test suite

Anything after `test` goes to pytest (python3 dev.py test -k guide -x).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import venv
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def run(*args: str | Path, env: dict[str, str] | None = None) -> int:
    return subprocess.call([str(a) for a in args], cwd=ROOT, env=env)


def ensure_venv(extras: str) -> None:
    """Create .venv and install the project; skip the install when nothing changed."""
    if sys.version_info < (3, 11):  # noqa: UP036 -- dev.py may be started by an older python3
        sys.exit(f"spine_site needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if not PYTHON.exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    spec = f".[{extras}]" if extras else "."
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + spec.encode()).hexdigest()
    stamp = VENV / f".installed-{extras or 'base'}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    # One line instead of pip's ~170: the server's address is what the reader is waiting for.
    # --quiet still shows errors, and DEV_PIP_VERBOSE=1 brings the full output back.
    print(f"installing {spec} into .venv (about a minute the first time) ...", flush=True)
    quiet = [] if os.environ.get("DEV_PIP_VERBOSE") else ["--quiet"]
    code = run(
        PYTHON, "-m", "pip", "install", *quiet, "--disable-pip-version-check", "--editable", spec
    )
    if code:
        sys.exit(code)
    stamp.write_text(digest)


def site_url(env: Mapping[str, str]) -> str:
    """SITE_URL when set, else the address `serve` listens on, so the links in emails (the
    guide download above all) point at this server's port.

    A wildcard HOST (0.0.0.0, ::) is not an address a browser can open: 127.0.0.1 stands in.
    """
    if env.get("SITE_URL"):
        return env["SITE_URL"]
    host = env.get("HOST") or "127.0.0.1"
    if host in {"0.0.0.0", "::"}:
        host = "127.0.0.1"
    elif ":" in host:  # an IPv6 address goes in brackets in a URL
        host = f"[{host.strip('[]')}]"
    return f"http://{host}:{env.get('PORT') or '5000'}"


def file_sets(path: Path, name: str) -> bool:
    """Whether an env file assigns `name` (NAME=... or export NAME=...)."""
    if not path.is_file():
        return False
    pattern = re.compile(rf"^\s*(?:export\s+)?{re.escape(name)}\s*=", re.MULTILINE)
    return bool(pattern.search(path.read_text(encoding="utf-8", errors="replace")))


def serve() -> int:
    ensure_venv("")
    env = {**os.environ}
    env.setdefault("SPINE_ENV", "development")
    # A SITE_URL in .env (which `flask` loads, never over the environment) is left to win.
    if not env.get("SITE_URL") and not file_sets(ROOT / ".env", "SITE_URL"):
        env["SITE_URL"] = site_url(env)
    flask = [BIN / "flask", "--app", "wsgi"]
    code = run(*flask, "db", "upgrade", env=env)
    if code:
        return code
    articles = sorted((ROOT / "spine_site" / "content").rglob("*.md"))
    host = env.get("HOST", "127.0.0.1")
    port = env.get("PORT", "5000")
    print(f"\n  spine_site is running at http://{host}:{port}/  (Ctrl-C to stop)")
    if env.get("SITE_URL"):
        print(f"  links in emails start with {env['SITE_URL']}/")
    print(f"  emails are written to {ROOT / 'instance' / 'mail'}")
    print('  each one is logged as "Mail written: ..." with its links after "Open:"\n', flush=True)
    # --reload with the articles as extra files: an editor's saved change shows on refresh.
    extra = os.pathsep.join(str(p) for p in articles)
    return run(
        *flask, "run", "--host", host, "--port", port, "--reload", "--extra-files", extra, env=env
    )


def test(pytest_args: list[str]) -> int:
    ensure_venv("dev")
    code = run(PYTHON, "-m", "pytest", *pytest_args)
    if code == 5:
        print("pytest collected no tests: that is a failure here, not a pass.", file=sys.stderr)
        return 1
    return code


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"serve", "test"}:
        print(__doc__)
        return 2
    return serve() if argv[0] == "serve" else test(argv[1:])


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
