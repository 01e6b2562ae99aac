"""/healthz/ready: whether a load balancer should send this process traffic."""

from __future__ import annotations

import sqlite3
import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from spine_site.clock import utcnow
from spine_site.extensions import db
from spine_site.models import EmailStatus, OutboxEmail
from tests.factories import make_lead
from tests.support import IN_CI
from tests.test_ratelimit_redis import REDIS_URL, redis_is_up


def age_all_emails(app, hours: float, status: EmailStatus = EmailStatus.QUEUED) -> None:
    with app.app_context():
        db.session.execute(
            update(OutboxEmail).values(status=status, created_at=utcnow() - timedelta(hours=hours))
        )
        db.session.commit()


def test_ready_normally_and_sets_no_cookie(client):
    response = client.get("/healthz/ready")
    assert response.status_code == 200
    assert response.get_data(as_text=True).strip() == "ready"
    assert "Set-Cookie" not in response.headers


def test_fresh_queued_mail_is_fine(app, client):
    make_lead(app, "appointment")
    assert client.get("/healthz/ready").status_code == 200


def test_mail_waiting_too_long_is_not_ready(app, client):
    make_lead(app, "appointment")
    age_all_emails(app, hours=1)
    response = client.get("/healthz/ready")
    assert response.status_code == 503
    text = response.get_data(as_text=True)
    assert "oldest queued email waiting" in text and "limit 900 s" in text
    # Liveness stays cheap and unaffected: the process itself is fine.
    assert client.get("/healthz").status_code == 200


def test_the_queue_age_limit_is_a_setting(app_factory):
    app = app_factory(READY_MAX_QUEUE_AGE_SECONDS=7200)
    make_lead(app, "appointment")
    age_all_emails(app, hours=1)
    assert app.test_client().get("/healthz/ready").status_code == 200


def test_old_failed_or_sent_mail_does_not_hold_readiness(app, client):
    make_lead(app, "appointment")
    age_all_emails(app, hours=5, status=EmailStatus.FAILED)
    assert client.get("/healthz/ready").status_code == 200


def test_database_unreachable_is_not_ready(app_factory, tmp_path):
    # A SQLite file in a folder that does not exist: every connection fails, as when the
    # database server is down.
    missing = tmp_path / "no-such-folder" / "db.sqlite3"
    app = app_factory(SQLALCHEMY_DATABASE_URI=f"sqlite:///{missing}")
    client = app.test_client()
    response = client.get("/healthz/ready")
    assert response.status_code == 503
    assert "database unreachable" in response.get_data(as_text=True)
    assert client.get("/healthz").status_code == 503


def test_redis_configured_but_unreachable_is_not_ready(app_factory):
    uri = "redis://:hunter2-password@127.0.0.1:1/0"
    app = app_factory(RATELIMIT_STORAGE_URI=uri, RATELIMIT_ENABLED=True)
    response = app.test_client().get("/healthz/ready")
    assert response.status_code == 503
    text = response.get_data(as_text=True)
    assert "redis unreachable" in text
    # No URL, address or password in what an unauthenticated caller reads.
    assert "hunter2" not in text and "127.0.0.1" not in text


def test_every_failed_check_is_named(app_factory, tmp_path):
    missing = tmp_path / "gone" / "db.sqlite3"
    app = app_factory(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{missing}", RATELIMIT_STORAGE_URI="redis://127.0.0.1:1"
    )
    text = app.test_client().get("/healthz/ready").get_data(as_text=True)
    assert "database unreachable" in text and "redis unreachable" in text


def test_ready_with_a_real_redis(app_factory):
    if not redis_is_up():
        if IN_CI:
            pytest.fail(f"Redis is not reachable at {REDIS_URL}; .ci/run should have started it")
        pytest.skip(f"no Redis at {REDIS_URL} (set TEST_REDIS_URL, or start redis-server)")
    app = app_factory(RATELIMIT_STORAGE_URI=REDIS_URL, RATELIMIT_ENABLED=True)
    response = app.test_client().get("/healthz/ready")
    assert response.status_code == 200, response.get_data(as_text=True)


@pytest.mark.sqlite_only
def test_ready_while_a_writer_holds_sqlite(app, client):
    # The checks are reads: on SQLite they neither take nor wait for the write lock.
    with app.app_context():
        writer = sqlite3.connect(str(db.engine.url.database), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        response = client.get("/healthz/ready")
        assert response.status_code == 200, response.get_data(as_text=True)
        assert time.monotonic() - started < 2  # not a wait for busy_timeout (10 s)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
