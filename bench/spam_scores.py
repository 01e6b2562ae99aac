#!/usr/bin/env python3
"""SpamAssassin's local-rules score for one email of each kind the site sends.

    .venv/bin/python bench/spam_scores.py [--site-url URL] [--keep DIR]

Needs `spamassassin` (apt-get install -y spamassassin). Builds a throwaway SQLite site,
stores an appointment request (its confirmation and the staff notification), two guide
requests (one with the newsletter box ticked, so its email carries the confirmation link)
and sends the staff digest, all through the app's own code, delivered by the file transport
as .eml files: the bytes an SMTP server would get. Each file then goes through
`spamassassin -L -t` (local tests only: no DNS or network checks), and the score and the
rules that fired are printed. Exits non-zero if any email scores above 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from email import message_from_bytes, policy
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# (after the path line, so a checkout needs no install)
from flask import Flask  # noqa: E402

from spine_site import create_app  # noqa: E402
from spine_site.desk import digest  # noqa: E402
from spine_site.leads import intake  # noqa: E402
from spine_site.mail import outbox  # noqa: E402
from spine_site.models import FormKind  # noqa: E402

# A production-length address, as the operator had: long links, long headers.
SITE_URL = "https://a-very-long-subdomain-name.example-clinic-group.example.org/patients/portal"
APPOINTMENT = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada.lovelace@example.com",
    "phone": "+13128675309",
    "contact_method": "phone",
    "best_time": "morning",
    "reason": "sciatica",
    "message": "Pain down my left leg for six weeks.",
    "consent": True,
}


def make_site(tmp: Path, site_url: str) -> Flask:
    app = create_app(
        {
            "SECRET_KEY": "spam-bench-secret-key-0123456789abcdef",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'site.sqlite3'}",
            "INSTANCE_PATH": str(tmp / "instance"),
            "MAIL_FILE_DIR": str(tmp / "mail"),
            "MAIL_SERVER": None,
            "SITE_URL": site_url,
            "STAFF_NOTIFY_EMAIL": "intake@example-clinic.org",
            "MAIL_DEFAULT_SENDER": "Valor Spine <care@example-clinic.org>",
            "OUTBOX_IN_PROCESS": False,
            "RATELIMIT_ENABLED": False,
        }
    )
    from flask_migrate import upgrade

    logging.getLogger("alembic").setLevel(logging.WARNING)  # the report is the output
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
    return app


def capture(app: Flask, kind: FormKind, values: dict[str, object]) -> None:
    page = "/schedule" if kind is FormKind.APPOINTMENT else "/guide"
    attribution = intake.Attribution(
        utm={}, referrer=None, landing_page=page, source_page=page, placement="page"
    )
    with app.test_request_context():
        intake.capture(kind, values, form_nonce=uuid.uuid4().hex, attribution=attribution)


def write_every_kind(app: Flask) -> dict[str, Path]:
    """Each kind's .eml, by a name for the report (sent in this order, so sorted by time)."""
    mail = Path(app.config["MAIL_FILE_DIR"])
    names = [
        "appointment confirmation",
        "staff notification",
        "guide email",
        "guide email + newsletter link",
    ]
    capture(app, FormKind.APPOINTMENT, APPOINTMENT)
    capture(app, FormKind.GUIDE, {"first_name": "Grace", "email": "grace@example.org"})
    capture(
        app,
        FormKind.GUIDE,
        {"first_name": "Nina", "email": "nina@example.org", "opt_in": True},
    )
    with app.app_context():
        sent = outbox.deliver_due()
        assert sent == len(names), f"expected {len(names)} emails, sent {sent}"
        digest.send_digest()
    files = sorted(mail.glob("*.eml"))
    return dict(zip([*names, "staff digest"], files, strict=True))


def score(path: Path) -> tuple[float, list[str]]:
    """spamassassin's score and the fired rules' lines ("pts rule description")."""
    done = subprocess.run(
        ["spamassassin", "-L", "-t"],
        stdin=path.open("rb"),
        capture_output=True,
        check=True,
    )
    report = done.stdout.decode("utf-8", "replace")
    found = re.search(r"Content analysis details:\s+\((-?[\d.]+) points", report)
    if found is None:
        raise SystemExit(f"no score in spamassassin's report for {path}:\n{report[-2000:]}")
    table = report[found.end() :].splitlines()
    rules = [line.strip() for line in table if re.match(r"\s*-?\d+\.\d+ [A-Z][A-Z0-9_]+ ", line)]
    return float(found.group(1)), rules


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--site-url", default=SITE_URL)
    parser.add_argument("--keep", type=Path, help="copy the .eml files here")
    args = parser.parse_args()
    if shutil.which("spamassassin") is None:
        raise SystemExit("spamassassin is not installed: apt-get install -y spamassassin")
    version = subprocess.run(["spamassassin", "--version"], capture_output=True, text=True)
    print(version.stdout.splitlines()[0], "| spamassassin -L -t (local rules only)")
    with tempfile.TemporaryDirectory(prefix="spine-spam-bench-") as tmp:
        os.chdir(ROOT)
        files = write_every_kind(make_site(Path(tmp), args.site_url))
        worst = 0.0
        for name, path in files.items():
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, args.keep / f"{name.replace(' ', '-').replace('+', 'and')}.eml")
            points, rules = score(path)
            worst = max(worst, points)
            subject = message_from_bytes(path.read_bytes(), policy=policy.default)["Subject"]
            print(f"\n{points:5.1f}  {name}  ({subject})")
            for rule in rules:
                print(f"         {rule}")
    return 0 if worst <= 0 else 1


if __name__ == "__main__":
    sys.exit(main())
