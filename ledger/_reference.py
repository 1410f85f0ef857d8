"""Pure-Python twin of ``ledger/_native/posting.pyx``.

Same functions, same arguments, same codes, same state afterwards, written for reading
rather than speed: Python ints (no wrap-around) stand in for the kernel's checked int64
and int128 arithmetic. Used when LEDGER_NO_EXTENSIONS=1 and by the differential tests, which
require the two to agree on every input.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import struct

import numpy as np

from ledger.codes import POSTING_CODES, Code
from ledger.columns import (
    ACCOUNT_CLOSED,
    ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS,
    ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS,
    COUNTER_ENTRIES,
    COUNTER_ENTRY_TOMBSTONES,
    COUNTER_PENDING_LINES,
    COUNTER_PENDING_TOMBSTONES,
    COUNTER_PENDINGS,
    ENTRY_FLAGS_ALL,
    ENTRY_LINKED,
    ENTRY_PENDING,
    ENTRY_POST_PENDING,
    ENTRY_VOID_PENDING,
    PENDING_OPEN,
    PENDING_POSTED,
    PENDING_VOIDED,
)

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
INT64_MAX = (1 << 63) - 1
INT64_MIN = -(1 << 63)
FP_K1 = 0xC2B2AE3D27D4EB4F
FP_K2 = 0x85EBCA77C2B2AE63
FP_K3 = 0x27D4EB2F165667C5
FP_K4 = 0x165667B19E3779F9
FP_K5 = 0x9FB21C651E98DF25
FP_DIMS0 = 0x6E34F8BEA6B2418D  # mum(FP_K1, FP_K5): zero dims hash to 0


def mix64(z: int) -> int:
    """splitmix64's finaliser on a 64-bit unsigned value."""
    z &= M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def mum(a: int, b: int) -> int:
    """The 128-bit product of two 64-bit values, folded: low half xor high half."""
    p = (a & M64) * (b & M64)
    return (p & M64) ^ (p >> 64)


def home_slot(key: int, mask: int) -> int:
    """Where a key's probe starts (see the kernel's home_slot)."""
    return ((mix64(key >> 3) << 3) & M64 | (key & 7)) & mask


class _Batch:
    """The batch columns as Python lists (one conversion, then plain indexing)."""

    def __init__(self, keys, offsets, accounts, amounts, dims, flags, dates, pending_keys, books, extra,
                 period_closed):  # fmt: skip
        self.keys = [int(x) for x in keys]
        self.offsets = [int(x) for x in offsets]
        self.accounts = [int(x) for x in accounts]
        self.amounts = [int(x) for x in amounts]
        self.dims = [[int(x) for x in row] for row in dims] if len(dims) else None
        n = len(self.keys)
        self.flags = [int(x) for x in flags] if len(flags) else [0] * n
        self.dates = [int(x) for x in dates]
        self.pending_keys = [int(x) for x in pending_keys] if len(pending_keys) else [0] * n
        self.books = [int(x) for x in books] if len(books) else [-1] * n
        self.extra = [int(x) for x in extra] if len(extra) else [0] * n
        self.period_closed = [int(x) for x in period_closed] if len(period_closed) else None

    def lines(self, e: int) -> range:
        return range(self.offsets[e], self.offsets[e + 1])


def _entry_book(b: _Batch, rows: np.ndarray, e: int) -> int:
    """The entry's book: its own (an unknown one, < -1, included), else its first line's."""
    if b.books[e] != -1 or b.offsets[e + 1] == b.offsets[e]:
        return b.books[e]
    a = b.accounts[b.offsets[e]]
    return int(rows["book"][a]) if 0 <= a < len(rows) else -1


def _fingerprint(b: _Batch, rows: np.ndarray, e: int, book: int | None = None) -> int:
    """Same function as the kernel's fingerprint_of (book: _entry_book unless given)."""
    book = _entry_book(b, rows, e) if book is None else book
    header = ((b.dates[e] & M32) << 32) | (book & M32)
    h = mum(header ^ FP_K1, (b.pending_keys[e] & M64) ^ FP_K2)
    h = mum(h ^ b.extra[e], FP_K3)
    for i in b.lines(e):
        x = h ^ (b.amounts[i] & M64)
        if b.dims is not None:
            d = b.dims[i]
            low = ((d[0] & M32) | ((d[1] & M32) << 32)) ^ FP_K1
            high = ((d[2] & M32) | ((d[3] & M32) << 32)) ^ FP_K5
            x ^= mum(low, high) ^ FP_DIMS0
        h = mum(x, (b.accounts[i] & M32) ^ FP_K4)
    return mix64(h ^ ((b.offsets[e + 1] - b.offsets[e]) | (b.flags[e] << 32)))


