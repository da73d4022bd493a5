"""Quartz cron expressions for Spinnaker's `cron` trigger (echo-igor.md §2.1, orca.md §1.4): parsing and fire times.

Syntax (Quartz `CronExpression`): `seconds minutes hours day-of-month month day-of-week [year]`, case-insensitive.

- Every field: `*`, a value, `a-b` (wrapping around when `a > b`, e.g. hours `22-2`, `FRI-MON`; not for years),
  `a/n` (from a to the field's maximum), `*/n`, `a-b/n`, and comma lists of those. A step is 1 to the field's
  maximum, as Quartz requires.
- Ranges: seconds and minutes 0-59, hours 0-23, day-of-month 1-31, month 1-12 or JAN-DEC, day-of-week 1-7 with
  1=SUN..7=SAT or SUN-SAT, year 1970-2099.
- Exactly one of day-of-month and day-of-week is `?` (Quartz cannot combine them).
- Day-of-month: `L` (last day), `L-n` (n days before it, n <= 30), `nW` (the weekday nearest to day n, never crossing
  into another month), `LW` / `L-nW` (the weekday nearest to that last day). These stand alone, without lists.
- Day-of-week: `L` alone is 7 (Saturday, every week); `nL` is the last weekday n of the month (`6L` = last Friday);
  `n#k` is the k-th (1-5) weekday n of the month (`6#3` = third Friday). These stand alone, without lists.
- `H` in the seconds, minutes and hours fields (Echo's `CronExpressionFuzzer`): each `H` is replaced by
  `abs(h) mod 60` (seconds, minutes) or `abs(h) mod 24` (hours), where `h` is Java's `String.hashCode` of the trigger id
  (signed 32-bit `s[0]*31^(n-1) + ... + s[n-1]` over UTF-16 code units). Seconds and minutes get the same number;
  `H/15` becomes e.g. `34/15`. Gennaker extension, not in Echo: `H(a-b)` becomes `a + abs(h) mod (b - a + 1)`
  (Echo would turn it into `34(a-b)`, which Quartz rejects). Echo hashes its derived trigger id (echo-igor.md §1.3).

Fire times are wall-clock times in the trigger's time zone. A wall time that does not exist (the hour skipped when
clocks spring forward) does not fire, as in Quartz; a wall time that happens twice (clocks falling back) fires once, at
its first occurrence. The search steps field by field (year, month, day, hour, minute, second), never second by
second, and gives up after 2099.
"""

from __future__ import annotations

import calendar
import re
from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import partial

MIN_YEAR = 1970
MAX_YEAR = 2099

# (name, lowest, highest) in field order; the year is optional.
_FIELDS = (
    ("seconds", 0, 59),
    ("minutes", 0, 59),
    ("hours", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 1, 7),
    ("year", MIN_YEAR, MAX_YEAR),
)
SECONDS, MINUTES, HOURS, DAY_OF_MONTH, MONTH, DAY_OF_WEEK, YEAR = range(7)
_NAMES = {
    MONTH: {
        name: i + 1
        for i, name in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])
    },
    DAY_OF_WEEK: {name: i + 1 for i, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])},
}
_KINDS = {MONTH: "number or month name (JAN-DEC)", DAY_OF_WEEK: "number or day name (SUN-SAT)"}
_ITEM = re.compile(r"(?P<start>\*|[0-9A-Z]+)(?:-(?P<end>[0-9A-Z]+))?(?:/(?P<step>[0-9A-Z]*))?")
_HASH = re.compile(r"H(?:\((?P<low>[0-9]+)-(?P<high>[0-9]+)\))?")
_STRAY_HASH = re.compile(r"(?<![A-Z])H(?![A-Z])")  # an `H` token, not the H of THU
_ONE_SECOND = timedelta(seconds=1)


