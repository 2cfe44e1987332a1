"""The delivery-semantics lab: `manage.py semanticslab` runs at-most-once, at-least-once and
exactly-once consumers over the same events, crashes each where it is weakest, and measures
what each lost and double-counted (docs/semantics.md)."""
