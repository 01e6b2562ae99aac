"""Settings from the environment, failing fast where production would be unsafe."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from spine_site import create_app
from spine_site.config import CLINIC_SETTINGS, ConfigError, clinic_details, load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_clinic_details_names_every_clinic_setting(monkeypatch, tmp_path):
    # clinic_details reads a fixed list of settings: it must be every CLINIC_ one there is.
    monkeypatch.setenv("SPINE_ENV", "development")
    settings = load_settings(tmp_path)
    assert tuple(key for key in settings if key.startswith("CLINIC_")) == CLINIC_SETTINGS
    details = clinic_details({**settings, "CLINIC_NAME": "Other Clinic"})
    assert (
        details["name"] == "Other Clinic" and details["hours_text"] == settings["CLINIC_HOURS_TEXT"]
    )
    assert len(details) == len(CLINIC_SETTINGS)


def test_missing_secret_key_outside_development_stops_start_up(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("SPINE_ENV", raising=False)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        load_settings(tmp_path)


def test_wsgi_refuses_to_start_without_secret_key_with_a_clear_message(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_development_runs_without_secret_key(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("SPINE_ENV", "development")
    settings = load_settings(tmp_path)
    assert settings["SECRET_KEY"] and settings["ENV_NAME"] == "development"
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'spine_site.sqlite3'}"
    assert settings["MAIL_SERVER"] is None  # mail goes to .eml files


def test_settings_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SECRET_KEY", "k" * 40)
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u@db/spine")
    monkeypatch.setenv("MAIL_SERVER", "smtp.example")
    monkeypatch.setenv("MAIL_USE_SSL", "true")
    monkeypatch.setenv("SITE_URL", "https://clinic.example/")
    monkeypatch.setenv("RATELIMIT_ENABLED", "false")
    monkeypatch.setenv("CLINIC_NAME", "Back Care Clinic")
    s = load_settings(tmp_path)
    assert s["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db/spine"
    assert (s["MAIL_SERVER"], s["MAIL_PORT"], s["MAIL_USE_SSL"]) == ("smtp.example", 465, True)
    assert s["SITE_URL"] == "https://clinic.example"
    assert s["SESSION_COOKIE_SECURE"] is True
    assert s["RATELIMIT_ENABLED"] is False
    assert s["CLINIC_NAME"] == "Back Care Clinic"


@pytest.mark.parametrize(("name", "value"), [("MAIL_USE_TLS", "maybe"), ("MAIL_PORT", "smtp")])
def test_malformed_values_are_named(monkeypatch, tmp_path, name, value):
    monkeypatch.setenv("SECRET_KEY", "k" * 40)
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings(tmp_path)


def test_session_cookie_is_httponly_and_lax(client):
    response = client.get("/staff/login")
    (cookie,) = response.headers.getlist("Set-Cookie")
    assert cookie.startswith("session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_cookies_are_secure_when_the_site_is_https(app_factory):
    client = app_factory(SESSION_COOKIE_SECURE=True).test_client()
    for path in ("/staff/login", "/articles/what-is-a-physiatrist"):
        (cookie,) = client.get(path, base_url="https://localhost").headers.getlist("Set-Cookie")
        assert "Secure" in cookie, path


def test_readme_documents_every_setting_and_command():
    readme = (ROOT / "README.md").read_text()
    config = (ROOT / "spine_site" / "config.py").read_text()
    names = set(re.findall(r'env_(?:str|int|bool)\(\s*"([A-Z_]+)"', config))
    assert len(names) > 30
    missing = sorted(n for n in names if f"`{n}`" not in readme)
    assert missing == []
    for command in (
        "db upgrade",
        "outbox work",
        "guide build",
        "users create",
        "leads purge",
        "leads digest",
        "users reset-mfa",
        "users reencrypt",
        "dev.py serve",
        "dev.py test",
    ):
        assert command in readme, command


def test_factory_takes_overrides(tmp_path):
    app = create_app(
        {
            "SECRET_KEY": "x" * 40,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/a.db",
            "INSTANCE_PATH": str(tmp_path / "inst"),
            "CLINIC_NAME": "Override Clinic",
        }
    )
    assert app.config["CLINIC_NAME"] == "Override Clinic"
    assert (tmp_path / "inst").is_dir()


def test_the_session_cookie_has_the_host_prefix_over_https(app_factory, monkeypatch):
    monkeypatch.setenv("SITE_URL", "https://clinic.example")
    client = app_factory().test_client()
    (cookie,) = client.get("/staff/login", base_url="https://localhost").headers.getlist(
        "Set-Cookie"
    )
    # What browsers demand of a __Host- cookie: Secure, Path=/, no Domain.
    assert cookie.startswith("__Host-session=")
    assert "Secure" in cookie and "Path=/" in cookie and "Domain" not in cookie


def test_clinic_hours_set_in_english_alone_stop_start_up(monkeypatch, tmp_path):
    """Otherwise the Spanish pages would show the example hours, not the clinic's."""
    monkeypatch.setenv("SECRET_KEY", "k" * 40)
    monkeypatch.setenv("CLINIC_HOURS_TEXT", "Monday to Thursday, 7 am to 4 pm")
    monkeypatch.delenv("CLINIC_HOURS_TEXT_ES", raising=False)
    with pytest.raises(ConfigError, match="CLINIC_HOURS_TEXT_ES"):
        load_settings(tmp_path)
    monkeypatch.setenv("CLINIC_HOURS_TEXT_ES", "De lunes a jueves, de 7 a. m. a 4 p. m.")
    settings = load_settings(tmp_path)
    assert clinic_details(settings, "es")["hours_text"] == "De lunes a jueves, de 7 a. m. a 4 p. m."
    assert clinic_details(settings, "en")["hours_text"] == "Monday to Thursday, 7 am to 4 pm"


@pytest.mark.parametrize("name", ["CONSENT_VERSION", "MARKETING_CONSENT_VERSION"])
def test_a_consent_version_too_long_for_its_spanish_suffix_stops_start_up(
    monkeypatch, tmp_path, name
):
    """A lead stores it in 40 characters, with -es for the Spanish wording: a longer one
    would make every Spanish request fail on PostgreSQL."""
    monkeypatch.setenv("SECRET_KEY", "k" * 40)
    monkeypatch.setenv(name, "v" * 38)
    with pytest.raises(ConfigError, match=f"{name} is 38 characters; use at most 37"):
        load_settings(tmp_path)
    monkeypatch.setenv(name, "v" * 37)
    assert load_settings(tmp_path)[name] == "v" * 37
