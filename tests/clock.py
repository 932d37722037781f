"""Fixed clocks for tests whose outcome depends on the hour or the day (roll-ups by UTC hour and day).

A test that reads the wall clock passes at 14:00 and fails at 00:30 (no hour of today is over yet) or
at 23:50 (a window's first day holds ten minutes). ``fixed_now`` gives the same time of day on every
run; pass it to the code under test (``call_rollup.refresh(now=...)``, ``Materialiser.sweep(now=...)``).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


def fixed_now(hour: int = 12, minute: int = 30, ahead: timedelta = timedelta(hours=2)) -> datetime:
    """The first HH:MM UTC at least ``ahead`` after the wall clock: always the same time of day, and
    later than anything a test (or the store, which stamps ``updated_at`` itself) writes meanwhile."""
    earliest = datetime.now(timezone.utc) + ahead
    moment = earliest.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return moment if moment >= earliest else moment + timedelta(days=1)


def midnight(moment: datetime) -> datetime:
    """The UTC day ``moment`` falls in."""
    return moment.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
