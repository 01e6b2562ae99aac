"""An installed build carries everything the app reads from beside the package."""

from __future__ import annotations

import glob
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_template_static_and_migration_file_is_in_the_build():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    data_files = config["tool"]["setuptools"]["data-files"]
    # setuptools expands these globs the way glob.glob does: '*' stays within one folder.
    packaged = {
        Path(match).as_posix()
        for patterns in data_files.values()
        for pattern in patterns
        for match in glob.glob(pattern, root_dir=ROOT)
    }
    needed = {
        path.relative_to(ROOT).as_posix()
        for top in ("templates", "static", "migrations")
        for path in (ROOT / top).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert needed and sorted(needed - packaged) == []
