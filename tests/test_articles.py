"""Articles are Markdown files an editor can add; they are rendered once per process."""

from __future__ import annotations

from pathlib import Path

import pytest

from spine_site.articles import render
from spine_site.articles.render import ArticleError, Library, parse_article

GOOD = """---
title: "Sitting Well"
description: "How to sit at a desk with less back pain."
published: 2026-01-02
updated: 2026-02-03
reviewer: "Clinic physicians"
faq:
  - q: "How long should I sit?"
    a: "Stand up **every half hour**."
related: []
---
Intro.

## First part

Text with <script>alert(1)</script> in it.

### A detail

## Second part & more
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_an_editor_file_becomes_an_article_with_toc_and_faq(tmp_path):
    article = parse_article(write(tmp_path, "sitting-well.md", GOOD))
    assert article.slug == "sitting-well" and article.path == "/articles/sitting-well"
    assert article.toc == [
        ("first-part", "First part"),
        ("second-part--more", "Second part & more"),
    ]
    assert '<h2 id="first-part">' in article.body_html
    # Raw HTML in Markdown is shown as text, never run.
    assert "<script>" not in article.body_html and "&lt;script&gt;" in article.body_html
    (faq,) = article.faq
    assert faq.answer_html == "Stand up <strong>every half hour</strong>."
    assert faq.answer_text == "Stand up every half hour."


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no front matter", "missing front matter"),
        ("---\ntitle: [unclosed\n---\nbody", "not valid YAML"),
        ('---\ntitle: "T"\n---\nbody', "lacks description, published, updated, reviewer"),
        (GOOD.replace("2026-01-02", "last tuesday"), "published must be a date"),
    ],
)
def test_malformed_files_are_named_with_the_problem(tmp_path, text, message):
    with pytest.raises(ArticleError, match=message):
        parse_article(write(tmp_path, "broken.md", text))


def test_bad_file_name_is_refused(tmp_path):
    with pytest.raises(ArticleError, match="slug"):
        parse_article(write(tmp_path, "Sitting Well.md", GOOD))


def test_related_must_name_existing_articles(tmp_path):
    write(tmp_path, "a.md", GOOD.replace("related: []", "related: [nowhere]"))
    with pytest.raises(ArticleError, match="unknown"):
        Library.load(tmp_path)


def test_the_shipped_articles_all_load():
    library = Library.load()
    assert {a.slug for a in library.all} >= {"what-is-a-physiatrist", "first-spine-visit"}
    physiatrist = library.get("what-is-a-physiatrist")
    assert len(physiatrist.faq) == 7 and len(physiatrist.toc) >= 6


def test_articles_are_rendered_once_not_per_request(app, monkeypatch):
    """The first request renders the published articles; later ones (with the database
    asked every time: ARTICLES_CHECK_SECONDS=0 in tests) only look them up."""

    def no_parsing(*args, **kwargs):
        raise AssertionError("an article was parsed during a request")

    client = app.test_client()
    assert client.get("/articles/what-is-a-physiatrist").status_code == 200
    monkeypatch.setattr(render, "parse_article", no_parsing)
    monkeypatch.setattr(render.MarkdownIt, "render", no_parsing)
    monkeypatch.setattr(render.MarkdownIt, "parse", no_parsing)
    for _ in range(3):
        assert client.get("/articles/what-is-a-physiatrist").status_code == 200


def test_table_cells_carry_their_column_heading_for_phones(tmp_path):
    text = GOOD + "\n| Who | Focus |\n|---|---|\n| PM&R | Function |\n"
    article = parse_article(write(tmp_path, "table.md", text))
    assert '<td data-label="Who">PM&amp;R</td>' in article.body_html
    assert '<td data-label="Focus">Function</td>' in article.body_html
    assert '<th scope="col">Who</th>' in article.body_html
    assert 'class="table-wrap" role="region" tabindex="0"' in article.body_html


# The allow-list itself, not through Markdown: markdown-it drops a `javascript:` link before
# the HTML reaches nh3, so a scheme wrongly allowed there would go unseen by the Markdown tests.
SCRIPT_URLS = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "JAVASCRIPT:alert(1)",
    "   javascript:alert(1)",
    "\tjavascript:alert(1)",
    " \n JavaScript:alert(1)",
    "&#x20;javascript:alert(1)",
    "java\tscript:alert(1)",
]


@pytest.mark.parametrize("url", SCRIPT_URLS, ids=repr)
def test_the_allow_list_strips_script_urls_from_links_and_images(url):
    html = f'<p><a href="{url}">tap</a> <img src="{url}" alt="pic"></p>'
    assert render.sanitize(html) == '<p><a>tap</a> <img alt="pic"></p>'


def test_the_allow_list_keeps_the_schemes_it_allows():
    html = (
        '<p><a href="https://example.org/a">web</a> <a href="tel:+12175550134">call</a> '
        '<a href="mailto:care@clinic.example">mail</a> <a href="/schedule">book</a> '
        '<img src="/media/spine-480.webp" alt="pic"></p>'
    )
    assert render.sanitize(html) == html
