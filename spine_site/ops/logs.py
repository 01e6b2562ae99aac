"""Logging: one JSON object a line, times in UTC, and no secrets in any line.

What must never reach a log: a patient's details (the code logs ids only), passwords,
session cookies, the signed tokens in guide and unsubscribe links, and what staff type into a
search (a patient's name or phone, sent as `?q=`). The redaction here is the safety net for
the last three, whatever logger a line comes from: gunicorn.conf.py puts it on gunicorn's
access and error logs too, and docs/deploy.md gives nginx a log format without query strings.
"""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import UTC, datetime

# A signed token after one of our link paths, or a cookie value.
_SECRETS = [
    (re.compile(r"(/guide/download/)[A-Za-z0-9_\-.]+"), r"\1[token]"),
    (re.compile(r"(/unsubscribe/)[A-Za-z0-9_\-.]+"), r"\1[token]"),
    (re.compile(r"(/newsletter/confirm/)[A-Za-z0-9_\-.]+"), r"\1[token]"),
    (re.compile(r"(session=)[^;\s\"]+"), r"\1[cookie]"),
    (re.compile(r"((?:csrf_token|form_token|password)=)[^&\s\"]+"), r"\1[secret]"),
]


# Query parameters whose values may be logged: the staff filters whose values are a fixed
# choice, a number or a date. Every other value is replaced, deny by default: a staff search
# (`q`, the audit log's `actor`), a sign-in's `next` (which carries the page's own query), a
# campaign tag from a link a patient followed, and any parameter added later.
LOGGED_QUERY_VALUES = frozenset(
    {"page", "form", "status", "spam", "date_from", "date_to", "from", "to", "action"}
)
REDACTED = "[redacted]"
# A query string inside a line: after a "?", up to whitespace, a quote or a fragment.
_QUERY_IN_TEXT = re.compile(r"\?([^\s\"#]+)")
_PARAMETER_NAME = re.compile(r"[A-Za-z0-9_.\-\[\]]{1,40}")


def redact_query(query: str) -> str:
    """A query string (without its "?") with every value not on the allowed list replaced.

    Names stay, so a line still shows which filters were used; a name that is not a plain
    identifier (free text typed as `?Jane+Doe`) is replaced as well.
    """
    parts = []
    for part in query.split("&"):
        name, has_value, _ = part.partition("=")
        if not part or name in LOGGED_QUERY_VALUES:
            parts.append(part)
        elif has_value and _PARAMETER_NAME.fullmatch(name):
            parts.append(f"{name}={REDACTED}")
        else:
            parts.append(REDACTED)
    return "&".join(parts)


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return _QUERY_IN_TEXT.sub(lambda m: "?" + redact_query(m.group(1)), text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class JsonFormatter(logging.Formatter):
    """{"ts": "2026-11-26T19:00:00.123Z", "level": "INFO", "logger": ..., "msg": ...}"""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure(json_lines: bool, redact_links: bool) -> None:
    """Set up the root logger once (a host that configured logging itself is left alone)."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        formatter = logging.Formatter(
            "%(asctime)sZ %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S"
        )
        formatter.converter = time.gmtime  # UTC, whatever the server's zone
        handler.setFormatter(formatter)
    if redact_links:
        handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # Alembic announces every plugin it loads at INFO; only its warnings help an operator.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
