"""An article's history: every revision (who, when, why), any two compared, and an old one
restored as the newest draft."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from spine_site.articles import article_desk
from spine_site.articles.editorial import EditorialError
from spine_site.extensions import db
from spine_site.models import ArticleRecord, ArticleRevision
from spine_site.staff.access import EDITORS, acting_user, bp, get_or_404
from spine_site.staff.article_diff import compare
from spine_site.staff.article_views import revision_or_404, state_label
from spine_site.staff.forms import ActionForm


def _revisions(article: ArticleRecord) -> list[ArticleRevision]:
    return list(
        db.session.scalars(
            select(ArticleRevision)
            .where(ArticleRevision.article_id == article.id)
            .order_by(ArticleRevision.number.desc())
        )
    )


@bp.get("/articles/<int:article_id>/revisions", endpoint="article_revisions")
def article_revisions(article_id: int):
    article = get_or_404(ArticleRecord, article_id)
    revisions = _revisions(article)
    return render_template(
        "staff/article_revisions.html",
        article=article,
        revisions=revisions,
        state_text=state_label(article),
        can_edit=current_user.role in EDITORS,
        action_form=ActionForm(formdata=None),
        # Compare the newest with the one before it, unless the reader picks others.
        a=revisions[1].number if len(revisions) > 1 else revisions[0].number,
        b=revisions[0].number,
    )


@bp.get("/articles/<int:article_id>/compare", endpoint="article_compare")
def article_compare(article_id: int):
    article = get_or_404(ArticleRecord, article_id)
    old = revision_or_404(article, request.args.get("a"))
    new = revision_or_404(article, request.args.get("b"))
    return render_template(
        "staff/article_compare.html",
        article=article,
        old=old,
        new=new,
        changes=compare(old, new),
        revisions=_revisions(article),
    )


@bp.post("/articles/<int:article_id>/revisions/<int:number>/restore", endpoint="article_restore")
def article_restore(article_id: int, number: int):
    article = get_or_404(ArticleRecord, article_id)
    revision = revision_or_404(article, number)
    if ActionForm().validate_on_submit():
        try:
            restored = article_desk.restore(article, revision, by=acting_user())
        except EditorialError as exc:
            flash(str(exc), "error")
            return redirect(url_for("staff.article_revisions", article_id=article.id), 303)
        flash(
            f"Revision {number} restored as revision {restored.number}, the newest draft. "
            "Readers see it once it is published."
        )
    return redirect(url_for("staff.article", article_id=article.id), 303)
