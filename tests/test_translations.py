"""The Spanish catalog is complete: every string marked for translation in the code and the
templates has a Spanish translation that is not fuzzy, keeps its placeholders, and is in the
compiled catalog the site ships (so `python3 dev.py serve` speaks Spanish at once)."""

from __future__ import annotations

import subprocess
import sys
from io import BytesIO
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "spine_site" / "translations" / "es" / "LC_MESSAGES"


def _read_po():
    with (CATALOG / "messages.po").open("rb") as f:
        return read_po(f, locale="es")


def _entries(catalog) -> dict:
    """id -> translation; a plural's forms as tuples."""

    def frozen(value):
        return tuple(value) if isinstance(value, list | tuple) else value

    return {frozen(m.id): frozen(m.string) for m in catalog if m.id}


def _ids(message) -> tuple[str, ...]:
    return message.id if isinstance(message.id, tuple) else (message.id,)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory):
    """The strings marked in the source today, extracted as docs/translating.md says."""
    pot = tmp_path_factory.mktemp("pot") / "messages.pot"
    pybabel = [sys.executable, "-c", "from babel.messages.frontend import main; main()"]
    subprocess.run(
        [*pybabel, "extract", "-F", "babel.cfg", "-k", "_l", "-o", str(pot), "."],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as f:
        return read_po(f)


def test_every_marked_string_is_in_the_spanish_catalog(extracted):
    catalog = _read_po()
    missing = [_ids(m)[0] for m in extracted if m.id and m.id not in catalog]
    assert not missing, f"not in messages.po (run pybabel update, then translate): {missing}"


def test_every_string_in_the_catalog_is_translated_and_not_fuzzy():
    catalog = _read_po()
    untranslated = [
        _ids(m)[0]
        for m in catalog
        if m.id and (not m.string or (isinstance(m.string, tuple) and not all(m.string)))
    ]
    fuzzy = [_ids(m)[0] for m in catalog if m.id and m.fuzzy]
    assert not untranslated, f"no Spanish yet: {untranslated}"
    assert not fuzzy, f"fuzzy (check the Spanish, then drop the flag): {fuzzy}"


def test_translations_keep_their_placeholders():
    """Babel's own checks: %(name)s placeholders the same in both languages."""
    problems = [(_ids(m)[0], [str(e) for e in errors]) for m, errors in _read_po().check()]
    assert not problems


def test_the_shipped_compiled_catalog_matches_the_po_file():
    """messages.mo is what the site reads; a .po edited without `pybabel compile` fails."""
    catalog = _read_po()
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    expected = _entries(read_mo(compiled))
    with (CATALOG / "messages.mo").open("rb") as f:
        shipped = _entries(read_mo(f))
    assert shipped == expected
