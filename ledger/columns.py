"""Column layouts shared by the kernel, its pure-Python twin, the store and the files.

The account table is one numpy structured array of 64-byte rows (one cache line each), the
entry-key and pending tables are open-addressing hash tables in numpy arrays, and a batch is
a set of flat columns (CSR: entry offsets into line arrays). Everything the kernel reads or
writes is declared here, so the Cython structs in ``_native/_types.pxd`` and these dtypes
describe the same bytes; a test checks they agree.
"""

from __future__ import annotations

import numpy as np

# Account flags (uint32).
ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS = 1
ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS = 2
ACCOUNT_CLOSED = 4
ACCOUNT_NORMAL_CREDIT = 8
ACCOUNT_FLAGS_ALL = 15

# Entry flags (uint16).
ENTRY_LINKED = 1
ENTRY_PENDING = 2
ENTRY_POST_PENDING = 4
ENTRY_VOID_PENDING = 8
ENTRY_FLAGS_ALL = 15

# Pending entry states.
PENDING_OPEN = 1
PENDING_POSTED = 2
PENDING_VOIDED = 3

# One row per account: the four balances, then what the kernel validates against; padded to
# 64 bytes so that a row is one cache line (the table is 64-byte aligned).
ACCOUNT_DTYPE = np.dtype(
    [
        ("debits_posted", "<i8"),
        ("credits_posted", "<i8"),
        ("debits_pending", "<i8"),
        ("credits_pending", "<i8"),
        ("book", "<i4"),
        ("group", "<i4"),
        ("flags", "<u4"),
        ("reserved", "<i4"),
        ("reserved_tail", "<i8", (2,)),
    ]
)
BALANCE_FIELDS = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")

# Entry-key table slot: key 0 is empty, -1 a tombstone (keys are positive).
ENTRY_SLOT_DTYPE = np.dtype([("key", "<i8"), ("fingerprint", "<u8")])

# Pending table slot: the pending entry's lines live in the pending line store at
# [lines_start, lines_start + lines_count).
PENDING_SLOT_DTYPE = np.dtype(
    [
        ("key", "<i8"),
        ("lines_start", "<i8"),
        ("lines_count", "<i4"),
        ("book", "<i4"),
        ("state", "<i4"),
        ("reserved", "<i4"),
    ]
)

SLOT_EMPTY = 0
SLOT_TOMBSTONE = -1

# Counters the kernel keeps in one int64 array (indices).
COUNTER_ENTRIES = 0  # live keys in the entry table
COUNTER_ENTRY_TOMBSTONES = 1
COUNTER_PENDINGS = 2
COUNTER_PENDING_TOMBSTONES = 3
COUNTER_PENDING_LINES = 4  # used length of the pending line store
COUNTERS_COUNT = 5


def aligned_empty(count: int, dtype: np.dtype, alignment: int = 64) -> np.ndarray:
    """An uninitialised 1-d array whose first element starts on an `alignment` boundary."""
    nbytes = count * dtype.itemsize
    raw = np.empty(nbytes + alignment, dtype=np.uint8)
    offset = (-raw.ctypes.data) % alignment
    return raw[offset : offset + nbytes].view(dtype)


def aligned_zeros(count: int, dtype: np.dtype, alignment: int = 64) -> np.ndarray:
    """Like aligned_empty, zero-filled."""
    array = aligned_empty(count, dtype, alignment)
    array.view(np.uint8)[:] = 0
    return array


__all__ = [
    "ACCOUNT_CLOSED",
    "ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS",
    "ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS",
    "ACCOUNT_DTYPE",
    "ACCOUNT_FLAGS_ALL",
    "ACCOUNT_NORMAL_CREDIT",
    "BALANCE_FIELDS",
    "COUNTERS_COUNT",
    "COUNTER_ENTRIES",
    "COUNTER_ENTRY_TOMBSTONES",
    "COUNTER_PENDINGS",
    "COUNTER_PENDING_LINES",
    "COUNTER_PENDING_TOMBSTONES",
    "ENTRY_FLAGS_ALL",
    "ENTRY_LINKED",
    "ENTRY_PENDING",
    "ENTRY_POST_PENDING",
    "ENTRY_SLOT_DTYPE",
    "ENTRY_VOID_PENDING",
    "PENDING_OPEN",
    "PENDING_POSTED",
    "PENDING_SLOT_DTYPE",
    "PENDING_VOIDED",
    "SLOT_EMPTY",
    "SLOT_TOMBSTONE",
    "aligned_empty",
    "aligned_zeros",
]
