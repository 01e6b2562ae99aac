"""The command line: `flask outbox ...`, `flask guide ...`, `flask users ...`,
`flask leads ...` and `flask articles ...`, each command parsing its options and calling
one domain function.

The commands systemd runs (`outbox work`, `leads digest`, `leads purge`) report through
logging, not on stdout: their lines go to the journal beside the web service's, in the same
form (JSON in production: ops/logs.py). The commands an admin runs by hand answer on stdout.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from spine_site import privacy
from spine_site.accounts import audit, mfa, users
from spine_site.articles.editorial import EditorialError
from spine_site.articles.files import export_all, import_path
from spine_site.articles.render import ArticleError
from spine_site.desk import digest
from spine_site.extensions import db
from spine_site.leads.guide import GuideContact, guide_pdf
from spine_site.mail import outbox
from spine_site.models import Role, User
from spine_site.transaction import atomic
from spine_site.web.i18n import LANGUAGES

log = logging.getLogger(__name__)

outbox_cli = AppGroup("outbox", help="Deliver queued email.")
guide_cli = AppGroup("guide", help="The free guide PDF.")


@outbox_cli.command("work")
@click.option(
    "--poll", default=None, type=float, help="Seconds between rounds (OUTBOX_POLL_SECONDS)."
)
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
def outbox_work(poll: float | None, once: bool) -> None:
    """Deliver queued email until stopped (Ctrl-C or SIGTERM). Safe beside the web workers."""
    app = current_app._get_current_object()
    if once:
        sent = outbox.deliver_due()
        log.info("outbox: sent %d emails", sent)
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    seconds = poll if poll is not None else app.config["OUTBOX_POLL_SECONDS"]
    log.info("outbox worker: delivering every %gs; stop with Ctrl-C or SIGTERM", seconds)
    outbox.work_forever(app, seconds, stop)
    log.info("outbox worker: stopped")


@guide_cli.command("build")
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--language",
    type=click.Choice(sorted(LANGUAGES)),
    default="en",
    show_default=True,
    help="The guide's language (a lead's: English, or Spanish from /es/ pages).",
)
def guide_build(output: Path, language: str) -> None:
    """Write the guide PDF to OUTPUT, to proofread what patients download."""
    output.write_bytes(guide_pdf(GuideContact.from_config(current_app.config, language)))
    click.echo(f"wrote {output}")


users_cli = AppGroup("users", help="Staff accounts.")
leads_cli = AppGroup("leads", help="Lead data: retention, the intake desk's morning summary.")
articles_cli = AppGroup("articles", help="Articles: import and export Markdown files.")


def _read_password() -> str:
    # A terminal gets a hidden prompt, asked twice; a pipe (scripts) gives one line on stdin.
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise click.ClickException("No password on standard input.")
    return line


@users_cli.command("create")
@click.argument("email")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    required=True,
    help="admin, staff (intake), marketing or editor (articles).",
)
def users_create(email: str, role: str) -> None:
    """Create a staff account; the password is prompted twice (or read from stdin)."""
    password = _read_password()
    try:
        user, _ = users.create_account(email, Role(role), by=None, password=password)
    except users.UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {user.email} ({role})")


@users_cli.command("reset-mfa")
@click.argument("email")
def users_reset_mfa(email: str) -> None:
    """Remove an account's second factors, end its sessions and give it a new password
    (asked twice, hidden, or one line on stdin); it sets up a new factor at its next
    sign-in. For a lost phone or passkey. Recorded in the audit log."""
    try:
        normalized = users.normalize_email(email)
    except users.UserError as exc:
        raise click.ClickException(str(exc)) from None
    user = db.session.scalar(select(User).where(User.email == normalized))
    if user is None:
        raise click.ClickException(f"No account for {normalized}.")
    password = _read_password()
    try:
        mfa.reset_factors(user, by=None, password=password)
    except mfa.FactorError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"second factors removed and password replaced for {user.email}; they enrol again "
        "at next sign-in"
    )


@users_cli.command("reencrypt")
def users_reencrypt() -> None:
    """After a SECRET_KEY rotation (old key in SECRET_KEY_FALLBACKS): re-encrypt every
    authenticator secret with the new key, so the old one can then be dropped."""
    done, lost = mfa.reencrypt_all()
    click.echo(f"re-encrypted {done} authenticator secrets")
    if lost:
        raise click.ClickException(
            f"{lost} could not be read with SECRET_KEY or SECRET_KEY_FALLBACKS; those people "
            "sign in with a passkey or a recovery code, or an admin resets their factors."
        )


@leads_cli.command("purge")
@click.option(
    "--older-than",
    "days",
    type=click.IntRange(min=1),
    required=True,
    help="Delete leads received more than DAYS days ago.",
)
def leads_purge(days: int) -> None:
    """Retention: delete old leads and everything attached, quarantined spam first."""
    counts = privacy.purge_older_than(days)
    log.info(
        "purge: purged %d spam and %d other leads older than %d days; %d people with no "
        "request left were removed",
        counts["spam"],
        counts["leads"],
        days,
        counts["people"],
    )


@leads_cli.command("digest")
@click.option(
    "--open-days-only",
    is_flag=True,
    help="Send nothing on a day the clinic does not open (CLINIC_HOURS, CLINIC_HOLIDAYS).",
)
def leads_digest(open_days_only: bool) -> None:
    """Email STAFF_NOTIFY_EMAIL the intake desk's summary: requests waiting for a first
    contact, overdue, follow-ups due today, and a link to the queue. No names or details.
    Sent at once (not queued); exits non-zero if it cannot be sent, for a timer to show."""
    try:
        sent = digest.send_digest(open_days_only=open_days_only)
    except digest.DigestError as exc:
        log.error("digest: %s", exc)
        sys.exit(1)
    if sent is None:
        log.info("digest: the clinic is closed today: no summary sent")
        return
    log.info("digest: sent to %s: %s", sent.recipient, digest.subject(sent.counts))


@articles_cli.command("import")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
def articles_import(path: Path) -> None:
    """Take in a .md file or every .md file in a folder and its es/ folder (front matter as
    in spine_site/content/articles/; a Spanish file says `language: es` and
    `translation_of: <English slug>`). A file whose slug exists in its language becomes a
    new revision of that article; one with `state: published` (or no state) is published as
    its dates say."""
    try:
        with atomic():
            results = import_path(path)
            new = sum(1 for _, status in results if status == "new")
            detail = {"files": len(results), "new": new}
            audit.record("article_import", actor="command line", detail=detail)
    except (ArticleError, EditorialError) as exc:
        raise click.ClickException(str(exc)) from None
    for article, status in results:
        prefix = "" if article.language == "en" else f"{article.language}/"
        click.echo(f"{status}: {prefix}{article.slug}")


@articles_cli.command("export")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
def articles_export(path: Path) -> None:
    """Write every article's newest revision to PATH/<slug>.md, a Spanish one to
    PATH/es/<slug>.md (for backup, or review in git; `import PATH` takes it back in)."""
    for written in export_all(path):
        click.echo(f"wrote {written}")


def init_app(app: Flask) -> None:
    for group in (outbox_cli, guide_cli, users_cli, leads_cli, articles_cli):
        app.cli.add_command(group)
