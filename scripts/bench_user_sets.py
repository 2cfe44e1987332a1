"""`make bench-user-sets`: what the exact unique-user bookkeeping costs per event, in four
layouts side by side on one PostgreSQL, with the same events (issue 13: "fewer or cheaper rows
per event"; "a dictionary of user ids with compact per-day sets, e.g. roaring bitmaps, is worth
measuring").

The consumer keeps, for every (ad, UTC day), the set of users who saw the ad that day, and the
same per day for the whole site (the `*` rows); `AdDailyReach` is computed from it. That set is
what this script stores, four ways, each exact:

- `rows-text` (today's `stats_addailyuser` and `stats_knownuser`): one row per (ad, user, day)
  with text ids, a bigint id, the unique (ad, user, day) index and a day index; the site-wide
  set as rows with ad `*` in the same table; one `KnownUser` row per user.
- `rows-text-lean`: the same rows with (ad, user, day) as the primary key: no bigint id and no
  day index (what dropping them alone would save).
- `rows-int`: a dictionary of user ids (text -> int4) and one of ad ids; per-ad rows
  (ad int4, user int4, day int2) with that triple as primary key and nothing else, the site-wide
  set in its own (user, day) table.
- `roaring`: the same dictionaries; one roaring bitmap (pyroaring, serialized to bytea) of user
  numbers per (ad, day) and one per day for the site, read, added to and written back per batch.

Events: the mix of `make bench` (1,000 ads Zipf-like with exponent 1, users uniform over
1,000,000, event times over 7 days), in batches of 5,000 like the consumer's. Each layout runs in
its own transaction per batch, on tables in the schema `user_sets` of the benchmark database
(dropped first). Every layout's memberships are checked equal to the set the script computed
(and the count of new memberships each batch reported, which is what the reach is built from);
a difference stops the run. Sizes are `pg_total_relation_size` (heap, indexes, TOAST) after a
`VACUUM`, and again after `VACUUM FULL` for the bitmaps, whose rewrites leave dead versions.
Rates are each layout's own statement time (its batches' transactions), over all the events
and in the last tenth against the first (how flat it stays as the sets grow). It prints
figures; no test asserts a speed.
"""

from __future__ import annotations

import argparse
import io
import itertools
import os
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

SCHEMA = "user_sets"
EPOCH_DAY = 20_000  # day numbers stored as int2 offsets from this day number (2024-10-04)

Triple = tuple[int, int, int]  # (ad number, user number, day number)


def triples(n: int, *, ads: int, users: int, days: int, seed: int) -> Iterator[Triple]:
    """`make bench`'s mix: Zipf-like ads (exponent 1), uniform users, uniform days."""
    rng = random.Random(seed)
    weights = list(itertools.accumulate(1 / (i + 1) for i in range(ads)))
    first_day = EPOCH_DAY + 700
    for ad in rng.choices(range(ads), cum_weights=weights, k=n):
        yield ad, rng.randrange(users), first_day + rng.randrange(days)


def ad_text(ad: int) -> str:
    return f"ad-{ad}"


def user_text(user: int) -> str:
    return f"user-{user}"


def day_text(day: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=day)).isoformat()


def copy_rows(cursor: Any, table: str, columns: str, rows: Iterator[tuple[Any, ...]]) -> None:
    text = "".join("\t".join(str(v) for v in row) + "\n" for row in rows)
    cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN", io.StringIO(text))


# --- the layouts -----------------------------------------------------------------------------


class Layout:
    name = ""
    tables: tuple[str, ...] = ()

    def create(self, cursor: Any) -> None:
        raise NotImplementedError

    def add(self, cursor: Any, batch: list[Triple]) -> int:
        """Store the batch's memberships; return how many (ad or site, user, day) were new."""
        raise NotImplementedError

    def memberships(self, cursor: Any) -> int:
        raise NotImplementedError


