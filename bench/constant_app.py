"""The real app plus two bench routes, served by gunicorn in the bench/ scripts.

/bench/constant returns a constant string the size of the article page (article_speed.py);
/bench/insert does a bare insert into the same database (submission_speed.py). Both go
through the same workers, hooks and headers as the real pages.
"""

from __future__ import annotations

import os

from flask import request
from sqlalchemy import text

from spine_site import create_app
from spine_site.extensions import csrf, db

app = create_app()
ARTICLE = os.environ.get("BENCH_ARTICLE", "/articles/what-is-a-physiatrist")
_BODY: list[bytes] = []


@app.get("/bench/constant")
def constant() -> tuple[bytes, int, dict[str, str]]:
    return _BODY[0], 200, {"Content-Type": "text/html; charset=utf-8"}


@app.post("/bench/insert")
@csrf.exempt
def bare_insert() -> tuple[str, int]:
    # No validation, no person lookup, no email: one row with a lead's contact details.
    db.session.execute(
        text("INSERT INTO bench_insert (first_name, email) VALUES (:f, :e)"),
        {"f": request.form.get("guide-first_name", ""), "e": request.form.get("guide-email", "")},
    )
    db.session.commit()
    return "", 303


with app.app_context():
    key = "SERIAL PRIMARY KEY" if db.engine.dialect.name == "postgresql" else "INTEGER PRIMARY KEY"
    db.session.execute(
        text(
            f"CREATE TABLE IF NOT EXISTS bench_insert ("
            f"id {key}, first_name VARCHAR(100), email VARCHAR(320))"
        )
    )
    db.session.commit()

# The article as one visitor would get it, rendered once (after the routes exist).
_BODY.append(app.test_client().get(ARTICLE).get_data())
