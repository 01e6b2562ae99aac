"""The staff area: one blueprint guarded once at its door (`access`: sign-in, the role table,
deny by default), its views in modules by job, and their forms."""

from spine_site.staff import (
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
from spine_site.staff.access import bp

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
