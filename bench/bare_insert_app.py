"""A bare Flask app that stores a guide-form post as one lead row: the anchor for submissions.

    DATABASE_URL=... BARE_PERSON_ID=1 .venv/bin/gunicorn -c gunicorn.conf.py \\
        bench.bare_insert_app:app

bench/submission_vs_bare.py starts it beside the product. It imports nothing of spine_site:
only Flask, SQLAlchemy and the standard library. POST /guide parses the body the product's
guide form receives and inserts, in its own transaction, the row the product's `lead` table
gets for it: the same columns with the same values, into the table reflected from the
migrated database (so its indexes, constraints and CHECKs all apply). It then answers 303
to the thank-you page as the product does.

What it leaves out is what the product adds around that row: the form token's signature and
age, the cross-site check, email validation, the person lookup or insert, the duplicate
check, the guide email rendered and queued, the visit cookie's checks, the hooks and headers.
The row names one person made beforehand (BARE_PERSON_ID): the lead's foreign key needs one.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from flask import Flask, redirect, request
from sqlalchemy import MetaData, Table, create_engine, event

# The product's engine options (spine_site/config.py) and, on SQLite, its pragmas and
# BEGIN IMMEDIATE (spine_site/database.py), copied: this file must not import the product.
engine = create_engine(os.environ["DATABASE_URL"], pool_pre_ping=True, hide_parameters=True)
if engine.dialect.name == "sqlite":

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: object, connection_record: object) -> None:
        if not isinstance(dbapi_connection, sqlite3.Connection):
            return
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _sqlite_begin_immediate(conn) -> None:  # type: ignore[no-untyped-def]
        conn.exec_driver_sql("BEGIN IMMEDIATE")


lead = Table("lead", MetaData(), autoload_with=engine)
PERSON_ID = int(os.environ["BARE_PERSON_ID"])
# The fields the product's submission key covers, in its order (intake.SUBMITTED_FIELDS).
SUBMITTED = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "contact_method",
    "best_time",
    "reason",
    "message",
    "consent",
    "opt_in",
)

app = Flask(__name__)


@app.post("/guide")
def guide():  # type: ignore[no-untyped-def]
    form = request.form
    fields = {
        "first_name": form.get("guide-first_name", "").strip(),
        "email": form.get("guide-email", "").strip(),
    }
    # The product's key: the form token's nonce plus a digest of what was typed.
    nonce = form.get("guide-form_token", "").split(".")[0]
    content = "\x1f".join(f"{name}={fields.get(name) or ''}" for name in SUBMITTED)
    key = hashlib.sha256(f"{nonce}\x1e{content}".encode()).hexdigest()
    visit = dict(parse_qsl(request.cookies.get("spine_visit", ""), max_num_fields=10))
    source_page = form.get("guide-source_page", "")
    placement = form.get("guide-placement", "")
    row = {
        "person_id": PERSON_ID,
        "form": "guide",
        "status": "new",
        "submission_token": key,
        "created_at": datetime.now(UTC),
        **fields,
        "consent_contact": False,
        "marketing_opt_in": False,
        "is_spam": False,
        "referrer": visit.get("r") or None,
        "landing_page": visit.get("l") or None,
        "source_page": source_page if source_page.startswith("/") else request.path,
        "placement": placement if placement in {"embedded", "page"} else "page",
        "unreached_attempts": 0,
        "search_text": f"{fields['first_name']} {fields['email']}".lower(),
    }
    with engine.begin() as conn:
        conn.execute(lead.insert(), row)
    return redirect("/guide/thanks", 303)
