"""The numpy dtypes of ledger/columns.py and the kernel's C structs describe the same bytes.

Sizes and offsets are compared with what the structs in `_native/_types.pxd` declare; then
each field is shown to be the one the kernel reads and writes: a value written through
numpy changes the kernel's decision, a value the kernel writes is read back through numpy,
and the padding fields are never touched. Every check runs on the compiled kernel and on the
reference (which goes by field name, so it agrees by construction; the compiled kernel goes
by offset, and is the one these tests are for).
"""

from __future__ import annotations

import numpy as np
import pytest

from ledger import _reference as reference
from ledger._native import posting as native
from ledger.codes import POSTING_CODES, Code
from ledger.columns import (
    ACCOUNT_CLOSED,
    ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS,
    ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS,
    ACCOUNT_DTYPE,
    ACCOUNT_NORMAL_CREDIT,
    BALANCE_FIELDS,
    COUNTER_ENTRIES,
    COUNTER_ENTRY_TOMBSTONES,
    COUNTER_PENDING_LINES,
    COUNTER_PENDING_TOMBSTONES,
    COUNTER_PENDINGS,
    COUNTERS_COUNT,
    ENTRY_LINKED,
    ENTRY_PENDING,
    ENTRY_POST_PENDING,
    ENTRY_SLOT_DTYPE,
    ENTRY_VOID_PENDING,
    PENDING_OPEN,
    PENDING_POSTED,
    PENDING_SLOT_DTYPE,
    PENDING_VOIDED,
    aligned_empty,
    aligned_zeros,
)
from ledger.posting import Engine
from ledger.testing import EntrySpec, KernelState, LineSpec, to_columns

MAX = 2**63 - 1
KERNELS = pytest.mark.parametrize("kernel", [native, reference], ids=["native", "reference"])

# What the packed structs of _native/_types.pxd declare: (field, offset, size).
ACCOUNT_ROW = [
    ("debits_posted", 0, 8),
    ("credits_posted", 8, 8),
    ("debits_pending", 16, 8),
    ("credits_pending", 24, 8),
    ("book", 32, 4),
    ("group", 36, 4),
    ("flags", 40, 4),
    ("reserved", 44, 4),
    ("reserved_tail", 48, 16),
]
ENTRY_SLOT = [("key", 0, 8), ("fingerprint", 8, 8)]
PENDING_SLOT = [
    ("key", 0, 8),
    ("lines_start", 8, 8),
    ("lines_count", 16, 4),
    ("book", 20, 4),
    ("state", 24, 4),
    ("reserved", 28, 4),
]


@pytest.mark.parametrize(
    ("dtype", "size", "fields"),
    [
        (ACCOUNT_DTYPE, 64, ACCOUNT_ROW),
        (ENTRY_SLOT_DTYPE, 16, ENTRY_SLOT),
        (PENDING_SLOT_DTYPE, 32, PENDING_SLOT),
    ],
    ids=["account", "entry slot", "pending slot"],
)
def test_dtype_sizes_and_offsets(dtype, size, fields):
    assert dtype.itemsize == size
    assert not dtype.isalignedstruct
    assert [(name, dtype.fields[name][1], dtype.fields[name][0].itemsize) for name in dtype.names] == fields
    assert all(dtype.fields[name][0].byteorder in "<=|" for name in dtype.names)


def state(accounts: list[tuple[int, int, int]], capacity: int = 16) -> KernelState:
    return KernelState(accounts, groups_count=4, capacity=capacity)


def post(kernel, s: KernelState, *entries: EntrySpec) -> list[Code]:
    return [Code(int(c)) for c in s.post(kernel, to_columns(list(entries)))]


def transfer(key: int, debit: int, credit: int, amount: int = 5, flags: int = 0, **fields) -> EntrySpec:
    return EntrySpec(key, (LineSpec(debit, amount), LineSpec(credit, -amount)), flags=flags, **fields)


@KERNELS
def test_the_kernel_writes_each_balance_field(kernel):
    s = state([(0, 0, 0), (0, 0, 0)])
    assert post(kernel, s, transfer(1, 0, 1, 5), transfer(2, 0, 1, 7, ENTRY_PENDING)) == [Code.ok, Code.ok]
    assert [int(s.rows[f][0]) for f in BALANCE_FIELDS] == [5, 0, 7, 0]
    assert [int(s.rows[f][1]) for f in BALANCE_FIELDS] == [0, 5, 0, 7]


@KERNELS
@pytest.mark.parametrize(
    ("field", "line"),
    [("debits_posted", 5), ("credits_posted", -5), ("debits_pending", 5), ("credits_pending", -5)],
)
def test_the_kernel_reads_each_balance_field(kernel, field, line):
    """A balance written through numpy is what the kernel's overflow check sees."""
    s = state([(0, 0, 0), (0, 0, 0)])
    entry = EntrySpec(1, (LineSpec(0, line), LineSpec(1, -line)))
    s.rows[field][0] = MAX - 5
    assert post(kernel, s.copy(), entry) == [Code.ok]
    s.rows[field][0] = MAX - 4
    assert post(kernel, s, entry) == [Code.overflow]


@KERNELS
def test_the_kernel_reads_book_group_and_flags(kernel):
    s = state([(0, 0, 0), (0, 0, 0)])
    good = transfer(1, 0, 1)
    s.rows["book"][1] = 3
    assert post(kernel, s.copy(), good) == [Code.cross_book]
    s.rows["book"][1] = 0
    s.rows["group"][1] = 2
    assert post(kernel, s.copy(), good) == [Code.unbalanced]
    s.rows["group"][1] = 0
    for bits, code in [
        (ACCOUNT_CLOSED, Code.account_closed),
        (ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS, Code.exceeds_credits),
        (ACCOUNT_NORMAL_CREDIT, Code.ok),
    ]:
        s.rows["flags"][0] = bits
        assert post(kernel, s.copy(), good) == [code]
    s.rows["flags"][0] = 0
    s.rows["flags"][1] = ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS
    assert post(kernel, s.copy(), good) == [Code.exceeds_debits]


