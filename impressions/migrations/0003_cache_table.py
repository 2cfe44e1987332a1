"""The database cache's table (settings.CACHES), which holds the ingest throttle's history.

`createcachetable` in a migration, so that every path that migrates (`make run`, the compose
`migrate` step, the test databases) has the table. It creates only what is missing, for every
DatabaseCache in CACHES, and nothing when no cache is a DatabaseCache.
"""

from typing import Any

from django.conf import settings
from django.core.cache.backends.db import DatabaseCache
from django.core.management import call_command
from django.db import migrations
from django.utils.module_loading import import_string


def create_cache_tables(apps: Any, schema_editor: Any) -> None:
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


def drop_cache_tables(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    existing = set(connection.introspection.table_names())
    for cache in settings.CACHES.values():
        backend = import_string(cache["BACKEND"])
        if issubclass(backend, DatabaseCache) and cache["LOCATION"] in existing:
            schema_editor.execute(f"DROP TABLE {schema_editor.quote_name(cache['LOCATION'])}")


class Migration(migrations.Migration):
    dependencies = [
        ("impressions", "0002_impression_recorded_at_index"),
    ]

    operations = [
        migrations.RunPython(create_cache_tables, drop_cache_tables, elidable=False),
    ]
