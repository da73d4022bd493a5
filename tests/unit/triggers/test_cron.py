"""Quartz cron expressions for the `cron` trigger (echo-igor.md §2.1): parsing, fire times, H hashing, misfires.

Expected times are worked out by hand from the calendar. 2024 is a leap year; 2024-01-01 is a Monday and the months
of 2024 start on: Feb Thu, Mar Fri, Apr Mon, May Wed, Jun Sat, Jul Mon, Aug Thu, Sep Sun, Oct Tue, Nov Fri, Dec Sun.
America/Los_Angeles springs forward on 2024-03-10 (02:00 PST -> 03:00 PDT, 10:00 UTC) and falls back on 2024-11-03
(02:00 PDT -> 01:00 PST, 09:00 UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gennaker.triggers.cron import (
    CronError,
    CronSchedule,
    hash_expression,
    java_string_hash,
    missed_fires,
    parse,
    validate,
)

UTC_ZONE = ZoneInfo("UTC")
LA = ZoneInfo("America/Los_Angeles")
KOLKATA = ZoneInfo("Asia/Kolkata")
FROM = datetime(2024, 1, 15, 10, 20, 30, tzinfo=UTC)  # a Monday


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def times(expression: str, moment: datetime, count: int, tz: ZoneInfo = UTC_ZONE) -> list[datetime]:
    return [t.astimezone(UTC) for t in parse(expression, trigger_id="t").next_times(moment, tz, count)]


# The examples of Quartz's CronTrigger tutorial, each from a moment chosen to show its rule.
@pytest.mark.parametrize(
    ("expression", "moment", "expected"),
    [
        # 12:00 every day
        ("0 0 12 * * ?", FROM, [at(2024, 1, 15, 12), at(2024, 1, 16, 12), at(2024, 1, 17, 12)]),
        # 10:15 every day; today's has passed
        ("0 15 10 ? * *", FROM, [at(2024, 1, 16, 10, 15), at(2024, 1, 17, 10, 15), at(2024, 1, 18, 10, 15)]),
        # 10:15 every day of 2005 only
        ("0 15 10 * * ? 2005", at(2005, 3, 1), [at(2005, 3, 1, 10, 15), at(2005, 3, 2, 10, 15)]),
        # every minute from 14:00 to 14:59
        (
            "0 * 14 * * ?",
            at(2024, 1, 15, 14, 58, 30),
            [at(2024, 1, 15, 14, 59), at(2024, 1, 16, 14), at(2024, 1, 16, 14, 1)],
        ),
        # every 5 minutes from 14:00 to 14:55
        (
            "0 0/5 14 * * ?",
            at(2024, 1, 15, 14, 50),
            [at(2024, 1, 15, 14, 55), at(2024, 1, 16, 14), at(2024, 1, 16, 14, 5)],
        ),
        # every 5 minutes from 14:00 to 14:55 and from 18:00 to 18:55
        (
            "0 0/5 14,18 * * ?",
            at(2024, 1, 15, 14, 55),
            [at(2024, 1, 15, 18), at(2024, 1, 15, 18, 5), at(2024, 1, 15, 18, 10)],
        ),
        ("0 0/5 14,18 * * ?", at(2024, 1, 15, 18, 55), [at(2024, 1, 16, 14)]),
        # every minute from 14:00 to 14:05
        (
            "0 0-5 14 * * ?",
            at(2024, 1, 15, 14, 4),
            [at(2024, 1, 15, 14, 5), at(2024, 1, 16, 14), at(2024, 1, 16, 14, 1)],
        ),
        # 14:10 and 14:44 on Wednesdays in March: March 2024 starts on a Friday, so the 6th, 13th, ...
        ("0 10,44 14 ? 3 WED", FROM, [at(2024, 3, 6, 14, 10), at(2024, 3, 6, 14, 44), at(2024, 3, 13, 14, 10)]),
        # ... and March 2025 starts on a Saturday: Wednesday the 5th
        ("0 10,44 14 ? 3 WED", at(2024, 3, 27, 14, 44), [at(2025, 3, 5, 14, 10)]),
        # 10:15 Monday to Friday: from Friday the 19th after 10:15 to Monday the 22nd
        ("0 15 10 ? * MON-FRI", at(2024, 1, 19, 11), [at(2024, 1, 22, 10, 15), at(2024, 1, 23, 10, 15)]),
        # 10:15 on the 15th; January's has just passed
        ("0 15 10 15 * ?", FROM, [at(2024, 2, 15, 10, 15), at(2024, 3, 15, 10, 15), at(2024, 4, 15, 10, 15)]),
        # 10:15 on the last day of the month (29 February in a leap year)
        ("0 15 10 L * ?", FROM, [at(2024, 1, 31, 10, 15), at(2024, 2, 29, 10, 15), at(2024, 3, 31, 10, 15)]),
        # 10:15 two days before the last day
        ("0 15 10 L-2 * ?", FROM, [at(2024, 1, 29, 10, 15), at(2024, 2, 27, 10, 15), at(2024, 3, 29, 10, 15)]),
        # 10:15 on the last Friday: Jan 26, Feb 23, Mar 29
        ("0 15 10 ? * 6L", FROM, [at(2024, 1, 26, 10, 15), at(2024, 2, 23, 10, 15), at(2024, 3, 29, 10, 15)]),
        # the same in 2002-2005 only: 2002 starts on a Tuesday (Fridays Jan 25, Feb 22, Mar 29) ...
        (
            "0 15 10 ? * 6L 2002-2005",
            at(2001, 6, 1),
            [at(2002, 1, 25, 10, 15), at(2002, 2, 22, 10, 15), at(2002, 3, 29, 10, 15)],
        ),
        # 10:15 on the third Friday: Jan 19, Feb 16, Mar 15
        ("0 15 10 ? * 6#3", FROM, [at(2024, 1, 19, 10, 15), at(2024, 2, 16, 10, 15), at(2024, 3, 15, 10, 15)]),
        # 12:00 every 5 days from the 1st (1, 6, ..., 31), starting again on the 1st of each month
        ("0 0 12 1/5 * ?", at(2024, 1, 30), [at(2024, 1, 31, 12), at(2024, 2, 1, 12), at(2024, 2, 6, 12)]),
        ("0 0 12 1/5 * ?", FROM, [at(2024, 1, 16, 12), at(2024, 1, 21, 12), at(2024, 1, 26, 12)]),
        # 11:11 on November 11th
        ("0 11 11 11 11 ?", FROM, [at(2024, 11, 11, 11, 11), at(2025, 11, 11, 11, 11)]),
    ],
)
def test_quartz_tutorial_examples(expression: str, moment: datetime, expected: list[datetime]) -> None:
    assert times(expression, moment, len(expected)) == expected


@pytest.mark.parametrize(
    ("expression", "moment", "expected"),
    [
        # June 15th 2024 is a Saturday -> Friday 14th; September 15th a Sunday -> Monday 16th
        (
            "0 0 12 15W * ?",
            at(2024, 5, 20),
            [at(2024, 6, 14, 12), at(2024, 7, 15, 12), at(2024, 8, 15, 12), at(2024, 9, 16, 12)],
        ),
        # June 1st is a Saturday -> Monday 3rd (never back into May); September 1st a Sunday -> Monday 2nd
        (
            "0 0 12 1W * ?",
            at(2024, 5, 20),
            [at(2024, 6, 3, 12), at(2024, 7, 1, 12), at(2024, 8, 1, 12), at(2024, 9, 2, 12)],
        ),
        # Deck's default: midnight on the first weekday of every month
        ("0 0 0 1W 1/1 ? *", at(2024, 5, 20), [at(2024, 6, 3), at(2024, 7, 1), at(2024, 8, 1), at(2024, 9, 2)]),
        # last weekday: May 31 Friday, June 30 Sunday -> 28th, July 31 Wednesday, August 31 Saturday -> 30th
        (
            "0 0 12 LW * ?",
            at(2024, 5, 20),
            [at(2024, 5, 31, 12), at(2024, 6, 28, 12), at(2024, 7, 31, 12), at(2024, 8, 30, 12)],
        ),
        # weekday nearest the day before the last: June 29 Sat -> 28, July 30, August 30, September 29 Sun -> 30
        (
            "0 0 12 L-1W * ?",
            at(2024, 6, 1),
            [at(2024, 6, 28, 12), at(2024, 7, 30, 12), at(2024, 8, 30, 12), at(2024, 9, 30, 12)],
        ),
        # 31W: March 31 is a Sunday and the last day -> Friday 29th; 30-day months are skipped
        ("0 0 12 31W * ?", at(2024, 3, 1), [at(2024, 3, 29, 12), at(2024, 5, 31, 12), at(2024, 7, 31, 12)]),
    ],
)
def test_nearest_weekday(expression: str, moment: datetime, expected: list[datetime]) -> None:
    assert times(expression, moment, len(expected)) == expected


@pytest.mark.parametrize(
    ("expression", "moment", "expected"),
    [
        # day-of-week `L` alone is Saturday, every week
        ("0 0 12 ? * L", FROM, [at(2024, 1, 20, 12), at(2024, 1, 27, 12)]),
        # a fifth Monday: January 29th, none in February or March, April 29th
        ("0 0 12 ? * 2#5", FROM, [at(2024, 1, 29, 12), at(2024, 4, 29, 12)]),
        # wrapping ranges: hours 22,23,0,1,2 on Friday to Monday; Monday 15th then Friday 19th
        ("0 0 22-2 ? * FRI-MON", FROM, [at(2024, 1, 15, 22), at(2024, 1, 15, 23), at(2024, 1, 19)]),
        ("0 0 0 1 NOV-FEB ?", FROM, [at(2024, 2, 1), at(2024, 11, 1), at(2024, 12, 1), at(2025, 1, 1)]),
        # names are case-insensitive, steps apply to ranges, 1=SUN
        ("0 15 10 ? * mon-fri", at(2024, 1, 19, 11), [at(2024, 1, 22, 10, 15)]),
        (
            "30 10-40/15 9 ? * 1",
            FROM,
            [at(2024, 1, 21, 9, 10, 30), at(2024, 1, 21, 9, 25, 30), at(2024, 1, 21, 9, 40, 30)],
        ),
        ("0 0 0 1 1 ? 2030/10", FROM, [at(2030, 1, 1), at(2040, 1, 1)]),
    ],
)
def test_other_rules(expression: str, moment: datetime, expected: list[datetime]) -> None:
    assert times(expression, moment, len(expected)) == expected


@pytest.mark.parametrize(
    ("expression", "moment", "expected"),
    [
        ("0 15 10 * * ? 2005", at(2005, 12, 30, 12), [at(2005, 12, 31, 10, 15)]),
        ("0 15 10 * * ? 2005", FROM, []),
        # 2005-12-01 is a Thursday, so its last Friday is the 30th, the last fire of 2002-2005
        ("0 15 10 ? * 6L 2002-2005", at(2005, 12, 1), [at(2005, 12, 30, 10, 15)]),
        ("0 15 10 ? * 6L 2002-2005", FROM, []),
        # February 30th never comes; the search stops after 2099
        ("0 0 0 30 2 ?", FROM, []),
        ("0 0 0 1 1 ? 2099", at(2099, 1, 1), []),
    ],
)
def test_schedules_that_end(expression: str, moment: datetime, expected: list[datetime]) -> None:
    assert times(expression, moment, 5) == expected


def test_next_after_is_strictly_after_and_truncates_microseconds() -> None:
    schedule = parse("0 0 12 * * ?", trigger_id="t")
    assert schedule.next_after(at(2024, 1, 15, 12), UTC_ZONE) == at(2024, 1, 16, 12)
    assert schedule.next_after(at(2024, 1, 15, 12).replace(microsecond=500), UTC_ZONE) == at(2024, 1, 16, 12)
    assert schedule.next_after(at(2024, 1, 15, 11, 59, 59).replace(microsecond=999999), UTC_ZONE) == at(2024, 1, 15, 12)
    with pytest.raises(ValueError, match="aware"):
        schedule.next_after(datetime(2024, 1, 15), UTC_ZONE)


# --- time zones -------------------------------------------------------------------------------------------------------


def test_spring_forward_skips_the_missing_wall_time() -> None:
    daily = parse("0 30 2 * * ?", trigger_id="t")
    # 02:30 on 2024-03-09 is PST (10:30 UTC); on the 10th it does not exist; on the 11th it is PDT (09:30 UTC)
    fires = daily.next_times(at(2024, 3, 8, 20), LA, 3)
    assert [t.astimezone(UTC) for t in fires] == [
        at(2024, 3, 9, 10, 30),
        at(2024, 3, 11, 9, 30),
        at(2024, 3, 12, 9, 30),
    ]
    assert [t.tzinfo for t in fires] == [LA, LA, LA]
    assert [t.utcoffset() for t in fires] == [timedelta(hours=-8), timedelta(hours=-7), timedelta(hours=-7)]
    # every 30 minutes: 01:30 PST, then 02:00 and 02:30 do not exist, then 03:00 PDT
    half_hourly = parse("0 0/30 * * * ?", trigger_id="t")
    assert [t.astimezone(UTC) for t in half_hourly.next_times(at(2024, 3, 10, 9, 15), LA, 3)] == [
        at(2024, 3, 10, 9, 30),
        at(2024, 3, 10, 10),
        at(2024, 3, 10, 10, 30),
    ]


def test_fall_back_fires_a_repeated_wall_time_once_at_its_first_occurrence() -> None:
    daily = parse("0 30 1 * * ?", trigger_id="t")
    # 01:30 on 2024-11-03 happens at 08:30 UTC (PDT) and 09:30 UTC (PST): only the first fires
    assert times("0 30 1 * * ?", at(2024, 11, 2, 19), 2, LA) == [at(2024, 11, 3, 8, 30), at(2024, 11, 4, 9, 30)]
    # asked during the repeated hour (01:10 PST), the next 01:30 is tomorrow's
    assert daily.next_after(at(2024, 11, 3, 9, 10), LA) == at(2024, 11, 4, 9, 30)
    # every 15 minutes through the first pass, nothing during the repeat, then 02:00 PST
    assert times("0 0/15 * * * ?", at(2024, 11, 3, 7, 50), 5, LA) == [
        at(2024, 11, 3, 8),
        at(2024, 11, 3, 8, 15),
        at(2024, 11, 3, 8, 30),
        at(2024, 11, 3, 8, 45),
        at(2024, 11, 3, 10),
    ]
    assert times("0 0/15 * * * ?", at(2024, 11, 3, 9, 10), 1, LA) == [at(2024, 11, 3, 10)]
    # 02:00 happens once (in PST) on that day
    assert times("0 0 2 * * ?", at(2024, 11, 3, 7), 1, LA) == [at(2024, 11, 3, 10)]
    # every second during the repeat skips straight to 02:00:00 PST without walking the hour
    assert times("* * * * * ?", at(2024, 11, 3, 9, 59, 58), 2, LA) == [at(2024, 11, 3, 10), at(2024, 11, 3, 10, 0, 1)]


def test_kolkata_half_hour_offset() -> None:
    # IST is UTC+05:30 all year
    assert times("0 0 9 * * ?", at(2024, 1, 15), 2, KOLKATA) == [at(2024, 1, 15, 3, 30), at(2024, 1, 16, 3, 30)]
    # 23:30 IST is exactly 18:00 UTC: strictly after it is the next day's
    assert times("0 30 23 * * ?", at(2024, 1, 15, 18), 1, KOLKATA) == [at(2024, 1, 16, 18)]
    # midnight IST on Mondays: Monday 2024-01-22 00:00 IST is Sunday 18:30 UTC
    assert times("0 0 0 ? * MON", FROM, 1, KOLKATA) == [at(2024, 1, 21, 18, 30)]


# --- errors -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 0 12 ? * 8", "day-of-week field: 8 is out of range 1-7"),
        ("0 0 12 ? * 0", "day-of-week field: 0 is out of range 1-7"),
        ("0 0 12 ? * 8L", "day-of-week field: 8 is out of range 1-7"),
        ("60 0 12 * * ?", "seconds field: 60 is out of range 0-59"),
        ("0 60 12 * * ?", "minutes field: 60 is out of range 0-59"),
        ("0 0 24 * * ?", "hours field: 24 is out of range 0-23"),
        ("0 0 12 32 * ?", "day-of-month field: 32 is out of range 1-31"),
        ("0 0 12 0 * ?", "day-of-month field: 0 is out of range 1-31"),
        ("0 0 12 32W * ?", "day-of-month field: 32 is out of range 1-31"),
        ("0 0 12 ? 13 MON", "month field: 13 is out of range 1-12"),
        ("0 0 12 ? FOO MON", "month field: 'FOO' is not a number or month name (JAN-DEC)"),
        ("0 0 12 ? * FUN", "day-of-week field: 'FUN' is not a number or day name (SUN-SAT)"),
        ("0 0 12 ? JAN MON-", "day-of-week field: 'MON-' is not a value, range or step"),
        ("0 0 12 * * ? 1969", "year field: 1969 is out of range 1970-2099"),
        ("0 0 12 * * ? 2005-2002", "year field: the range '2005-2002' ends before it starts"),
        ("0 0 12 * * *", "day-of-month and day-of-week fields: one of them must be '?'"),
        ("0 0 12 1 * MON", "day-of-month and day-of-week fields: one of them must be '?'"),
        ("0 0 12 ? * ?", "day-of-month and day-of-week fields: only one of them may be '?'"),
        ("0 0 12 * *", "expected 6 or 7 fields (seconds minutes hours day-of-month month day-of-week [year]), got 5"),
        ("0 0 12 * * ? 2024 x", "got 8"),
        ("", "got 0"),
        ("? 0 12 * * ?", "seconds field: '?' is only allowed in the day-of-month and day-of-week fields"),
        ("0 0/0 12 * * ?", "minutes field: the step in '0/0' must be a number from 1 to 59"),
        ("0 */60 12 * * ?", "minutes field: the step in '*/60' must be a number from 1 to 59"),
        ("0 0 0/24 * * ?", "hours field: the step in '0/24' must be a number from 1 to 23"),
        ("0 0 0 ? * 1/8", "day-of-week field: the step in '1/8' must be a number from 1 to 7"),
        ("0 */ 12 * * ?", "minutes field: the step in '*/' must be a number from 1 to 59"),
        ("0 *-5 12 * * ?", "minutes field: '*-5' is not a value, range or step"),
        ("0 1,,2 12 * * ?", "minutes field: empty list item"),
        ("0 -1 12 * * ?", "minutes field: '-1' is not a value, range or step"),
        ("0 0 12 L-31 * ?", "day-of-month field: the offset in 'L-31' must be at most 30"),
        ("0 0 12 L,15 * ?", "day-of-month field: 'L,15': 'L' and 'W' stand alone"),
        ("0 0 12 1-5W * ?", "day-of-month field: '1-5W': 'L' and 'W' stand alone"),
        ("0 0 12 ? * 6#6", "day-of-week field: '#' in '6#6' must be followed by a number from 1 to 5"),
        ("0 0 12 ? * 6#", "day-of-week field: '#' in '6#' must be followed by a number from 1 to 5"),
        ("0 0 12 ? * 6#3,2", "day-of-week field: '6#3,2': 'nL' and 'n#k' stand alone"),
        ("0 0 12 ? * 6L,2", "day-of-week field: '6L,2': 'nL' and 'n#k' stand alone"),
        ("0 0 12 H * ?", "day-of-month field: 'H' is only supported in the seconds, minutes and hours fields"),
        ("0 0 12 ? H/2 MON", "month field: 'H' is only supported in the seconds, minutes and hours fields"),
        ("0 0 12 ? * H", "day-of-week field: 'H' is only supported in the seconds, minutes and hours fields"),
        ("0 0 12 * * ? H", "year field: 'H' is only supported in the seconds, minutes and hours fields"),
        ("0 h * * * ?", "minutes field: write the hash token as an upper-case 'H'"),
        ("0 H(30-10) * * * ?", "minutes field: H(30-10) must be a range within 0-59"),
        ("0 0 H(0-24) * * ?", "hours field: H(0-24) must be a range within 0-23"),
        ("H(5) * * * * ?", "seconds field: '"),
    ],
)
def test_errors_name_the_field_and_the_problem(expression: str, message: str) -> None:
    with pytest.raises(CronError) as caught:
        parse(expression, trigger_id="temp")
    assert message in str(caught.value)
    assert validate(expression) == str(caught.value)


def test_error_carries_the_field_name() -> None:
    with pytest.raises(CronError) as caught:
        parse("0 0 12 ? * 8", trigger_id="t")
    assert caught.value.field == "day-of-week"
    with pytest.raises(CronError) as caught:
        parse("0 0 12 * * *", trigger_id="t")
    assert caught.value.field is None


@pytest.mark.parametrize(
    "expression",
    ["0 0 0 1W 1/1 ? *", "0 0/30 * * * ?", "0 0 10 ? * MON-FRI", "H H * * * ?", "0 H(0-29) H ? * 6#3", "0 0 0 LW * ?"],
)
def test_validate_accepts(expression: str) -> None:
    assert validate(expression) is None


# --- H hashing (Echo's CronExpressionFuzzer) --------------------------------------------------------------------------


def test_java_string_hash() -> None:
    # "abcd": 97*31^3 + 98*31^2 + 99*31 + 100
    assert java_string_hash("abcd") == 97 * 29791 + 98 * 961 + 99 * 31 + 100 == 2987074
    assert java_string_hash("") == 0
    assert java_string_hash("Aa") == java_string_hash("BB") == 2112  # Java's classic collision
    assert java_string_hash("polygenelubricants") == -(2**31)  # Java's classic Integer.MIN_VALUE hash
    assert java_string_hash("\U0001f600") == 0xD83D * 31 + 0xDE00  # two UTF-16 code units


@pytest.mark.parametrize(
    ("trigger_id", "expression", "expected"),
    [
        # Echo's CronExpressionFuzzerSpec cases
        ("abcd", "H * * * * *", "34 * * * * *"),  # 2987074 mod 60 = 34
        ("abcde", "* * H * * *", "* * 3 * * *"),  # 92599395 mod 24 = 3
        ("abcd", "H/5 * * * * *", "34/5 * * * * *"),
        ("abcd", "00 05 09 ? * MON-THU", "00 05 09 ? * MON-THU"),
        ("abcd", "0 0 12 ? * THU", "0 0 12 ? * THU"),  # the H of THU is not a hash token
        ("abcd", "H H H ? * THU", "34 34 10 ? * THU"),  # 2987074 mod 24 = 10
        ("abcd", "0 H(0-29) * ? * *", "0 4 * ? * *"),  # 2987074 mod 30 = 4
        ("abcd", "0 H(10-19)/30 * ? * *", "0 14/30 * ? * *"),  # 10 + 2987074 mod 10
        ("polygenelubricants", "H H H * * ?", "8 8 8 * * ?"),  # |-2^31| mod 60 = 8, mod 24 = 8
    ],
)
def test_hash_expression(trigger_id: str, expression: str, expected: str) -> None:
    assert hash_expression(expression, trigger_id) == expected


def test_hashed_schedule_fires_at_the_hashed_time() -> None:
    schedule = parse("H H H * * ?", trigger_id="abcd")
    assert schedule.effective_expression == "34 34 10 * * ?"
    assert (schedule.seconds, schedule.minutes, schedule.hours) == ((34,), (34,), (10,))
    assert schedule.next_after(FROM, UTC_ZONE) == at(2024, 1, 15, 10, 34, 34)
    assert parse("0 H/15 * * * ?", trigger_id="abcd").minutes == (34, 49)  # 34/15: from 34 to 59
    assert parse("0 H(0-29)/30 * * * ?", trigger_id="abcd").minutes == (4, 34)
    assert parse("0 H H * * ?", trigger_id="other").minutes != parse("0 H H * * ?", trigger_id="abcd").minutes


def _reference_hash(text: str) -> int:
    """Java's String.hashCode as the closed-form sum over UTF-16 code units, wrapped to a signed 32-bit int."""
    encoded = text.encode("utf-16-le", "surrogatepass")
    units = [encoded[i] + 256 * encoded[i + 1] for i in range(0, len(encoded), 2)]
    total = sum(unit * 31 ** (len(units) - 1 - i) for i, unit in enumerate(units)) % 2**32
    return total - 2**32 if total >= 2**31 else total