class _Table:
    """Open addressing over a structured array with a `key` field (0 empty, -1 tombstone)."""

    def __init__(self, slots: np.ndarray, counters: np.ndarray, live: int, tombstones: int):
        self.slots = slots
        self.mask = len(slots) - 1
        self.counters = counters
        self.live = live
        self.tombstones = tombstones

    def find(self, key: int) -> int:
        i = home_slot(key, self.mask)
        while True:
            k = int(self.slots["key"][i])
            if k == key:
                return i
            if k == 0:
                return -1
            i = (i + 1) & self.mask

    def insert(self, key: int) -> int:
        i = home_slot(key, self.mask)
        while int(self.slots["key"][i]) > 0:
            i = (i + 1) & self.mask
        if int(self.slots["key"][i]) == -1:
            self.counters[self.tombstones] -= 1
        self.slots["key"][i] = key
        self.counters[self.live] += 1
        return i

    def remove(self, key: int) -> int:
        i = self.find(key)
        self.slots["key"][i] = -1
        self.counters[self.live] -= 1
        self.counters[self.tombstones] += 1
        return i


class _Kernel:
    def __init__(self, b, account_table, entry_table, pending_table, pending_accounts, pending_amounts,
                 counters, lines_max):  # fmt: skip
        self.b = b
        self.rows = account_table
        self.entries = _Table(entry_table, counters, COUNTER_ENTRIES, COUNTER_ENTRY_TOMBSTONES)
        self.pendings = _Table(pending_table, counters, COUNTER_PENDINGS, COUNTER_PENDING_TOMBSTONES)
        self.pending_accounts = pending_accounts
        self.pending_amounts = pending_amounts
        self.counters = counters
        self.lines_max = lines_max

    def row(self, a: int) -> np.void:
        return self.rows[a]

    def _bump(self, a: int, field: str, delta: int) -> None:
        self.rows[field][a] = int(self.rows[field][a]) + delta

    def apply_line(self, a: int, amount: int, pending: bool, sign: int) -> None:
        if amount > 0:
            self._bump(a, "debits_pending" if pending else "debits_posted", sign * amount)
        else:
            self._bump(a, "credits_pending" if pending else "credits_posted", -sign * amount)

    def resolve_line(self, a: int, amount: int, post: bool, sign: int) -> None:
        side = "debits" if amount > 0 else "credits"
        magnitude = abs(amount)
        self._bump(a, f"{side}_pending", -sign * magnitude)
        if post:
            self._bump(a, f"{side}_posted", sign * magnitude)

    def validate_lines(self, e: int) -> tuple[Code, int]:
        b = self.b
        lines = b.lines(e)
        for i in lines:
            if b.amounts[i] == 0 or b.amounts[i] == INT64_MIN:
                return Code.amount_invalid, -1
        for i in lines:
            if not 0 <= b.accounts[i] < len(self.rows):
                return Code.account_not_found, -1
        if not b.flags[e] & ENTRY_VOID_PENDING:
            for i in lines:
                if int(self.rows["flags"][b.accounts[i]]) & ACCOUNT_CLOSED:
                    return Code.account_closed, -1
        if b.books[e] < -1:
            return Code.book_not_found, -1
        book = _entry_book(b, self.rows, e)
        for i in lines:
            if int(self.rows["book"][b.accounts[i]]) != book:
                return Code.cross_book, -1
        return Code.ok, book

    def check_balance(self, e: int) -> Code:
        b = self.b
        pending = bool(b.flags[e] & ENTRY_PENDING)
        group_sums: dict[int, int] = {}
        debit: dict[int, int] = {}
        credit: dict[int, int] = {}
        for i in b.lines(e):
            a, amount = b.accounts[i], b.amounts[i]
            group = int(self.rows["group"][a])
            group_sums[group] = group_sums.get(group, 0) + amount
            if amount > 0:
                debit[a] = debit.get(a, 0) + amount
            else:
                credit[a] = credit.get(a, 0) - amount
        if any(total != 0 for total in group_sums.values()):
            return Code.unbalanced
        if any(v > INT64_MAX for v in (*debit.values(), *credit.values())):
            return Code.overflow
        touched = list(dict.fromkeys(b.accounts[i] for i in b.lines(e)))
        r = self.rows
        for a in touched:
            if debit.get(a, 0) + int(r["debits_posted"][a]) + int(r["debits_pending"][a]) > INT64_MAX:
                return Code.overflow
            if credit.get(a, 0) + int(r["credits_posted"][a]) + int(r["credits_pending"][a]) > INT64_MAX:
                return Code.overflow
        for a in touched:
            if int(r["flags"][a]) & ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS:
                debits = int(r["debits_posted"][a]) + int(r["debits_pending"][a]) + debit.get(a, 0)
                credits = int(r["credits_posted"][a]) + (0 if pending else credit.get(a, 0))
                if debits > credits:
                    return Code.exceeds_credits
        for a in touched:
            if int(r["flags"][a]) & ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS:
                credits = int(r["credits_posted"][a]) + int(r["credits_pending"][a]) + credit.get(a, 0)
                debits = int(r["debits_posted"][a]) + (0 if pending else debit.get(a, 0))
                if credits > debits:
                    return Code.exceeds_debits
        return Code.ok

    def pending_lines(self, p: int) -> list[tuple[int, int]]:
        slot = self.pendings.slots[p]
        start, count = int(slot["lines_start"]), int(slot["lines_count"])
        lines = range(start, start + count)
        return [(int(self.pending_accounts[k]), int(self.pending_amounts[k])) for k in lines]

    def resolve_pending(self, e: int, book: int) -> Code:
        b = self.b
        post = bool(b.flags[e] & ENTRY_POST_PENDING)
        p = self.pendings.find(b.pending_keys[e])
        if p < 0:
            return Code.pending_not_found
        slot = self.pendings.slots[p]
        if int(slot["state"]) != PENDING_OPEN:
            return Code.pending_already_resolved
        if book >= 0 and book != int(slot["book"]):
            return Code.cross_book
        reserved = self.pending_lines(p)
        given = [(b.accounts[i], b.amounts[i]) for i in b.lines(e)]
        if given and given != reserved:
            return Code.pending_lines_differ
        if post and any(int(self.rows["flags"][a]) & ACCOUNT_CLOSED for a, _ in reserved):
            return Code.account_closed
        if b.period_closed is not None and b.period_closed[e]:
            return Code.period_closed
        for a, amount in reserved:
            self.resolve_line(a, amount, post, 1)
        self.pendings.slots["state"][p] = PENDING_POSTED if post else PENDING_VOIDED
        return Code.ok

    def process(self, e: int, last: bool) -> Code:
        b = self.b
        f, key = b.flags[e], b.keys[e]
        lines = b.lines(e)
        resolving = bool(f & (ENTRY_POST_PENDING | ENTRY_VOID_PENDING))
        kinds = sum(bool(f & bit) for bit in (ENTRY_PENDING, ENTRY_POST_PENDING, ENTRY_VOID_PENDING))
        if f & ENTRY_LINKED and last:
            return Code.linked_chain_open
        if key <= 0:
            return Code.key_invalid
        slot = self.entries.find(key)
        if slot >= 0:
            same = int(self.entries.slots["fingerprint"][slot]) == _fingerprint(
                b, self.rows, e, self._book(e)
            )
            return Code.exists if same else Code.exists_with_different_fields
        if f & ~ENTRY_FLAGS_ALL or kinds > 1:
            return Code.flags_invalid
        if resolving != (b.pending_keys[e] != 0) or b.pending_keys[e] < 0:
            return Code.flags_invalid
        if len(lines) < 2 and not (resolving and len(lines) == 0):
            return Code.no_lines
        if len(lines) > self.lines_max:
            return Code.too_many_lines
        code, book = self.validate_lines(e)
        if code != Code.ok:
            return code
        if resolving:
            code = self.resolve_pending(e, book)
            if code == Code.ok:
                self._insert_key(e)
            return code
        if b.period_closed is not None and b.period_closed[e]:
            return Code.period_closed
        code = self.check_balance(e)
        if code != Code.ok:
            return code
        pending = bool(f & ENTRY_PENDING)
        for i in lines:
            self.apply_line(b.accounts[i], b.amounts[i], pending, 1)
        if pending:
            p = self.pendings.insert(key)
            used = int(self.counters[COUNTER_PENDING_LINES])
            slot_row = self.pendings.slots
            slot_row["lines_start"][p] = used
            slot_row["lines_count"][p] = len(lines)
            slot_row["book"][p] = book
            slot_row["state"][p] = PENDING_OPEN
            for k, i in enumerate(lines):
                self.pending_accounts[used + k] = b.accounts[i]
                self.pending_amounts[used + k] = b.amounts[i]
            self.counters[COUNTER_PENDING_LINES] = used + len(lines)
        self._insert_key(e)
        return Code.ok

    def _book(self, e: int) -> int:
        """The book entry e is fingerprinted with: _entry_book, or for an entry without lines
        or a book of its own that names a pending entry, that entry's book (as the kernel)."""
        b = self.b
        book = _entry_book(b, self.rows, e)
        if book == -1 and b.offsets[e + 1] == b.offsets[e] and b.pending_keys[e] > 0:
            p = self.pendings.find(b.pending_keys[e])
            if p >= 0:
                book = int(self.pendings.slots["book"][p])
        return book

    def _insert_key(self, e: int) -> None:
        i = self.entries.insert(self.b.keys[e])
        self.entries.slots["fingerprint"][i] = _fingerprint(self.b, self.rows, e, self._book(e))

    def undo(self, e: int) -> None:
        b = self.b
        f = b.flags[e]
        i = self.entries.remove(b.keys[e])
        self.entries.slots["fingerprint"][i] = 0
        if f & (ENTRY_POST_PENDING | ENTRY_VOID_PENDING):
            p = self.pendings.find(b.pending_keys[e])
            for a, amount in self.pending_lines(p):
                self.resolve_line(a, amount, bool(f & ENTRY_POST_PENDING), -1)
            self.pendings.slots["state"][p] = PENDING_OPEN
            return
        pending = bool(f & ENTRY_PENDING)
        for i in b.lines(e):
            self.apply_line(b.accounts[i], b.amounts[i], pending, -1)
        if pending:
            self.pendings.remove(b.keys[e])
            self.counters[COUNTER_PENDING_LINES] -= len(b.lines(e))

    def run(self, codes: np.ndarray) -> None:
        n = len(self.b.keys)
        chain_start = -1
        chain_failed = False
        for e in range(n):
            code = Code.linked_event_failed if chain_failed else self.process(e, e == n - 1)
            if chain_start < 0 and self.b.flags[e] & ENTRY_LINKED:
                chain_start = e
            if chain_start >= 0:
                if code != Code.ok and not chain_failed:
                    for j in range(e - 1, chain_start - 1, -1):
                        self.undo(j)
                        codes[j] = Code.linked_event_failed
                    chain_failed = True
                if not self.b.flags[e] & ENTRY_LINKED:
                    chain_start, chain_failed = -1, False
            codes[e] = code