class CronError(ValueError):
    """A malformed cron expression; the message names the field and the problem."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _fail(index: int, problem: str) -> CronError:
    return CronError(f"{_FIELDS[index][0]} field: {problem}", _FIELDS[index][0])


@dataclass(frozen=True)
class DayOfMonthRule:
    """The day-of-month field: listed days, or `L`/`L-n` (last_offset), optionally with `W` (nearest weekday)."""

    days: tuple[int, ...] = ()
    last_offset: int | None = None
    nearest_weekday: bool = False

    def days_in(self, year: int, month: int) -> tuple[int, ...]:
        """The days of that month this rule selects, ascending."""
        length = calendar.monthrange(year, month)[1]
        if self.last_offset is not None:
            day = length - self.last_offset
            if day < 1:
                return ()
            return (_nearest_weekday(year, month, day, length) if self.nearest_weekday else day,)
        if self.nearest_weekday:
            day = self.days[0]
            return (_nearest_weekday(year, month, day, length),) if day <= length else ()
        return tuple(day for day in self.days if day <= length)


@dataclass(frozen=True)
class DayOfWeekRule:
    """The day-of-week field (1=SUN..7=SAT): listed weekdays, `nL` (last), or `n#k` (nth = k)."""

    weekdays: tuple[int, ...]
    last: bool = False
    nth: int = 0

    def days_in(self, year: int, month: int) -> tuple[int, ...]:
        """The days of that month this rule selects, ascending."""
        length = calendar.monthrange(year, month)[1]
        first = calendar.weekday(year, month, 1)  # 0=Monday
        first_quartz = (first + 1) % 7 + 1  # 1=Sunday

        def occurrences(weekday: int) -> range:
            return range(1 + (weekday - first_quartz) % 7, length + 1, 7)

        if self.nth:
            days = occurrences(self.weekdays[0])
            return (days[self.nth - 1],) if len(days) >= self.nth else ()
        if self.last:
            return (occurrences(self.weekdays[0])[-1],)
        return tuple(sorted(day for weekday in self.weekdays for day in occurrences(weekday)))


def _nearest_weekday(year: int, month: int, day: int, length: int) -> int:
    """Quartz `W`: Saturday moves to Friday and Sunday to Monday, unless that leaves the month."""
    weekday = calendar.weekday(year, month, day)
    if weekday == calendar.SATURDAY:
        return day + 2 if day == 1 else day - 1
    if weekday == calendar.SUNDAY:
        return day - 2 if day == length else day + 1
    return day


def _ceiling(values: tuple[int, ...], value: int) -> int | None:
    """The smallest of the sorted values that is >= value."""
    i = bisect_left(values, value)
    return values[i] if i < len(values) else None


@dataclass(frozen=True)
class CronSchedule:
    """A parsed cron expression. `effective_expression` is the text after `H` hashing (what Echo hands Quartz)."""

    expression: str
    effective_expression: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: tuple[int, ...]
    years: tuple[int, ...]
    day_rule: DayOfMonthRule | DayOfWeekRule

    def matches(self, wall: datetime) -> bool:
        """Whether the wall-clock fields of `wall` (its time zone and microseconds ignored) are a fire time."""
        return (
            wall.second in self.seconds
            and wall.minute in self.minutes
            and wall.hour in self.hours
            and wall.month in self.months
            and wall.year in self.years
            and wall.day in self.day_rule.days_in(wall.year, wall.month)
        )

    def next_after(self, moment: datetime, tz: tzinfo) -> datetime | None:
        """The first fire time strictly after `moment` (time-zone aware), as a datetime in `tz`; None if none by 2099.

        Compare results through UTC or timestamps: Python compares two datetimes of the same tzinfo by wall clock.
        """
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError("moment must be time-zone aware")
        moment_utc = moment.astimezone(UTC)
        local = moment_utc.astimezone(tz)
        start = local.replace(tzinfo=None, microsecond=0, fold=0) + _ONE_SECOND
        if local.fold:  # the repeated hour after clocks fell back; its wall times fired during the first pass
            start = max(start, _end_of_repeat(local.replace(tzinfo=None, fold=0), tz))
        while True:
            wall = self._next_wall_time(start)
            if wall is None:
                return None
            fire = _resolve(wall, tz)
            if fire is not None and fire.astimezone(UTC) > moment_utc:
                return fire
            start = wall + _ONE_SECOND

    def next_times(self, moment: datetime, tz: tzinfo, count: int) -> list[datetime]:
        """Up to `count` consecutive fire times after `moment`."""
        times: list[datetime] = []
        current: datetime | None = moment
        while len(times) < count and current is not None:
            current = self.next_after(current, tz)
            if current is not None:
                times.append(current)
        return times

    def _next_wall_time(self, start: datetime) -> datetime | None:
        """The first matching naive wall time at or after `start` (whole seconds), stepping field by field."""
        year, month, day = start.year, start.month, start.day
        hour, minute, second = start.hour, start.minute, start.second
        cached: tuple[int, int, tuple[int, ...]] = (0, 0, ())
        while True:
            found = _ceiling(self.years, year)
            if found is None:
                return None
            if found != year:
                year, month, day, hour, minute, second = found, 1, 1, 0, 0, 0
            found = _ceiling(self.months, month)
            if found is None:
                year, month, day, hour, minute, second = year + 1, 1, 1, 0, 0, 0
                continue
            if found != month:
                month, day, hour, minute, second = found, 1, 0, 0, 0
            if cached[:2] != (year, month):
                cached = (year, month, self.day_rule.days_in(year, month))
            found = _ceiling(cached[2], day)
            if found is None:
                month, day, hour, minute, second = month + 1, 1, 0, 0, 0
                continue
            if found != day:
                day, hour, minute, second = found, 0, 0, 0
            found = _ceiling(self.hours, hour)
            if found is None:
                day, hour, minute, second = day + 1, 0, 0, 0
                continue
            if found != hour:
                hour, minute, second = found, 0, 0
            found = _ceiling(self.minutes, minute)
            if found is None:
                hour, minute, second = hour + 1, 0, 0
                continue
            if found != minute:
                minute, second = found, 0
            found = _ceiling(self.seconds, second)
            if found is None:
                minute, second = minute + 1, 0
                continue
            return datetime(year, month, day, hour, minute, found)


def _offset(wall: datetime, tz: tzinfo, fold: int) -> timedelta:
    offset = wall.replace(tzinfo=tz, fold=fold).utcoffset()
    if offset is None:
        raise ValueError(f"time zone {tz} gives no UTC offset")
    return offset


def _resolve(wall: datetime, tz: tzinfo) -> datetime | None:
    """The instant of a naive wall time in `tz`: None in a spring-forward gap, the first occurrence when repeated."""
    if _offset(wall, tz, 0) < _offset(wall, tz, 1):  # PEP 495: in a gap fold=0 takes the earlier, smaller offset
        return None
    return wall.replace(tzinfo=tz, fold=0)


def _end_of_repeat(wall: datetime, tz: tzinfo) -> datetime:
    """The first whole-second wall time at or after `wall` that is not repeated by a fall-back (binary search)."""

    def repeated(candidate: datetime) -> bool:
        return _offset(candidate, tz, 0) > _offset(candidate, tz, 1)

    low = wall.replace(microsecond=0)
    if not repeated(low):
        return low
    shift = _offset(low, tz, 0) - _offset(low, tz, 1)
    high = low + shift
    while repeated(high):
        high += shift
    while high - low > _ONE_SECOND:  # low is repeated, high is not
        middle = low + timedelta(seconds=int((high - low).total_seconds()) // 2)
        if repeated(middle):
            low = middle
        else:
            high = middle
    return high


def missed_fires(
    schedule: CronSchedule, last_fire: datetime, now: datetime, tz: tzinfo, window: timedelta
) -> list[datetime]:
    """Fire times after `last_fire` and at most `now` that are no older than `now - window`, oldest first.

    For misfire compensation (echo-igor.md §2.1): Echo passes now - tolerance (30 s) as `now`, a 10-minute window, and
    starts the pipeline once, for the latest of these, if the pipeline has run before and not since that time.
    """
    if window < timedelta(0):
        raise ValueError("window must not be negative")
    now_utc = now.astimezone(UTC)
    floor = now_utc - window
    start = last_fire.astimezone(UTC)
    if start < floor:
        start = floor - timedelta(microseconds=1)  # a fire exactly at the floor counts
    fires: list[datetime] = []
    fire = schedule.next_after(start, tz)
    while fire is not None and fire.astimezone(UTC) <= now_utc:
        fires.append(fire)
        fire = schedule.next_after(fire, tz)
    return fires


def java_string_hash(text: str) -> int:
    """Java's `String.hashCode()`: `s[0]*31^(n-1) + ... + s[n-1]` over UTF-16 code units, as a signed 32-bit int."""
    encoded = text.encode("utf-16-be", "surrogatepass")
    value = 0
    for i in range(0, len(encoded), 2):
        value = (value * 31 + int.from_bytes(encoded[i : i + 2], "big")) & 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def hash_expression(expression: str, trigger_id: str) -> str:
    """Echo's `H` rewrite for one trigger: each `H` in the first three fields becomes a number hashed from the id."""
    if "H" not in expression:
        return expression
    fields = expression.split()
    code = abs(java_string_hash(trigger_id))

    def hashed(index: int, match: re.Match[str]) -> str:
        high_limit = _FIELDS[index][2]
        if match["low"] is None:
            return str(code % (high_limit + 1))
        low, high = int(match["low"]), int(match["high"])
        if not low <= high <= high_limit:
            raise _fail(index, f"H({low}-{high}) must be a range within 0-{high_limit}")
        return str(low + code % (high - low + 1))

    for index in (SECONDS, MINUTES, HOURS):
        if index < len(fields):
            fields[index] = _HASH.sub(partial(hashed, index), fields[index])
    return " ".join(fields)


