"""Editors' work on articles: the list, writing (every save a revision), the preview, and
the steps a draft takes to readers: submit for review, publish (now or later), unpublish.

Marketing may read all of it; only editors and admins change anything (access.py)."""

from __future__ import annotations

from collections.abc import Sequence
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
from spine_site.staff.access import EDITORS, acting_user, bp, get_or_404, took
from spine_site.staff.article_forms import ArticleForm, PublishForm
from spine_site.staff.forms import ActionForm
from spine_site.web.i18n import DEFAULT, use_language
from spine_site.web.templating import clinic_time

SPANISH = "es"  # the language articles are translated into


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


def translation_label(original: ArticleRecord) -> str:
    """An English article's Spanish translation as the list shows it."""
    found = editorial.translation(original, SPANISH)
    if found is None:
        return "No Spanish translation"
    if editorial.needs_update(found):
        return "Spanish needs update"
    return f"Spanish: {state_label(found)}"


@bp.get("/articles", endpoint="articles")
def articles_list():
    found = grouped(
        db.session.scalars(
            select(ArticleRecord).order_by(ArticleRecord.updated_at.desc(), ArticleRecord.id)
        ).all()
    )
    return render_template(
        "staff/articles.html",
        articles=found,
        labels={a.id: state_label(a) for a in found},
        translations={
            a.id: (editorial.translation(a, SPANISH), translation_label(a))
            for a in found
            if a.language == DEFAULT
        },
        can_edit=current_user.role in EDITORS,
    )


def grouped(articles: Sequence[ArticleRecord]) -> list[ArticleRecord]:
    """The articles in their order, each translation right under its English article."""
    listed = {a.id for a in articles}
    ordered: list[ArticleRecord] = []
    for article in articles:
        if article.translation_of_id in listed:
            continue  # placed under its English article
        ordered.append(article)
        ordered += [t for t in articles if t.translation_of_id == article.id]
    return ordered


@bp.route("/articles/new", methods=["GET", "POST"], endpoint="article_new")
def article_new():
    """A new English article; with ?translation_of=<id>, that article's Spanish translation,
    its form prefilled with the English text to translate (translation_start)."""
    original = _original_to_translate()
    if original is not None:
        existing = editorial.translation(original, SPANISH)
        if existing is not None:
            flash("This article already has a Spanish translation; here it is.")
            return redirect(url_for("staff.article", article_id=existing.id), 303)
    language = SPANISH if original is not None else DEFAULT
    if request.method == "POST":
        form = ArticleForm()
        draft = _checked_draft(form, None, language)
        if draft is not None:
            try:
                article = article_desk.create(
                    draft,
                    by=acting_user(),
                    note=form.note.data or None,
                    translation_of=original,
                    language=language,
                )
            except EditorialError as exc:  # the address taken meanwhile
                form.slug.errors = [*form.slug.errors, str(exc)]
            else:
                flash("Saved as a draft. Readers see nothing until it is published.")
                return _after_save(article)
    elif original is not None:
        form = ArticleForm.of(translation_start(original))
    else:
        form = ArticleForm()
    return render_template(
        "staff/article_edit.html",
        article=None,
        form=form,
        can_edit=True,
        original=original,
        article_language=language,
    ), (422 if form.errors else 200)


def _original_to_translate() -> ArticleRecord | None:
    """The English article named by ?translation_of=, if any (404 if it is not one)."""
    text = request.args.get("translation_of")
    if text is None:
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        abort(404)
    original = get_or_404(ArticleRecord, int(text))
    if original.language != DEFAULT:
        abort(404)
    return original


def translation_start(original: ArticleRecord) -> Draft:
    """Where a translation starts: the English article's published (else newest) text, its
    related articles' Spanish translations, and no medical review of its own yet."""
    source = original.live or original.head
    assert source is not None
    draft = Draft.of(source)
    spanish = {
        record.slug: editorial.translation(record, SPANISH)
        for record in db.session.scalars(
            select(ArticleRecord).where(
                ArticleRecord.language == DEFAULT, ArticleRecord.slug.in_(draft.related)
            )
        )
    }
    draft.related = [t.slug for s in draft.related if (t := spanish.get(s)) is not None]
    draft.reviewer = ""
    draft.reviewed_on = None
    return draft


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


def _checked_draft(
    form: ArticleForm, article: ArticleRecord | None, language: str = DEFAULT
) -> Draft | None:
    """The typed draft if the form and the rules accept it; else None, the form carrying
    every problem in plain words. A new article is checked in `language`."""
    shape_ok = form.validate_on_submit()
    form.plain_errors()
    draft = form.draft()
    found = {
        name: message
        for name, message in editorial.problems(draft, article, language).items()
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
        article_language=article.language,
        original=article.translation_of,
        translation=editorial.translation(article, SPANISH),
        translation_text=translation_label(article) if article.language == DEFAULT else "",
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
    use_language(article.language)
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
    if ActionForm().validate_on_submit() and took(lambda: step(article), EditorialError):
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
