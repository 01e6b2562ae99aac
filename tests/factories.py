"""Test data made the way the product makes it: through the domain functions."""

from __future__ import annotations

from flask import Flask

from spine_site import users
from spine_site.extensions import db
from spine_site.models import Role

STAFF_PASSWORD = "correct horse battery staple"


def make_user(app: Flask, email: str, role: str, password: str = STAFF_PASSWORD) -> int:
    """A staff account of this role; returns its id."""
    with app.app_context():
        user = users.create_user(email, Role(role), password)
        db.session.commit()
        return user.id