class RowsText(Layout):
    """Today's shape: stats_addailyuser (with the `*` rows) and stats_knownuser."""

    name = "rows-text"
    prefix = "rt"
    tables = ("rt_users", "rt_known")

    def create(self, cursor: Any) -> None:
        cursor.execute(
            "CREATE TABLE rt_users (id bigserial PRIMARY KEY, ad_id varchar(64) NOT NULL,"
            " day date NOT NULL, user_id varchar(128) NOT NULL,"
            " UNIQUE (ad_id, user_id, day));"
            " CREATE INDEX rt_users_day ON rt_users (day);"
            " CREATE TABLE rt_known (user_id varchar(128) PRIMARY KEY)"
        )

    def add(self, cursor: Any, batch: list[Triple]) -> int:
        p = self.prefix
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS rt_stage (ad_id text, user_id text, day date)"
            " ON COMMIT DELETE ROWS"
        )
        copy_rows(
            cursor,
            "rt_stage",
            "ad_id, user_id, day",
            ((ad_text(a), user_text(u), day_text(d)) for a, u, d in batch),
        )
        cursor.execute(
            f"INSERT INTO {p}_known (user_id) SELECT DISTINCT user_id FROM rt_stage"
            " ORDER BY user_id ON CONFLICT (user_id) DO NOTHING"
        )
        cursor.execute(
            f"INSERT INTO {p}_users (ad_id, user_id, day) SELECT ad_id, user_id, day FROM"
            " (SELECT ad_id, user_id, day FROM rt_stage UNION SELECT '*', user_id, day"
            " FROM rt_stage) s ORDER BY ad_id, user_id, day"
            " ON CONFLICT (ad_id, user_id, day) DO NOTHING"
        )
        return int(cursor.rowcount)

    def memberships(self, cursor: Any) -> int:
        cursor.execute(f"SELECT count(*) FROM {self.prefix}_users")
        return int(cursor.fetchone()[0])


class RowsTextLean(RowsText):
    """Today's text ids with the unique key as the primary key: no bigint id, no day index."""

    name = "rows-text-lean"
    prefix = "rl"
    tables = ("rl_users", "rl_known")

    def create(self, cursor: Any) -> None:
        cursor.execute(
            "CREATE TABLE rl_users (ad_id varchar(64) NOT NULL, day date NOT NULL,"
            " user_id varchar(128) NOT NULL, PRIMARY KEY (ad_id, user_id, day));"
            " CREATE TABLE rl_known (user_id varchar(128) PRIMARY KEY)"
        )


class Dictionaries:
    """Ad and user ids to small integers, as the two integer layouts share them."""

    @staticmethod
    def create(cursor: Any, prefix: str) -> None:
        cursor.execute(
            f"CREATE TABLE {prefix}_user_keys (key int4 GENERATED ALWAYS AS IDENTITY"
            f" PRIMARY KEY, user_id varchar(128) NOT NULL UNIQUE);"
            f" CREATE TABLE {prefix}_ad_keys (key int4 GENERATED ALWAYS AS IDENTITY"
            f" PRIMARY KEY, ad_id varchar(64) NOT NULL UNIQUE)"
        )

    @staticmethod
    def stage_and_key(cursor: Any, prefix: str, batch: list[Triple]) -> None:
        """Leave the batch in `{prefix}_keyed (ad int4, usr int4, day int2)`."""
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {prefix}_stage (ad_id text, user_id text, day int2)"
            f" ON COMMIT DELETE ROWS; CREATE TEMP TABLE IF NOT EXISTS {prefix}_keyed"
            f" (ad int4, usr int4, day int2) ON COMMIT DELETE ROWS"
        )
        copy_rows(
            cursor,
            f"{prefix}_stage",
            "ad_id, user_id, day",
            ((ad_text(a), user_text(u), d - EPOCH_DAY) for a, u, d in batch),
        )
        for kind, column in (("user", "user_id"), ("ad", "ad_id")):
            cursor.execute(
                f"INSERT INTO {prefix}_{kind}_keys ({column}) SELECT DISTINCT {column}"
                f" FROM {prefix}_stage ORDER BY {column} ON CONFLICT ({column}) DO NOTHING"
            )
        cursor.execute(
            f"INSERT INTO {prefix}_keyed (ad, usr, day) SELECT a.key, u.key, s.day"
            f" FROM {prefix}_stage s JOIN {prefix}_user_keys u USING (user_id)"
            f" JOIN {prefix}_ad_keys a USING (ad_id)"
        )


class RowsInt(Layout):
    name = "rows-int"
    tables = ("ri_users", "ri_site", "ri_user_keys", "ri_ad_keys")

    def create(self, cursor: Any) -> None:
        Dictionaries.create(cursor, "ri")
        cursor.execute(
            "CREATE TABLE ri_users (ad int4 NOT NULL, usr int4 NOT NULL, day int2 NOT NULL,"
            " PRIMARY KEY (ad, usr, day));"
            " CREATE TABLE ri_site (usr int4 NOT NULL, day int2 NOT NULL, PRIMARY KEY (usr, day))"
        )

    def add(self, cursor: Any, batch: list[Triple]) -> int:
        Dictionaries.stage_and_key(cursor, "ri", batch)
        cursor.execute(
            "INSERT INTO ri_users (ad, usr, day) SELECT DISTINCT ad, usr, day FROM ri_keyed"
            " ORDER BY ad, usr, day ON CONFLICT DO NOTHING"
        )
        new = int(cursor.rowcount)
        cursor.execute(
            "INSERT INTO ri_site (usr, day) SELECT DISTINCT usr, day FROM ri_keyed"
            " ORDER BY usr, day ON CONFLICT DO NOTHING"
        )
        return new + int(cursor.rowcount)

    def memberships(self, cursor: Any) -> int:
        cursor.execute("SELECT (SELECT count(*) FROM ri_users) + (SELECT count(*) FROM ri_site)")
        return int(cursor.fetchone()[0])


