"""Intake's work on leads: the list, one lead, status, notes, spam, resending email,
erasure, and the exports (CSV and Excel)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask_login import current_user

from spine_site import privacy
from spine_site.clock import clinic_zone, utcnow
from spine_site.desk import attempts, casework, queue
from spine_site.leads import export, export_xlsx, lead_list
from spine_site.models import EmailStatus, FormKind, Lead, LeadStatus, OutboxEmail, Role
from spine_site.staff import desk_views
from spine_site.staff.access import INTAKE, acting_user, bp, get_or_404, page_number, parse_date
from spine_site.staff.forms import (
    STATUS_LABELS,
    ActionForm,
    AttemptForm,
    FollowUpForm,
    NoteForm,
    OwnerForm,
    StatusForm,
)
from spine_site.web.forms import visible_only
from spine_site.web.i18n import LANGUAGES


def filter_from_request() -> lead_list.LeadFilter:
    """The list's filters from the query string; values that make no sense are ignored."""
    args = request.args
    form = args.get("form")
    status = args.get("status")
    spam = args.get("spam", "exclude")
    language = args.get("language")
    return lead_list.LeadFilter(
        form=FormKind(form) if form in {k.value for k in FormKind} else None,
        status=LeadStatus(status) if status in {s.value for s in LeadStatus} else None,
        date_from=parse_date(args.get("date_from")),
        date_to=parse_date(args.get("date_to")),
        spam=spam if spam in {"exclude", "only", "include"} else "exclude",
        q=str(visible_only(args.get("q", "")))[:100],
        language=language if language in LANGUAGES else None,
    )


LIST_PARAMS = {"form", "status", "date_from", "date_to", "spam", "q", "language"}


@bp.get("/", endpoint="leads")
def leads_list():
    """The intake queue (first contact by default) for the desk; the full list for
    marketing, for ?view=all, and for any link carrying the list's filters."""
    view = request.args.get("view", "")
    intake = current_user.role in INTAKE
    if intake and view in queue.VIEWS:
        return _queue(view)
    if intake and not view and not LIST_PARAMS & set(request.args):
        return _queue("first_contact")
    f = filter_from_request()
    page = lead_list.list_leads(
        f, page_number(request.args.get("page")), current_app.config["STAFF_PAGE_SIZE"]
    )
    return render_template(
        "staff/leads.html",
        page=page,
        f=f,
        # The desk's list links keep view=all, so paging and tabs stay on the full list.
        filters={**f.as_dict(), "view": "all"} if intake else f.as_dict(),
        status_labels=STATUS_LABELS,
        show_medical=current_user.role is not Role.MARKETING,
        can_open=intake,
        queue_views=queue.VIEWS if intake else {},
        # Repeat requests shown together: each row says how many others the person made.
        earlier=queue.other_requests(page.leads) if intake else {},
    )


def _queue(view: str):
    found = queue.queue_page(
        view,
        acting_user(),
        page_number(request.args.get("page")),
        current_app.config["STAFF_PAGE_SIZE"],
    )
    hours = attempts.business_hours()
    return render_template(
        "staff/queue.html",
        q=found,
        queue_views=queue.VIEWS,
        waiting={
            lead.id: queue.waiting_minutes(lead, hours, found.moments.now) for lead in found.leads
        },
        target=current_app.config["FIRST_CONTACT_TARGET_MINUTES"],
        status_labels=STATUS_LABELS,
        attempt_form=AttemptForm(),
        channel_for=attempts.CHANNEL_FOR_METHOD,
        outcomes_for=attempts.OUTCOMES_FOR,
        outcome_labels=attempts.OUTCOME_LABELS,
        channel_labels=attempts.CHANNEL_LABELS,
    )


@bp.get("/leads/<int:lead_id>")
def lead(lead_id: int):
    found = get_or_404(Lead, lead_id)
    # A HEAD shows nobody anything: only a GET is a view for the audit, and hands a draft back.
    draft = casework.open_lead(found, by=acting_user()) if request.method == "GET" else None
    others = [other for other in found.person.leads if other.id != found.id]
    return render_template(
        "staff/lead.html",
        lead=found,
        others=others,
        status_labels=STATUS_LABELS,
        status_form=StatusForm(status=found.status.value, seen=found.status.value),
        note_form=_note_form(draft),
        action_form=ActionForm(),
        EmailStatus=EmailStatus,
        **_desk_context(found),
    )


def _desk_context(found: Lead) -> dict[str, object]:
    """What the lead page needs to record a try, plan the next, and give the request to
    someone: the forms preset from the patient's choice and the lead's state."""
    follow_up = FollowUpForm(formdata=None)
    if found.next_follow_up_at is not None:
        follow_up.when.data = found.next_follow_up_at.astimezone(clinic_zone()).replace(tzinfo=None)
    owner = OwnerForm(formdata=None, owner=str(found.owner_id or ""))
    owner.owner.choices = desk_views.owner_choices()
    channel = attempts.CHANNEL_FOR_METHOD.get(found.contact_method or "", None)
    return {
        "attempt_form": AttemptForm(formdata=None, channel=(channel or "call")),
        "follow_up_form": follow_up,
        "owner_form": owner,
        "outcomes_for": attempts.OUTCOMES_FOR,
        "outcome_labels": attempts.OUTCOME_LABELS,
        "channel_labels": attempts.CHANNEL_LABELS,
        "cadence_done": found.unreached_attempts > 0 and found.next_follow_up_at is None,
    }


