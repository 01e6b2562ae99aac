"""HTTP security headers on every response, and the trusted-proxy setting."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Request, Response, current_app, request
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from werkzeug.middleware.proxy_fix import ProxyFix

# Nothing runs but what we serve, and we serve no script: forms and pages work without it.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "style-src 'self'",
        # data: for the favicon, inlined so a page costs one request fewer.
        "img-src 'self' data:",
        # Nothing here fetches; 'self' lets a crawler or audit read /robots.txt from a page.
        "connect-src 'self'",
        "font-src 'self'",
        "manifest-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ]
)
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # same-origin: our own pages still send a Referer (Flask-WTF's HTTPS CSRF check needs
    # it); no other site ever learns which health article a patient was reading.
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}
HSTS = "max-age=63072000; includeSubDomains"


_ALWAYS = list(HEADERS.items())
_HTML = [*_ALWAYS, ("Content-Security-Policy", CONTENT_SECURITY_POLICY)]
# Static files (served by WhiteNoise, past Flask's hooks): an SVG opened on its own is a
# document too, so it gets the CSP as well.
STATIC_HEADERS = _HTML


def security_headers(html: bool, secure: bool) -> list[tuple[str, str]]:
    """The headers every response gets: the CSP too on an HTML page, HSTS over https."""
    headers = _HTML if html else _ALWAYS
    return [*headers, ("Strict-Transport-Security", HSTS)] if secure else headers


def add_security_headers(response: Response) -> Response:
    # Appended without a per-header lookup (no view sets these); a page that sets its own
    # policy (the passkey pages, which run our one script) keeps it.
    html = response.mimetype == "text/html" and "Content-Security-Policy" not in response.headers
    response.headers.extend(security_headers(html, request.is_secure))
    return response


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, saved only where something uses them."""

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        # Outside the staff area nothing reads the session, but Flask-Login's after-request
        # hook looks in it on every response, which would add "Vary: Cookie" to pages that
        # are the same for everyone. A session nothing changed there has nothing to save.
        if request.blueprint != "staff" and not session.modified:
            return
        super().save_session(app, session, response)


def is_cross_site(request: Request) -> bool:
    """True for a form post another website made the browser send: Go's net/http
    CrossOriginProtection check (Sec-Fetch-Site, else Origin). The public forms use it
    instead of a session-bound token, so a reader gets no session cookie."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site:
        return fetch_site not in {"same-origin", "none"}
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    # The host alone, as Go compares it: behind a proxy that ends TLS the app may see http
    # while the browser's origin says https.
    try:
        host = urlsplit(origin).netloc
    except ValueError:
        return True
    # SITE_URL's host too: a proxy may pass on its own Host (127.0.0.1:8000, say).
    return host not in {request.host, urlsplit(current_app.config["SITE_URL"]).netloc}


def init_app(app: Flask) -> None:
    app.session_interface = SessionInterface()
    app.after_request(add_security_headers)


def trust_proxies(app: Flask) -> None:
    """Read the client's address and scheme from the proxies we run (TRUSTED_PROXIES)."""
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies > 0:
        # Only as many hops as there are proxies we run: a client cannot spoof its address
        # (for rate limits and the audit log) by sending its own X-Forwarded-For.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
