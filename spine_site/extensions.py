"""Extension objects, created unbound; the app factory binds them with init_app."""

from flask import Response, request
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


class StaffLoginManager(LoginManager):
    """Flask-Login without remember-me cookies: staff sessions end when idle or after 12 h."""

    def _update_remember_cookie(self, response: Response) -> Response:
        # Sign-in never sets a remember-me cookie, so there is none to refresh or clear.
        # Flask-Login's version reads the session on every response, public pages included,
        # which loads it and adds "Vary: Cookie" to pages that are the same for everyone.
        return response


login_manager = StaffLoginManager()
