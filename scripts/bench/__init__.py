"""`make bench`: one run, every ratio of issue 13 side by side (P1-P6, scale-out, growth).

`main` orders the phases and prints the table; `environment` sets Django up on the benchmark
database; `load` makes and writes events; `consumer_runs` times the bare read, the naive and the
real consumer and two consumer processes; `growth` the consumer as the tables grow (with
`statements` the database time of each kind of statement); `web` the ingest paths under
gunicorn (P3-P6, with `noop` the trivial view, and `cpu` the CPU per request by process);
`profiling` the `--profile` run; `report` the table, docs/benchmarks.md and
docs/benchmarks.json.
"""
