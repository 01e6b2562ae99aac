"""Static files: content-hashed names, served by WhiteNoise with a year's immutable caching.

At start-up each file under static/ is copied to STATIC_BUILD_DIR under a name that carries a
hash of its content (css/site.3f2a1b9c0d4e.css), with gzip and Brotli copies beside it, and
`url_for("static", ...)` gives that name: a changed file gets a new URL. Several workers
building at once write the same bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import brotli
from flask import Flask
from whitenoise import WhiteNoise

from spine_site.web.security import STATIC_HEADERS

# A hashed name: 12 hex digits before the extension.
FINGERPRINTED = re.compile(r"\.[0-9a-f]{12}\.[A-Za-z0-9]+$")
# Worth compressing: text formats (PNG and the like are compressed already).
_TEXT = {"css", "js", "svg", "webmanifest", "json", "txt", "xml"}
YEAR = 365 * 24 * 3600


def hashed_name(relative: str, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()[:12]
    stem, dot, ext = relative.rpartition(".")
    return f"{stem}.{digest}.{ext}" if dot else f"{relative}.{digest}"


def build(source: Path, target: Path) -> dict[str, str]:
    """Copy static files to `target` under hashed names; return {name: hashed name}."""
    manifest: dict[str, str] = {}
    for path in sorted(source.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(source).as_posix()
        data = path.read_bytes()
        hashed = manifest[relative] = hashed_name(relative, data)
        _write_once(target / hashed, lambda data=data: data)
        if path.suffix.lstrip(".") in _TEXT:
            _write_once(target / f"{hashed}.gz", lambda data=data: gzip.compress(data, 9, mtime=0))
            _write_once(
                target / f"{hashed}.br", lambda data=data: brotli.compress(data, quality=11)
            )
    return manifest


def _write_once(path: Path, make: Callable[[], bytes]) -> None:
    if path.exists():
        return  # the name is the content's hash: what is there is the same (and not redone)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside it, then renamed: a worker never serves a half-written file.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(handle, "wb") as out:
        out.write(make())
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)


def _static_headers(headers: Any, path: str, url: str) -> None:
    for name, value in STATIC_HEADERS:
        headers[name] = value
    # WhiteNoise gives immutable files ten years; a year is the usual figure (RFC 2616's
    # upper bound for Expires) and what docs/deploy.md promises. Either outlives any
    # browser cache, and a hashed name never changes content.
    if FINGERPRINTED.search(url):
        headers["Cache-Control"] = f"max-age={YEAR}, public, immutable"


def init_app(app: Flask) -> None:
    source = Path(app.static_folder or "static")
    target = Path(app.config["STATIC_BUILD_DIR"] or Path(app.instance_path) / "static-build")
    manifest = build(source, target)
    app.extensions["static_manifest"] = manifest

    @app.url_defaults
    def _fingerprint(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint == "static" and values.get("filename") in manifest:
            values["filename"] = manifest[values["filename"]]

    static = WhiteNoise(
        app.wsgi_app,
        # Same-origin only (CORP says so too); no CDN in front of these.
        allow_all_origins=False,
        # Flask's after-request hooks never see these responses: add the headers here
        # (its documented hook, run after WhiteNoise's own cache headers).
        add_headers_function=_static_headers,
        # Unhashed names (an old page, a bookmarked icon) still work, cached for an hour.
        max_age=3600,
        immutable_file_test=lambda path, url: bool(FINGERPRINTED.search(url)),
        # Files are known at start-up; a deploy restarts the workers.
        autorefresh=False,
    )
    static.add_files(str(target), prefix="static/")
    static.add_files(str(source), prefix="static/")
    app.wsgi_app = static  # type: ignore[method-assign]
