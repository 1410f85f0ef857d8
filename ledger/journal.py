"""What an accepted batch writes: the rows of its entries and lines, and its chain link.

The kernel decides; this module only derives, from a batch and its codes, the rows the store
appends, with no per-line Python. Only ordinary and pending entries store lines: a post or
void changes balances through the pending entry's lines (see store.base.unfolded_sql).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ledger.chain import BatchHash, batch_hash, texts_digest
from ledger.columns import ENTRY_PENDING, ENTRY_POST_PENDING, ENTRY_VOID_PENDING
from ledger.periods import period_keys, periods_of, split_period_keys
from ledger.posting import Batch, Engine, kernel

# Monthly balance changes of a batch, unsummed (fold_parts): period keys, columns, amounts.
FoldPart = tuple[np.ndarray | list[int], np.ndarray | list[int], np.ndarray | list[int]]


@dataclass(frozen=True, slots=True)
class LineRows:
    """The lines one accepted batch stores (those of its ordinary and pending entries), in
    entry order, then line order."""

    batch_id: int
    entries: np.ndarray  # int64, the entry key of each line
    numbers: np.ndarray  # int32, the line's position in its entry
    books: np.ndarray  # int32
    accounts: np.ndarray  # int32
    amounts: np.ndarray  # int64
    dims: np.ndarray  # int32 [lines, 4]
    pending: np.ndarray  # bool: the line belongs to a pending entry (also goes to pending_lines)


@dataclass(frozen=True, slots=True)
class BatchRows:
    """Everything one accepted batch adds to the database, as columns."""

    batch_id: int
    prev_hash: bytes
    hash: bytes
    # entries (accepted, in batch order)
    entry_keys: np.ndarray  # int64
    entry_books: np.ndarray  # int32
    entry_dates: np.ndarray  # int32
    entry_flags: np.ndarray  # int16
    entry_pending: np.ndarray  # int64
    entry_extra: np.ndarray  # int64 (uint64 bits)
    entry_fingerprints: np.ndarray  # int64 (uint64 bits)
    entry_line_counts: np.ndarray  # int32, lines stored for each entry
    texts: list[tuple[int, str | None, str | None]]  # (entry, kind, reference) where present
    lines: LineRows

    @property
    def entries_count(self) -> int:
        return len(self.entry_keys)

    @property
    def lines_count(self) -> int:
        return len(self.lines.entries)

    def as_small(self) -> SmallRows:
        """The same rows as SmallRows (without fold parts): for a store's one-statement
        writer of a few entries."""
        lines = self.lines
        entries = zip(
            self.entry_keys.tolist(), self.entry_books.tolist(), self.entry_dates.tolist(),
            self.entry_flags.tolist(), self.entry_pending.tolist(), self.entry_extra.tolist(),
            self.entry_fingerprints.tolist(), self.entry_line_counts.tolist(), strict=True,
        )  # fmt: skip
        rows = zip(
            lines.entries.tolist(), lines.numbers.tolist(), lines.books.tolist(),
            lines.accounts.tolist(), lines.amounts.tolist(), lines.dims.tolist(), strict=True,
        )  # fmt: skip
        return SmallRows(
            self.batch_id,
            self.prev_hash,
            self.hash,
            list(entries),
            [(*row[:5], *row[5]) for row in rows],
            self.texts,
            ([], [], []),
        )


# A batch of at most this many entries, every one accepted and ordinary, is derived as Python
# rows in one kernel pass (small_rows): for a voucher at a time, each numpy step costs more
# than its work.
SMALL_ENTRIES = 16


@dataclass(frozen=True, slots=True)
class SmallRows:
    """What a small batch of ordinary entries, all accepted, adds to the database, as Python
    rows: the same rows and chain link as BatchRows (tests/test_journal.py holds them equal)."""

    batch_id: int
    prev_hash: bytes
    hash: bytes
    # key, book, date, flags, pending, extra, fingerprint, lines (extra and fingerprint as
    # signed int64), in batch order
    entries: list[tuple[int, int, int, int, int, int, int, int]]
    # entry, line, book, account, amount, dim1, dim2, dim3, dim4: entry order, then line order
    lines: list[tuple[int, int, int, int, int, int, int, int, int]]
    texts: list[tuple[int, str | None, str | None]]
    fold: FoldPart  # fold_parts of the batch, as lists

    @property
    def entries_count(self) -> int:
        return len(self.entries)

    @property
    def lines_count(self) -> int:
        return len(self.lines)


def small_rows(
    engine: Engine,
    batch: Batch,
    codes: np.ndarray,
    batch_id: int,
    prev_hash: bytes,
    texts: list[tuple[int, str | None, str | None]],
) -> SmallRows | None:
    """The rows, chain link and fold parts of `batch` as Python values, when it is small
    (SMALL_ENTRIES), every entry was accepted and none is pending, a post or a void (nor
    dated outside Python's years 1-9999); None otherwise (line_rows, batch_rows and
    fold_parts derive those, vectorised).

    The kernel derives them in one pass (kernel.small_rows), hashing the canonical bytes
    as it writes them: for a voucher at a time, each numpy step, Python loop or hashlib
    object costs more than its work."""
    if not 0 < batch.entries_count <= SMALL_ENTRIES:
        return None
    derived = kernel.small_rows(
        batch.keys, batch.offsets, batch.accounts, batch.amounts, batch.dims, batch.flags,
        batch.dates, batch.pending, batch.books, batch.extra, engine.rows, codes,
        bytes(prev_hash), batch_id, texts_digest(texts),
    )  # fmt: skip
    if derived is None:
        return None
    entries, lines, chain_hash, parts, fold = derived
    digest = BatchHash(chain_hash)
    digest.parts = parts
    return SmallRows(batch_id, prev_hash, digest, entries, lines, texts, fold)


def key_runs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The order that sorts `keys`, and where each run of equal keys starts in that order:
    what np.add.reduceat needs to sum values per key (one sort, no scatter)."""
    order = np.argsort(keys)
    ordered = keys[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1]))) if len(keys) else order
    return order, starts


