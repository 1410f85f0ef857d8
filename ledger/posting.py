"""The posting engine: the in-memory account table, entry-key and pending tables, and the
checked call into the batch kernel.

The engine owns its numpy state and keeps the kernel's preconditions: every column has the
right dtype and shape, the hash tables stay at most half full, and the pending store has room
for every line a batch could reserve. It knows nothing of string keys or Decimals; the
service layer maps those onto the dense int indices used here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ledger import limits
from ledger.columns import (
    ACCOUNT_DTYPE,
    BALANCE_FIELDS,
    COUNTER_ENTRIES,
    COUNTER_ENTRY_TOMBSTONES,
    COUNTER_PENDING_LINES,
    COUNTER_PENDING_TOMBSTONES,
    COUNTER_PENDINGS,
    COUNTERS_COUNT,
    ENTRY_PENDING,
    ENTRY_POST_PENDING,
    ENTRY_SLOT_DTYPE,
    ENTRY_VOID_PENDING,
    PENDING_OPEN,
    PENDING_SLOT_DTYPE,
    SLOT_TOMBSTONE,
    aligned_zeros,
)
from ledger.errors import InvalidInput, LimitExceeded, StoreError


def _load_kernel():
    if os.environ.get("LEDGER_NO_EXTENSIONS") == "1":
        from ledger import _reference as kernel

        return kernel
    from ledger._native import posting as kernel

    return kernel


kernel = _load_kernel()
# True when the compiled kernel is in use (LEDGER_NO_EXTENSIONS unset).
NATIVE = kernel.__name__ == "ledger._native.posting"

_TABLE_CAPACITY_MIN = 1024
# Absent columns, shared by every batch that has none (read-only).
NO_DIMS = np.zeros((0, limits.dims_count), dtype=np.int32)
NO_PERIODS = np.zeros(0, dtype=np.uint8)
NO_FLAGS = np.zeros(0, dtype=np.uint16)
NO_KEYS = np.zeros(0, dtype=np.int64)
NO_BOOKS = np.zeros(0, dtype=np.int32)
NO_EXTRA = np.zeros(0, dtype=np.uint64)
for _absent in (NO_DIMS, NO_PERIODS, NO_FLAGS, NO_KEYS, NO_BOOKS, NO_EXTRA):
    _absent.flags.writeable = False
del _absent

# Copies of at least this many bytes are mapped by the kernel module (kept_copy).
_MAPPED_MIN = 1 << 22


def kept_copy(array: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of `array` to keep. From 4 MiB on, in memory of its own mapping
    (kernel.mapped_buffer): numpy advises huge pages for arrays that large, and on the
    virtual machines this ledger runs on, first touching those costs about five times as
    much as ordinary pages. tracemalloc counts the copy either way."""
    if array.nbytes < _MAPPED_MIN:
        return np.array(array, copy=True, order="C")
    out = np.frombuffer(kernel.mapped_buffer(array.nbytes), dtype=array.dtype, count=array.size)
    out = out.reshape(array.shape)
    np.copyto(out, array)
    return out


@dataclass(frozen=True, slots=True)
class Applied:
    """A batch the engine applied, its codes and its counters before: what Engine.undo takes."""

    batch: Batch
    codes: np.ndarray  # uint8 [n]
    counters: np.ndarray  # int64 [COUNTERS_COUNT], just before the kernel ran


@dataclass(frozen=True, slots=True)
class Batch:
    """A columnar batch, checked: what post_batch receives besides the state."""

    keys: np.ndarray  # int64 [n]
    offsets: np.ndarray  # int64 [n + 1], offsets[0] == 0, non-decreasing
    accounts: np.ndarray  # int32 [lines]
    amounts: np.ndarray  # int64 [lines]
    dims: np.ndarray  # int32 [lines, 4] or [0, 4]
    flags: np.ndarray  # uint16 [n] or [0] (all 0)
    dates: np.ndarray  # int32 [n], days since 1970-01-01
    pending: np.ndarray  # int64 [n] or [0]; 0 where the entry resolves nothing
    books: np.ndarray  # int32 [n] or [0]; -1 for "the first line's", -2 for an unknown book
    extra: np.ndarray  # uint64 [n] or [0]; hash of the fields the kernel does not see
    period_closed: np.ndarray  # uint8 [n] or [0]

    @property
    def entries_count(self) -> int:
        return len(self.keys)

    @property
    def lines_count(self) -> int:
        return len(self.accounts)


