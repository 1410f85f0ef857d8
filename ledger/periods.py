"""Dates and months as the columns hold them, and the (owner, month) keys of monthly sums.

A date is an int32 day number since 1970-01-01; a month is yyyymm (202603). Monthly sums are
keyed by one int64 per (owner, month), the owner (an account or a book index) shifted above
the month: `owner << PERIOD_BITS | yyyymm`, so sorting the keys sorts by owner, then month.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from ledger.errors import InvalidInput

EPOCH = dt.date(1970, 1, 1)
# Bits of a period key that hold the month (yyyymm < 2**20 for every year up to 9999).
PERIOD_BITS = 20
PERIOD_MASK = (1 << PERIOD_BITS) - 1


def days(date: dt.date) -> int:
    """Days since 1970-01-01 (the int32 date of the columns)."""
    return (date - EPOCH).days


def period_number(period: str | dt.date | int) -> int:
    """A month as yyyymm from "YYYY-MM", a date in it, or yyyymm itself."""
    if isinstance(period, dt.date):
        return period.year * 100 + period.month
    if isinstance(period, int) and not isinstance(period, bool):
        number = period
    elif isinstance(period, str):
        try:
            year, month = period.split("-")
            number = int(year) * 100 + int(month)
        except ValueError:
            raise InvalidInput(f"period {period!r}: expected YYYY-MM") from None
    else:
        raise InvalidInput(f"period {period!r}: expected 'YYYY-MM', a date or yyyymm")
    if not (1 <= number // 100 <= 9999 and 1 <= number % 100 <= 12):
        raise InvalidInput(f"period {period!r} is not a month")
    return number


def periods_of(days: np.ndarray) -> np.ndarray:
    """yyyymm (int32) of int32 day numbers since 1970-01-01."""
    months = np.asarray(days, np.int64).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    return ((months // 12 + 1970) * 100 + months % 12 + 1).astype(np.int32)


def next_business_days(days: np.ndarray) -> np.ndarray:
    """The first Monday-to-Friday day after each of `days` (day numbers; 1970-01-01 was a
    Thursday)."""
    after = np.asarray(days, np.int64) + 1
    weekday = (after + 3) % 7  # 0 Monday .. 6 Sunday
    return after + np.where(weekday == 5, 2, np.where(weekday == 6, 1, 0))


def period_keys(owners: np.ndarray | int, periods: np.ndarray | int) -> np.ndarray:
    """int64 keys of (owner, month) pairs: owner << PERIOD_BITS | yyyymm."""
    return (np.asarray(owners, np.int64) << PERIOD_BITS) | np.asarray(periods, np.int64)


def split_period_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owners, months) of period keys, as int64."""
    keys = np.asarray(keys, np.int64)
    return keys >> PERIOD_BITS, keys & PERIOD_MASK


__all__ = [
    "EPOCH",
    "PERIOD_BITS",
    "PERIOD_MASK",
    "days",
    "period_keys",
    "period_number",
    "periods_of",
    "split_period_keys",
]
