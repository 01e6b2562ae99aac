"""Editors' work on articles: the list, writing (every save a revision), the preview, and
the steps a draft takes to readers: submit for review, publish (now or later), unpublish.

Marketing may read all of it; only editors and admins change anything (access.py)."""

from __future__ import annotations

from datetime import UTC

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from spine_site.articles import article_desk, editorial
from spine_site.articles.editorial import Draft, EditorialError, State
from spine_site.articles.preview import preview_of
from spine_site.clock import clinic_zone, utcnow
from spine_site.extensions import db
from spine_site.models import ArticleRecord, ArticleRevision, Workflow
from spine_site.staff.access import EDITORS, acting_user, bp, get_or_404
from spine_site.staff.article_forms import ArticleForm, PublishForm
from spine_site.staff.forms import ActionForm
from spine_site.web.templating import clinic_time


def state_label(article: ArticleRecord) -> str:
    """The state as the list and the editor show it, e.g. "scheduled for 2026-12-01 09:00 CST
    + unpublished changes"."""
    state = editorial.state_of(article)
    label = state.value
    if state is State.SCHEDULED:
        label = f"scheduled for {clinic_time(article.publish_at)}"
    if editorial.has_unpublished_changes(article) and state is not State.UNPUBLISHED:
        label += " + unpublished changes"
    return label


@bp.get("/articles", endpoint="articles")
def articles_list():
    found = db.session.scalars(
        select(ArticleRecord).order_by(ArticleRecord.updated_at.desc(), ArticleRecord.id)
    ).all()
    return render_template(
        "staff/articles.html",
        articles=found,
        labels={a.id: state_label(a) for a in found},
        can_edit=current_user.role in EDITORS,
    )


@bp.route("/articles/new", methods=["GET", "POST"], endpoint="article_new")
def article_new():
    form = ArticleForm()
    if request.method == "POST":
        draft = _checked_draft(form, None)
        if draft is not None:
            try:
                article = article_desk.create(draft, by=acting_user(), note=form.note.data or None)
            except EditorialError as exc:  # the address taken meanwhile
                form.slug.errors = [*form.slug.errors, str(exc)]
            else:
                flash("Saved as a draft. Readers see nothing until it is published.")
                return _after_save(article)
    return render_template("staff/article_edit.html", article=None, form=form, can_edit=True), (
        422 if form.errors else 200
    )


@bp.get("/articles/<int:article_id>", endpoint="article")
def article_page(article_id: int):
    article = get_or_404(ArticleRecord, article_id)
    assert article.head is not None
    return _edit_page(article, ArticleForm.of(Draft.of(article.head)))


@bp.post("/articles/<int:article_id>", endpoint="article_save")
def article_save(article_id: int):
    article = get_or_404(ArticleRecord, article_id)
    form = ArticleForm()
    draft = _checked_draft(form, article)
    if draft is None:
        return _edit_page(article, form, 422)
    try:
        saved = article_desk.save(article, draft, by=acting_user(), note=form.note.data or None)
    except EditorialError as exc:  # the address taken meanwhile
        form.slug.errors = [*form.slug.errors, str(exc)]
        return _edit_page(article, form, 422)
    if saved is None:
        flash("Nothing had changed since the last save, so no new revision was made.")
    else:
        flash(f"Saved as revision {saved.number}. Readers see it once it is published.")
    return _after_save(article)


def _checked_draft(form: ArticleForm, article: ArticleRecord | None) -> Draft | None:
    """The typed draft if the form and the rules accept it; else None, the form carrying
    every problem in plain words."""
    shape_ok = form.validate_on_submit()
    form.plain_errors()
    draft = form.draft()
    found = {
        name: message
        for name, message in editorial.problems(draft, article).items()
        if not form[name].errors
    }
    form.show_problems(found)
    return draft if shape_ok and not found else None


def _after_save(article: ArticleRecord):
    if request.form.get("then") == "preview":
        return redirect(url_for("staff.article_preview", article_id=article.id), 303)
    return redirect(url_for("staff.article", article_id=article.id), 303)


