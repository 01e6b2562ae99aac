"""The editor's steps as the staff pages take them, each in one transaction (editorial.py
only flushes, so an import can take in many articles in one)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import ParamSpec, TypeVar

from sqlalchemy.exc import IntegrityError

from spine_site.articles import editorial
from spine_site.articles.editorial import Draft, EditorialError
from spine_site.models import ArticleRecord, ArticleRevision, User
from spine_site.transaction import atomic

_P = ParamSpec("_P")
_T = TypeVar("_T")


def _committed(step: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    try:
        with atomic():
            return step(*args, **kwargs)
    except IntegrityError:
        # Two editors claiming one address at the same moment: the slug is unique, and the
        # second gets the same plain answer the form check gives.
        raise EditorialError(
            "Another article took this address a moment ago; choose another."
        ) from None


def create(
    draft: Draft,
    by: User,
    note: str | None = None,
    translation_of: ArticleRecord | None = None,
    language: str = "en",
) -> ArticleRecord:
    return _committed(editorial.create, draft, by, note, translation_of, language)


def save(
    article: ArticleRecord, draft: Draft, by: User, note: str | None = None
) -> ArticleRevision | None:
    return _committed(editorial.save, article, draft, by, note)


def submit(article: ArticleRecord, by: User) -> None:
    _committed(editorial.submit_for_review, article, by)


def publish(article: ArticleRecord, by: User, at: datetime | None = None) -> None:
    _committed(editorial.publish, article, by, at)


def unpublish(article: ArticleRecord, by: User) -> None:
    _committed(editorial.unpublish, article, by)


def restore(article: ArticleRecord, revision: ArticleRevision, by: User) -> ArticleRevision:
    return _committed(editorial.restore, article, revision, by)
