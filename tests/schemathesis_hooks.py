"""Schemathesis hooks for the rules an OpenAPI document cannot state (loaded through
schemathesis.toml by `st run` and by tests/test_schemathesis.py).

Everything else is in the document, exactly. What is left:
- the clock: an event time at most 5 minutes in the future;
- relations between values: `from` before `to`, at most 10,000 buckets in a series, and no
  event id twice in one array.
A schema-valid request refused for one of these reasons, with the documented 400 body that
names it, is not a disagreement between the document and the server: `filter_failure` drops
that one failure, and any other refusal still fails. `map_body` moves generated event times that
lie in the future back to the year 2000, so that schema-valid bodies mostly get accepted.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import schemathesis

# The 400 bodies of the rules above, as the server words them (stats/api.py, stats/ranges.py,
# impressions/contract.py).
_STATS_RELATIONS = {
    ("to", "must be after from"),
    ("from", "must be before to (default: the current bucket's end)"),
    ("interval", "more than 10000 buckets; narrow the range"),
}
_EVENT_RULES = (
    ("timestamp", re.compile(r"timestamp is more than 5 minutes in the future")),
    ("event_id", re.compile(r"event_id repeats the event at index [0-9]+")),
)
# Only years 1971-8998 are moved: there EVENT_TIME_PATTERN (impressions/openapi.py) accepts
# every date, time and zone, so a schema-violating time stays violating once moved.
_MID_YEAR = re.compile(
    r"^(197[1-9]|19[89][0-9]|[2-7][0-9]{3}|8[0-8][0-9]{2}|89[0-8][0-9]|899[0-8])-"
)


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def is_unstatable_rule(status: int, body: Any) -> bool:
    """Whether a 400 body is one of the rules the document cannot state (see the module)."""
    if status != 400 or not isinstance(body, dict):
        return False
    if len(body) == 1:
        ((field, message),) = body.items()
        if (field, message) in _STATS_RELATIONS:
            return True
    return any(
        body.get("field") == field
        and isinstance(body.get("error"), str)
        and rule.fullmatch(body["error"])
        for field, rule in _EVENT_RULES
    )


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure but "schema-valid request rejected" for a rule of the clock or
    between values."""
    if getattr(failure, "code", None) != "ST202":
        return True
    return not is_unstatable_rule(response.status_code, _json(response))


def _past(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
    except ValueError:
        return value
    if moment.tzinfo is None or moment <= datetime.now(UTC) or not _MID_YEAR.match(value):
        return value
    return "2000" + value[4:]  # a leap year: February 29 stays a date


def _event_in_the_past(item: Any) -> Any:
    if isinstance(item, dict) and "timestamp" in item:
        return {**item, "timestamp": _past(item["timestamp"])}
    return item


@schemathesis.hook
def map_body(context: Any, body: Any) -> Any:
    """Generated event times in the future (the document allows up to 8999) become year 2000."""
    if isinstance(body, list):
        return [_event_in_the_past(item) for item in body]
    return _event_in_the_past(body)
