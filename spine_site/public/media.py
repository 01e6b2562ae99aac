"""Article images at /media/<name>: files from the database, cached for good.

A name carries the digest of its pixels, so what it names never changes: browsers and CDNs
keep it a year without asking again.
"""

from __future__ import annotations

import re

from flask import Response, abort, request
from sqlalchemy import select

from spine_site.extensions import db
from spine_site.models import ArticleImageFile

NAME = re.compile(r"^[0-9a-f]{16}-\d{1,4}\.(webp|avif|jpg|png)$")
YEAR = 365 * 24 * 3600


def media(name: str) -> Response:
    if not NAME.fullmatch(name):
        abort(404)
    row = db.session.scalar(select(ArticleImageFile).where(ArticleImageFile.name == name))
    if row is None:
        abort(404)
    response = Response(row.data, mimetype=row.mimetype)
    response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
    # The name is the content's: a strong validator for the odd revalidation.
    response.set_etag(name)
    return response.make_conditional(request)
