"""Settings, read from the environment once at start-up.

Every setting here is documented in the README. Values that would make the site unsafe in
production (a missing SECRET_KEY) stop start-up with a message that says what to set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message says which and how to fix it."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

# Keys with a well-known development value; refusing them outside development keeps a copied
# .env from turning into a production secret.
DEV_SECRET_KEY = "dev-only-not-secret"
KNOWN_WEAK_KEYS = {
    DEV_SECRET_KEY,
    "dev",
    "development",
    "secret",
    "secret-key",
    "secret_key",
    "changeme",
    "change-me",
    "your-secret-key",
    "please-change-me",
    "test",
}
SECRET_KEY_MIN = 32


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}.")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}.") from None


def env_str(name: str, default: str | None = None) -> str | None:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip()


def _refuse_debugger_outside_development(overrides: Mapping[str, Any], development: bool) -> None:
    debug = bool(overrides.get("DEBUG")) or env_bool("FLASK_DEBUG", False)
    if debug and not development:
        raise ConfigError(
            "FLASK_DEBUG is on outside development: the debugger would let anyone run code. "
            "Turn it off, or set SPINE_ENV=development on a developer's machine."
        )


def _secret_key(overrides: Mapping[str, Any], development: bool) -> str:
    """SECRET_KEY, refused when missing, a known placeholder or short (outside development
    and tests); development without one gets a fixed key of its own."""
    secret_key = overrides.get("SECRET_KEY") or env_str("SECRET_KEY")
    testing = bool(overrides.get("TESTING"))
    new_key_hint = (
        "Set it to a long random value, for example: "
        "export SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')."
    )
    if secret_key is None:
        if not development:
            raise ConfigError(
                f"SECRET_KEY is not set. {new_key_hint} "
                "For local development only, set SPINE_ENV=development instead."
            )
        return DEV_SECRET_KEY
    if not (development or testing):
        if secret_key.strip().lower() in KNOWN_WEAK_KEYS:
            raise ConfigError(f"SECRET_KEY is a well-known placeholder. {new_key_hint}")
        if len(secret_key) < SECRET_KEY_MIN:
            raise ConfigError(
                f"SECRET_KEY is {len(secret_key)} characters; use at least {SECRET_KEY_MIN}. "
                f"{new_key_hint}"
            )
    return secret_key


# A lead stores the consent wording's version in 40 characters; a Spanish lead's has "-es".
CONSENT_VERSION_MAX = 40 - len("-es")


def _consent_version(name: str, default: str) -> str:
    value = env_str(name, default) or default
    if len(value) > CONSENT_VERSION_MAX:
        raise ConfigError(
            f"{name} is {len(value)} characters; use at most {CONSENT_VERSION_MAX} (each lead "
            "stores it, with -es added for the Spanish wording)."
        )
    return value


def _spanish_hours_text() -> str:
    """CLINIC_HOURS_TEXT_ES; its example default only while CLINIC_HOURS_TEXT keeps its own,
    so the Spanish pages never show hours the clinic did not set."""
    spanish = env_str("CLINIC_HOURS_TEXT_ES")
    if spanish is None and env_str("CLINIC_HOURS_TEXT") is not None:
        raise ConfigError(
            "CLINIC_HOURS_TEXT is set but CLINIC_HOURS_TEXT_ES is not: the Spanish pages "
            "would show the example hours. Set CLINIC_HOURS_TEXT_ES to the same hours in "
            'Spanish, e.g. "De lunes a viernes, de 8 a. m. a 5 p. m.".'
        )
    return spanish or "De lunes a viernes, de 8 a. m. a 5 p. m."


def load_settings(
    instance_path: Path, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Read every setting from the environment; raise ConfigError on anything unsafe.

    `overrides` (from tests or an embedding script) count as set, so a SECRET_KEY passed
    there satisfies the fail-fast check.
    """
    overrides = overrides or {}
    env = env_str("SPINE_ENV") or env_str("FLASK_ENV") or "production"
    development = env in {"development", "dev"}
    _refuse_debugger_outside_development(overrides, development)
    secret_key = _secret_key(overrides, development)
    default_db = f"sqlite:///{instance_path / 'spine_site.sqlite3'}"
    mail_server = env_str("MAIL_SERVER")
    use_ssl = env_bool("MAIL_USE_SSL", False)
    site_url = (env_str("SITE_URL") or "http://127.0.0.1:5000").rstrip("/")

    return {
        "ENV_NAME": "development" if development else env,
        "SECRET_KEY": secret_key,
        # Old keys, comma-separated: sessions and emailed links signed with them still work.
        "SECRET_KEY_FALLBACKS": [
            k.strip() for k in (env_str("SECRET_KEY_FALLBACKS") or "").split(",") if k.strip()
        ],
        "SQLALCHEMY_DATABASE_URI": env_str("DATABASE_URL", default_db),
        "SITE_URL": site_url,
        # How many reverse proxies (nginx, a load balancer) stand in front and set
        # X-Forwarded-For/-Proto. 0 trusts none: the client address is the socket's.
        "TRUSTED_PROXIES": env_int("TRUSTED_PROXIES", 0),
        # Mail. With no MAIL_SERVER, messages are written as .eml files under instance/mail.
        "MAIL_SERVER": mail_server,
        "MAIL_PORT": env_int("MAIL_PORT", 465 if use_ssl else 25),
        "MAIL_USE_TLS": env_bool("MAIL_USE_TLS", False),
        "MAIL_USE_SSL": use_ssl,
        "MAIL_USERNAME": env_str("MAIL_USERNAME"),
        "MAIL_PASSWORD": env_str("MAIL_PASSWORD"),
        "MAIL_DEFAULT_SENDER": env_str("MAIL_DEFAULT_SENDER", "Valor Spine <care@example.org>"),
        "MAIL_REPLY_TO": env_str("MAIL_REPLY_TO"),
        "MAIL_TIMEOUT": env_int("MAIL_TIMEOUT", 10),
        # A PEM file of certificate authorities for the mail server (its own CA); unset: the
        # system's.
        "MAIL_CA_FILE": env_str("MAIL_CA_FILE"),
        "MAIL_FILE_DIR": env_str("MAIL_FILE_DIR", str(instance_path / "mail")),
        "STAFF_NOTIFY_EMAIL": env_str("STAFF_NOTIFY_EMAIL"),
        # json (one object a line, for a log collector) or text; json outside development.
        "LOG_FORMAT": env_str("LOG_FORMAT", "text" if development else "json"),
        # Outbox delivery.
        "OUTBOX_IN_PROCESS": env_bool("OUTBOX_IN_PROCESS", True),
        "OUTBOX_POLL_SECONDS": env_int("OUTBOX_POLL_SECONDS", 5),
        "OUTBOX_MAX_ATTEMPTS": env_int("OUTBOX_MAX_ATTEMPTS", 8),
        "OUTBOX_BACKOFF_SECONDS": env_int("OUTBOX_BACKOFF_SECONDS", 30),
        "OUTBOX_LEASE_SECONDS": env_int("OUTBOX_LEASE_SECONDS", 120),
        # Forms and spam.
        "EMAIL_CHECK_DELIVERABILITY": env_bool("EMAIL_CHECK_DELIVERABILITY", False),
        "FORM_MIN_FILL_SECONDS": env_int("FORM_MIN_FILL_SECONDS", 3),
        "FORM_TOKEN_MAX_AGE": env_int("FORM_TOKEN_MAX_AGE", 7 * 24 * 3600),
        "WTF_CSRF_TIME_LIMIT": env_int("CSRF_TIME_LIMIT", 3600),
        "WTF_I18N_ENABLED": False,  # web/forms.py gives WTForms the page's language instead
        "MAX_CONTENT_LENGTH": env_int("MAX_CONTENT_LENGTH", 32 * 1024),
        "MAX_FORM_PARTS": env_int("MAX_FORM_PARTS", 100),
        # Article images (staff upload only; the 32 KiB bound above holds everywhere else):
        # the largest file accepted, and the most pixels, read from the file's header before
        # any decoding, so a small file that unpacks to gigabytes (a decompression bomb) is
        # refused cheaply.
        "IMAGE_MAX_BYTES": env_int("IMAGE_MAX_BYTES", 15 * 1024 * 1024),
        "IMAGE_MAX_PIXELS": env_int("IMAGE_MAX_PIXELS", 40_000_000),
        "RATELIMIT_ENABLED": env_bool("RATELIMIT_ENABLED", True),
        "RATELIMIT_STORAGE_URI": env_str("RATELIMIT_STORAGE_URI", "memory://"),
        # Keeps several sites (or test runs) apart in one Redis.
        "RATELIMIT_KEY_PREFIX": env_str("RATELIMIT_KEY_PREFIX"),
        "RATELIMIT_FORMS": env_str("RATELIMIT_FORMS", "5 per minute; 20 per hour; 50 per day"),
        # Monitoring: who may read /metrics (IPs or CIDRs, comma-separated; empty turns it
        # off, so not env_str, which reads empty as unset), and how old the oldest queued
        # email may be before /healthz/ready says no.
        "METRICS_ALLOWED": os.environ.get("METRICS_ALLOWED", "127.0.0.1,::1").strip(),
        "READY_MAX_QUEUE_AGE_SECONDS": env_int("READY_MAX_QUEUE_AGE_SECONDS", 900),
        # Guide links and consent.
        "GUIDE_LINK_DAYS": env_int("GUIDE_LINK_DAYS", 14),
        "CONSENT_VERSION": _consent_version("CONSENT_VERSION", "2026-11-contact-v1"),
        "MARKETING_CONSENT_VERSION": _consent_version(
            "MARKETING_CONSENT_VERSION", "2026-11-news-v2"
        ),
        # Clinic identity, shown in the layout and in JSON-LD.
        "CLINIC_NAME": env_str("CLINIC_NAME", "Valor Spine"),
        "CLINIC_PHONE": env_str("CLINIC_PHONE", "(217) 555-0134"),
        "CLINIC_STREET": env_str("CLINIC_STREET", "100 Example Avenue, Suite 200"),
        "CLINIC_CITY": env_str("CLINIC_CITY", "Springfield"),
        "CLINIC_REGION": env_str("CLINIC_REGION", "IL"),
        "CLINIC_POSTCODE": env_str("CLINIC_POSTCODE", "62701"),
        "CLINIC_COUNTRY": env_str("CLINIC_COUNTRY", "US"),
        "CLINIC_HOURS": env_str("CLINIC_HOURS", "Mo-Fr 08:00-17:00"),
        "CLINIC_HOURS_TEXT": env_str("CLINIC_HOURS_TEXT", "Monday to Friday, 8 am to 5 pm"),
        # The same hours in Spanish, for the pages under /es/.
        "CLINIC_HOURS_TEXT_ES": _spanish_hours_text(),
        "CLINIC_TIMEZONE": env_str("CLINIC_TIMEZONE", "America/Chicago"),
        # Staff area.
        "STAFF_IDLE_MINUTES": env_int("STAFF_IDLE_MINUTES", 30),
        "STAFF_SESSION_HOURS": env_int("STAFF_SESSION_HOURS", 12),
        "LOGIN_MAX_FAILURES": env_int("LOGIN_MAX_FAILURES", 5),
        "LOGIN_LOCK_MINUTES": env_int("LOGIN_LOCK_MINUTES", 15),
        # A second factor (passkey or authenticator app) for every staff account: always,
        # except in development, where it is offered (docs/staff.md).
        "MFA_REQUIRED": not development,
        "RATELIMIT_LOGIN": env_str("RATELIMIT_LOGIN", "10 per minute; 100 per day"),
        "STAFF_PAGE_SIZE": env_int("STAFF_PAGE_SIZE", 50),
        # The intake desk: a request nobody has tried within this many business minutes is
        # overdue; closed days; when to try again after a try that did not reach the patient
        # (business_hours.py gives the format).
        "FIRST_CONTACT_TARGET_MINUTES": env_int("FIRST_CONTACT_TARGET_MINUTES", 60),
        "CLINIC_HOLIDAYS": env_str("CLINIC_HOLIDAYS", ""),
        "FOLLOW_UP_CADENCE": env_str(
            "FOLLOW_UP_CADENCE", "same day; next business morning; 2 business days"
        ),
        # How often each worker asks the database whether articles changed (articles/live.py):
        # a publish reaches every worker and host within this many seconds.
        "ARTICLES_CHECK_SECONDS": env_int("ARTICLES_CHECK_SECONDS", 2),
        # Page-view counts are held in each process and added to the database this often.
        "ANALYTICS_FLUSH_SECONDS": env_int("ANALYTICS_FLUSH_SECONDS", 10),
        # Static files: hashed copies (with .gz and .br) are built here at start-up.
        "STATIC_BUILD_DIR": env_str("STATIC_BUILD_DIR", str(instance_path / "static-build")),
        # Responses compressed by the app (Brotli or gzip, as the browser accepts); not the
        # streamed CSV export, and not the staff area (the hook is registered by the app
        # factory, which leaves staff pages out: see register_extensions).
        "COMPRESS_REGISTER": False,
        "COMPRESS_ALGORITHM": ["br", "gzip"],
        "COMPRESS_STREAMS": False,
        # 304s are answered before compression (public/caching.py: conditional_html).
        "COMPRESS_EVALUATE_CONDITIONAL_REQUEST": False,
        "COMPRESS_MIMETYPES": [
            "text/html",
            "text/css",
            "text/plain",
            "application/xml",
            "application/json",
        ],
        # Cookies: the session is for staff sign-in (and the guide-resend form's CSRF secret).
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": site_url.startswith("https://"),
        # Over https the __Host- prefix: browsers then accept the cookie only if it is Secure,
        # for this host alone (no Domain) and the whole site (Path=/).
        "SESSION_COOKIE_NAME": "__Host-session" if site_url.startswith("https://") else "session",
        # hide_parameters: a database error must not write a patient's message into the log.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "hide_parameters": True},
    }


