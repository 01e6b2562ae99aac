"""What changed between two revisions, field by field, for people to read.

Lines that differ are compared word by word, so a changed sentence shows the words removed
and added, with a little unchanged text around them. The template escapes every piece.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from spine_site.models import ArticleRevision
from spine_site.staff.article_forms import format_faq

FIELDS = {
    "title": "Title",
    "slug": "Address (slug)",
    "description": "Description",
    "summary": "Summary",
    "body": "Body",
    "faq": "Frequently asked questions",
    "related": "Related articles",
    "reviewer": "Medical reviewer",
    "reviewed_on": "Review date",
}
_WORDS = re.compile(r"\s+|[^\s]+")


@dataclass(frozen=True)
class Piece:
    kind: str  # "same", "removed" or "added"
    text: str


@dataclass(frozen=True)
class FieldChange:
    label: str
    hunks: list[list[Piece]]


def as_text(revision: ArticleRevision, name: str) -> str:
    value = getattr(revision, name)
    if name == "faq":
        return format_faq(list(value or []))
    if name == "related":
        return ", ".join(value or [])
    if name == "reviewed_on":
        return value.isoformat() if value else ""
    return value or ""


def words(old: str, new: str) -> list[Piece]:
    a, b = _WORDS.findall(old), _WORDS.findall(new)
    pieces: list[Piece] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            pieces.append(Piece("same", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            pieces.append(Piece("removed", "".join(a[i1:i2])))
        if j2 > j1:
            pieces.append(Piece("added", "".join(b[j1:j2])))
    return pieces


def _hunks(old: str, new: str) -> list[list[Piece]]:
    """Groups of changed lines, each with up to two unchanged lines around it."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    hunks = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for group in matcher.get_grouped_opcodes(2):
        pieces: list[Piece] = []
        for op, i1, i2, j1, j2 in group:
            if op == "equal":
                pieces.append(Piece("same", "".join(a[i1:i2])))
            else:
                pieces += words("".join(a[i1:i2]), "".join(b[j1:j2]))
        hunks.append(pieces)
    return hunks


def compare(old: ArticleRevision, new: ArticleRevision) -> list[FieldChange]:
    """The fields that differ, in the editor's order; empty when the two read the same."""
    changes = []
    for name, label in FIELDS.items():
        before, after = as_text(old, name), as_text(new, name)
        if before != after:
            changes.append(FieldChange(label, _hunks(before, after)))
    return changes
