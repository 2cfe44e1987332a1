"""Set-based INSERT statements that run unchanged on PostgreSQL and SQLite (ON CONFLICT, RETURNING).

The ORM's bulk_create cannot say "add to the existing counter" or "tell me which rows were new",
and the recording function needs both; these helpers build that SQL from model metadata.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from django.db import connection, models

ROWS_PER_STATEMENT = 1000


def table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def columns(*names: str) -> str:
    return ", ".join(connection.ops.quote_name(name) for name in names)


def db_uuid(value: uuid.UUID) -> Any:
    return value if connection.features.has_native_uuid_field else value.hex


def db_datetime(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def db_date(value: date) -> Any:
    return connection.ops.adapt_datefield_value(value)


def insert_values(head: str, rows: Sequence[Sequence[Any]], *, tail: str = "") -> None:
    """Run `head VALUES (...), (...) tail` over `rows` in chunks.

    `head` is `INSERT INTO t (a, b)`, `tail` an ON CONFLICT clause.
    """
    if not rows:
        return
    placeholder = "(" + ", ".join(["%s"] * len(rows[0])) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[start : start + ROWS_PER_STATEMENT]
            sql = f"{head} VALUES {', '.join([placeholder] * len(chunk))} {tail}"
            cursor.execute(sql, [value for row in chunk for value in row])
