"""FHIR dates as days: partial dates as the span they mean, and the durations a case records.

A FHIR date may be a year, a month or a day, and a dateTime carries a time zone. A case only
needs days, so every date is read as the earliest and latest day it can mean, and a duration is
computed only from a date precise enough for it (a month at most).
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fhir.resources.R4B.period import Period

#: A month as the case format counts it: a year of 365.25 days in twelve.
DAYS_PER_MONTH = 365.25 / 12


def date_bounds(value: Any) -> tuple[dt.date, dt.date] | None:
    """The earliest and latest day a FHIR date, dateTime or partial date ('2020', '2020-05') means."""
    if isinstance(value, dt.datetime):
        return value.date(), value.date()
    if isinstance(value, dt.date):
        return value, value
    if not isinstance(value, str):
        return None
    try:
        if len(value) == 4:
            year = int(value)
            return dt.date(year, 1, 1), dt.date(year, 12, 31)
        if len(value) == 7:
            first = dt.date(int(value[:4]), int(value[5:7]), 1)
            following = (first + dt.timedelta(days=32)).replace(day=1)
            return first, following - dt.timedelta(days=1)
        day = dt.date.fromisoformat(value[:10])
    except ValueError:
        return None
    return day, day


def precise_date(value: Any) -> dt.date | None:
    """A day for durations: the middle of a month-precise date; None when coarser or absent."""
    bounds = date_bounds(value)
    if bounds is None or (bounds[1] - bounds[0]).days > 31:
        return None
    return bounds[0] + (bounds[1] - bounds[0]) / 2


def months_between(start: dt.date, end: dt.date) -> float:
    return round(max((end - start).days, 0) / DAYS_PER_MONTH, 1)


def age_at(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def period_days(period: Period | None) -> tuple[dt.date | None, dt.date | None]:
    """The start and end day of a Period, each None when absent or too coarse."""
    if period is None:
        return None, None
    return precise_date(period.start), precise_date(period.end)


def union_days(spans: list[tuple[dt.date, dt.date]]) -> int:
    """Days covered by the spans, overlaps counted once."""
    total = 0
    current: tuple[dt.date, dt.date] | None = None
    for start, end in sorted(spans):
        if current is None or start > current[1]:
            if current is not None:
                total += (current[1] - current[0]).days
            current = (start, end)
        else:
            current = (current[0], max(current[1], end))
    if current is not None:
        total += (current[1] - current[0]).days
    return total


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` calendar months earlier (the month's last day when it is shorter)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))
