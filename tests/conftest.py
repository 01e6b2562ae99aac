"""Fixtures: an app on a fresh migrated database, a client, a real SMTP server on loopback,
and clients signed in as each staff role. What they are built from is in tests.support.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import text

from spine_site import create_app
from spine_site.accounts import signin, users
from spine_site.articles.files import seed_if_empty
from spine_site.extensions import db
from tests.support import (
    TEST_DATABASE_URL,
    SMTPServer,
    base_overrides,
    make_app,
    signed_in,
    start_smtp,
)

# argon2id at the lowest cost it takes: the production one (64 MiB, 3 passes) is about 0.1 to
# 0.3 s a hash on CI's two cores, and some 400 tests make an account and sign in with it.
_CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
_CHEAP_DUMMY_HASH = _CHEAP_HASHER.hash("not a password")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests about one database's own behaviour run only on that database: deselected, not
    skipped, on the other (CI runs the suite on both, and a skip there would hide a gap)."""
    other = "sqlite_only" if TEST_DATABASE_URL else "postgresql_only"
    deselected = [item for item in items if item.get_closest_marker(other) is not None]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item not in deselected]


@pytest.fixture(autouse=True)
def _cheap_password_hashing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """Every test hashes and checks passwords with real argon2id, at its lowest cost, except
    those marked real_password_cost (the production parameters are tested there)."""
    if request.node.get_closest_marker("real_password_cost") is None:
        for module in (users, signin):
            monkeypatch.setattr(module, "hasher", _CHEAP_HASHER)
            monkeypatch.setattr(module, "_DUMMY_HASH", _CHEAP_DUMMY_HASH)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> str | None:
    """Run the real migrations once; each test then gets a copy (SQLite) or a clean PG."""
    tmp = tmp_path_factory.mktemp("template")
    if TEST_DATABASE_URL:
        app = create_app(base_overrides(tmp, TEST_DATABASE_URL))
        with app.app_context():
            # Whatever an earlier run left (tables of another branch, a half-applied
            # revision), the migrations start from an empty schema.
            db.session.execute(text("DROP SCHEMA public CASCADE"))
            db.session.execute(text("CREATE SCHEMA public"))
            db.session.commit()
            upgrade()
            db.engine.dispose()
        return None
    path = tmp / "template.sqlite3"
    app = create_app(base_overrides(tmp, f"sqlite:///{path}"))
    with app.app_context():
        upgrade()
        # The bundled articles, as a new site's first request takes them in: once here
        # rather than in every test (on PostgreSQL each test's first request does it).
        seed_if_empty()
        db.engine.dispose()
    return str(path)


@pytest.fixture
def app_factory(tmp_path: Path, migrated_template: str | None) -> Iterator[Any]:
    made: list[Flask] = []

    def factory(**overrides: Any) -> Flask:
        app = make_app(tmp_path, migrated_template, **overrides)
        made.append(app)
        return app

    yield factory
    for app in made:
        app.extensions["outbox_sender"].stop()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(app_factory: Any) -> Flask:
    return app_factory()


@pytest.fixture
def client(app: Flask):
    return app.test_client()


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    server = start_smtp()
    yield server
    server.controller.stop()


@pytest.fixture
def smtp_app(app_factory: Any, smtp: SMTPServer) -> Flask:
    return app_factory(**smtp.config())


@pytest.fixture
def admin_client(app: Flask):
    return signed_in(app, "admin@clinic.example", "admin")


@pytest.fixture
def staff_client(app: Flask):
    return signed_in(app, "intake@clinic.example", "staff")


@pytest.fixture
def marketing_client(app: Flask):
    return signed_in(app, "marketing@clinic.example", "marketing")
