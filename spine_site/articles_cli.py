"""`flask articles import PATH` and `flask articles export PATH`: Markdown files in and out."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from . import audit
from .articles import ArticleError
from .articles_io import export_all, import_path
from .editorial import EditorialError
from .transaction import atomic

articles_cli = AppGroup("articles", help="Articles: import and export Markdown files.")


@articles_cli.command("import")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
def articles_import(path: Path) -> None:
    """Take in a .md file or every .md file in a folder (front matter as in
    spine_site/content/articles/). A file whose slug exists becomes a new revision of that
    article; one with `state: published` (or no state) is published as its dates say."""
    try:
        with atomic():
            results = import_path(path)
            new = sum(1 for _, status in results if status == "new")
            detail = {"files": len(results), "new": new}
            audit.record("article_import", actor="command line", detail=detail)
    except (ArticleError, EditorialError) as exc:
        raise click.ClickException(str(exc)) from None
    for article, status in results:
        click.echo(f"{status}: {article.slug}")


@articles_cli.command("export")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
def articles_export(path: Path) -> None:
    """Write every article's newest revision to PATH/<slug>.md (for backup, or review in git)."""
    for written in export_all(path):
        click.echo(f"wrote {written}")