@given(trigger_id=st.text(), low=st.integers(0, 59), width=st.integers(0, 59))
def test_hash_is_deterministic_and_in_range(trigger_id: str, low: int, width: int) -> None:
    high = min(59, low + width)
    first = parse("H H H(0-23) * * ? *", trigger_id=trigger_id)
    again = parse("H H H(0-23) * * ? *", trigger_id=trigger_id)
    assert first == again
    expected = abs(_reference_hash(trigger_id))
    assert first.seconds == first.minutes == (expected % 60,)
    assert first.hours == (expected % 24,)
    ranged = parse(f"0 H({low}-{high}) H ? * *", trigger_id=trigger_id)
    assert low <= ranged.minutes[0] <= high
    assert ranged.hours == (expected % 24,)


# --- missed fires -----------------------------------------------------------------------------------------------------


def test_missed_fires_within_the_window() -> None:
    every5 = parse("0 0/5 * * * ?", trigger_id="t")
    now = at(2024, 1, 15, 10, 17, 30)
    assert missed_fires(every5, at(2024, 1, 15, 10), now, UTC_ZONE, timedelta(minutes=10)) == [
        at(2024, 1, 15, 10, 10),
        at(2024, 1, 15, 10, 15),
    ]
    assert missed_fires(every5, at(2024, 1, 15, 10), now, UTC_ZONE, timedelta(minutes=30)) == [
        at(2024, 1, 15, 10, 5),
        at(2024, 1, 15, 10, 10),
        at(2024, 1, 15, 10, 15),
    ]
    # the last fire itself is excluded; both ends of the window are included
    assert missed_fires(every5, at(2024, 1, 15, 10), at(2024, 1, 15, 10, 20), UTC_ZONE, timedelta(minutes=10)) == [
        at(2024, 1, 15, 10, 10),
        at(2024, 1, 15, 10, 15),
        at(2024, 1, 15, 10, 20),
    ]
    assert missed_fires(every5, at(2024, 1, 15, 10, 10), now, UTC_ZONE, timedelta(hours=1)) == [at(2024, 1, 15, 10, 15)]
    assert missed_fires(every5, at(2024, 1, 15, 10, 15), now, UTC_ZONE, timedelta(hours=1)) == []
    assert missed_fires(every5, at(2024, 1, 15, 10), now, UTC_ZONE, timedelta(0)) == []
    with pytest.raises(ValueError, match="negative"):
        missed_fires(every5, at(2024, 1, 15, 10), now, UTC_ZONE, timedelta(minutes=-1))


