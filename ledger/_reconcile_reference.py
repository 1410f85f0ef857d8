"""Pure-Python twin of ``ledger/_native/reconcile.pyx``.

The same functions with the same arguments and the same answers, written for reading: each
side's records grouped by key in a dict, every key classified in key order, every sum exact
in Python ints and checked against the int64 range at the end. The kernel gets the same
answers by sorting and one walk in int128. Used when LEDGER_NO_EXTENSIONS=1 and by the
differential tests, which require the two to agree.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

INT64_MAX = (1 << 63) - 1
INT64_MIN = -(1 << 63)

# The finding types, in the order of ledger.match.TYPES; None: matched.
IN_TRANSIT, DATE_MISMATCH, AMOUNT_MISMATCH, KEY_MISMATCH = 0, 1, 2, 3
MISSING_A, MISSING_B, DUPLICATE_A, DUPLICATE_B = 4, 5, 6, 7
TYPES_COUNT = 8
# What match returns as its status.
OK, OVERFLOW_KEY, OVERFLOW_GROUP = 0, 1, 2
# Rows of `groups` before the counts: group, total_a, total_b, difference.
GROUP_COUNTS = 4


class _Run:
    """One side's records of one key: how many, their amount, their smallest date and the
    representative (the smallest (group, attr, date, amount, row)); all -1 without records."""

    def __init__(self, records: list[tuple[int, int, int, int, int]]) -> None:
        self.count = len(records)
        self.amount = sum(record[3] for record in records)
        self.date = min((record[2] for record in records), default=-1)
        self.group, self.attr, _, _, self.row = min(records, default=(-1, -1, -1, -1, -1))


def _records(key, group, attr, amount, date) -> dict[int, list[tuple[int, int, int, int, int]]]:
    """key -> its (group, attr, date, amount, row) records; an empty group or attr reads as 0."""
    groups = group.tolist() if len(group) else [0] * len(key)
    attrs = attr.tolist() if len(attr) else [0] * len(key)
    by_key: dict[int, list[tuple[int, int, int, int, int]]] = defaultdict(list)
    rows = zip(key.tolist(), groups, attrs, date.tolist(), amount.tolist(), strict=True)
    for row, (k, g, a, d, m) in enumerate(rows):
        by_key[k].append((g, a, d, m, row))
    return by_key


def _classify(a: _Run, b: _Run, window: int) -> int | None:
    if a.count > 1:
        return DUPLICATE_A
    if b.count > 1:
        return DUPLICATE_B
    if a.count == 0:
        return MISSING_A
    if b.count == 0:
        return MISSING_B
    if a.group != b.group or a.attr != b.attr:
        return KEY_MISMATCH
    if a.amount != b.amount:
        return AMOUNT_MISMATCH
    if a.date != b.date:
        return IN_TRANSIT if abs(b.date - a.date) <= window else DATE_MISMATCH
    return None


def _age(kind: int, a: _Run, b: _Run, as_of: int | None) -> int:
    if kind in (IN_TRANSIT, DATE_MISMATCH):
        return b.date - a.date
    if kind == MISSING_A and as_of is not None:
        return as_of - b.date
    if kind == MISSING_B and as_of is not None:
        return as_of - a.date
    return 0


def match(
    key_a: np.ndarray,
    group_a: np.ndarray,
    attr_a: np.ndarray,
    amount_a: np.ndarray,
    date_a: np.ndarray,
    key_b: np.ndarray,
    group_b: np.ndarray,
    attr_b: np.ndarray,
    amount_b: np.ndarray,
    date_b: np.ndarray,
    window: int,
    as_of: int | None,
    items: np.ndarray,
    groups: np.ndarray,
) -> tuple[int, int, int, int]:
    """Match side A's records with side B's by key; returns (items_count, groups_count,
    status, where). The arguments and answers are those of the kernel's match (see its
    docstring); on an overflow the outputs are left alone."""
    records_a = _records(key_a, group_a, attr_a, amount_a, date_a)
    records_b = _records(key_b, group_b, attr_b, amount_b, date_b)
    groups_count = groups.shape[1]
    totals = [[0, 0] for _ in range(groups_count)]
    counts = [[0] * groups_count for _ in range(TYPES_COUNT)]
    found = []
    for key in sorted(records_a.keys() | records_b.keys()):
        a, b = _Run(records_a.get(key, [])), _Run(records_b.get(key, []))
        if not (INT64_MIN <= a.amount <= INT64_MAX and INT64_MIN <= b.amount <= INT64_MAX):
            return 0, 0, OVERFLOW_KEY, key
        if a.count:
            totals[a.group][0] += a.amount
        if b.count:
            totals[b.group][1] += b.amount
        kind = _classify(a, b, window)
        if kind is None:
            continue
        found.append([key, kind, a.group, b.group, a.attr, b.attr, a.amount, b.amount, a.date, b.date,
                      _age(kind, a, b, as_of), a.row, b.row])  # fmt: skip
        counts[kind][a.group if a.count else b.group] += 1
        if kind == KEY_MISMATCH and b.group != a.group:
            counts[kind][b.group] += 1
    seen = sorted({record[0] for side in (records_a, records_b) for rs in side.values() for record in rs})
    columns = []
    for g in seen:
        total_a, total_b = totals[g]
        if not all(INT64_MIN <= t <= INT64_MAX for t in (total_a, total_b, total_a - total_b)):
            return 0, 0, OVERFLOW_GROUP, g
        columns.append([g, total_a, total_b, total_a - total_b] + [counts[t][g] for t in range(TYPES_COUNT)])
    if found:
        items[: len(found)] = np.array(found, np.int64)
    if columns:
        groups[:, : len(columns)] = np.array(columns, np.int64).T
    return len(found), len(columns), OK, 0
