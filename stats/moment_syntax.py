"""The exact text a range parameter (`from`, `to`) may be: one regular expression, used by the
server to accept a value and published as the parameter's `pattern` in the OpenAPI document, so
that a client generated from the document and the server agree on every string.

The language: empty (the parameter is absent), or an ISO 8601 calendar date `YYYY-MM-DD`
(midnight UTC), or a date and time `YYYY-MM-DDTHH:MM[:SS[.ffffff]]` (a space may replace the
`T`) with an optional zone `Z` or `±HH:MM` (no zone: UTC). Dates are real calendar dates (leap
years included) and the instant, moved to UTC, lies in [1970-01-01, 9000-01-01]: on the two edge
days a zone that would move the instant out of range is not part of the language, and
9000-01-01 only at midnight UTC.

Pure: no Django, no I/O. The pattern uses only syntax that ECMA 262 and Python read alike (no
lookaround, no `\\d` outside ASCII intent: digits are written `[0-9]`).
"""

from __future__ import annotations

import re

_D = "[0-9]"
_DAY_31 = f"(?:0[1-9]|[12]{_D}|3[01])"
_DAY_30 = f"(?:0[1-9]|[12]{_D}|30)"
_DAY_28 = f"(?:0[1-9]|1{_D}|2[0-8])"
# Month and day of any year, February 29 left to the leap years.
_MONTH_DAY = f"(?:(?:0[13578]|1[02])-{_DAY_31}|(?:0[469]|11)-{_DAY_30}|02-{_DAY_28})"
# Years 1971-8998 (the edge years 1970 and 8999 are written out below).
_MID_YEAR = f"(?:197[1-9]|19[89]{_D}|[2-7]{_D}{{3}}|8[0-8]{_D}{{2}}|89[0-8]{_D}|899[0-8])"
# Leap years in 1971-8998 (the last is 8996): divisible by 4, centuries only by 400.
_MID_LEAP = (
    f"(?:197[26]|198[048]|199[26]|[2-8]{_D}(?:0[48]|[2468][048]|[13579][26])"
    "|(?:[2468][048]|[357][26])00)"
)
_TIME = f"(?:[01]{_D}|2[0-3]):[0-5]{_D}(?::[0-5]{_D}(?:\\.{_D}{{1,6}})?)?"
_HOURS_MINUTES = f"(?:[01]{_D}|2[0-3]):[0-5]{_D}"
_ANY_ZONE = f"(?:Z|[+-]{_HOURS_MINUTES})?"
_SEP = "[T ]"

_GENERAL = (
    f"(?:{_MID_YEAR}-{_MONTH_DAY}|{_MID_LEAP}-02-29"
    # 1970 but January 1, 8999 but December 31.
    f"|1970-(?:01-(?:0[2-9]|[12]{_D}|3[01])|(?:0[3578]|1[02])-{_DAY_31}|(?:0[469]|11)-{_DAY_30}"
    f"|02-{_DAY_28})"
    f"|8999-(?:(?:0[13578]|10)-{_DAY_31}|12-(?:0[1-9]|[12]{_D}|30)|(?:0[469]|11)-{_DAY_30}"
    f"|02-{_DAY_28}))"
    f"(?:{_SEP}{_TIME}{_ANY_ZONE})?"
)
# On 1970-01-01 a zone east of UTC could move the instant before 1970: only UTC or west.
_FIRST_DAY = f"1970-01-01(?:{_SEP}{_TIME}(?:Z|[+-]00:00|-{_HOURS_MINUTES})?)?"
# On 8999-12-31 a zone west of UTC could move the instant past 9000-01-01: only UTC or east.
_LAST_DAY = f"8999-12-31(?:{_SEP}{_TIME}(?:Z|[+-]00:00|\\+{_HOURS_MINUTES})?)?"
_END = f"9000-01-01(?:{_SEP}00:00(?::00(?:\\.0{{1,6}})?)?(?:Z|[+-]00:00)?)?"

MOMENT_PATTERN = f"^(?:{_GENERAL}|{_FIRST_DAY}|{_LAST_DAY}|{_END})?$"
"""The `pattern` of `from`/`to`: the empty string or a moment in range (see the module)."""

_MOMENT_RE = re.compile(MOMENT_PATTERN)


def is_moment_text(raw: str) -> bool:
    """Whether `raw` is in the language (the empty string included), as a whole string."""
    return _MOMENT_RE.fullmatch(raw) is not None
