"""Extension objects, created unbound; the app factory binds them with init_app.

(Rate limits are spine_site/web/ratelimits.py, on the limits library.)
"""

from flask_compress import Compress
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData

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


# Sign-in never sets a remember-me cookie: staff sessions end when idle or after 12 h.
login_manager = LoginManager()
