"""Bounded reads: the ranges a read of the journal or of the derived sums goes in.

No statement reads a whole table. Reads of the journal go by ranges of batches whose
entries and lines add up to about a chunk (at most a chunk plus one batch, which its poster
held in memory whole); reads of catalog and derived tables go by ranges of
their primary key. Memory is bounded by the chunk and by what the caller keeps, never by
the history. Plain functions over a connection and numpy arrays; the stores call them.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import Connection

from ledger.journal import key_runs

# Entries plus lines (or rows) a bounded read takes per statement: about 100 MB of columns
# in flight. Stores copy it per instance; tests make it tiny to exercise the chunking.
CHUNK_ROWS = 4_000_000


def batch_ranges(conn: Connection, after: int, upto: int, chunk: int) -> list[tuple[int, int]]:
    """Consecutive ranges (first, last) of the batch ids after `after` up to `upto`: a range
    ends with the batch whose running total of entries and lines (plus one per batch) passes
    the next multiple of `chunk`, so it holds at most `chunk` plus one batch. One row per
    range comes back; the running total is the server's."""
    if upto <= after:
        return []
    rows = conn.exec_driver_sql(
        # CAST: PostgreSQL's sum of BIGINTs is NUMERIC, whose division is not integer division
        "SELECT max(id) FROM (SELECT id, CAST(sum(entries + lines + 1) OVER (ORDER BY id) AS BIGINT) AS total"
        f" FROM batches WHERE id > {int(after)} AND id <= {int(upto)}) AS running"
        f" GROUP BY (total - 1) / {max(1, int(chunk))} ORDER BY 1"
    ).all()
    ends = [int(row[0]) for row in rows]
    if not ends or ends[-1] < upto:
        ends.append(int(upto))
    starts = [int(after) + 1] + [end + 1 for end in ends[:-1]]
    return list(zip(starts, ends, strict=True))


class AccountSums:
    """Per-account [dp, cp, dq, cq] sums added up range by range (modulo 2**64, exact when
    the totals fit, as balances do), in a dense array that grows with the largest account."""

    def __init__(self) -> None:
        self.sums = np.zeros((0, 4), np.int64)
        self.touched = np.zeros(0, bool)

    def add(self, accounts: np.ndarray, sums: np.ndarray) -> None:
        """Add one range's sums (`accounts` unique)."""
        if not len(accounts):
            return
        accounts = np.asarray(accounts, np.int64)
        size = int(accounts.max()) + 1
        if size > len(self.sums):
            size = max(size, 2 * len(self.sums))
            grown = np.zeros((size, 4), np.int64)
            grown[: len(self.sums)] = self.sums
            touched = np.zeros(size, bool)
            touched[: len(self.touched)] = self.touched
            self.sums, self.touched = grown, touched
        with np.errstate(over="ignore"):
            self.sums[accounts] += sums
        self.touched[accounts] = True

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """The accounts touched (int64, ascending) and their sums [n, 4]."""
        index = np.flatnonzero(self.touched)
        return index, self.sums[index]


class PeriodSums:
    """Monthly sums (account, period, dp, cp, dq, cq) merged range by range: each merge
    adds a range's rows to the rows so far, so memory is bounded by the distinct months of
    accounts, not by the lines."""

    NAMES = ("account", "period", "dp", "cp", "dq", "cq")

    def __init__(self) -> None:
        self.rows = {name: np.zeros(0, np.int64) for name in self.NAMES}

    def add(self, rows: dict[str, np.ndarray]) -> None:
        """Add rows (any order, repeated keys allowed)."""
        joined = {name: np.concatenate([self.rows[name], rows[name]]) for name in self.NAMES}
        keys = (joined["account"] << 20) | joined["period"]
        if not len(keys):
            return
        order, starts = key_runs(keys)
        unique = keys[order[starts]]
        merged = {"account": unique >> 20, "period": unique & 0xFFFFF}
        for name in self.NAMES[2:]:  # int64 sums wrap modulo 2**64
            merged[name] = np.add.reduceat(joined[name][order], starts)
        self.rows = merged

    def result(self) -> dict[str, np.ndarray]:
        """One row per (account, month), in key order."""
        return self.rows


def own_line_sums(
    accounts: np.ndarray, amounts: np.ndarray, periods: np.ndarray, pending: np.ndarray
) -> dict[str, np.ndarray]:
    """PeriodSums rows of entries' own lines: each amount on its side, posted or pending
    (the rows unfolded_sql's first part gives, computed here instead of by the server)."""
    zero = np.zeros(len(amounts), np.int64)
    debit, credit = np.where(amounts > 0, amounts, zero), np.where(amounts < 0, -amounts, zero)
    return {
        "account": np.asarray(accounts, np.int64),
        "period": np.asarray(periods, np.int64),
        "dp": np.where(pending, zero, debit),
        "cp": np.where(pending, zero, credit),
        "dq": np.where(pending, debit, zero),
        "cq": np.where(pending, credit, zero),
    }


def segments_by_key(keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Put records with segments of a second array (record i owns the next counts[i] items)
    in key order: the records' order and the items' positions in that order."""
    order = np.argsort(keys, kind="stable")
    counts = np.asarray(counts, np.int64)
    starts = np.cumsum(counts) - counts
    moved = counts[order]
    new_starts = np.cumsum(moved) - moved
    positions = np.arange(int(moved.sum()), dtype=np.int64)
    positions += np.repeat(starts[order] - new_starts, moved)
    return order, positions


__all__ = ["CHUNK_ROWS", "AccountSums", "PeriodSums", "batch_ranges", "own_line_sums", "segments_by_key"]
