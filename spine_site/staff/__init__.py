"""The staff area: one blueprint (access.py), its views in modules by job."""

from . import (
    admin_views,
    article_history_views,
    article_views,
    auth_views,
    desk_views,
    image_views,
    lead_views,
    report_views,
    security_views,
)
from .access import bp

__all__ = [
    "admin_views",
    "article_history_views",
    "article_views",
    "auth_views",
    "bp",
    "desk_views",
    "image_views",
    "lead_views",
    "report_views",
    "security_views",
]
