"""Articles: Markdown with YAML front matter, parsed and rendered to a page's parts.

A file's name (without .md) is its slug. Each language has its own addresses
(/articles/<slug>, /es/articles/<slug>), its own list and its own related articles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from html import escape
from pathlib import Path

import nh3
import yaml
from markdown_it import MarkdownIt
from markupsafe import Markup
from mdit_py_plugins.anchors import anchors_plugin

from spine_site.articles.images import responsive
from spine_site.web.i18n import DEFAULT, LANGUAGES, PREFIXES

CONTENT_DIR = Path(__file__).parent.parent / "content"
ARTICLES_DIR = CONTENT_DIR / "articles"
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_REQUIRED = ("title", "description", "published", "updated", "reviewer")


class ArticleError(ValueError):
    """An article file is malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class FaqItem:
    question: str
    answer_html: Markup
    answer_text: str


@dataclass(frozen=True)
class Article:
    slug: str
    title: str
    description: str
    summary: str
    published: date
    updated: date
    reviewer: str
    body_html: Markup
    toc: list[tuple[str, str]]
    faq: list[FaqItem]
    related: list[str] = field(default_factory=list)
    # The date of the medical review (shown and in JSON-LD as lastReviewed).
    reviewed: date | None = None
    # "en" or "es"; a translation names the slug of the English article it translates.
    language: str = DEFAULT
    translation_of: str | None = None

    @property
    def path(self) -> str:
        return f"{PREFIXES[self.language]}/articles/{self.slug}"

    @property
    def original_slug(self) -> str | None:
        """The English slug its language versions share: its own for an English article."""
        return self.slug if self.language == DEFAULT else self.translation_of


def markdown_parser() -> MarkdownIt:
    """The Markdown dialect of articles and the guide: CommonMark, tables, heading anchors."""
    # html=False: editors write Markdown, and raw HTML in a file cannot smuggle in a script.
    return (
        MarkdownIt("commonmark", {"html": False, "typographer": False})
        .enable("table")
        .use(anchors_plugin, min_level=2, max_level=3, permalink=False)
    )


