"""Differential tests: the compiled kernel and its pure-Python twin on identical input.

The kernel (`ledger._native.posting`) and the reference (`ledger._reference`) must agree on
everything: the code of every entry, every byte of the account table, the entry-key and
pending hash tables (slots, fingerprints, tombstones), the pending line store and the
counters. The auditor of ledger.testing, which shares no code with either, must predict the
same codes and balances.

The main test is a seeded loop: CHUNKS * LEDGERS_PER_CHUNK random ledgers, each taking
BATCHES_PER_LEDGER random batches in turn (so later batches meet pending entries, keys and
tombstones of earlier ones), BATCHES_TOTAL batches in all, the same every run. A failure
names its seed; `python -m pytest tests/test_differential.py -k 'chunk'` reruns it. A
hypothesis variant adds shrinking on top.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import _reference as reference
from ledger import limits
from ledger._native import posting as native
from ledger.codes import Code
from ledger.columns import (
    ACCOUNT_CLOSED,
    ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS,
    ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS,
    ACCOUNT_DTYPE,
    COUNTER_ENTRIES,
    COUNTER_PENDING_LINES,
    COUNTER_PENDINGS,
    ENTRY_SLOT_DTYPE,
    PENDING_OPEN,
    PENDING_POSTED,
    PENDING_SLOT_DTYPE,
    PENDING_VOIDED,
    aligned_zeros,
)
from ledger.testing import (
    GROUPS,
    Auditor,
    Chooser,
    DrawChooser,
    EntrySpec,
    KernelState,
    LineSpec,
    Mix,
    NumpyChooser,
    random_batch,
    to_columns,
)

MAX = 2**63 - 1
CHUNKS = 8
LEDGERS_PER_CHUNK = 15
BATCHES_PER_LEDGER = 10
BATCHES_TOTAL = CHUNKS * LEDGERS_PER_CHUNK * BATCHES_PER_LEDGER
assert BATCHES_TOTAL >= 1_000

# Bad entries of every kind, closed periods, huge amounts, dims, multi-group entries.
MIX = Mix(bad=0.25, huge=0.08, period_closed=0.05, dims=0.3, extra=0.15, multi_group=0.4)
_STATES = {PENDING_OPEN: "open", PENDING_POSTED: "posted", PENDING_VOIDED: "voided"}
_ACCOUNT_FLAGS = [
    0,
    0,
    0,
    ACCOUNT_CLOSED,
    ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS,
    ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS,
    ACCOUNT_CLOSED | ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS,
]


def random_world(ch: Chooser) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int, int]], int]:
    """Accounts (book, group, flags), starting balances (some near INT64_MAX) and lines_max."""
    layout, balances = [], []
    for _ in range(ch.integer(0, 12)):
        flags = _ACCOUNT_FLAGS[ch.integer(0, len(_ACCOUNT_FLAGS) - 1)]
        layout.append((ch.integer(0, 2), ch.integer(0, len(GROUPS) - 1), flags))
        if ch.chance(0.2):
            dp, cp = MAX - ch.integer(0, 10**6), MAX - ch.integer(0, 10**6)
        else:
            dp, cp = ch.integer(0, 10**6), ch.integer(0, 10**6)
        # Starting balances keep the constraints, as every state the kernel made does.
        if flags & ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS:
            dp = min(dp, cp)
        if flags & ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS:
            cp = min(dp, cp)
        balances.append((dp, cp, 0, 0))
    lines_max = limits.lines_max if ch.chance(0.2) else ch.integer(4, 12)
    return layout, balances, lines_max


def assert_same_state(a: KernelState, b: KernelState, where: str) -> None:
    for name, array in a.arrays().items():
        other = b.arrays()[name]
        assert array.shape == other.shape, f"{where}: {name} shapes {array.shape} != {other.shape}"
        assert array.tobytes() == other.tobytes(), f"{where}: {name} differs"


def assert_tables_match_auditor(
    state: KernelState, auditor: Auditor, fingerprints: dict[int, int], where: str
):
    """The hash tables hold exactly the auditor's accepted and pending entries."""
    live = state.entry_table[state.entry_table["key"] > 0]
    assert sorted(live["key"].tolist()) == sorted(auditor.entries), where
    for key, fingerprint in zip(live["key"].tolist(), live["fingerprint"].tolist(), strict=True):
        if key in fingerprints:  # accepted in this batch: stored what fingerprints() computes
            assert fingerprint == fingerprints[key], f"{where}: fingerprint of {key}"
    pendings = state.pending_table[state.pending_table["key"] > 0]
    table = {
        int(p["key"]): (_STATES[int(p["state"])], int(p["book"]), int(p["lines_count"])) for p in pendings
    }
    model = {key: (p.state, p.book, len(p.lines)) for key, p in auditor.pendings.items()}
    assert table == model, where
    assert int(state.counters[COUNTER_ENTRIES]) == len(auditor.entries), where
    assert int(state.counters[COUNTER_PENDINGS]) == len(auditor.pendings), where
    assert int(state.counters[COUNTER_PENDING_LINES]) == sum(len(p.lines) for p in auditor.pendings.values())