def post_batch(keys, offsets, accounts, amounts, dims, flags, dates, pending_keys, books, extra,
               period_closed, account_table, entry_table, pending_table, pending_accounts,
               pending_amounts, counters, groups_count, lines_max, codes):  # fmt: skip
    """Same contract as ledger._native.posting.post_batch."""
    if len(keys) == 0:
        return
    b = _Batch(keys, offsets, accounts, amounts, dims, flags, dates, pending_keys, books, extra,
               period_closed)  # fmt: skip
    kernel = _Kernel(b, account_table, entry_table, pending_table, pending_accounts, pending_amounts,
                     counters, lines_max)  # fmt: skip
    kernel.run(codes)


def _rehash(old: np.ndarray, new: np.ndarray) -> None:
    mask = len(new) - 1
    for slot in old:
        key = int(slot["key"])
        if key > 0:
            j = home_slot(key, mask)
            while int(new["key"][j]) != 0:
                j = (j + 1) & mask
            new[j] = slot


def rehash_entries(old: np.ndarray, new: np.ndarray) -> None:
    """Same contract as ledger._native.posting.rehash_entries."""
    _rehash(old, new)


def rehash_pending(old: np.ndarray, new: np.ndarray) -> None:
    """Same contract as ledger._native.posting.rehash_pending."""
    _rehash(old, new)


