"""What both blueprints share on every request: security headers, the session cookie and
trusted proxies (`security`), per-address rate limits (`ratelimits`), app-wide error pages
(`errors`), template filters and JSON-LD (`templating`), content-hashed static files
(`assets`), and the base form with its text checks (`forms`)."""
