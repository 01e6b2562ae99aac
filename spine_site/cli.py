"""Command-line groups: `flask outbox ...` and `flask guide ...`."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from . import outbox
from .guide import guide_pdf

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
        click.echo(f"sent {sent}")
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    seconds = poll if poll is not None else app.config["OUTBOX_POLL_SECONDS"]
    click.echo(f"outbox worker: delivering every {seconds:g}s; stop with Ctrl-C")
    outbox.work_forever(app, seconds, stop)
    click.echo("outbox worker: stopped")


@guide_cli.command("build")
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
def guide_build(output: Path) -> None:
    """Write the guide PDF to OUTPUT, to proofread what patients download."""
    config = current_app.config
    output.write_bytes(guide_pdf(config["CLINIC_NAME"], config["CLINIC_PHONE"]))
    click.echo(f"wrote {output}")


def init_app(app: Flask) -> None:
    app.cli.add_command(outbox_cli)
    app.cli.add_command(guide_cli)