# Key of a pending entry -> its lines (accounts, amounts): where a store keeps them.
PendingLines = Callable[[int], tuple[np.ndarray, np.ndarray]]


def full_column(column: np.ndarray, n: int, default: int, dtype: type) -> np.ndarray:
    """An optional batch column at full length (empty means all `default`)."""
    return column if len(column) else np.full(n, default, dtype)


def entry_books(engine: Engine, batch: Batch) -> np.ndarray:
    """Each entry's book: its own, else its first line's account's, else its pending entry's."""
    n = batch.entries_count
    given = full_column(batch.books, n, -1, np.int32)
    counts = np.diff(batch.offsets)
    books = given.copy()
    has_lines = (given < 0) & (counts > 0)
    first = batch.accounts[batch.offsets[:-1][has_lines]]
    valid = (first >= 0) & (first < engine.accounts_count)
    found = np.full(len(first), -1, np.int32)
    found[valid] = engine.rows["book"][first[valid]]
    books[has_lines] = found
    pending = full_column(batch.pending, n, 0, np.int64)
    for e in np.flatnonzero((books < 0) & (pending > 0)).tolist():
        record = engine.pending_entry(int(pending[e]))
        if record is not None:
            books[e] = record[0]
            continue
        # A pending entry reserved earlier in this same batch: its own book.
        earlier = np.flatnonzero(batch.keys[:e] == pending[e])
        if len(earlier):
            books[e] = books[earlier[0]]
    return books