@KERNELS
def test_the_kernel_never_touches_the_padding(kernel):
    s = state([(0, 0, 0), (0, 0, 0), (0, 0, 0)], capacity=256)  # no rehash: every slot is the kernel's
    s.rows["reserved"] = 0x5A5A5A5A
    s.rows["reserved_tail"] = 0x5A5A5A5A5A5A5A5A
    s.pending_table["reserved"] = 0x3C3C3C3C
    batch = [transfer(k, k % 3, (k + 1) % 3, k, ENTRY_PENDING if k % 2 else 0) for k in range(1, 40)]
    batch += [EntrySpec(100 + k, (), flags=ENTRY_POST_PENDING, pending=k) for k in range(1, 40, 4)]
    codes = post(kernel, s, *batch)
    assert codes.count(Code.ok) == len(batch)
    assert (s.rows["reserved"] == 0x5A5A5A5A).all()
    assert (s.rows["reserved_tail"] == 0x5A5A5A5A5A5A5A5A).all()
    assert (s.pending_table["key"] > 0).sum() == 20
    assert (s.pending_table["reserved"] == 0x3C3C3C3C).all()


@KERNELS
def test_entry_and_pending_slots(kernel):
    s = state([(0, 0, 0), (1, 0, 0), (1, 0, 0)])
    pending = EntrySpec(42, (LineSpec(1, 9), LineSpec(2, -4), LineSpec(2, -5)), flags=ENTRY_PENDING, book=1)
    assert post(kernel, s, transfer(7, 1, 2), pending) == [Code.ok, Code.ok]
    slots = s.entry_table[s.entry_table["key"] > 0]
    prints = np.zeros(2, np.uint64)
    columns = to_columns([transfer(7, 1, 2), pending])
    kernel.fingerprints(*columns.fingerprint_args(), s.rows, prints)
    assert dict(zip(slots["key"].tolist(), slots["fingerprint"].tolist(), strict=True)) == {
        7: int(prints[0]),
        42: int(prints[1]),
    }
    [slot] = s.pending_table[s.pending_table["key"] == 42]
    assert (int(slot["lines_start"]), int(slot["lines_count"]), int(slot["book"])) == (0, 3, 1)
    assert int(slot["state"]) == PENDING_OPEN
    assert s.pending_accounts[:3].tolist() == [1, 2, 2]
    assert s.pending_amounts[:3].tolist() == [9, -4, -5]
    assert post(kernel, s, EntrySpec(43, (), flags=ENTRY_POST_PENDING, pending=42)) == [Code.ok]
    assert int(s.pending_table["state"][s.pending_table["key"] == 42][0]) == PENDING_POSTED
    second = EntrySpec(44, (LineSpec(1, 1), LineSpec(2, -1)), flags=ENTRY_PENDING)
    assert post(kernel, s, second, EntrySpec(45, (), flags=ENTRY_VOID_PENDING, pending=44)) == [
        Code.ok,
        Code.ok,
    ]
    [slot] = s.pending_table[s.pending_table["key"] == 44]
    assert (int(slot["lines_start"]), int(slot["lines_count"]), int(slot["state"])) == (3, 2, PENDING_VOIDED)


@KERNELS
def test_counters(kernel):
    s = state([(0, 0, 0), (0, 0, 0)])
    assert len(s.counters) == COUNTERS_COUNT
    chain = [
        transfer(1, 0, 1, 3, ENTRY_PENDING | ENTRY_LINKED),
        transfer(2, 0, 1, 0),
    ]  # amount 0 fails the chain
    assert post(kernel, s, transfer(9, 0, 1, 4, ENTRY_PENDING), *chain) == [
        Code.ok,
        Code.linked_event_failed,
        Code.amount_invalid,
    ]
    counters = dict.fromkeys(range(COUNTERS_COUNT))
    for index in counters:
        counters[index] = int(s.counters[index])
    assert counters == {
        COUNTER_ENTRIES: 1,
        COUNTER_ENTRY_TOMBSTONES: 1,
        COUNTER_PENDINGS: 1,
        COUNTER_PENDING_TOMBSTONES: 1,
        COUNTER_PENDING_LINES: 2,
    }


@pytest.mark.parametrize("count", [0, 1, 3, 1000, 1025])
@pytest.mark.parametrize(
    "dtype", [ACCOUNT_DTYPE, ENTRY_SLOT_DTYPE, np.dtype(np.int64)], ids=["account", "slot", "i8"]
)
def test_aligned_arrays(count, dtype):
    for make in (aligned_empty, aligned_zeros):
        array = make(count, dtype)
        assert count == 0 or array.ctypes.data % 64 == 0  # an empty array has no first element
        assert array.dtype == dtype and array.shape == (count,)
        assert array.flags.c_contiguous and array.flags.writeable
    assert not aligned_zeros(count, dtype).view(np.uint8).any()


def test_the_engine_account_table_is_64_byte_aligned_as_it_grows():
    engine = Engine(groups_count=1)
    for count in (1, 1023, 1, 2000, 5000):
        engine.add_accounts(np.zeros(count, np.int32), np.zeros(count, np.int32), np.zeros(count, np.uint32))
        assert engine.rows.ctypes.data % 64 == 0
        assert engine.rows.dtype == ACCOUNT_DTYPE


@KERNELS
def test_codes_table_is_the_posting_codes(kernel):
    assert kernel.codes_table() == {code.name: code.value for code in POSTING_CODES}