def _edit_page(
    article: ArticleRecord,
    form: ArticleForm,
    status: int = 200,
    publish_form: PublishForm | None = None,
):
    head = article.head
    assert head is not None
    state = editorial.state_of(article)
    changes = editorial.has_unpublished_changes(article)
    return render_template(
        "staff/article_edit.html",
        article=article,
        head=head,
        form=form,
        state=state,
        state_text=state_label(article),
        can_edit=current_user.role in EDITORS,
        can_submit=article.workflow is Workflow.DRAFT and (article.live_id is None or changes),
        can_publish=state is not State.PUBLISHED or changes,
        can_unpublish=state in (State.PUBLISHED, State.SCHEDULED),
        review_missing=editorial.review_missing(head),
        publish_form=publish_form or PublishForm(formdata=None),
        action_form=ActionForm(formdata=None),
        zone=utcnow().astimezone(clinic_zone()).tzname(),
    ), status


def revision_or_404(article: ArticleRecord, number: int | str | None) -> ArticleRevision:
    text = str(number or "")
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        abort(404)
    found = db.session.scalar(
        select(ArticleRevision).where(
            ArticleRevision.article_id == article.id, ArticleRevision.number == int(text)
        )
    )
    if found is None:
        abort(404)
    return found


@bp.get("/articles/<int:article_id>/preview", endpoint="article_preview")
def article_preview(article_id: int):
    """The page exactly as readers would get it (same template, same forms), marked as a
    preview and kept out of search engines and caches."""
    article = get_or_404(ArticleRecord, article_id)
    number = request.args.get("revision")
    revision = revision_or_404(article, number) if number is not None else article.head
    assert revision is not None
    found = preview_of(article, revision)
    return render_template(
        "staff/article_preview.html",
        article=found,
        related=current_app.extensions["articles"].related(found),
        # The public blueprint offers its forms (views of one blueprint never import the
        # other's): the very forms the article page shows, empty.
        forms=current_app.extensions["article_forms"](found.path),
        problems={},
        record=article,
        revision=revision,
        is_head=revision.id == article.head_id,
    )


def _step(article_id: int, step, done: str):
    """Take one editorial step from a button, and come back to the article with the
    outcome (or the plain reason it could not be taken)."""
    article = get_or_404(ArticleRecord, article_id)
    if ActionForm().validate_on_submit():
        try:
            step(article)
        except EditorialError as exc:
            flash(str(exc), "error")
        else:
            flash(done)
    return redirect(url_for("staff.article", article_id=article_id), 303)


@bp.post("/articles/<int:article_id>/submit", endpoint="article_submit")
def article_submit(article_id: int):
    return _step(
        article_id,
        lambda a: article_desk.submit(a, by=acting_user()),
        "Submitted for review: the medical reviewer can now check it.",
    )


@bp.post("/articles/<int:article_id>/unpublish", endpoint="article_unpublish")
def article_unpublish(article_id: int):
    return _step(
        article_id,
        lambda a: article_desk.unpublish(a, by=acting_user()),
        "Unpublished: its address now tells readers the article was taken down.",
    )


@bp.post("/articles/<int:article_id>/publish", endpoint="article_publish")
def article_publish(article_id: int):
    form = PublishForm()
    valid = form.validate_on_submit()
    if valid and form.when.data == "later" and form.at.data is None:
        form.at.errors = ["Enter the date and time to publish, or choose Now."]
        valid = False
    if not valid:
        # The article's page again, the publish form showing the reason and what was typed.
        article = get_or_404(ArticleRecord, article_id)
        return _edit_page(article, ArticleForm.of(Draft.of(article.head)), 422, publish_form=form)
    at = None
    if form.when.data == "later":
        at = form.at.data.replace(tzinfo=clinic_zone()).astimezone(UTC)
    if at is not None and at > utcnow():
        done = f"Scheduled: readers see it from {clinic_time(at)}."
    else:
        done = "Published: readers see it now."
    return _step(article_id, lambda a: article_desk.publish(a, by=acting_user(), at=at), done)
