"""The staff area: one blueprint guarded once at its door (`access`: sign-in, the role table,
deny by default), its views in modules by job, and their forms."""

# Imported for their routes: each module adds its views to `bp`.
from spine_site.staff import (  # noqa: F401
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
from spine_site.staff.access import bp as bp