def parse(expression: str, *, trigger_id: str) -> CronSchedule:
    """Parse a Quartz cron expression, hashing `H` with `trigger_id`; raises CronError naming the field."""
    raw = expression.split()
    if len(raw) not in (6, 7):
        raise CronError(
            f"expected 6 or 7 fields (seconds minutes hours day-of-month month day-of-week [year]), got {len(raw)}"
        )
    effective = hash_expression(" ".join(raw), trigger_id)
    fields = effective.upper().split()
    for index, text in enumerate(fields):
        if index <= HOURS and "H" in text:
            raise _fail(index, "write the hash token as an upper-case 'H'")
        if index > HOURS and _STRAY_HASH.search(text):
            raise _fail(index, "'H' is only supported in the seconds, minutes and hours fields")
        if text == "?" and index not in (DAY_OF_MONTH, DAY_OF_WEEK):
            raise _fail(index, "'?' is only allowed in the day-of-month and day-of-week fields")
    if (fields[DAY_OF_MONTH] == "?") == (fields[DAY_OF_WEEK] == "?"):
        which = "only one of them may" if fields[DAY_OF_MONTH] == "?" else "one of them must"
        raise CronError(f"day-of-month and day-of-week fields: {which} be '?' (Quartz cannot combine them)")
    day_rule: DayOfMonthRule | DayOfWeekRule
    if fields[DAY_OF_MONTH] == "?":
        day_rule = _parse_day_of_week(fields[DAY_OF_WEEK])
    else:
        day_rule = _parse_day_of_month(fields[DAY_OF_MONTH])
    return CronSchedule(
        expression=expression,
        effective_expression=effective,
        seconds=_parse_list(fields[SECONDS], SECONDS),
        minutes=_parse_list(fields[MINUTES], MINUTES),
        hours=_parse_list(fields[HOURS], HOURS),
        months=_parse_list(fields[MONTH], MONTH),
        years=_parse_list(fields[YEAR], YEAR) if len(fields) == 7 else tuple(range(MIN_YEAR, MAX_YEAR + 1)),
        day_rule=day_rule,
    )