def split_front_matter(text: str, source: str) -> tuple[dict, str]:
    if not text.startswith("---"):
        raise ArticleError(f"{source}: missing front matter (the file must start with ---)")
    try:
        _, front, body = text.split("---", 2)
    except ValueError:
        raise ArticleError(f"{source}: front matter is not closed with ---") from None
    try:
        meta = yaml.safe_load(front) or {}
    except yaml.YAMLError as exc:
        raise ArticleError(f"{source}: front matter is not valid YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise ArticleError(f"{source}: front matter must be a mapping")
    return meta, body


def _as_date(value: object, name: str, source: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ArticleError(f"{source}: {name} must be a date like 2026-11-20") from None


def _label_cells(table: re.Match[str]) -> str:
    """Give each body cell its column's heading, so a phone can show rows as cards."""
    html = table.group(0)
    head = re.search(r"<thead>(.*?)</thead>", html, re.S)
    if head is None:
        return html
    labels = [
        re.sub(r"<[^>]+>", "", h).strip()
        for h in re.findall(r"<th>(.*?)</th>", head.group(1), re.S)
    ]

    def row(match: re.Match[str]) -> str:
        cells = iter(labels)
        return re.sub(
            r"<td>", lambda _: f'<td data-label="{escape(next(cells, ""))}">', match.group(0)
        )

    return re.sub(r"<tr>.*?</tr>", row, html, flags=re.S)


# What a screen reader calls a table's scrolling region, in the article's own language (the
# body is rendered once per copy of the articles, outside any request and its locale).
TABLE_LABELS = {"en": "Comparison table", "es": "Tabla comparativa"}


def _polish_html(html: str, language: str = DEFAULT) -> str:
    html = re.sub(r"<table>.*?</table>", _label_cells, html, flags=re.S)
    # Wide tables scroll inside their own focusable region on a phone instead of the page.
    label = TABLE_LABELS.get(language, TABLE_LABELS[DEFAULT])
    html = html.replace(
        "<table>",
        f'<div class="table-wrap" role="region" tabindex="0" aria-label="{label}"><table>',
    ).replace("</table>", "</table></div>")
    html = html.replace("<th>", '<th scope="col">')
    return html.replace("<blockquote>", '<blockquote class="note">')


def parse_article(path: Path, md: MarkdownIt | None = None) -> Article:
    slug = path.stem
    if not SLUG.match(slug):
        raise ArticleError(f"{path.name}: file name must be a lowercase-hyphenated slug")
    meta, body = split_front_matter(path.read_text(encoding="utf-8"), path.name)
    missing = [key for key in _REQUIRED if not meta.get(key)]
    if missing:
        raise ArticleError(f"{path.name}: front matter lacks {', '.join(missing)}")
    faq = meta.get("faq") or []
    for item in faq:
        if not isinstance(item, dict) or not item.get("q") or not item.get("a"):
            raise ArticleError(f"{path.name}: each faq item needs q and a")
    updated = _as_date(meta["updated"], "updated", path.name)
    language, translation_of = file_language(meta, path)
    return render_article(
        ArticleSource(
            slug=slug,
            title=str(meta["title"]).strip(),
            description=str(meta["description"]).strip(),
            summary=str(meta.get("summary") or meta["description"]).strip(),
            body=body,
            faq=[{"q": str(i["q"]), "a": str(i["a"])} for i in faq],
            related=[str(s) for s in meta.get("related") or []],
            reviewer=str(meta["reviewer"]).strip(),
            reviewed=_as_date(meta.get("reviewed") or updated, "reviewed", path.name),
            published=_as_date(meta["published"], "published", path.name),
            updated=updated,
            language=language,
            translation_of=translation_of,
        ),
        md,
    )


def file_language(meta: dict, path: Path) -> tuple[str, str | None]:
    """A file's `language` and, for a translation, the English slug in its
    `translation_of`. Without the key, a file in a language's folder (es/) is in that
    language, any other English."""
    source = path.name
    folder = path.parent.name if path.parent.name in LANGUAGES else DEFAULT
    language = str(meta.get("language") or folder).strip().lower()
    if language != folder and folder != DEFAULT:
        raise ArticleError(f"{source}: says language {language} inside the {folder}/ folder")
    if language not in LANGUAGES:
        raise ArticleError(f"{source}: language must be one of {', '.join(LANGUAGES)}")
    original = meta.get("translation_of")
    if original is None or str(original).strip() == "":
        return language, None
    original = str(original).strip()
    if language == DEFAULT:
        raise ArticleError(f"{source}: an English article is not a translation_of another")
    if not SLUG.match(original):
        raise ArticleError(f"{source}: translation_of must be an English article's slug")
    return language, original


@dataclass(frozen=True)
class ArticleSource:
    """An article as written (Markdown), whether from a file or a stored revision."""

    slug: str
    title: str
    description: str
    summary: str
    body: str
    faq: list[dict[str, str]]
    related: list[str]
    reviewer: str
    reviewed: date | None
    published: date
    updated: date
    language: str = DEFAULT
    translation_of: str | None = None


def render_article(source: ArticleSource, md: MarkdownIt | None = None) -> Article:
    """The article as pages show it: body and FAQ answers rendered and sanitised, the table
    of contents from its h2 headings."""
    md = md or markdown_parser()
    tokens = md.parse(source.body)
    toc: list[tuple[str, str]] = []
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag == "h2":
            text = "".join(
                child.content for child in (tokens[i + 1].children or []) if child.content
            )
            toc.append((str(token.attrs["id"]), text))
    rendered = md.renderer.render(tokens, md.options, {})
    body_html = sanitize(responsive(_polish_html(rendered, source.language)))
    faq = []
    for item in source.faq:
        answer = str(item["a"]).strip()
        faq.append(
            FaqItem(
                question=str(item["q"]).strip(),
                answer_html=Markup(sanitize(md.renderInline(answer))),
                answer_text=re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", answer).replace("**", ""),
            )
        )
    return Article(
        slug=source.slug,
        title=source.title.strip(),
        description=source.description.strip(),
        summary=(source.summary or source.description).strip(),
        published=source.published,
        updated=source.updated,
        reviewer=source.reviewer.strip(),
        reviewed=source.reviewed,
        body_html=Markup(body_html),
        toc=toc,
        faq=faq,
        related=list(source.related),
        language=source.language,
        translation_of=source.translation_of,
    )


class Library:
    """Every article, rendered at start-up; views only look them up, in one language."""

    def __init__(self, articles: list[Article]) -> None:
        self._by_key = {(a.language, a.slug): a for a in articles}
        for article in articles:
            unknown = [s for s in article.related if (article.language, s) not in self._by_key]
            if unknown:
                raise ArticleError(f"{article.slug}.md: related names unknown {unknown}")
        # Newest first, the order readers and the sitemap want.
        self.all = sorted(articles, key=lambda a: (a.published, a.slug), reverse=True)
        self._lists = {code: [a for a in self.all if a.language == code] for code in LANGUAGES}
        # English slug -> the article in each language that has it.
        self._versions: dict[str, dict[str, Article]] = {}
        for article in self.all:
            if article.original_slug is not None:
                self._versions.setdefault(article.original_slug, {})[article.language] = article

    @classmethod
    def load(cls, directory: Path = ARTICLES_DIR) -> Library:
        """The files of `directory` and of its language folders (es/)."""
        md = markdown_parser()
        return cls([parse_article(p, md) for p in article_files(directory)])

    def in_language(self, language: str) -> list[Article]:
        """The articles of one language, newest first."""
        return self._lists.get(language, [])

    def get(self, slug: str, language: str = DEFAULT) -> Article | None:
        return self._by_key.get((language, slug))

    def related(self, article: Article) -> list[Article]:
        """Its related articles, all in its own language."""
        found = (self._by_key.get((article.language, s)) for s in article.related)
        return [a for a in found if a is not None]

    def versions(self, article: Article) -> dict[str, Article]:
        """The article in each language it is published in (itself included), in the order
        of LANGUAGES."""
        key = article.original_slug
        group = self._versions.get(key, {}) if key is not None else {}
        if group.get(article.language) is not article:
            # A translation whose English article is not public (or one of no article).
            group = {article.language: article}
        return {code: group[code] for code in LANGUAGES if code in group}


def article_files(directory: Path) -> list[Path]:
    """A folder's article files: English first, then each language folder's, so that a
    translation's English article is already there when it comes in."""
    files = sorted(directory.glob("*.md"))
    for code in LANGUAGES:
        if code != DEFAULT and (directory / code).is_dir():
            files += sorted((directory / code).glob("*.md"))
    return files


# -- The HTML allow-list (nh3): what readers may be shown
_TAGS = {
    "p", "h2", "h3", "h4", "ul", "ol", "li", "strong", "em", "a", "code", "pre",
    "blockquote", "hr", "br", "table", "thead", "tbody", "tr", "th", "td", "div",
    "picture", "source", "img", "figure", "figcaption",
}  # fmt: skip
_ATTRIBUTES = {
    "h2": {"id"},
    "h3": {"id"},
    "h4": {"id"},
    "ol": {"start"},
    "a": {"href", "title"},
    "blockquote": {"class"},
    "th": {"scope"},
    "td": {"data-label"},
    # The scrolling wrapper around wide tables (articles._polish_html).
    "div": {"class", "role", "tabindex", "aria-label"},
    "picture": set(),
    "source": {"srcset", "type", "sizes"},
    "img": {"src", "alt", "width", "height", "srcset", "sizes", "loading", "decoding"},
}
# Relative links (/schedule, #faq) pass; of the absolute ones, only these.
_SCHEMES = {"http", "https", "mailto", "tel"}


def sanitize(html: str) -> str:
    """`html` with everything outside the allow-list removed (tags unwrapped, script and
    style dropped with their content, event handlers and other schemes stripped)."""
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_SCHEMES,
        link_rel=None,
        strip_comments=True,
    )