def _column(name: str, value: object, dtype: np.dtype | type, length: int | None) -> np.ndarray:
    """`value` as a contiguous 1-d array of `dtype`, refusing lossy conversions."""
    array = np.asarray(value)
    target = np.dtype(dtype)
    if array.ndim != 1:
        raise InvalidInput(f"{name}: expected a 1-d array, got {array.ndim} dimensions")
    if length is not None and len(array) != length:
        raise InvalidInput(f"{name}: expected {length} elements, got {len(array)}")
    if array.dtype != target:
        if len(array) and array.dtype.kind not in "iu":
            raise InvalidInput(f"{name}: expected integers ({target}), got {array.dtype}")
        if len(array):
            info = np.iinfo(target)
            low, high = int(array.min()), int(array.max())
            if low < info.min or high > info.max:
                raise InvalidInput(f"{name}: values outside the {target} range")
        array = array.astype(target)
    return np.ascontiguousarray(array)


def make_batch(
    keys: object,
    offsets: object,
    accounts: object,
    amounts: object,
    *,
    flags: object = None,
    dates: object = None,
    pending: object = None,
    books: object = None,
    dims: object = None,
    extra: object = None,
) -> Batch:
    """Check and convert bulk-path columns (no per-row Python). Raises InvalidInput."""
    keys_a = _column("keys", keys, np.int64, None)
    n = len(keys_a)
    if n > limits.batch_entries_max:
        raise LimitExceeded(f"{n} entries in one batch; the limit is {limits.batch_entries_max}")
    offsets_a = _column("offsets", offsets, np.int64, n + 1)
    amounts_a = _column("amounts", amounts, np.int64, None)
    lines = len(amounts_a)
    if lines > limits.batch_lines_max:
        raise LimitExceeded(f"{lines} lines in one batch; the limit is {limits.batch_lines_max}")
    accounts_a = _account_column(accounts, lines)
    if offsets_a[0] != 0 or offsets_a[-1] != lines:
        raise InvalidInput(f"offsets must start at 0 and end at the number of lines ({lines})")
    if n and bool((np.diff(offsets_a) < 0).any()):
        raise InvalidInput("offsets must not decrease")
    # An absent column is an empty array: the kernel reads its default without touching memory.
    flags_a = NO_FLAGS if flags is None else _column("flags", flags, np.uint16, n)
    pending_a = NO_KEYS if pending is None else _column("pending", pending, np.int64, n)
    books_a = NO_BOOKS if books is None else _column("books", books, np.int32, n)
    extra_a = NO_EXTRA if extra is None else _column("extra", extra, np.uint64, n)
    return Batch(
        keys=keys_a,
        offsets=offsets_a,
        accounts=accounts_a,
        amounts=amounts_a,
        dims=_dims_column(dims, lines),
        flags=flags_a,
        dates=_dates_column(dates, n),
        pending=pending_a,
        books=books_a,
        extra=extra_a,
        period_closed=NO_PERIODS,
    )


def _account_column(accounts: object, lines: int) -> np.ndarray:
    """Account indices as int32; anything outside int32 becomes -1 (account_not_found)."""
    array = np.asarray(accounts)
    if array.ndim != 1 or len(array) != lines:
        raise InvalidInput(f"accounts: expected a 1-d array of {lines} elements (one per amount)")
    if array.dtype == np.int32:
        return np.ascontiguousarray(array)
    if array.dtype.kind not in "iu" and len(array):
        raise InvalidInput(f"accounts: expected integer account indices, got {array.dtype}")
    wide = array.astype(np.int64)
    wide[(wide < -1) | (wide > np.iinfo(np.int32).max)] = -1
    return wide.astype(np.int32)