def fingerprints(offsets, accounts, amounts, dims, flags, dates, pending_keys, books, extra, account_table,
                 out) -> None:  # fmt: skip
    """Same contract as ledger._native.posting.fingerprints."""
    b = _Batch(np.zeros(len(out), np.int64), offsets, accounts, amounts, dims, flags, dates, pending_keys,
               books, extra, np.zeros(0, np.uint8))  # fmt: skip
    for e in range(len(out)):
        out[e] = _fingerprint(b, account_table, e)


_EPOCH = dt.date(1970, 1, 1)
# The days since 1970-01-01 of 0001-01-01 and 9999-12-31 (Python's dates), and the shift of
# a fold key's account (ledger.periods.PERIOD_BITS).
_DAY_MIN = (dt.date.min - _EPOCH).days
_DAY_MAX = (dt.date.max - _EPOCH).days
_PERIOD_SHIFT = 20
# The canonical layouts of ledger.chain, written out here: the kernel layer does not import
# the core (tests/test_layers.py); test_small_rows_hash_and_extremes holds both to chain's.
_ENTRY_CODES = "qiihqqqi"  # ledger.chain._ENTRY_LAYOUT
_LINE_CODES = "qiiqiiii"  # ledger.chain._LINE_LAYOUT


def _canonical(columns: list[list[int]], codes: str) -> bytes:
    """Each column's length, then its values little-endian (ledger.chain's canonical bytes):
    the low bytes of each value, as numpy's cast to the layout's width keeps them."""
    out = []
    for column, code in zip(columns, codes, strict=True):
        width = struct.calcsize(code)
        out.append(len(column).to_bytes(8, "little"))
        out.extend((value & ((1 << 8 * width) - 1)).to_bytes(width, "little") for value in column)
    return b"".join(out)