def test_missed_fires_across_spring_forward() -> None:
    daily = parse("0 30 2 * * ?", trigger_id="t")
    last = at(2024, 3, 9, 10, 30)  # 02:30 PST on the 9th
    # there is no 02:30 on the 10th
    assert missed_fires(daily, last, at(2024, 3, 10, 19), LA, timedelta(days=1)) == []
    # 02:30 PDT on the 11th is 09:30 UTC
    fires = missed_fires(daily, last, at(2024, 3, 11, 10), LA, timedelta(days=2))
    assert [t.astimezone(UTC) for t in fires] == [at(2024, 3, 11, 9, 30)]


# --- properties -------------------------------------------------------------------------------------------------------

ZONES = [
    UTC_ZONE,
    LA,
    KOLKATA,
    ZoneInfo("Australia/Lord_Howe"),
    ZoneInfo("America/Santiago"),
    ZoneInfo("Europe/London"),
]


def _transitions() -> list[tuple[ZoneInfo, datetime]]:
    """Each zone of ZONES with a UTC hour at the end of which it changes its offset, in 2024."""
    found = []
    for zone in ZONES:
        moment = at(2024, 1, 1)
        while moment.year == 2024:
            following = moment + timedelta(hours=1)
            if moment.astimezone(zone).utcoffset() != following.astimezone(zone).utcoffset():
                found.append((zone, moment))
            moment = following
    return found


