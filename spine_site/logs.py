"""Logging: one JSON object a line, times in UTC, and no secrets in any line.

What must never reach a log: a patient's details (the code logs ids only), passwords,
session cookies, and the signed tokens in guide and unsubscribe links. The redaction here is
the safety net for the last two, whatever logger a line comes from.
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
    (re.compile(r"(session=)[^;\s\"]+"), r"\1[cookie]"),
    (re.compile(r"((?:csrf_token|form_token|password)=)[^&\s\"]+"), r"\1[secret]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


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