class Roaring(Layout):
    """One bitmap of user numbers per (ad, day); ad 0 is the site (ad keys start at 1)."""

    name = "roaring"
    tables = ("rb_sets", "rb_user_keys", "rb_ad_keys")

    def create(self, cursor: Any) -> None:
        Dictionaries.create(cursor, "rb")
        cursor.execute(
            "CREATE TABLE rb_sets (ad int4 NOT NULL, day int2 NOT NULL, users bytea NOT NULL,"
            " PRIMARY KEY (ad, day))"
        )

    def add(self, cursor: Any, batch: list[Triple]) -> int:
        from pyroaring import BitMap

        Dictionaries.stage_and_key(cursor, "rb", batch)
        cursor.execute("SELECT ad, usr, day FROM rb_keyed")
        added: dict[tuple[int, int], list[int]] = defaultdict(list)
        for ad, usr, day in cursor.fetchall():
            added[(ad, day)].append(usr)
            added[(0, day)].append(usr)
        cursor.execute(
            "SELECT s.ad, s.day, s.users FROM rb_sets s JOIN unnest(%s::int4[], %s::int2[])"
            " AS k(ad, day) ON s.ad = k.ad AND s.day = k.day FOR UPDATE OF s",
            [[ad for ad, _ in added], [day for _, day in added]],
        )
        stored = {(ad, day): BitMap.deserialize(bytes(users)) for ad, day, users in cursor}
        new = 0
        out = io.BytesIO()
        rows = []
        for key, users in added.items():
            bitmap = stored.get(key) or BitMap()
            before = len(bitmap)
            bitmap.update(users)
            if len(bitmap) != before:
                new += len(bitmap) - before
                rows.append((key[0], key[1], bitmap.serialize()))
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS rb_out (ad int4, day int2, users bytea)"
            " ON COMMIT DELETE ROWS"
        )
        for ad, day, blob in rows:
            out.write(f"{ad}\t{day}\t\\\\x{blob.hex()}\n".encode())
        out.seek(0)
        cursor.copy_expert("COPY rb_out (ad, day, users) FROM STDIN", out)
        cursor.execute(
            "INSERT INTO rb_sets (ad, day, users) SELECT ad, day, users FROM rb_out"
            " ORDER BY ad, day ON CONFLICT (ad, day) DO UPDATE SET users = excluded.users"
        )
        return new

    def memberships(self, cursor: Any) -> int:
        from pyroaring import BitMap

        cursor.execute("SELECT users FROM rb_sets")
        return sum(len(BitMap.deserialize(bytes(row[0]))) for row in cursor)


LAYOUTS: dict[str, Callable[[], Layout]] = {
    "rows-text": RowsText,
    "rows-text-lean": RowsTextLean,
    "rows-int": RowsInt,
    "roaring": Roaring,
}


# --- running ---------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    seconds: float
    bytes_by_table: dict[str, int]
    flat: float  # the rate in the last tenth of the events ÷ the rate in the first tenth
    bytes_after_full: int | None = None

    @property
    def total(self) -> int:
        return sum(self.bytes_by_table.values())


def connect(url: str) -> Any:
    import dj_database_url
    import psycopg2

    cfg = dj_database_url.parse(url)
    if "postgresql" not in cfg["ENGINE"]:
        sys.exit("bench_user_sets: DATABASE_URL must point at PostgreSQL")
    return psycopg2.connect(
        dbname=cfg["NAME"],
        user=cfg["USER"],
        password=cfg["PASSWORD"],
        host=cfg["HOST"],
        port=cfg["PORT"],
        options=f"-c search_path={SCHEMA}",
    )


def sizes(cursor: Any, tables: tuple[str, ...]) -> dict[str, int]:
    found = {}
    for table in tables:
        cursor.execute("SELECT pg_total_relation_size(%s)", [f"{SCHEMA}.{table}"])
        found[table] = int(cursor.fetchone()[0])
    return found