def validate(expression: str) -> str | None:
    """Why a cron expression would be rejected at save time, or None when it is valid (Echo hashes `H` with "temp")."""
    try:
        parse(expression, trigger_id="temp")
    except CronError as error:
        return str(error)
    return None


def _parse_value(text: str, index: int) -> int:
    _, low, high = _FIELDS[index]
    if text.isascii() and text.isdigit():
        value = int(text)
    elif text in _NAMES.get(index, {}):
        value = _NAMES[index][text]
    else:
        raise _fail(index, f"'{text}' is not a {_KINDS.get(index, 'number')}")
    if not low <= value <= high:
        raise _fail(index, f"{value} is out of range {low}-{high}")
    return value


def _parse_list(text: str, index: int) -> tuple[int, ...]:
    """A comma list of `*`, values, ranges and steps, as the sorted values it selects."""
    _, low, high = _FIELDS[index]
    span = high - low + 1
    values: set[int] = set()
    for item in text.split(","):
        match = _ITEM.fullmatch(item)
        if match is None:
            raise _fail(index, f"'{item}' is not a value, range or step" if item else "empty list item")
        step = 1
        if match["step"] is not None:
            if not match["step"].isdigit() or not 1 <= int(match["step"]) <= high:
                raise _fail(index, f"the step in '{item}' must be a number from 1 to {high}")
            step = int(match["step"])
        if match["start"] == "*":
            if match["end"] is not None:
                raise _fail(index, f"'{item}' is not a value, range or step")
            start, end = low, high
        else:
            start = _parse_value(match["start"], index)
            if match["end"] is not None:
                end = _parse_value(match["end"], index)
            else:
                end = high if match["step"] is not None else start
        if end < start:
            if index == YEAR:
                raise _fail(index, f"the range '{item}' ends before it starts")
            end += span  # wraps around, e.g. hours 22-2 or FRI-MON
        values.update(low + (value - low) % span for value in range(start, end + 1, step))
    return tuple(sorted(values))