def fingerprints_of(kernel, columns, state: KernelState) -> np.ndarray:
    out = np.zeros(len(columns.keys), np.uint64)
    kernel.fingerprints(*columns.fingerprint_args(), state.rows, out)
    return out


def check_batch(
    batch: list[EntrySpec],
    omit_defaults: bool,
    states: tuple[KernelState, KernelState],
    auditor: Auditor,
    where: str,
) -> None:
    """One batch through both kernels and the auditor; everything must agree."""
    fast, slow = states
    columns = to_columns(batch, omit_defaults=omit_defaults)
    prints = fingerprints_of(native, columns, fast)
    assert prints.tolist() == fingerprints_of(reference, columns, slow).tolist(), f"{where}: fingerprints"
    codes = fast.post(native, columns)
    codes_reference = slow.post(reference, columns)
    expected = [int(code) for code in auditor.post(batch)]
    assert codes.tolist() == codes_reference.tolist(), f"{where}: native {codes} reference {codes_reference}"
    for position, (got, want) in enumerate(zip(codes.tolist(), expected, strict=True)):
        assert got == want, (
            f"{where} entry {position} {batch[position]}: {Code(got).name}, auditor {Code(want).name}"
        )
    assert_same_state(fast, slow, where)
    assert fast.balance_rows().tolist() == auditor.balance_rows().tolist(), f"{where}: balances"
    # Stored fingerprints use each entry's resolved book (a post or void without lines or a
    # book of its own: its pending entry's), as the journal passes them.
    resolved = dataclasses.replace(columns, books=np.array([auditor.book_of(e) for e in batch], np.int32))
    stored = fingerprints_of(native, resolved, fast)
    assert stored.tolist() == fingerprints_of(reference, resolved, slow).tolist(), f"{where}: stored"
    accepted = {entry.key: int(fp) for entry, fp, code in zip(batch, stored, codes, strict=True) if code == 0}
    assert_tables_match_auditor(fast, auditor, accepted, where)


def run_ledger(seed: int) -> int:
    """BATCHES_PER_LEDGER batches on one random ledger; returns how many were compared."""
    ch = NumpyChooser(np.random.default_rng(seed))
    layout, balances, lines_max = random_world(ch)
    auditor = Auditor(lines_max=lines_max)
    for account, start in zip(layout, balances, strict=True):
        auditor.add_account(*account, balances=start)
    fast = KernelState(layout, groups_count=len(GROUPS), lines_max=lines_max, balances=balances)
    slow = fast.copy()
    for step in range(BATCHES_PER_LEDGER):
        batch = random_batch(ch, auditor, ch.integer(0, 24), MIX)
        check_batch(batch, ch.chance(0.5), (fast, slow), auditor, f"seed {seed} batch {step}")
    return BATCHES_PER_LEDGER


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_kernel_and_reference_agree_on_random_batches(chunk: int):
    seeds = range(chunk * LEDGERS_PER_CHUNK, (chunk + 1) * LEDGERS_PER_CHUNK)
    compared = sum(run_ledger(seed) for seed in seeds)
    assert compared == LEDGERS_PER_CHUNK * BATCHES_PER_LEDGER


@given(st.data())
def test_kernel_and_reference_agree_shrinking(data: st.DataObject):
    """The same comparison driven by hypothesis, which shrinks a failure to a small batch."""
    ch = DrawChooser(data.draw)
    layout, balances, lines_max = random_world(ch)
    auditor = Auditor(lines_max=lines_max)
    for account, start in zip(layout, balances, strict=True):
        auditor.add_account(*account, balances=start)
    fast = KernelState(layout, groups_count=len(GROUPS), lines_max=lines_max, balances=balances)
    slow = fast.copy()
    for step in range(ch.integer(1, 3)):
        batch = random_batch(ch, auditor, ch.integer(0, 10), MIX)
        check_batch(batch, ch.chance(0.5), (fast, slow), auditor, f"batch {step}")


def test_random_batches_reach_every_posting_code():
    """The generator behind the loop above does produce every code (else agreement is cheap)."""
    produced: set[int] = set()
    for seed in range(40):
        ch = NumpyChooser(np.random.default_rng(seed))
        layout, balances, lines_max = random_world(ch)
        auditor = Auditor(lines_max=lines_max)
        for account, start in zip(layout, balances, strict=True):
            auditor.add_account(*account, balances=start)
        for _ in range(BATCHES_PER_LEDGER):
            produced.update(int(c) for c in auditor.post(random_batch(ch, auditor, ch.integer(0, 24), MIX)))
    missing = {code.name for code in Code if code <= Code.exceeds_debits and int(code) not in produced}
    assert not missing


# --- fingerprints and rehashing -------------------------------------------------------------------


