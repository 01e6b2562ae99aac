"""The emails a lead brings: the patient's confirmation or guide link, the intake desk's
notice. Each is queued in the outbox inside the caller's transaction.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, url_for
from sqlalchemy import func, select

from . import outbox, tokens
from .clock import utcnow
from .extensions import db
from .models import EmailKind, FormKind, Lead, OutboxEmail

# Fresh guide links one lead may ask for in a day: an old link cannot fill someone's inbox.
GUIDE_RESENDS_PER_DAY = 3


def absolute_url(path: str) -> str:
    return current_app.config["SITE_URL"] + path


def queue_emails(lead: Lead) -> None:
    """Add the emails a new (non-spam) lead triggers; the caller commits."""
    config = current_app.config
    clinic_name = config["CLINIC_NAME"]
    if lead.form is not FormKind.APPOINTMENT:
        queue_guide_email(lead)
        return
    outbox.enqueue(
        kind=EmailKind.APPOINTMENT_CONFIRMATION,
        to_addr=lead.email,
        subject=f"We received your appointment request - {clinic_name}",
        template="appointment_confirmation",
        context={"lead": lead},
        lead=lead,
    )
    if config.get("STAFF_NOTIFY_EMAIL"):
        # Only a link: no name, reason or message leaves the system in this email.
        outbox.enqueue(
            kind=EmailKind.STAFF_NOTIFICATION,
            to_addr=config["STAFF_NOTIFY_EMAIL"],
            subject=f"New appointment request #{lead.id}",
            template="staff_notification",
            context={"lead_url": absolute_url(f"/staff/leads/{lead.id}"), "lead_id": lead.id},
            lead=lead,
        )


def queue_guide_email(lead: Lead) -> None:
    """Queue the guide email with a fresh signed link; the caller commits."""
    config = current_app.config
    unsubscribe = absolute_url(
        url_for("public.unsubscribe", token=tokens.unsubscribe_token(lead.person_id))
    )
    download = url_for("public.guide_download", token=tokens.guide_token(lead.id))
    outbox.enqueue(
        kind=EmailKind.GUIDE,
        to_addr=lead.email,
        subject=f"Your free guide from {config['CLINIC_NAME']}",
        template="guide",
        context={
            "lead": lead,
            "download_url": absolute_url(download),
            "days": config["GUIDE_LINK_DAYS"],
            "unsubscribe_url": unsubscribe,
        },
        lead=lead,
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def resend_guide(lead: Lead) -> bool:
    """Send a fresh guide link to the lead's address, and commit; False if several went out
    in the last day."""
    since = utcnow() - timedelta(days=1)
    recent = db.session.scalar(
        select(func.count())
        .select_from(OutboxEmail)
        .where(
            OutboxEmail.lead_id == lead.id,
            OutboxEmail.kind == EmailKind.GUIDE,
            OutboxEmail.created_at > since,
        )
    )
    if recent >= GUIDE_RESENDS_PER_DAY:
        return False
    queue_guide_email(lead)
    db.session.commit()
    outbox.wake_sender()
    return True
