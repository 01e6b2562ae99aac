"""Extension objects, created unbound; the app factory binds them with init_app."""

from flask import request
from flask_compress import Compress
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData


def client_address() -> str:
    """The address rate limits count against (ProxyFix, when configured, has already set it)."""
    return request.remote_addr or "unknown"


# Named constraints make Alembic revisions reproducible on SQLite and PostgreSQL alike.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING))
migrate = Migrate()
compress = Compress()
csrf = CSRFProtect()
limiter = Limiter(key_func=client_address, default_limits=[])


@limiter.request_filter
def _only_posts_are_limited() -> bool:
    # Every limit here is on a form post or a sign-in. Flask-Limiter's before-request hook
    # runs for every request; this filter ends it at once for a page read, which is most of
    # the traffic (bench/article_speed.py).
    return request.method in {"GET", "HEAD"}


# Sign-in never sets a remember-me cookie: staff sessions end when idle or after 12 h.
login_manager = LoginManager()
