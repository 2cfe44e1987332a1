"""Django on the benchmark's own database: create it when missing, migrate, empty the tables."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / ".local" / "bench"  # consumer and gunicorn logs of the latest run


def prepare_django() -> None:
    """Settings for a script (a throwaway SECRET_KEY: DEBUG is off), the database created and
    migrated; call before importing models."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "adsite.settings")
    os.environ.setdefault("SECRET_KEY", "bench-" + secrets.token_urlsafe(50))
    ensure_database(os.environ.get("DATABASE_URL", ""))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def ensure_database(url: str) -> None:
    """Create the benchmark database on the PostgreSQL server when it does not exist."""
    import dj_database_url
    import psycopg2

    cfg = dj_database_url.parse(url)
    if "postgresql" not in cfg["ENGINE"]:
        return
    admin = psycopg2.connect(
        dbname="postgres",
        user=cfg["USER"],
        password=cfg["PASSWORD"],
        host=cfg["HOST"],
        port=cfg["PORT"],
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [cfg["NAME"]])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{cfg["NAME"]}"')
            print(f"created database {cfg['NAME']}")
    admin.close()


def empty_tables() -> None:
    """Raw rows, statistics and the offset ledger emptied (TRUNCATE on PostgreSQL: no dead rows
    left to slow the next phase)."""
    from django.db import connection

    from impressions.models import Impression
    from stats.models import STATISTICS, PartitionOffset

    models = (Impression, *STATISTICS, PartitionOffset)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(m._meta.db_table for m in models)}")
    else:
        for model in models:
            model.objects.all().delete()


def counted() -> tuple[int, int, int]:
    """(impressions in the statistics, raw rows, records the ledger has moved past)."""
    from django.db.models import Sum

    from impressions.models import Impression
    from stats.models import PartitionOffset
    from stats.selectors import overall_totals

    ledger = PartitionOffset.objects.aggregate(n=Sum("next_offset"))["n"] or 0
    return overall_totals()["impressions"], Impression.objects.count(), ledger


def check_exact(expected: int, *, what: str, ledger: int | None = None) -> None:
    """Exit when the statistics or the raw rows do not hold each of `expected` events once."""
    stats, raw, moved = counted()
    if stats != expected or raw != expected or (ledger is not None and moved != ledger):
        sys.exit(
            f"{what}: events lost or doubled: expected {expected:,}, statistics {stats:,}, "
            f"raw rows {raw:,}, ledger {moved:,}"
        )
    print(f"  {what}: {expected:,} events, each counted once", flush=True)


def ledger_moved(group: str) -> int:
    """Records the ledger of `group` has moved past (all its topics)."""
    from django.db.models import Sum

    from stats.models import PartitionOffset

    rows = PartitionOffset.objects.filter(consumer_group=group)
    return int(rows.aggregate(n=Sum("next_offset"))["n"] or 0)