def _signed(value: int) -> int:
    """A uint64 as the int64 of the same bits."""
    return value - (1 << 64) if value >= 1 << 63 else value


def mapped_buffer(size: int) -> bytearray:
    """Same contract as ledger._native.posting.mapped_buffer (ordinary memory here)."""
    if size <= 0:
        raise ValueError(f"MappedBuffer: expected a positive size, got {size}")
    return bytearray(size)


def sha256(data: bytes) -> bytes:
    """Same contract as ledger._native.posting.sha256."""
    return hashlib.sha256(bytes(data)).digest()


def small_rows(keys, offsets, accounts, amounts, dims, flags, dates, pending_keys, books, extra,
               account_table, codes, prev_hash, batch_id, texts_digest):  # fmt: skip
    """Same contract as ledger._native.posting.small_rows."""
    if len(codes) < len(keys):
        raise ValueError("small_rows: a key, a date and a code per entry")
    if any(int(code) for code in codes[: len(keys)]):
        return None
    b = _Batch(keys, offsets, accounts, amounts, dims, flags, dates, pending_keys, books, extra,
               np.zeros(0, np.uint8))  # fmt: skip
    n = len(b.keys)
    if n == 0:
        return None
    pending_flags = ENTRY_PENDING | ENTRY_POST_PENDING | ENTRY_VOID_PENDING
    if any(f & pending_flags for f in b.flags) or not all(_DAY_MIN <= d <= _DAY_MAX for d in b.dates):
        return None
    entries, lines = [], []
    fold: tuple[list[int], list[int], list[int]] = ([], [], [])
    for e in range(n):
        book = _entry_book(b, account_table, e)
        fingerprint = _fingerprint(b, account_table, e, book)
        entries.append(
            (b.keys[e], book, b.dates[e], b.flags[e], b.pending_keys[e], _signed(b.extra[e]),
             _signed(fingerprint), len(b.lines(e)))
        )  # fmt: skip
        date = _EPOCH + dt.timedelta(days=b.dates[e])
        for number, i in enumerate(b.lines(e)):
            dims_of_line = b.dims[i] if b.dims is not None else [0, 0, 0, 0]
            lines.append((b.keys[e], number, book, b.accounts[i], b.amounts[i], *dims_of_line))
            fold[0].append(b.accounts[i] << _PERIOD_SHIFT | (date.year * 100 + date.month))
            fold[1].append(int(b.amounts[i] < 0))
            fold[2].append(abs(b.amounts[i]))
    entry_columns = [[entry[c] for entry in entries] for c in range(8)]
    line_columns = [[line[c] for line in lines] for c in (0, 1, 3, 4, 5, 6, 7, 8)]  # not the book
    if len(texts_digest) != 32:
        raise ValueError("small_rows: texts_digest is a SHA-256 (32 bytes)")
    entry_bytes, line_bytes = _canonical(entry_columns, _ENTRY_CODES), _canonical(line_columns, _LINE_CODES)
    parts = sha256(entry_bytes) + sha256(line_bytes) + texts_digest
    digest = sha256(prev_hash + batch_id.to_bytes(8, "little", signed=True) + parts)
    return entries, lines, digest, parts, fold


def codes_table() -> dict[str, int]:
    """Name → value of the result codes the reference uses."""
    return {code.name: int(code) for code in POSTING_CODES}