def _dims_column(dims: object, lines: int) -> np.ndarray:
    if dims is None:
        return NO_DIMS
    array = np.asarray(dims)
    if array.shape != (lines, limits.dims_count):
        raise InvalidInput(f"dims: expected shape ({lines}, {limits.dims_count}), got {array.shape}")
    if array.dtype != np.int32:
        if array.dtype.kind not in "iu":
            raise InvalidInput(f"dims: expected int32 codes, got {array.dtype}")
        info = np.iinfo(np.int32)
        if len(array) and (int(array.min()) < info.min or int(array.max()) > info.max):
            raise InvalidInput("dims: values outside the int32 range")
        array = array.astype(np.int32)
    return np.ascontiguousarray(array)


def _dates_column(dates: object, n: int) -> np.ndarray:
    """Dates as int32 days since 1970-01-01 (datetime64 accepted); None means today (UTC)."""
    if dates is None:
        today = np.datetime64("today", "D").astype(np.int64)
        return np.full(n, today, np.int32)
    array = np.asarray(dates)
    if array.dtype.kind == "M":
        array = array.astype("datetime64[D]").astype(np.int64)
    return _column("dates", array, np.int32, n)


class Engine:
    """In-memory ledger state and the kernel that posts into it."""

    def __init__(self, groups_count: int = 1) -> None:
        self.accounts_count = 0
        self._rows = aligned_zeros(_TABLE_CAPACITY_MIN, ACCOUNT_DTYPE)
        self.entry_table = np.zeros(_TABLE_CAPACITY_MIN, ENTRY_SLOT_DTYPE)
        self.pending_table = np.zeros(_TABLE_CAPACITY_MIN, PENDING_SLOT_DTYPE)
        self.pending_accounts = np.zeros(_TABLE_CAPACITY_MIN, np.int32)
        self.pending_amounts = np.zeros(_TABLE_CAPACITY_MIN, np.int64)
        self.counters = np.zeros(COUNTERS_COUNT, np.int64)
        self.groups_count = groups_count

    # --- accounts ---------------------------------------------------------------------------

    @property
    def rows(self) -> np.ndarray:
        """The live account rows (a view: index = account index)."""
        return self._rows[: self.accounts_count]

    def add_accounts(self, books: np.ndarray, groups: np.ndarray, flags: np.ndarray) -> np.ndarray:
        """Append accounts with zero balances; returns their indices."""
        count = len(books)
        if self.accounts_count + count > limits.accounts_max:
            raise LimitExceeded(f"more than {limits.accounts_max} accounts")
        needed = self.accounts_count + count
        if needed > len(self._rows):
            grown = aligned_zeros(max(needed, 2 * len(self._rows)), ACCOUNT_DTYPE)
            grown[: self.accounts_count] = self.rows
            self._rows = grown
        start = self.accounts_count
        new = self._rows[start:needed]
        new.view(np.uint8)[:] = 0  # spare capacity is not trusted to be zero
        new["book"] = books
        new["group"] = groups
        new["flags"] = flags
        self.accounts_count = needed
        return np.arange(start, needed, dtype=np.int64)

    def set_account_flags(self, index: int, flags: int) -> None:
        self._rows["flags"][index] = flags

    def balances(self) -> dict[str, np.ndarray]:
        """Copies of the four balance columns, plus the account index."""
        rows = self.rows
        out = {"account": np.arange(self.accounts_count, dtype=np.int64)}
        for field in BALANCE_FIELDS:
            out[field] = rows[field].copy()
        return out

    # --- posting ----------------------------------------------------------------------------

    def post(self, batch: Batch) -> np.ndarray:
        """Run the kernel over a checked batch; returns one uint8 code per entry."""
        return self.apply(batch).codes

    def apply(self, batch: Batch) -> Applied:
        """`post`, keeping what `undo` needs to take the batch back (the counters just before
        the kernel ran; everything else follows from the batch and its codes)."""
        self._make_room(batch)
        before = self.counters.copy()
        codes = np.empty(batch.entries_count, np.uint8)
        kernel.post_batch(
            batch.keys,
            batch.offsets,
            batch.accounts,
            batch.amounts,
            batch.dims,
            batch.flags,
            batch.dates,
            batch.pending,
            batch.books,
            batch.extra,
            batch.period_closed,
            self.rows,
            self.entry_table,
            self.pending_table,
            self.pending_accounts,
            self.pending_amounts,
            self.counters,
            self.groups_count,
            limits.lines_max,
            codes,
        )
        return Applied(batch, codes, before)

    def undo(self, applied: Applied) -> None:
        """Take back a batch `apply` applied, when nothing else has changed the engine since
        (the store could not commit it): balances, keys, pending entries and counters are
        those before it again.

        Balances: the accepted entries' effects are subtracted again (int64 arithmetic wraps,
        so this is exact, as the kernel's own undo of a failed chain). Entry keys: when the
        table had no tombstones before, every slot the batch wrote was empty and is emptied
        again, so the table is as it was byte for byte; otherwise the accepted keys become
        tombstones (the same keys, one probe longer). Pending entries the batch reserved
        become tombstones; those it posted or voided are open again.
        """
        batch, codes, before = applied.batch, applied.codes, applied.counters
        accepted = codes == 0
        n = batch.entries_count
        flags = batch.flags if len(batch.flags) else np.zeros(n, np.uint16)
        resolving = (flags & (ENTRY_POST_PENDING | ENTRY_VOID_PENDING)) != 0
        reserving = (flags & ENTRY_PENDING) != 0
        self._unapply_lines(batch, accepted & ~resolving, reserving)
        for e in np.flatnonzero(accepted & resolving)[::-1].tolist():
            self._unresolve(int(batch.pending[e]), bool(flags[e] & ENTRY_POST_PENDING))
        counters = self.counters
        reserved = _slots_of(self.pending_table, batch.keys[accepted & reserving])
        self.pending_table["key"][reserved] = SLOT_TOMBSTONE
        counters[COUNTER_PENDING_TOMBSTONES] += len(reserved)
        written = _slots_of(self.entry_table, batch.keys[accepted])
        if before[COUNTER_ENTRY_TOMBSTONES] == 0:
            if counters[COUNTER_ENTRY_TOMBSTONES]:  # left by a failed chain of this batch
                tombstones = np.flatnonzero(self.entry_table["key"] == SLOT_TOMBSTONE)
                written = np.concatenate([written, tombstones])
            self.entry_table[written] = 0
            counters[COUNTER_ENTRY_TOMBSTONES] = 0
        else:
            self.entry_table["key"][written] = SLOT_TOMBSTONE
            self.entry_table["fingerprint"][written] = 0
            counters[COUNTER_ENTRY_TOMBSTONES] += len(written)
        for counter in (COUNTER_ENTRIES, COUNTER_PENDINGS, COUNTER_PENDING_LINES):
            counters[counter] = before[counter]

    def _unapply_lines(self, batch: Batch, entries: np.ndarray, reserving: np.ndarray) -> None:
        """Subtract the lines of `entries` (a mask) from their posted or pending columns."""
        counts = np.diff(batch.offsets)
        lines = np.repeat(entries, counts)
        accounts = batch.accounts[lines]
        amounts = batch.amounts[lines]
        pending = np.repeat(reserving, counts)[lines]
        debit = amounts > 0
        rows = self.rows
        for field, mask in (
            ("debits_posted", debit & ~pending),
            ("credits_posted", ~debit & ~pending),
            ("debits_pending", debit & pending),
            ("credits_pending", ~debit & pending),
        ):
            np.subtract.at(rows[field], accounts[mask], np.abs(amounts[mask]))

    def _unresolve(self, key: int, post: bool) -> None:
        """Open pending entry `key` again: its lines back into pending (and out of posted)."""
        slot = self._pending_slot(key)
        assert slot >= 0, "an accepted post or void names a pending entry the engine holds"
        record = self.pending_table[slot]
        start, count = int(record["lines_start"]), int(record["lines_count"])
        accounts = self.pending_accounts[start : start + count]
        amounts = self.pending_amounts[start : start + count]
        debit = amounts > 0
        rows = self.rows
        for side, mask in (("debits", debit), ("credits", ~debit)):
            np.add.at(rows[f"{side}_pending"], accounts[mask], np.abs(amounts[mask]))
            if post:
                np.subtract.at(rows[f"{side}_posted"], accounts[mask], np.abs(amounts[mask]))
        self.pending_table["state"][slot] = PENDING_OPEN

    @property
    def entries_count(self) -> int:
        return int(self.counters[COUNTER_ENTRIES])

    def reserve(self, entries: int) -> None:
        """Make room for `entries` more entry keys now (one rehash), not while posting."""
        live = int(self.counters[COUNTER_ENTRIES])
        used = live + int(self.counters[COUNTER_ENTRY_TOMBSTONES])
        if 2 * (used + entries) > len(self.entry_table):
            self.entry_table = self._rehashed(self.entry_table, live + entries, kernel.rehash_entries)
            self.counters[COUNTER_ENTRY_TOMBSTONES] = 0
            self.entry_table.view(np.uint8)[::4096] = 0  # fault the pages in here, not in the kernel

    def _make_room(self, batch: Batch) -> None:
        self.reserve(batch.entries_count)
        if not len(batch.flags):
            return
        pending_mask = (batch.flags & ENTRY_PENDING) != 0
        pending_entries = int(np.count_nonzero(pending_mask))
        if pending_entries:
            live = int(self.counters[COUNTER_PENDINGS])
            used = live + int(self.counters[COUNTER_PENDING_TOMBSTONES])
            if 2 * (used + pending_entries) > len(self.pending_table):
                self.pending_table = self._rehashed(
                    self.pending_table, live + pending_entries, kernel.rehash_pending
                )
                self.counters[COUNTER_PENDING_TOMBSTONES] = 0
            line_counts = np.diff(batch.offsets)[pending_mask]
            needed = int(self.counters[COUNTER_PENDING_LINES]) + int(line_counts.sum())
            if needed > len(self.pending_accounts):
                size = max(needed, 2 * len(self.pending_accounts))
                self.pending_accounts = np.resize(self.pending_accounts, size)
                self.pending_amounts = np.resize(self.pending_amounts, size)

    # --- loading and lookups -----------------------------------------------------------------

    def load(
        self,
        books: np.ndarray,
        groups: np.ndarray,
        flags: np.ndarray,
        balances: np.ndarray,
        entry_keys: np.ndarray,
        entry_fingerprints: np.ndarray,
        pending_keys: np.ndarray,
        pending_books: np.ndarray,
        pending_states: np.ndarray,
        pending_line_counts: np.ndarray,
        pending_accounts: np.ndarray,
        pending_amounts: np.ndarray,
    ) -> None:
        """Replace the whole state with what a store read (an empty engine to start from)."""
        assert self.accounts_count == 0 and self.entries_count == 0
        self.add_accounts(books, groups, flags)
        rows = self.rows
        for position, field in enumerate(BALANCE_FIELDS):
            rows[field] = balances[:, position]
        flat = np.zeros(len(entry_keys), ENTRY_SLOT_DTYPE)
        flat["key"] = entry_keys
        flat["fingerprint"] = entry_fingerprints
        self.entry_table = self._rehashed(flat, len(entry_keys), kernel.rehash_entries)
        self.counters[COUNTER_ENTRIES] = len(entry_keys)
        starts = np.zeros(len(pending_keys), np.int64)
        starts[1:] = np.cumsum(pending_line_counts, dtype=np.int64)[:-1]
        pending_flat = np.zeros(len(pending_keys), PENDING_SLOT_DTYPE)
        pending_flat["key"] = pending_keys
        pending_flat["lines_start"] = starts
        pending_flat["lines_count"] = pending_line_counts
        pending_flat["book"] = pending_books
        pending_flat["state"] = pending_states
        self.pending_table = self._rehashed(pending_flat, len(pending_keys), kernel.rehash_pending)
        self.counters[COUNTER_PENDINGS] = len(pending_keys)
        capacity = max(_TABLE_CAPACITY_MIN, 2 * len(pending_accounts))
        self.pending_accounts = np.zeros(capacity, np.int32)
        self.pending_amounts = np.zeros(capacity, np.int64)
        self.pending_accounts[: len(pending_accounts)] = pending_accounts
        self.pending_amounts[: len(pending_amounts)] = pending_amounts
        self.counters[COUNTER_PENDING_LINES] = len(pending_accounts)

    def add_balances(self, accounts: np.ndarray, changes: np.ndarray) -> None:
        """Add [n, 4] changes (dp, cp, dq, cq) to the balances of `accounts` (distinct)."""
        rows = self.rows
        for position, field in enumerate(BALANCE_FIELDS):
            rows[field][accounts] += changes[:, position]

    def add_entries(self, keys: np.ndarray, fingerprints: np.ndarray) -> None:
        """Admit keys another process posted (they are not in the table yet)."""
        live = self.entries_count + len(keys)
        used = live + int(self.counters[COUNTER_ENTRY_TOMBSTONES])
        if 2 * used > len(self.entry_table):
            self.entry_table = self._rehashed(self.entry_table, live, kernel.rehash_entries)
            self.counters[COUNTER_ENTRY_TOMBSTONES] = 0
        flat = np.zeros(len(keys), ENTRY_SLOT_DTYPE)
        flat["key"] = keys
        flat["fingerprint"] = fingerprints
        kernel.rehash_entries(flat, self.entry_table)
        self.counters[COUNTER_ENTRIES] = live

    def add_pendings(
        self,
        keys: np.ndarray,
        books: np.ndarray,
        line_counts: np.ndarray,
        accounts: np.ndarray,
        amounts: np.ndarray,
    ) -> None:
        """Admit open pending entries another process posted, with their lines."""
        if not len(keys):
            return
        live = int(self.counters[COUNTER_PENDINGS]) + len(keys)
        used = live + int(self.counters[COUNTER_PENDING_TOMBSTONES])
        if 2 * used > len(self.pending_table):
            self.pending_table = self._rehashed(self.pending_table, live, kernel.rehash_pending)
            self.counters[COUNTER_PENDING_TOMBSTONES] = 0
        start = int(self.counters[COUNTER_PENDING_LINES])
        needed = start + len(accounts)
        if needed > len(self.pending_accounts):
            size = max(needed, 2 * len(self.pending_accounts))
            self.pending_accounts = np.resize(self.pending_accounts, size)
            self.pending_amounts = np.resize(self.pending_amounts, size)
        self.pending_accounts[start:needed] = accounts
        self.pending_amounts[start:needed] = amounts
        starts = start + np.concatenate([[0], np.cumsum(line_counts, dtype=np.int64)[:-1]])
        flat = np.zeros(len(keys), PENDING_SLOT_DTYPE)
        flat["key"] = keys
        flat["lines_start"] = starts
        flat["lines_count"] = line_counts
        flat["book"] = books
        flat["state"] = PENDING_OPEN
        kernel.rehash_pending(flat, self.pending_table)
        self.counters[COUNTER_PENDINGS] = live
        self.counters[COUNTER_PENDING_LINES] = needed

    def set_pending_state(self, key: int, state: int) -> None:
        """Record that another process posted or voided pending entry `key`."""
        slot = self._pending_slot(key)
        if slot < 0:
            raise StoreError(f"the store holds a resolution of pending entry {key}, which it does not hold")
        self.pending_table["state"][slot] = state

    def _pending_slot(self, key: int) -> int:
        return _slot_of(self.pending_table, key)

    def pending_entry(self, key: int) -> tuple[int, np.ndarray, np.ndarray, int] | None:
        """(book, accounts, amounts, state) of a pending entry, or None if there is none."""
        slot = self._pending_slot(key)
        if slot < 0:
            return None
        record = self.pending_table[slot]
        start, count = int(record["lines_start"]), int(record["lines_count"])
        return (
            int(record["book"]),
            self.pending_accounts[start : start + count].copy(),
            self.pending_amounts[start : start + count].copy(),
            int(record["state"]),
        )

    def pending_lines_many(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The lines of many pending entries at once (distinct keys, each held): per key its
        line count, then their accounts and amounts, key after key."""
        keys = np.asarray(keys, np.int64)
        slots = _slots_in_order(self.pending_table, keys)
        records = self.pending_table[slots]
        counts = records["lines_count"].astype(np.int64)
        starts = records["lines_start"].astype(np.int64)
        at = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
        return counts, self.pending_accounts[at], self.pending_amounts[at]

    @staticmethod
    def _rehashed(table: np.ndarray, needed: int, rehash) -> np.ndarray:
        """A table of at least twice `needed` slots (a power of two) holding table's keys."""
        capacity = _TABLE_CAPACITY_MIN
        while capacity < 2 * needed:
            capacity *= 2
        grown = np.zeros(capacity, table.dtype)
        rehash(table, grown)
        return grown


def _slot_of(table: np.ndarray, key: int) -> int:
    """The slot of `key` in an open-addressing table (the kernel's probe), -1 if absent."""
    from ledger._reference import home_slot

    mask = len(table) - 1
    slot = home_slot(int(key), mask)
    while True:
        found = int(table["key"][slot])
        if found == key:
            return slot
        if found == 0:
            return -1
        slot = (slot + 1) & mask


def _slots_of(table: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """The slots of `keys`, all present in `table` (int64, in the keys' order)."""
    return _slots_in_order(table, keys)


def _slots_in_order(table: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """The slot of each of `keys` (all present in `table`), in the keys' order: the kernel's
    probe for all of them at once, one step of every unfinished probe per round (the cost
    follows the keys, not the size of the table)."""
    keys = np.asarray(keys, np.int64)
    mask = len(table) - 1
    slots = _home_slots(keys, mask)
    out = np.full(len(keys), -1, np.int64)
    todo = np.arange(len(keys))
    stored = table["key"]
    while len(todo):
        found = stored[slots[todo]]
        hit = found == keys[todo]
        out[todo[hit]] = slots[todo[hit]]
        todo = todo[~hit & (found != 0)]  # an empty slot ends a probe: the key is absent
        slots[todo] = (slots[todo] + 1) & mask
    return out


def _home_slots(keys: np.ndarray, mask: int) -> np.ndarray:
    """home_slot of the kernel for many keys (splitmix64's finaliser on key >> 3, uint64
    arithmetic wrapping as C's does)."""
    z = (keys >> 3).astype(np.uint64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (((z << np.uint64(3)) | (keys & 7).astype(np.uint64)) & np.uint64(mask)).astype(np.int64)


__all__ = [
    "NATIVE",
    "NO_BOOKS",
    "NO_DIMS",
    "NO_EXTRA",
    "NO_FLAGS",
    "NO_KEYS",
    "NO_PERIODS",
    "Applied",
    "Batch",
    "Engine",
    "kept_copy",
    "make_batch",
]
