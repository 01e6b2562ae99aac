"""The real app plus one route that returns a constant string the size of the article page.

gunicorn serves this module in bench/article_speed.py, so both URLs go through the same
workers, hooks and headers; the only difference is rendering the article.
"""

from __future__ import annotations

import os

from spine_site import create_app

app = create_app()
ARTICLE = os.environ.get("BENCH_ARTICLE", "/articles/what-is-a-physiatrist")
_BODY: list[bytes] = []


@app.get("/bench/constant")
def constant() -> tuple[bytes, int, dict[str, str]]:
    return _BODY[0], 200, {"Content-Type": "text/html; charset=utf-8"}


# The article as one visitor would get it, rendered once (after the route exists).
_BODY.append(app.test_client().get(ARTICLE).get_data())
