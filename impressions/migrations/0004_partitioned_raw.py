"""PostgreSQL: the raw impressions become a table partitioned by UTC day (stats.raw_partitions).

On a database that holds rows: the plain table is renamed away, the partitioned one is created
under the old name with the same columns and index names, a DEFAULT partition and one
partition per day of the window and per day of the existing rows within the raw retention,
the rows are copied, and the old table is dropped; all in this migration's transaction. The
primary key becomes (event_id, occurred_at): a partitioned table's unique keys must hold its
partition key. The model (and so SQLite, make run's default) keeps the plain table. Reversible.
"""

from typing import Any

from django.conf import settings
from django.db import migrations
from django.utils import timezone

TABLE = "impressions_impression"
OLD = "impressions_impression_unpartitioned"
COLUMNS = "event_id, ad_id, user_id, occurred_at, recorded_at"
# The model's index names (0001, 0002), kept so that later migrations find them.
INDEXES = {
    "impressions_ad_id_6b34d9_idx": "ad_id, occurred_at",
    "impressions_occurre_9447c8_idx": "occurred_at",
    "impressions_recorde_783415_idx": "recorded_at",
}
DEFINITION = (
    "event_id uuid NOT NULL, ad_id varchar(64) NOT NULL, user_id varchar(128) NOT NULL,"
    " occurred_at timestamp with time zone NOT NULL,"
    " recorded_at timestamp with time zone NOT NULL"
)


def _rename_away(schema_editor: Any) -> None:
    run = schema_editor.execute
    run(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
    run(f"ALTER TABLE {OLD} RENAME CONSTRAINT {TABLE}_pkey TO {OLD}_pkey")
    for name in INDEXES:
        run(f"ALTER INDEX IF EXISTS {name} RENAME TO {name}_old")


def _create_indexes(schema_editor: Any) -> None:
    for name, columns in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX {name} ON {TABLE} ({columns})")


def partition(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    from stats import raw_partitions

    run = schema_editor.execute
    _rename_away(schema_editor)
    run(
        f"CREATE TABLE {TABLE} ({DEFINITION}, CONSTRAINT {TABLE}_pkey"
        f" PRIMARY KEY (event_id, occurred_at)) PARTITION BY RANGE (occurred_at)"
    )
    _create_indexes(schema_editor)
    run(f"CREATE TABLE {TABLE}_default PARTITION OF {TABLE} DEFAULT")
    now = timezone.now()
    first, last = raw_partitions.window(now)
    oldest = first - timezone.timedelta(days=settings.RAW_IMPRESSION_RETENTION_DAYS)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT (occurred_at AT TIME ZONE 'UTC')::date FROM {OLD}"
            f" WHERE occurred_at >= %s AND occurred_at < %s",
            [oldest, last + timezone.timedelta(days=1)],
        )
        days = [row[0] for row in cursor.fetchall()]
    days += [first + timezone.timedelta(days=n) for n in range((last - first).days + 1)]
    for day in sorted(set(days)):
        for statement in raw_partitions.create_sql(day):
            run(statement)
    run(f"INSERT INTO {TABLE} ({COLUMNS}) SELECT {COLUMNS} FROM {OLD}")
    run(f"DROP TABLE {OLD}")


def unpartition(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    run = schema_editor.execute
    _rename_away(schema_editor)
    run(f"CREATE TABLE {TABLE} ({DEFINITION}, CONSTRAINT {TABLE}_pkey PRIMARY KEY (event_id))")
    _create_indexes(schema_editor)
    # Without the day in the key, an id stored under two event times keeps its first row.
    run(
        f"INSERT INTO {TABLE} ({COLUMNS}) SELECT DISTINCT ON (event_id) {COLUMNS} FROM {OLD}"
        f" ORDER BY event_id, recorded_at, occurred_at"
    )
    run(f"DROP TABLE {OLD} CASCADE")


class Migration(migrations.Migration):
    dependencies = [
        ("impressions", "0003_cache_table"),
    ]

    operations = [
        migrations.RunPython(partition, unpartition, elidable=False),
    ]