TRANSITIONS = _transitions()
SECONDS = st.integers(0, 59)
MINUTES = st.sampled_from(["*", "0", "0/15", "7", "10-20", "3,17,45", "50-10/7", "*/20", "30", "40-50"])
HOURS = st.one_of(st.sampled_from(["*", "1-3", "0/6", "22-2", "0,1,2,3"]), st.integers(0, 23).map(str))


@st.composite
def schedules(draw: st.DrawFn) -> tuple[str, int]:
    """Schedules with a fixed second, any day rule."""
    second = draw(SECONDS)
    day_fields = draw(
        st.one_of(
            st.tuples(
                st.sampled_from(["*", "1", "15", "31", "L", "L-2", "15W", "1W", "LW", "L-1W", "1/5", "28-3"]),
                st.just("?"),
            ),
            st.tuples(st.just("?"), st.sampled_from(["*", "MON-FRI", "1", "7", "6L", "2#2", "2#5", "L", "SAT-MON"])),
        )
    )
    months = draw(st.sampled_from(["*", "1-3", "JUN", "*/4", "NOV-FEB", "2", "3,10,11"]))
    return f"{second} {draw(MINUTES)} {draw(HOURS)} {day_fields[0]} {months} {day_fields[1]}", second


@st.composite
def daily_schedules(draw: st.DrawFn) -> tuple[str, int]:
    """Schedules with a fixed second that fire every day."""
    second = draw(SECONDS)
    return f"{second} {draw(MINUTES)} {draw(HOURS)} * * ?", second