def line_rows(batch: Batch, codes: np.ndarray, books: np.ndarray, batch_id: int) -> LineRows | None:
    """The lines an accepted batch stores, or None when no entry was accepted; `books` is
    each entry's book (entry_books)."""
    accepted = codes == 0
    if not accepted.any():
        return None
    n = batch.entries_count
    flags = full_column(batch.flags, n, 0, np.uint16)
    counts = np.diff(batch.offsets).astype(np.int64)
    resolving = (flags & (ENTRY_POST_PENDING | ENTRY_VOID_PENDING)) != 0
    line_mask = np.repeat(accepted & ~resolving, counts)
    every = bool(line_mask.all())  # the common case: no copies of the batch's own columns

    def kept(column: np.ndarray) -> np.ndarray:
        return column if every else column[line_mask]

    starts = np.repeat(batch.offsets[:-1], counts)
    stored = batch.lines_count if every else int(line_mask.sum())
    return LineRows(
        batch_id=batch_id,
        entries=kept(np.repeat(batch.keys, counts)),
        numbers=kept(np.arange(batch.lines_count, dtype=np.int64) - starts).astype(np.int32),
        books=kept(np.repeat(books, counts)),
        accounts=kept(batch.accounts),
        amounts=kept(batch.amounts),
        dims=np.ascontiguousarray(kept(batch.dims)) if len(batch.dims) else np.zeros((stored, 4), np.int32),
        pending=kept(np.repeat((flags & ENTRY_PENDING) != 0, counts)),
    )


def batch_rows(
    engine: Engine,
    batch: Batch,
    codes: np.ndarray,
    books: np.ndarray,
    lines: LineRows,
    prev_hash: bytes,
    texts: list[tuple[int, str | None, str | None]],
) -> BatchRows:
    """The entry rows and the chain link of an accepted batch whose lines are `lines`;
    `books` is each entry's book (entry_books)."""
    accepted = codes == 0
    n = batch.entries_count
    flags = full_column(batch.flags, n, 0, np.uint16)
    pending = full_column(batch.pending, n, 0, np.int64)
    extra = full_column(batch.extra, n, 0, np.uint64)
    counts = np.diff(batch.offsets).astype(np.int64)
    resolving = (flags & (ENTRY_POST_PENDING | ENTRY_VOID_PENDING)) != 0
    fingerprints = np.empty(n, np.uint64)
    kernel.fingerprints(
        batch.offsets, batch.accounts, batch.amounts, batch.dims, batch.flags, batch.dates,
        batch.pending, books, batch.extra, engine.rows, fingerprints,
    )  # fmt: skip
    entry_rows = [
        batch.keys[accepted],
        books[accepted],
        batch.dates[accepted],
        flags[accepted].astype(np.int16),
        pending[accepted],
        extra[accepted].view(np.int64),
        fingerprints[accepted].view(np.int64),
        np.where(~resolving, counts, 0)[accepted].astype(np.int32),
    ]
    line_columns = [
        lines.entries,
        lines.numbers,
        lines.accounts,
        lines.amounts,
        *(lines.dims[:, i] for i in range(4)),
    ]
    digest = batch_hash(prev_hash, lines.batch_id, entry_rows, line_columns, texts)
    return BatchRows(
        batch_id=lines.batch_id,
        prev_hash=prev_hash,
        hash=digest,
        entry_keys=entry_rows[0],
        entry_books=entry_rows[1],
        entry_dates=entry_rows[2],
        entry_flags=entry_rows[3],
        entry_pending=entry_rows[4],
        entry_extra=entry_rows[5],
        entry_fingerprints=entry_rows[6],
        entry_line_counts=entry_rows[7],
        texts=texts,
        lines=lines,
    )


