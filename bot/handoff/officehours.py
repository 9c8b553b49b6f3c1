"""Office hours: when staff answer handoff requests.

The schedule is a short text kept in settings (``HANDOFF_OFFICE_HOURS``) so an office
can change it without code, e.g. ``mon-fri 09:00-12:00,13:30-17:30; sat 09:00-12:00``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Dict, List, Optional, Tuple
from zoneinfo import ZoneInfo

DAY_NAMES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAY_NAMES_ZH = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"]
DAY_NAMES_EN = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
#: Per language: day names, "from … to" between days, between periods, between groups.
_SCHEDULE_WORDS = {
    "zh": (DAY_NAMES_ZH, "{first}至{last}", "、", "；"),
    "en": (DAY_NAMES_EN, "{first}–{last}", ", ", "; "),
}
_PERIOD = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


class OfficeHoursError(ValueError):
    """The office-hours text cannot be understood."""


def _parse_days(text: str) -> List[int]:
    days: List[int] = []
    for part in text.split(","):
        part = part.strip().lower()
        if "-" in part:
            first, last = (p.strip() for p in part.split("-", 1))
            if first not in DAY_NAMES or last not in DAY_NAMES:
                raise OfficeHoursError(f"unknown day range {part!r}")
            start, end = DAY_NAMES.index(first), DAY_NAMES.index(last)
            if end < start:
                raise OfficeHoursError(f"day range {part!r} runs backwards")
            days.extend(range(start, end + 1))
        elif part in DAY_NAMES:
            days.append(DAY_NAMES.index(part))
        else:
            raise OfficeHoursError(f"unknown day {part!r} (use mon, tue, … sun)")
    return days


def _parse_periods(text: str) -> List[Tuple[time, time]]:
    periods = []
    for part in text.split(","):
        match = _PERIOD.match(part.strip())
        if not match:
            raise OfficeHoursError(f"period {part.strip()!r} is not HH:MM-HH:MM")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        try:
            start = time(h1, m1)
            # "24:00" ends a period at midnight (round the clock: "mon-sun 00:00-24:00")
            end = time.max if (h2, m2) == (24, 0) else time(h2, m2)
        except ValueError as error:
            raise OfficeHoursError(f"period {part.strip()!r}: {error}") from None
        if end <= start:
            raise OfficeHoursError(f"period {part.strip()!r} ends before it starts")
        periods.append((start, end))
    return periods


@dataclass(frozen=True)
class OfficeHours:
    """A weekly schedule in one time zone."""

    periods_by_day: Dict[int, List[Tuple[time, time]]]
    timezone: ZoneInfo
    text: str

    @classmethod
    def parse(cls, text: str, timezone: str = "Asia/Shanghai") -> "OfficeHours":
        """Read ``"mon-fri 09:00-17:30; sat 09:00-12:00"`` (days, then periods)."""
        periods_by_day: Dict[int, List[Tuple[time, time]]] = {}
        for clause in filter(None, (c.strip() for c in text.split(";"))):
            try:
                days_text, periods_text = clause.split(None, 1)
            except ValueError:
                raise OfficeHoursError(f"clause {clause!r} needs days and periods") from None
            periods = _parse_periods(periods_text)
            for day in _parse_days(days_text):
                periods_by_day.setdefault(day, []).extend(periods)
        if not periods_by_day:
            raise OfficeHoursError("office hours are empty")
        for periods in periods_by_day.values():
            periods.sort()
        return cls(periods_by_day, ZoneInfo(timezone), text)

    def _local(self, moment: Optional[datetime]) -> datetime:
        moment = moment or datetime.now(self.timezone)
        if moment.tzinfo is None:
            raise ValueError("office hours need an aware datetime")
        return moment.astimezone(self.timezone)

    def is_open(self, moment: Optional[datetime] = None) -> bool:
        """Whether staff are on duty at ``moment`` (now by default)."""
        local = self._local(moment)
        return any(
            start <= local.time() < end
            for start, end in self.periods_by_day.get(local.weekday(), [])
        )

    def next_opening(self, moment: Optional[datetime] = None) -> datetime:
        """The start of the next on-duty period after ``moment`` (local time)."""
        local = self._local(moment)
        for offset in range(8):
            day = (local + timedelta(days=offset)).date()
            for start, _ in self.periods_by_day.get(day.weekday(), []):
                opening = datetime.combine(day, start, tzinfo=self.timezone)
                if opening > local:
                    return opening
        raise OfficeHoursError("no opening within a week")  # unreachable: non-empty schedule

    def describe(self, language: str = "zh") -> str:
        """The schedule in ``language``: ``周一至周五 09:00-17:30`` / ``Mon–Fri 09:00-17:30``."""
        day_names, day_range, period_separator, group_separator = _SCHEDULE_WORDS.get(
            language, _SCHEDULE_WORDS["zh"])
        groups: List[Tuple[List[int], List[Tuple[time, time]]]] = []
        for day in sorted(self.periods_by_day):
            periods = self.periods_by_day[day]
            if groups and groups[-1][1] == periods and groups[-1][0][-1] == day - 1:
                groups[-1][0].append(day)
            else:
                groups.append(([day], periods))
        parts = []
        for days, periods in groups:
            day_text = (
                day_names[days[0]]
                if len(days) == 1
                else day_range.format(first=day_names[days[0]], last=day_names[days[-1]])
            )
            period_text = period_separator.join(
                f"{s:%H:%M}-{'24:00' if e == time.max else format(e, '%H:%M')}" for s, e in periods
            )
            parts.append(f"{day_text} {period_text}")
        return group_separator.join(parts)

    @staticmethod
    def format_opening(opening: datetime, language: str = "zh") -> str:
        """E.g. ``周一 09:00`` / ``Mon 09:00``."""
        day_names = _SCHEDULE_WORDS.get(language, _SCHEDULE_WORDS["zh"])[0]
        return f"{day_names[opening.weekday()]} {opening:%H:%M}"
