"""Articles kept in SQL: the editorial state machine, the reviewer rule, revisions and
restore, addresses (301, 410), scheduled publishing, the first import and the file round
trip, and every worker following the database without a restart."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from spine_site.articles import editorial
from spine_site.articles.editorial import Draft, EditorialError, State
from spine_site.articles.files import export_article, import_path, seed_if_empty
from spine_site.articles.render import ARTICLES_DIR, split_front_matter
from spine_site.clock import utcnow
from spine_site.extensions import db
from spine_site.models import ArticleRecord, ArticleRedirect, ArticleRevision, AuditEvent, User
from tests.factories import make_user

PHYSIATRIST = "/articles/what-is-a-physiatrist"


def draft(**changes: object) -> Draft:
    values: dict[str, object] = {
        "title": "Sleeping with back pain",
        "slug": "sleeping-with-back-pain",
        "description": "Positions and pillows that ease back pain at night.",
        "summary": "How to sleep better with back pain.",
        "body": "## Positions\n\nLie on your side with a pillow between your knees.\n",
        "faq": [{"q": "Is a firm mattress best?", "a": "Medium-firm suits most people."}],
        "reviewer": "Dr. Ana Ruiz, MD",
        "reviewed_on": date(2026, 11, 20),
    }
    values.update(changes)
    return Draft(**values)  # type: ignore[arg-type]


@pytest.fixture
def editor(app):
    make_user(app, "editor@clinic.example", "editor")
    with app.app_context():
        yield db.session.scalar(select(User).where(User.email == "editor@clinic.example"))


def actions(article: ArticleRecord) -> list[str]:
    return list(
        db.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.target == f"article:{article.id}")
            .order_by(AuditEvent.id)
        )
    )


def test_a_draft_moves_through_review_to_published_and_off_again(app, editor):
    client = app.test_client()
    article = editorial.create(draft(), editor)
    db.session.commit()
    assert editorial.state_of(article) is State.DRAFT
    assert client.get("/articles/sleeping-with-back-pain").status_code == 404
    editorial.submit_for_review(article, editor)
    assert editorial.state_of(article) is State.IN_REVIEW
    with pytest.raises(EditorialError, match="already waiting"):
        editorial.submit_for_review(article, editor)
    editorial.publish(article, editor)
    db.session.commit()
    assert editorial.state_of(article) is State.PUBLISHED
    page = client.get("/articles/sleeping-with-back-pain")
    assert page.status_code == 200 and b"Lie on your side" in page.data
    assert b"Medically reviewed by Dr. Ana Ruiz, MD on" in page.data
    editorial.unpublish(article, editor)
    db.session.commit()
    assert editorial.state_of(article) is State.UNPUBLISHED
    gone = client.get("/articles/sleeping-with-back-pain")
    assert gone.status_code == 410 and PHYSIATRIST.encode() in gone.data
    with pytest.raises(EditorialError, match="not published"):
        editorial.unpublish(article, editor)
    editorial.publish(article, editor)
    db.session.commit()
    assert client.get("/articles/sleeping-with-back-pain").status_code == 200
    assert actions(article) == [
        "article_create",
        "article_submit",
        "article_publish",
        "article_unpublish",
        "article_publish",
    ]


def test_no_publishing_without_a_medical_reviewer_and_review_date(app, editor):
    for missing in ({"reviewer": ""}, {"reviewed_on": None}):
        article = editorial.create(draft(slug=f"a-{len(missing)}-{id(missing)}", **missing), editor)
        with pytest.raises(EditorialError, match="medical reviewer"):
            editorial.publish(article, editor)
        assert article.live_id is None
        db.session.rollback()


def test_edits_to_a_published_article_stay_private_until_published(app, editor):
    client = app.test_client()
    article = editorial.create(draft(), editor)
    editorial.publish(article, editor)
    db.session.commit()
    revision = editorial.save(article, draft(body="A newer, unreviewed text.\n"), editor)
    db.session.commit()
    assert revision is not None and revision.number == 2
    assert editorial.has_unpublished_changes(article)
    assert editorial.state_of(article) is State.PUBLISHED
    page = client.get("/articles/sleeping-with-back-pain").data
    assert b"Lie on your side" in page and b"unreviewed" not in page
    # Saving the same text again makes no empty revision.
    assert editorial.save(article, draft(body="A newer, unreviewed text.\n"), editor) is None


def test_any_revision_can_be_restored_as_a_new_one(app, editor):
    article = editorial.create(draft(), editor)
    editorial.save(article, draft(title="Sleeping well with back pain"), editor)
    first = db.session.scalar(
        select(ArticleRevision).where(
            ArticleRevision.article_id == article.id, ArticleRevision.number == 1
        )
    )
    restored = editorial.restore(article, first, editor)
    db.session.commit()
    assert restored.number == 3 and restored.title == "Sleeping with back pain"
    assert restored.note == "restored from revision 1" and article.head_id == restored.id
    with pytest.raises(EditorialError, match="already reads"):
        editorial.restore(article, first, editor)
    count = db.session.scalar(select(func.count()).where(ArticleRevision.article_id == article.id))
    assert count == 3  # history is never rewritten
    assert actions(article)[-1] == "article_restore"


def test_a_new_slug_leaves_a_permanent_redirect_and_can_be_taken_back(app, editor):
    client = app.test_client()
    article = editorial.create(draft(), editor)
    editorial.publish(article, editor)
    editorial.save(article, draft(slug="back-pain-and-sleep"), editor)
    # Until the new revision is published, the address stays.
    assert article.slug == "sleeping-with-back-pain"
    editorial.publish(article, editor)
    db.session.commit()
    moved = client.get("/articles/sleeping-with-back-pain")
    assert moved.status_code == 301
    assert moved.headers["Location"].endswith("/articles/back-pain-and-sleep")
    assert client.get("/articles/back-pain-and-sleep").status_code == 200
    # No other article may take the old address: its links belong to this one.
    other = draft(slug="sleeping-with-back-pain", title="Other")
    assert "slug" in editorial.problems(other)
    editorial.save(article, draft(), editor)
    editorial.publish(article, editor)
    db.session.commit()
    assert db.session.get(ArticleRedirect, "sleeping-with-back-pain") is None
    assert client.get("/articles/sleeping-with-back-pain").status_code == 200
    assert client.get("/articles/back-pain-and-sleep").status_code == 301


def test_a_scheduled_article_appears_when_its_time_comes(app, editor, monkeypatch):
    client = app.test_client()
    article = editorial.create(draft(), editor)
    at = utcnow() + timedelta(hours=2)
    editorial.publish(article, editor, at=at)
    db.session.commit()
    assert editorial.state_of(article) is State.SCHEDULED
    assert client.get("/articles/sleeping-with-back-pain").status_code == 404
    assert b"sleeping-with-back-pain" not in client.get("/sitemap.xml").data
    later = at + timedelta(minutes=1)
    monkeypatch.setattr("spine_site.articles.live.utcnow", lambda: later)
    assert editorial.state_of(article, later) is State.PUBLISHED
    assert client.get("/articles/sleeping-with-back-pain").status_code == 200
    assert b"/articles/sleeping-with-back-pain" in client.get("/sitemap.xml").data
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "article_schedule"))
    assert event.detail["at"] == at.isoformat(timespec="minutes")


def test_every_worker_sees_a_publish_without_a_restart(app_factory, tmp_path):
    """Two app instances on one database stand for two workers (or two hosts): a publish
    through one shows on the other within its check interval."""
    if app_factory().config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # Both instances must share the file: the second one opens the first's database.
        first = app_factory(ARTICLES_CHECK_SECONDS=0)
        uri = first.config["SQLALCHEMY_DATABASE_URI"]
        second = app_factory(SQLALCHEMY_DATABASE_URI=uri, ARTICLES_CHECK_SECONDS=0)
    else:
        first = app_factory(ARTICLES_CHECK_SECONDS=0)
        second = app_factory(ARTICLES_CHECK_SECONDS=0)
    reader = second.test_client()
    assert reader.get("/articles/sleeping-with-back-pain").status_code == 404
    before = reader.get(PHYSIATRIST)
    make_user(first, "editor@clinic.example", "editor")
    with first.app_context():
        editor = db.session.scalar(select(User).where(User.email == "editor@clinic.example"))
        article = editorial.create(draft(), editor)
        editorial.publish(article, editor)
        physiatrist = db.session.scalar(
            select(ArticleRecord).where(ArticleRecord.slug == "what-is-a-physiatrist")
        )
        changed = Draft.of(physiatrist.head)
        changed.title = "What Is a Physiatrist? A Plain Guide"
        editorial.save(physiatrist, changed, editor)
        editorial.publish(physiatrist, editor)
        db.session.commit()
    assert reader.get("/articles/sleeping-with-back-pain").status_code == 200
    assert b"sleeping-with-back-pain" in reader.get("/").data
    # The other worker's cached bytes of the changed page were made again, not served stale.
    after = reader.get(PHYSIATRIST)
    assert b"A Plain Guide" in after.data and b"A Plain Guide" not in before.data
    assert after.headers["ETag"] != before.headers["ETag"]


def test_a_fresh_database_takes_in_the_bundled_articles_once(app):
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(ArticleRecord))
        # The English files and the Spanish ones in es/.
        assert count == len(list(ARTICLES_DIR.glob("*.md"))) + len(
            list(ARTICLES_DIR.glob("es/*.md"))
        )
        assert seed_if_empty() == 0  # not twice
        physiatrist = db.session.scalar(
            select(ArticleRecord).where(ArticleRecord.slug == "what-is-a-physiatrist")
        )
        assert editorial.state_of(physiatrist) is State.PUBLISHED
        assert physiatrist.first_published_at.date().isoformat() == "2026-03-02"


def test_export_then_import_round_trips_every_field(app, tmp_path):
    with app.app_context():
        record = db.session.scalar(
            select(ArticleRecord).where(ArticleRecord.slug == "what-is-a-physiatrist")
        )
        text = export_article(record)
        meta, body = split_front_matter(text, "export")
        original_meta, original_body = split_front_matter(
            (ARTICLES_DIR / "what-is-a-physiatrist.md").read_text(encoding="utf-8"), "file"
        )
        assert body.strip() == original_body.strip()
        for key in ("title", "description", "published", "updated", "reviewer", "faq"):
            assert meta[key] == original_meta[key], key
        assert meta["state"] == "published" and meta["reviewed"] == original_meta["updated"]
        # Importing what was exported changes nothing.
        out = tmp_path / "what-is-a-physiatrist.md"
        out.write_text(text, encoding="utf-8")
        assert [status for _, status in import_path(out)] == ["unchanged"]


def test_the_import_and_export_commands(app, tmp_path):
    runner = CliRunner()
    out = tmp_path / "export"
    result = app.test_cli_runner().invoke(args=["articles", "export", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.glob("*.md")) == sorted(
        p.name for p in ARTICLES_DIR.glob("*.md")
    )
    new = tmp_path / "neck-pain-at-work.md"
    new.write_text(
        (out / "what-is-a-physiatrist.md")
        .read_text(encoding="utf-8")
        .replace("title: What Is a Physiatrist?", "title: Neck pain at work")
        .replace("\nrelated:\n- first-spine-visit\n", "\n"),
        encoding="utf-8",
    )
    result = app.test_cli_runner().invoke(args=["articles", "import", str(new)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "new: neck-pain-at-work"
    assert app.test_client().get("/articles/neck-pain-at-work").status_code == 200
    bad = tmp_path / "Bad Name.md"
    bad.write_text("no front matter", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["articles", "import", str(bad)])
    assert result.exit_code != 0 and "slug" in result.output
    del runner


def test_published_html_is_sanitised_and_json_ld_names_the_review(app, editor):
    body = (
        "Hello <script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n"
        "[tap](javascript:alert(1)) [call](tel:+12175550134)\n"
    )
    article = editorial.create(draft(body=body), editor)
    editorial.publish(article, editor)
    db.session.commit()
    page = app.test_client().get("/articles/sleeping-with-back-pain").get_data(as_text=True)
    # Raw HTML shows as text, never as markup.
    assert "<script>alert" not in page and not re.search(r"<[^>]*onerror", page)
    assert "&lt;script&gt;alert(1)" in page
    assert 'href="javascript:' not in page and 'href="tel:+12175550134"' in page
    assert '"lastReviewed":"2026-11-20"' in page
    assert '"reviewedBy":{"@type":"Person","name":"Dr. Ana Ruiz, MD"}' in page


def test_a_worker_keeps_serving_its_copy_when_the_database_goes_away(app):
    client = app.test_client()
    assert client.get(PHYSIATRIST).status_code == 200
    live = app.extensions["articles"]
    # Every check now fails as a lost database does.
    from sqlalchemy.exc import OperationalError

    def down(*args: object, **kwargs: object) -> None:
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    original = db.session.execute
    db.session.execute = down  # type: ignore[method-assign]
    try:
        assert client.get(PHYSIATRIST).status_code == 200
        assert live.snapshot.library.get("what-is-a-physiatrist") is not None
    finally:
        db.session.execute = original  # type: ignore[method-assign]


def test_a_worker_with_no_copy_yet_answers_503_not_404(app_factory, tmp_path):
    """A new worker whose database cannot be read has nothing to serve: 503, try again."""
    empty = app_factory(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    response = empty.test_client().get(PHYSIATRIST)
    assert response.status_code == 503
