"""The `from`/`to` language (stats.moment_syntax): its pattern accepts a string exactly when the
moment is a real calendar date (and time) in [1970-01-01, 9000-01-01] UTC, and the server's
parser accepts exactly what the pattern does. Pure: no database."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from stats.moment_syntax import MOMENT_PATTERN, is_moment_text
from stats.ranges import EARLIEST, LATEST, RangeError, parse_moment

# Years where the calendar or the range has an edge: leap rules, the range's ends, centuries.
YEARS = [1969, 1970, 1971, 1972, 1999, 2000, 2024, 2026, 2100, 2400, 8800, 8900, 8996, 8999, 9000]
TIMES = ["00:00", "00:30", "05:00", "23:59", "00:00:00", "00:00:00.000", "23:59:59.999999"]
ZONES = ["", "Z", "+00:00", "-00:00", "+01:00", "-01:00", "+23:59", "-23:59"]
EDGE_DAYS = ["1969-12-31", "1970-01-01", "8999-12-31", "9000-01-01", "9000-01-02"]


def in_range(text: str) -> bool:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return EARLIEST <= moment <= LATEST


def test_every_calendar_day_of_the_edge_years_and_no_other_string() -> None:
    for year in YEARS:
        for month in range(1, 13):
            for day in range(1, 33):
                text = f"{year:04d}-{month:02d}-{day:02d}"
                try:
                    expected = in_range(date(year, month, day).isoformat())
                except ValueError:  # not a calendar date (February 30, April 31 ...)
                    expected = False
                assert is_moment_text(text) == expected, text


def test_a_day_in_each_year_of_the_range() -> None:
    day = date(1969, 12, 20)
    while day <= date(9000, 1, 10):
        assert is_moment_text(day.isoformat()) == in_range(day.isoformat()), day
        day += timedelta(days=97)  # walks every month and, over the range, every weekday


def test_times_and_zones_on_the_edge_days_stay_inside_the_range() -> None:
    """On the edge days the language keeps only zones that cannot leave the range; elsewhere
    every time and zone is in it."""
    for day in [*EDGE_DAYS, "2026-05-05"]:
        for time in TIMES:
            for zone in ZONES:
                for sep in "T ":
                    text = f"{day}{sep}{time}{zone}"
                    if is_moment_text(text):
                        assert in_range(text), text
                    elif day == "2026-05-05":
                        pytest.fail(f"{text} is a moment in range")


@pytest.mark.parametrize(
    "text",
    [
        " 2026-01-01",
        "2026-01-01 ",
        "2026-01-01\n",
        "2026-01-01T10",
        "2026-01-01T24:00",
        "2026-01-01T10:60",
        "2026-01-01T10:00:60",
        "2026-01-01T10:00:00.1234567",
        "2026-01-01t10:00",
        "2026-01-01T10:00z",
        "20260101",
        "2026-W01-1",
        "2026-01-01T10:00+0100",
        "2026-01-01T10:00+24:00",
        "\u0662\u0660\u0662\u0666-01-01",  # Arabic-Indic digits
        "2026-01-01\x00",
    ],
)
def test_other_spellings_are_refused_by_the_pattern_and_the_parser(text: str) -> None:
    assert not is_moment_text(text)
    with pytest.raises(RangeError):
        parse_moment(text, field="from")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2026-01-15",
        "2026-01-15T10:30",
        "2026-01-15 10:30:00.5Z",
        "2024-02-29T23:00-05:00",
        "1970-01-01",
        "9000-01-01T00:00:00Z",
        "8999-12-31T23:59+01:00",
    ],
)
def test_the_parser_accepts_what_the_pattern_accepts(text: str) -> None:
    assert is_moment_text(text)
    parsed = parse_moment(text, field="to")
    if text == "":
        assert parsed is None
    else:
        assert parsed is not None and EARLIEST <= parsed <= LATEST


def test_the_pattern_reads_the_same_as_a_javascript_pattern() -> None:
    """No syntax that ECMA 262 reads differently: no lookaround, \\d, \\Z or inline flags."""
    assert not re.search(r"\(\?[=!<]|\\[dDwWsSZA]|\(\?[aiLmsux]", MOMENT_PATTERN)
