"""Security headers on every response, and start-up refusing unsafe production settings."""

from __future__ import annotations

import pytest

from spine_site.config import ConfigError, load_settings


def headers_ok(response, html: bool = True) -> None:
    h = response.headers
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Referrer-Policy"] == "same-origin"
    assert h["Cross-Origin-Opener-Policy"] == "same-origin"
    assert h["X-Frame-Options"] == "DENY"
    if html:
        csp = h["Content-Security-Policy"]
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        for directive in (
            "default-src 'none'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ):
            assert directive in csp


@pytest.mark.parametrize(
    "path", ["/", "/articles/what-is-a-physiatrist", "/schedule", "/staff/login", "/no-such-page"]
)
def test_html_responses_carry_the_headers(client, path):
    headers_ok(client.get(path))


def test_error_500_carries_the_headers(app, monkeypatch):
    from spine_site.public import caching

    monkeypatch.setattr(caching, "kept_page", lambda *a, **k: 1 / 0)
    response = app.test_client().get("/articles/what-is-a-physiatrist")
    assert response.status_code == 500
    headers_ok(response)


def test_other_responses_carry_the_basic_headers(client):
    for path in ("/robots.txt", "/sitemap.xml", "/healthz"):
        headers_ok(client.get(path), html=False)


def test_hsts_only_over_https(client, app_factory):
    assert "Strict-Transport-Security" not in client.get("/").headers
    secure = client.get("/", base_url="https://clinic.example")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=63072000")
    # Behind one trusted proxy, X-Forwarded-Proto says whether the visitor used https.
    proxied = app_factory(TRUSTED_PROXIES=1).test_client()
    response = proxied.get("/", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" in response.headers


def test_forwarded_for_is_ignored_without_a_trusted_proxy(app_factory):
    from flask import request

    for proxies, expected in ((0, "127.0.0.1"), (1, "203.0.113.9")):
        app = app_factory(TRUSTED_PROXIES=proxies)
        seen = []
        app.before_request(lambda seen=seen: seen.append(request.remote_addr))
        app.test_client().get("/healthz", headers={"X-Forwarded-For": "203.0.113.9"})
        assert seen == [expected]
    # Two values and one proxy: the address the proxy saw wins, not the client's claim.
    app = app_factory(TRUSTED_PROXIES=1)
    seen = []
    app.before_request(lambda: seen.append(request.remote_addr))
    app.test_client().get("/healthz", headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.9"})
    assert seen == ["203.0.113.9"]


@pytest.fixture
def production_env(monkeypatch):
    monkeypatch.delenv("SPINE_ENV", raising=False)
    monkeypatch.delenv("FLASK_ENV", raising=False)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("changeme", "well-known placeholder"),
        ("dev-only-not-secret", "well-known placeholder"),
        ("short-key-123", "use at least 32"),
    ],
)
def test_production_refuses_a_weak_secret_key(production_env, tmp_path, key, message):
    production_env.setenv("SECRET_KEY", key)
    with pytest.raises(ConfigError, match=message):
        load_settings(tmp_path)


def test_production_refuses_debug(production_env, tmp_path):
    production_env.setenv("SECRET_KEY", "k" * 40)
    production_env.setenv("FLASK_DEBUG", "1")
    with pytest.raises(ConfigError, match="FLASK_DEBUG is on outside development"):
        load_settings(tmp_path)


def test_production_accepts_a_strong_key(production_env, tmp_path):
    production_env.setenv("SECRET_KEY", "k" * 40)
    assert load_settings(tmp_path)["SECRET_KEY"] == "k" * 40
