"""The event time's range in the OpenAPI document: msgspec writes `timestamp` as a plain
`date-time`, the contract also bounds it to [1970-01-01, 9000-01-01) UTC (`check_event`). The
document adds that bound as a `pattern`, so that generated clients and the server agree.

Pure: no Django. The committed contract schemas (impressions/schema/) are not touched.
"""

from __future__ import annotations

from typing import Any

_DIGIT = "[0-9]"
EVENT_TIME_PATTERN = (
    # Years 1971-8998, 1970 but January 1, 8999 but December 31: any time and zone.
    f"^(?:(?:197[1-9]|19[89]{_DIGIT}|[2-7]{_DIGIT}{{3}}|8[0-8]{_DIGIT}{{2}}|89[0-8]{_DIGIT}"
    "|899[0-8])-|1970-(?:0[2-9]|1[0-2]|01-(?:0[2-9]|[12][0-9]|3[01]))-?"
    "|8999-(?:0[0-9]|1[01]|12-(?:[0-2][0-9]|30))-?"
    # On the edge days only zones that keep the instant in range (east of UTC could move
    # 1970-01-01 into 1969, west could move 8999-12-31 into 9000).
    "|1970-01-01.*(?:[Zz]|[+-]00:?00|-[0-9]{2}:?[0-9]{2})$"
    "|8999-12-31.*(?:[Zz]|[+-]00:?00|\\+[0-9]{2}:?[0-9]{2})$)"
)
"""The pattern the OpenAPI document adds to an event's `timestamp` (format date-time): the
contract's range [1970-01-01, 9000-01-01) in UTC. The one rule it cannot state is the clock's:
at most 5 minutes in the future (a 400 naming `timestamp`)."""


EVENT_TIME_HELP = (
    "Event time with a zone (UTC on the topic), from 1970-01-01T00:00:00Z (inclusive) to "
    "9000-01-01T00:00:00Z (exclusive) in UTC, as the pattern states; and at most 5 minutes in "
    "the future by the server's clock, which no schema can state (a 400 naming `timestamp`)."
)


def with_event_time_range(node: Any) -> Any:
    """Add EVENT_TIME_PATTERN to every `date-time` string of a contract schema."""
    if isinstance(node, list):
        return [with_event_time_range(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: with_event_time_range(value) for key, value in node.items()}
    if node.get("format") == "date-time" and "pattern" not in node:
        node["pattern"] = EVENT_TIME_PATTERN
        node["description"] = EVENT_TIME_HELP
    return node