# Every CLINIC_ setting load_settings reads (a test holds the two lists together): named
# here so clinic_details need not walk the whole config, which it did on every page and
# every new lead's email.
CLINIC_SETTINGS = (
    "CLINIC_NAME",
    "CLINIC_PHONE",
    "CLINIC_STREET",
    "CLINIC_CITY",
    "CLINIC_REGION",
    "CLINIC_POSTCODE",
    "CLINIC_COUNTRY",
    "CLINIC_HOURS",
    "CLINIC_HOURS_TEXT",
    "CLINIC_HOURS_TEXT_ES",
    "CLINIC_TIMEZONE",
    "CLINIC_HOLIDAYS",
)
_CLINIC_NAMES = tuple((key, key.removeprefix("CLINIC_").lower()) for key in CLINIC_SETTINGS)


# The clinic's hours for people, per language (English: CLINIC_HOURS_TEXT).
_HOURS_TEXT = {"es": "CLINIC_HOURS_TEXT_ES"}


def hours_text(config: Mapping[str, Any], language: str) -> str:
    """The clinic's hours as a reader of `language` reads them; English for a language
    without its own setting, or when that setting is empty."""
    key = _HOURS_TEXT.get(language)
    return (config.get(key) if key else None) or config.get("CLINIC_HOURS_TEXT") or ""


def clinic_details(config: Mapping[str, Any], language: str = "en") -> dict[str, str]:
    """The clinic's identity (CLINIC_NAME -> name, CLINIC_PHONE -> phone ...) for templates,
    with `hours_text` in `language`."""
    details = {name: config[key] for key, name in _CLINIC_NAMES if key in config}
    if "hours_text" in details:
        details["hours_text"] = hours_text(config, language)
    return details