def fold_parts(
    engine: Engine | PendingLines, batch: Batch, codes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The monthly balance changes of an accepted batch, unaggregated, for a later fold.

    Returns (account << 20 | yyyymm, column 0..3 = dp cp dq cq, signed amount): ordinary and
    pending entries by their own lines in their own month; a post or void by the pending
    entry's lines in the resolving entry's month (leaving pending, and for a post entering
    posted). Summed they are what store.base.unfolded_sql computes from the tables. The
    pending entries' lines come from the engine, or from `engine` called with a key.
    """
    accepted = codes == 0
    n = batch.entries_count
    flags = full_column(batch.flags, n, 0, np.uint16)
    pending = full_column(batch.pending, n, 0, np.int64)
    counts = np.diff(batch.offsets).astype(np.int64)
    periods = periods_of(batch.dates).astype(np.int64)
    resolving = (flags & (ENTRY_POST_PENDING | ENTRY_VOID_PENDING)) != 0
    line_mask = np.repeat(accepted & ~resolving, counts)
    amounts = batch.amounts[line_mask]
    keys = [period_keys(batch.accounts[line_mask], np.repeat(periods, counts)[line_mask])]
    columns = [2 * np.repeat((flags & ENTRY_PENDING) != 0, counts)[line_mask] + (amounts < 0)]
    values = [np.abs(amounts)]
    resolved = np.flatnonzero(accepted & resolving)
    if isinstance(engine, Engine) and len(resolved):  # all at once: the engine holds them
        counts, accounts, pending_amounts = engine.pending_lines_many(pending[resolved])
        line_keys = period_keys(accounts, np.repeat(periods[resolved], counts))
        posted = np.repeat((flags[resolved] & ENTRY_POST_PENDING) != 0, counts)
        side = (pending_amounts < 0).astype(np.int64)
        size = np.abs(pending_amounts)
        keys += [line_keys, line_keys[posted]]
        columns += [2 + side, side[posted]]
        values += [-size, size[posted]]
        resolved = resolved[:0]
    for e in resolved.tolist():
        accounts, pending_amounts = pending_lines_of(engine, int(pending[e]))
        key = period_keys(accounts, periods[e])
        for part in resolution_moves(key, pending_amounts, bool(flags[e] & ENTRY_POST_PENDING)):
            keys.append(part[0])
            columns.append(part[1])
            values.append(part[2])
    return np.concatenate(keys), np.concatenate(columns).astype(np.int8), np.concatenate(values)


def _joined(columns: list[np.ndarray | list[int]], dtype: type) -> np.ndarray:
    """One array of columns that are arrays or lists (SmallRows' fold parts), in order: each
    run of lists read by one fromiter, arrays as they are."""
    pieces: list[np.ndarray] = []
    for is_list, run in itertools.groupby(columns, key=lambda column: isinstance(column, list)):
        if is_list:
            lists = list(run)
            count = sum(len(column) for column in lists)
            pieces.append(np.fromiter(itertools.chain.from_iterable(lists), dtype, count))
        else:
            pieces.extend(np.asarray(column) for column in run)
    return np.concatenate(pieces).astype(dtype, copy=False)


def resolution_moves(
    keys: np.ndarray, amounts: np.ndarray, post: bool
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The balance moves of posting or voiding a pending entry's lines (`amounts`, one `keys`
    value each: a period key, a date…): (keys, column 0..3 = dp cp dq cq, signed amount).
    Each line leaves pending; a post also enters posted on the same side."""
    side = (amounts < 0).astype(np.int64)
    size = np.abs(amounts)
    moves = [(keys, 2 + side, -size)]
    if post:
        moves.append((keys, side, size))
    return moves


def pending_lines_of(source: Engine | PendingLines, key: int) -> tuple[np.ndarray, np.ndarray]:
    """(accounts, amounts) of pending entry `key`, which an accepted resolution names."""
    if not isinstance(source, Engine):
        return source(key)
    record = source.pending_entry(key)
    if record is None:
        raise LookupError(f"pending entry {key} is not in the engine")
    return record[1], record[2]


def aggregate_folds(parts: Sequence[FoldPart]) -> tuple[np.ndarray, ...]:
    """Sum fold parts per (account, month): accounts, periods, sums [n, 4] (zero rows dropped)."""
    if not any(len(p[0]) for p in parts):
        return np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros((0, 4), np.int64)
    keys = _joined([p[0] for p in parts], np.int64)
    order, starts = key_runs(keys)
    unique = keys[order[starts]]
    columns = _joined([p[1] for p in parts], np.int8)[order]
    values = _joined([p[2] for p in parts], np.int64)[order]
    sums = np.empty((len(unique), 4), np.int64)
    for column in range(4):  # int64 sums wrap modulo 2**64, as wrap64 keeps them
        sums[:, column] = np.add.reduceat(np.where(columns == column, values, 0), starts)
    keep = (sums != 0).any(axis=1)
    unique, sums = unique[keep], sums[keep]
    accounts, months = split_period_keys(unique)
    return accounts.astype(np.int32), months.astype(np.int32), sums


__all__ = [
    "BatchRows",
    "LineRows",
    "key_runs",
    "aggregate_folds",
    "batch_rows",
    "entry_books",
    "fold_parts",
    "line_rows",
    "resolution_moves",
]