def _fingerprint(kernel, entry: EntrySpec, dims_column: bool) -> int:
    rows = aligned_zeros(3, ACCOUNT_DTYPE)
    rows["book"] = [0, 0, 1]
    columns = to_columns([entry], omit_defaults=not dims_column)
    out = np.zeros(1, np.uint64)
    kernel.fingerprints(*columns.fingerprint_args(), rows, out)
    return int(out[0])


BASE = EntrySpec(
    5, (LineSpec(0, 100, (1, 2, 3, 4)), LineSpec(1, -100, (5, 6, 7, 8))), flags=1, date=19_000, extra=9
)
CHANGED = {
    "flags": EntrySpec(5, BASE.lines, flags=3, date=19_000, extra=9),
    "date": EntrySpec(5, BASE.lines, flags=1, date=19_001, extra=9),
    "book given other": EntrySpec(5, BASE.lines, flags=1, date=19_000, extra=9, book=1),
    "book unknown": EntrySpec(5, BASE.lines, flags=1, date=19_000, extra=9, book=-2),
    "pending key": EntrySpec(5, BASE.lines, flags=1, date=19_000, extra=9, pending=3),
    "extra": EntrySpec(5, BASE.lines, flags=1, date=19_000, extra=10),
    "account": EntrySpec(5, (LineSpec(1, 100, (1, 2, 3, 4)), BASE.lines[1]), flags=1, date=19_000, extra=9),
    "amount": EntrySpec(5, (LineSpec(0, 101, (1, 2, 3, 4)), BASE.lines[1]), flags=1, date=19_000, extra=9),
    "line order": EntrySpec(5, BASE.lines[::-1], flags=1, date=19_000, extra=9),
    "one line more": EntrySpec(5, (*BASE.lines, LineSpec(0, 1)), flags=1, date=19_000, extra=9),
    **{
        f"dim {d}": EntrySpec(
            5,
            (LineSpec(0, 100, tuple(v + (i == d) for i, v in enumerate((1, 2, 3, 4)))), BASE.lines[1]),
            flags=1,
            date=19_000,
            extra=9,
        )
        for d in range(4)
    },
}


@pytest.mark.parametrize("kernel", [native, reference], ids=["native", "reference"])
@pytest.mark.parametrize("field", sorted(CHANGED))
def test_fingerprint_covers_every_field(kernel, field: str):
    assert _fingerprint(kernel, CHANGED[field], True) != _fingerprint(kernel, BASE, True)


@pytest.mark.parametrize("kernel", [native, reference], ids=["native", "reference"])
def test_fingerprint_ignores_the_key_and_resolves_the_book(kernel):
    assert _fingerprint(kernel, dataclasses.replace(BASE, key=77), True) == _fingerprint(kernel, BASE, True)
    # The bulk default (-1: the first line's book) and naming that book are the same entry.
    assert _fingerprint(kernel, dataclasses.replace(BASE, book=0), True) == _fingerprint(kernel, BASE, True)
    # Zero dims in a dims column are the same as no dims column.
    plain = dataclasses.replace(BASE, lines=tuple(LineSpec(x.account, x.amount) for x in BASE.lines))
    assert _fingerprint(kernel, plain, True) == _fingerprint(kernel, plain, False)


def _random_table(rng: np.random.Generator, dtype: np.dtype, capacity: int) -> np.ndarray:
    table = np.zeros(capacity, dtype)
    count = int(rng.integers(0, capacity // 2))
    slots = rng.choice(capacity, size=count, replace=False)
    table["key"][slots] = rng.integers(1, MAX, size=count)
    table["key"][slots[: count // 4]] = -1  # tombstones are dropped by a rehash
    for name in dtype.names[1:]:
        table[name][slots] = rng.integers(0, 1000, size=count)
    return table


@pytest.mark.parametrize("dtype", [ENTRY_SLOT_DTYPE, PENDING_SLOT_DTYPE], ids=["entries", "pending"])
def test_rehash_agrees_and_keeps_every_live_slot(dtype):
    rng = np.random.default_rng(11)
    for _ in range(50):
        old = _random_table(rng, dtype, int(2 ** rng.integers(4, 9)))
        grown = [np.zeros(2 * len(old), dtype) for _ in range(2)]
        rehash = "rehash_entries" if dtype == ENTRY_SLOT_DTYPE else "rehash_pending"
        getattr(native, rehash)(old, grown[0])
        getattr(reference, rehash)(old, grown[1])
        assert grown[0].tobytes() == grown[1].tobytes()
        live = old[old["key"] > 0]
        kept = grown[0][grown[0]["key"] != 0]
        assert sorted(
            kept.tobytes()[i : i + dtype.itemsize] for i in range(0, kept.nbytes, dtype.itemsize)
        ) == sorted(live.tobytes()[i : i + dtype.itemsize] for i in range(0, live.nbytes, dtype.itemsize))


def test_codes_tables_agree():
    assert native.codes_table() == reference.codes_table()