def _note_form(draft: str | None) -> NoteForm:
    """The note form, holding the user's draft if a timeout kept one for this lead."""
    form = NoteForm()
    if draft is not None:
        form.body.data = draft
        flash("Your unsaved note is below: press Add note to save it.")
    return form


@bp.post("/leads/<int:lead_id>/status")
def lead_status(lead_id: int):
    found = get_or_404(Lead, lead_id)
    form = StatusForm()
    if form.validate_on_submit():
        new = LeadStatus(form.status.data)
        valid = {s.value for s in LeadStatus}
        seen = LeadStatus(form.seen.data) if form.seen.data in valid else found.status
        if casework.change_status(found, new, seen=seen, by=acting_user()):
            flash(f"Status changed to {STATUS_LABELS[new]}.")
        elif seen is not new:
            flash(
                "Someone else changed this lead's status a moment ago; here it is as it is "
                "now. Choose again if needed.",
                "error",
            )
    return redirect(url_for("staff.lead", lead_id=lead_id), 303)


@bp.post("/leads/<int:lead_id>/notes")
def lead_note(lead_id: int):
    found = get_or_404(Lead, lead_id)
    form = NoteForm()
    if form.validate_on_submit():
        casework.add_note(found, form.body.data, by=acting_user())
        flash("Note added.")
    else:
        flash(form.body.errors[0] if form.body.errors else "Please try again.", "error")
    return redirect(url_for("staff.lead", lead_id=lead_id) + "#notes", 303)


@bp.post("/leads/<int:lead_id>/spam")
def lead_spam(lead_id: int):
    found = get_or_404(Lead, lead_id)
    if ActionForm().validate_on_submit():
        spam = request.form.get("spam") == "1"
        casework.set_spam(found, spam, by=acting_user())
        flash("Marked as spam." if spam else "Released from quarantine; its emails are queued.")
    return redirect(url_for("staff.lead", lead_id=lead_id), 303)


@bp.post("/emails/<int:email_id>/resend")
def email_resend(email_id: int):
    email = get_or_404(OutboxEmail, email_id)
    if email.lead_id is None:
        abort(404)
    if ActionForm().validate_on_submit():
        casework.resend_email(email, by=acting_user())
        flash("The email is queued again.")
    return redirect(url_for("staff.lead", lead_id=email.lead_id) + "#emails", 303)


@bp.route("/leads/<int:lead_id>/erase", methods=["GET", "POST"])
def erase(lead_id: int):
    found = get_or_404(Lead, lead_id)
    form = ActionForm()
    if form.validate_on_submit():
        count = privacy.erase_person(found.person, by=acting_user())
        flash(f"Erased: {count} request(s) and everything attached to them.")
        return redirect(url_for("staff.leads"), 303)
    return render_template("staff/erase.html", lead=found, form=form)


@bp.get("/leads/export.csv", endpoint="export")
def export_csv():
    if request.method == "HEAD":
        return Response(mimetype="text/csv")
    plan = export.start_export(filter_from_request(), acting_user())
    rows = stream_with_context(plan.rows(clinic_zone()))
    # Dated by the clinic's day: an export at 8 pm in Chicago is still today's there.
    today = utcnow().astimezone(clinic_zone()).date()
    return csv_download(rows, f"leads-{today.isoformat()}.csv")


@bp.get("/leads/export.xlsx", endpoint="export_xlsx")
def export_workbook():
    if request.method == "HEAD":
        return Response(mimetype=export_xlsx.MIMETYPE)
    plan = export.start_export(filter_from_request(), acting_user(), file_format="xlsx")
    today = utcnow().astimezone(clinic_zone()).date()
    # A workbook is a zip, finished only after its last row: it is built in an anonymous
    # temporary file, which the response reads and closes (so no `with` block).
    body = tempfile.TemporaryFile(prefix="spine-export-")  # noqa: SIM115
    export_xlsx.write_workbook(
        plan, clinic_zone(), body, title=f"Leads, exported {today.isoformat()}"
    )
    size = body.tell()
    body.seek(0)
    response = send_file(
        body,
        mimetype=export_xlsx.MIMETYPE,
        as_attachment=True,
        download_name=f"leads-{today.isoformat()}.xlsx",
        max_age=0,
    )
    response.content_length = size
    return response


def csv_download(body: Iterable[str] | str, filename: str) -> Response:
    """A CSV file the browser saves (UTF-8; the body carries its own BOM)."""
    return Response(
        body,
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Content-Type": "text/csv; charset=utf-8",
        },
    )
