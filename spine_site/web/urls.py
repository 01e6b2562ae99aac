"""Ids in URLs: `<int:...>` stops at the database's integer, so a longer one is a 404 at
routing, before any view, hook or query sees it."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter, Map

# Every id column is a 32-bit integer on PostgreSQL; a larger number cannot name a row (and
# overflows the query's parameter there, or SQLite's 64-bit one).
MAX_ID = 2**31 - 1


class RowIdConverter(IntegerConverter):
    """Werkzeug's `int`, bounded by default to what an id column holds."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)