def _parse_day_of_month(text: str) -> DayOfMonthRule:
    last = re.fullmatch(r"L(?:-([0-9]+))?(W?)", text)
    if last:
        offset = int(last[1] or 0)
        if offset > 30:
            raise _fail(DAY_OF_MONTH, f"the offset in '{text}' must be at most 30")
        return DayOfMonthRule(last_offset=offset, nearest_weekday=bool(last[2]))
    weekday = re.fullmatch(r"([0-9]+)W", text)
    if weekday:
        return DayOfMonthRule(days=(_parse_value(weekday[1], DAY_OF_MONTH),), nearest_weekday=True)
    if "L" in text or "W" in text:
        raise _fail(DAY_OF_MONTH, f"'{text}': 'L' and 'W' stand alone (L, L-n, LW, nW), without lists or ranges")
    return DayOfMonthRule(days=_parse_list(text, DAY_OF_MONTH))


def _parse_day_of_week(text: str) -> DayOfWeekRule:
    if text == "L":
        return DayOfWeekRule(weekdays=(7,))
    last = re.fullmatch(r"([0-9]+|[A-Z]{3})L", text)
    if last:
        return DayOfWeekRule(weekdays=(_parse_value(last[1], DAY_OF_WEEK),), last=True)
    nth = re.fullmatch(r"([0-9]+|[A-Z]{3})#([0-9]*)", text)
    if nth:
        if not nth[2].isdigit() or not 1 <= int(nth[2]) <= 5:
            raise _fail(DAY_OF_WEEK, f"'#' in '{text}' must be followed by a number from 1 to 5")
        return DayOfWeekRule(weekdays=(_parse_value(nth[1], DAY_OF_WEEK),), nth=int(nth[2]))
    if "#" in text or "L" in text:
        raise _fail(DAY_OF_WEEK, f"'{text}': 'nL' and 'n#k' stand alone, without lists or ranges")
    return DayOfWeekRule(weekdays=_parse_list(text, DAY_OF_WEEK))