def run(args: argparse.Namespace) -> list[Result]:
    sys.path.insert(0, os.path.join(os.path.dirname(__file__)))
    from bench.environment import ensure_database

    url = os.environ.get("DATABASE_URL", "")
    ensure_database(url)
    conn = connect(url)
    try:
        return measure(conn, args)
    finally:
        conn.close()


def measure(conn: Any, args: argparse.Namespace) -> list[Result]:
    with conn.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}")
    conn.commit()
    layouts = [LAYOUTS[name]() for name in args.layouts.split(",")]
    with conn.cursor() as cursor:
        for layout in layouts:
            layout.create(cursor)
    conn.commit()

    seconds = dict.fromkeys((layout.name for layout in layouts), 0.0)
    # Each layout's seconds in the first and in the last tenth of the events: is it flat?
    tenth = max(args.events // 10, args.batch_size)
    first = dict.fromkeys(seconds, 0.0)
    last = dict.fromkeys(seconds, 0.0)
    seen: set[tuple[int, int, int]] = set()  # (ad or -1 for the site, user, day)
    stream = triples(args.events, ads=args.ads, users=args.users, days=args.days, seed=args.seed)
    done, began = 0, time.monotonic()
    while batch := list(itertools.islice(stream, args.batch_size)):
        expected_new = 0
        for ad, user, day in batch:
            for key in ((ad, user, day), (-1, user, day)):
                if key not in seen:
                    seen.add(key)
                    expected_new += 1
        for layout in layouts:
            with conn.cursor() as cursor:
                started = time.perf_counter()
                new = layout.add(cursor, batch)
                conn.commit()
                took = time.perf_counter() - started
                seconds[layout.name] += took
                if done < tenth:
                    first[layout.name] += took
                if done >= args.events - tenth:
                    last[layout.name] += took
            if new != expected_new:
                sys.exit(f"{layout.name}: {new} new memberships in a batch, not {expected_new}")
        done += len(batch)
        if done % (args.batch_size * 40) == 0 or done == args.events:
            rates = "  ".join(f"{n} {done / s:,.0f}/s" for n, s in seconds.items())
            print(
                f"  {done:,} of {args.events:,} events ({time.monotonic() - began:.0f} s): {rates}",
                flush=True,
            )

    conn.autocommit = True
    results = []
    with conn.cursor() as cursor:
        for layout in layouts:
            stored = layout.memberships(cursor)
            if stored != len(seen):
                sys.exit(f"{layout.name}: {stored:,} memberships stored, expected {len(seen):,}")
            for table in layout.tables:
                cursor.execute(f"VACUUM ANALYZE {SCHEMA}.{table}")
            result = Result(
                layout.name,
                seconds[layout.name],
                sizes(cursor, layout.tables),
                flat=first[layout.name] / last[layout.name],
            )
            if isinstance(layout, Roaring):
                for table in layout.tables:
                    cursor.execute(f"VACUUM FULL {SCHEMA}.{table}")
                result.bytes_after_full = sum(sizes(cursor, layout.tables).values())
            results.append(result)
        if not args.keep:
            cursor.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
    print(f"memberships checked: {len(seen):,} in every layout (per-ad and site-wide)")
    return results


def table(results: list[Result], events: int) -> str:
    lines = [
        "| layout | events/s (this step alone) | last tenth ÷ first tenth | bytes per event |"
        " by table (bytes per event) |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        parts = ", ".join(f"{t} {b / events:,.0f}" for t, b in r.bytes_by_table.items())
        total = f"{r.total / events:,.0f}"
        if r.bytes_after_full is not None:
            total += f" ({r.bytes_after_full / events:,.0f} after VACUUM FULL)"
        lines.append(f"| {r.name} | {events / r.seconds:,.0f} | {r.flat:.2f} | {total} | {parts} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=5_000)
    parser.add_argument("--ads", type=int, default=1000)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--layouts", default=",".join(LAYOUTS), help="comma-separated")
    parser.add_argument("--keep", action="store_true", help="leave the schema for a look")
    args = parser.parse_args(argv)
    unknown = set(args.layouts.split(",")) - set(LAYOUTS)
    if unknown:
        parser.error(f"unknown layouts {sorted(unknown)}; choose from {sorted(LAYOUTS)}")
    print(
        f"bench_user_sets: {args.events:,} events ({args.ads:,} ads Zipf-like, {args.users:,} "
        f"users, {args.days} days), batches of {args.batch_size:,}, layouts {args.layouts}",
        flush=True,
    )
    results = run(args)
    print(table(results, args.events))


if __name__ == "__main__":
    main()
