"""Health: whether this process can do its work (what /healthz reports)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db


def database_reachable() -> bool:
    """One round trip to the database; the read is ended either way."""
    try:
        db.session.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError:
        return False
    finally:
        db.session.rollback()
