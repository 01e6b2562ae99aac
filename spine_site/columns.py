"""Column types both model modules use: UTC datetimes, and enums stored as readable text."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator

from .extensions import db


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out; SQLite would otherwise hand back naive values."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def enum_column(kind: type[enum.Enum], name: str | None = None) -> db.Enum:
    # Store the readable value, as VARCHAR with a CHECK, so SQLite and PostgreSQL agree and a
    # new member needs no ALTER TYPE.
    return db.Enum(
        kind,
        native_enum=False,
        values_callable=lambda members: [m.value for m in members],
        length=32,
        validate_strings=True,
        create_constraint=True,
        # The name becomes the CHECK constraint's; two columns of one table need two names.
        name=name or kind.__name__.lower(),
    )
