"""Article images at /media/<name>: files from the database, cached for good.

A name carries the digest of its pixels, so what it names never changes: browsers and CDNs
keep it a year without asking again, and each worker keeps the bytes it served last.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict

from flask import Response, abort, request
from sqlalchemy import select

from ..article_models import ArticleImageFile
from ..extensions import db
from .views import bp

NAME = re.compile(r"^[0-9a-f]{16}-\d{1,4}\.(webp|avif|jpg|png)$")
YEAR = 365 * 24 * 3600


class _Recent:
    """The files served last in this process, up to a total size (a small LRU cache)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._files: OrderedDict[str, tuple[str, bytes]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, name: str) -> tuple[str, bytes] | None:
        with self._lock:
            found = self._files.get(name)
            if found is not None:
                self._files.move_to_end(name)
            return found

    def put(self, name: str, mimetype: str, data: bytes) -> None:
        if len(data) > self.budget // 4:
            return
        with self._lock:
            if name in self._files:
                return
            self._files[name] = (mimetype, data)
            self._size += len(data)
            while self._size > self.budget:
                _, (_, dropped) = self._files.popitem(last=False)
                self._size -= len(dropped)


recent = _Recent(budget=32 * 1024 * 1024)


@bp.get("/media/<name>")
def media(name: str) -> Response:
    if not NAME.fullmatch(name):
        abort(404)
    found = recent.get(name)
    if found is None:
        row = db.session.scalar(select(ArticleImageFile).where(ArticleImageFile.name == name))
        if row is None:
            abort(404)
        found = (row.mimetype, row.data)
        recent.put(name, *found)
    mimetype, data = found
    response = Response(data, mimetype=mimetype)
    response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
    # The name is the content's: a strong validator for the odd revalidation.
    response.set_etag(name)
    return response.make_conditional(request)
