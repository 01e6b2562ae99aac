"""spine_site: patient-education articles and a lead funnel for a non-surgical spine clinic.

`create_app` is the one place that wires settings, extensions, the domain packages and the
two blueprints together; docs/architecture.md names every package and module."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from spine_site.config import ConfigError, load_settings
from spine_site.desk.business_hours import BusinessHours
from spine_site.desk.hours_settings import cadence_from_config

_PACKAGE_DIR = Path(__file__).resolve().parent


def _resource_root() -> Path:
    # A checkout (or editable install) has templates/ beside the package; a wheel installs
    # them as data files under <prefix>/share/spine_site.
    for root in (_PACKAGE_DIR.parent, Path(sys.prefix) / "share" / "spine_site"):
        if (root / "templates").is_dir():
            return root
    raise RuntimeError("templates/ not found beside the package or under share/spine_site")


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the app; tests pass overrides (DATABASE URI, SECRET_KEY, ...)."""
    overrides = dict(overrides or {})
    root = _resource_root()
    app = Flask(
        __name__,
        template_folder=str(root / "templates"),
        static_folder=str(root / "static"),
        instance_path=overrides.pop("INSTANCE_PATH", None) or str(root / "instance"),
    )
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.update(load_settings(Path(app.instance_path), overrides))
    app.config.update(overrides)
    # The clinic's hours, holidays and follow-up cadence are checked now, so a bad value
    # stops start-up with the setting's name instead of breaking the intake queue later.
    # One instance serves every request (it caches each day's opening times).
    try:
        app.extensions["business_hours"] = BusinessHours.from_config(app.config)
        cadence_from_config(app.config)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None

    from spine_site import cli
    from spine_site.ops import metrics
    from spine_site.web import assets, errors, security

    register_logging(app)
    security.init_app(app)
    register_extensions(app, root)
    register_content(app)
    register_blueprints(app)
    errors.init_app(app)
    register_outbox(app)
    metrics.init_app(app)
    cli.init_app(app)
    security.trust_proxies(app)
    # Last: WhiteNoise wraps the finished WSGI app, ProxyFix included.
    assets.init_app(app)
    return app


def register_logging(app: Flask) -> None:
    from spine_site.ops.logs import configure

    development = app.config["ENV_NAME"] == "development"
    # A developer reads plain lines and clicks the links the file transport logs; production
    # gets JSON lines with every token and cookie redacted.
    configure(json_lines=app.config["LOG_FORMAT"] == "json", redact_links=not development)


def register_extensions(app: Flask, root: Path) -> None:
    from flask import Response, request
    from flask_login import current_user

    from spine_site import database
    from spine_site.accounts.signin import load_user
    from spine_site.extensions import compress, csrf, login_manager, migrate
    from spine_site.web import ratelimits

    database.init_app(app)
    compress.init_app(app)

    @app.after_request
    def compress_outside_staff(response: Response) -> Response:
        # Staff pages put what was typed (a search) beside the CSRF token; compressed, their
        # length would give the token away a guess at a time (BREACH). They are few and small.
        if request.blueprint == "staff":
            return response
        return compress.after_request(response)

    migrate.init_app(app, database.db, directory=str(root / "migrations"))
    csrf.init_app(app)
    ratelimits.init_app(app)

    # Flask-Login's own context processor loads the user (and the session) for every template;
    # the bare proxy loads it only where a staff template reads it.
    login_manager.init_app(app, add_context_processor=False)
    app.context_processor(lambda: {"current_user": current_user})
    login_manager.login_view = "staff.login"
    login_manager.session_protection = "basic"
    login_manager.user_loader(load_user)


def register_content(app: Flask) -> None:
    from spine_site.articles.live import LiveArticles
    from spine_site.articles.render import CONTENT_DIR

    app.extensions["articles"] = LiveArticles(app)
    # Last-Modified of the public pages: the newest of the files they are made from. (The
    # same on every worker of a deploy, unlike the time a worker started.)
    root = _resource_root()
    sources = (root / "templates", root / "static", CONTENT_DIR)
    newest = max((f.stat().st_mtime for d in sources for f in d.rglob("*")), default=0)
    app.extensions["content_changed"] = int(newest)


def register_blueprints(app: Flask) -> None:
    from spine_site.extensions import csrf
    from spine_site.public.views import bp as public_bp
    from spine_site.web.urls import RowIdConverter

    # Before any route is added: every `<int:...>` in a path is then bounded (Werkzeug's
    # documented way to redefine a converter).
    app.url_map.converters["int"] = RowIdConverter

    # The public forms check their CSRF token inside the form, so an expired token comes
    # back as a form error with the patient's input kept, not as a bare 400.
    csrf.exempt(public_bp)
    app.register_blueprint(public_bp)

    from spine_site.staff import bp as staff_bp

    # The staff area checks its CSRF token in its own guard, after sign-in and the role
    # table (staff/access.py), so a role that may not use a route never reaches the
    # handler of a failed check.
    csrf.exempt(staff_bp)
    app.register_blueprint(staff_bp)

    from spine_site.public.views import TRANSLATED_ENDPOINTS
    from spine_site.web import i18n, templating

    i18n.init_app(app, translated_endpoints=TRANSLATED_ENDPOINTS)
    templating.init_app(app)


def register_outbox(app: Flask) -> None:
    from flask import request

    from spine_site.mail.outbox import BackgroundSender

    sender = BackgroundSender(app)
    app.extensions["outbox_sender"] = sender

    from spine_site.analytics.pageviews import ViewCounter

    app.extensions["view_counter"] = ViewCounter(app)

    if app.config["OUTBOX_IN_PROCESS"]:

        @app.before_request
        def _start_sender() -> None:
            if request.endpoint != "static":
                sender.ensure_running()