def _is_fire(schedule: CronSchedule, instant: datetime, tz: ZoneInfo) -> bool:
    """By definition: the wall time matches, and it is not the repeat of a wall time (fold=1)."""
    local = instant.astimezone(tz)
    return local.fold == 0 and schedule.matches(local.replace(tzinfo=None))


def _check_first_fire(expression: str, second: int, moment: datetime, tz: ZoneInfo) -> None:
    schedule = parse(expression, trigger_id="t")
    fire = schedule.next_after(moment, tz)
    if fire is None:  # e.g. day 31 in June only
        fire_utc = moment + timedelta(days=2)
    else:
        assert fire.tzinfo is tz
        fire_utc = fire.astimezone(UTC)
        # a real wall time of that instant, not one skipped by a spring-forward
        assert fire_utc.astimezone(tz).replace(tzinfo=None) == fire.replace(tzinfo=None)
        assert fire_utc > moment
        assert _is_fire(schedule, fire_utc, tz)
    # brute force: no minute between the moment and the fire (up to two days) is a fire time
    candidate = moment.replace(second=second, microsecond=0)
    if candidate <= moment:
        candidate += timedelta(minutes=1)
    end = min(fire_utc, moment + timedelta(days=2))
    while candidate < end:
        assert not _is_fire(schedule, candidate, tz), candidate
        candidate += timedelta(minutes=1)
    if fire is not None and fire_utc - moment <= timedelta(days=2):
        assert candidate == fire_utc  # and the fire time itself lies on the minute grid


@settings(max_examples=300, deadline=None)
@given(
    spec=schedules(),
    moment=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2035, 12, 31)),
    tz=st.sampled_from(ZONES),
)
def test_next_after_is_the_first_fire_after_the_moment(spec: tuple[str, int], moment: datetime, tz: ZoneInfo) -> None:
    _check_first_fire(*spec, moment.replace(tzinfo=UTC), tz)


@settings(max_examples=300, deadline=None)
@given(spec=daily_schedules(), transition=st.sampled_from(TRANSITIONS), shift=st.integers(-180 * 60, 180 * 60))
def test_next_after_around_offset_changes(
    spec: tuple[str, int], transition: tuple[ZoneInfo, datetime], shift: int
) -> None:
    tz, instant = transition
    _check_first_fire(*spec, instant + timedelta(seconds=shift), tz)
