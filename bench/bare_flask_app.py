"""A bare Flask app serving fixed pages: the anchor for bench/public_pages.py.

It imports nothing of the product, only Flask and the standard library, so what it costs is
what Flask and gunicorn cost for serving those bytes: no hooks, no cookies, no headers but
Content-Type and Content-Length. The pages are read once at start-up from the directory named
by BARE_PAGES_DIR, which holds `index.json` (path -> {"file": name, "content_type": type})
and one file per path, as written by bench/public_pages.py from the product's own responses.

With BARE_DATABASE_URL set it also answers `/healthz-with-database`: the product's /healthz
bytes after one `SELECT 1` through a plain SQLAlchemy engine, the anchor for a page that asks
the database on every call, as the product's /healthz does.

    BARE_PAGES_DIR=/tmp/pages gunicorn -w 5 -k sync bench.bare_flask_app:app
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Callable
from pathlib import Path

from flask import Flask, Response
from sqlalchemy import create_engine, text

PAGES = Path(os.environ["BARE_PAGES_DIR"])

app = Flask(__name__)


def fixed_page(body: bytes, content_type: str) -> Callable[[], Response]:
    """A view that answers with these bytes; one Response per request, as any view makes."""

    def view() -> Response:
        return Response(body, content_type=content_type)

    return view


INDEX = json.loads((PAGES / "index.json").read_text())
for number, (path, page) in enumerate(INDEX.items()):
    app.add_url_rule(
        path,
        endpoint=f"page{number}",
        view_func=fixed_page((PAGES / page["file"]).read_bytes(), page["content_type"]),
    )

if os.environ.get("BARE_DATABASE_URL"):
    engine = create_engine(os.environ["BARE_DATABASE_URL"])
    page = INDEX["/healthz"]
    health = fixed_page((PAGES / page["file"]).read_bytes(), page["content_type"])

    @app.get("/healthz-with-database")
    def healthz_with_database() -> Response:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return health()


# What gunicorn.conf.py's post_worker_init does for the product once its worker has loaded
# it (this app is started without that file, which imports the product): the loaded objects
# moved out of the cyclic garbage collector's sight, after a collection.
gc.collect()
gc.freeze()
