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
import hashlib
import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import _reference as reference
from ledger import chain, limits, posting
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
    rows = native.small_rows(columns.keys, *columns.fingerprint_args(), fast.rows, codes, *LINK)
    assert rows == reference.small_rows(columns.keys, *columns.fingerprint_args(), slow.rows, codes, *LINK), (
        where
    )
    if rows is not None:  # every entry accepted: what the journal stores, one fingerprint each
        assert not codes.any(), where
        assert [entry[6] for entry in rows[0]] == stored.view(np.int64).tolist(), f"{where}: rows"
    # Every entry taken as ordinary and accepted: rows for any batch, the two kernels alike.
    plain = dataclasses.replace(columns, flags=np.zeros(0, np.uint16))
    accepted_all = np.zeros(len(codes), np.uint8)
    rows = native.small_rows(plain.keys, *plain.fingerprint_args(), fast.rows, accepted_all, *LINK)
    assert rows == reference.small_rows(
        plain.keys, *plain.fingerprint_args(), slow.rows, accepted_all, *LINK
    ), where


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


# --- small_rows ------------------------------------------------------------------------------------


# The chain link small_rows is asked for: previous hash, batch id, the texts' digest.
LINK = (bytes(range(32)), 41, hashlib.sha256(b"texts").digest())


def _small_rows(kernel, entries: list[EntrySpec], omit_defaults: bool = True):
    rows = aligned_zeros(3, ACCOUNT_DTYPE)
    rows["book"] = [0, 0, 1]
    columns = to_columns(entries, omit_defaults=omit_defaults)
    return kernel.small_rows(
        columns.keys, *columns.fingerprint_args(), rows, np.zeros(len(entries), np.uint8), *LINK
    )


# Days since 1970-01-01: 0001-01-01 and 9999-12-31; 2000-02-29 and 2000-03-01 (a leap year by
# the 400-year rule); 1900-02-28, 1900-03-01, 2100-01-01 and 2100-03-01 (centuries that are not
# leap years); 1969-12-31, 1970-01-01 and 2000-01-01.
DAYS = [-719_162, 2_932_896, 11_016, -1, 0, -25_508, -25_509, 11_017, 10_957, 47_541, 47_482]


@pytest.mark.parametrize("day", DAYS)
def test_small_rows_months_at_the_calendar_edges(day: int):
    import datetime as dt

    date = dt.date(1970, 1, 1) + dt.timedelta(days=day)
    entry = EntrySpec(5, (LineSpec(2, 100), LineSpec(1, -100)), date=day)
    got = _small_rows(native, [entry])
    assert got == _small_rows(reference, [entry])
    assert got is not None
    assert got[4] == (
        [2 << 20 | date.year * 100 + date.month, 1 << 20 | date.year * 100 + date.month],
        [0, 1],
        [100, 100],
    )


@pytest.mark.parametrize("day", [-719_163, 2_932_897, -(2**31), 2**31 - 1])
def test_small_rows_leave_dates_beyond_python_to_the_columns(day: int):
    entry = EntrySpec(5, (LineSpec(0, 100), LineSpec(1, -100)), date=day)
    assert _small_rows(native, [entry]) is None
    assert _small_rows(reference, [entry]) is None


@pytest.mark.parametrize("flags", [2, 4, 8])  # pending, post, void
def test_small_rows_leave_pending_posts_and_voids_to_the_columns(flags: int):
    entries = [
        EntrySpec(4, (LineSpec(0, 1), LineSpec(1, -1))),
        EntrySpec(5, (LineSpec(0, 1), LineSpec(1, -1)), flags=flags),
    ]
    assert _small_rows(native, entries) is None
    assert _small_rows(reference, entries) is None
    assert _small_rows(native, []) is None


@pytest.mark.parametrize("kernel", [native, reference], ids=["native", "reference"])
def test_small_rows_only_for_accepted_batches(kernel):
    columns = to_columns(
        [EntrySpec(4, (LineSpec(0, 1), LineSpec(1, -1))), EntrySpec(5, (LineSpec(0, 2), LineSpec(1, -2)))]
    )
    rows = aligned_zeros(3, ACCOUNT_DTYPE)
    args = (columns.keys, *columns.fingerprint_args(), rows)
    assert kernel.small_rows(*args, np.zeros(2, np.uint8), *LINK) is not None
    for refused in ([0, int(Code.exists)], [int(Code.unbalanced), 0]):
        assert kernel.small_rows(*args, np.array(refused, np.uint8), *LINK) is None


def _post_args(**changes) -> list:
    """post_batch's arguments for two good entries, with some replaced."""
    state = KernelState([(0, 0, 0), (0, 0, 0)], groups_count=1)
    entries = [
        EntrySpec(4, (LineSpec(0, 1), LineSpec(1, -1))),
        EntrySpec(5, (LineSpec(1, 2), LineSpec(0, -2))),
    ]
    columns = to_columns(entries, omit_defaults=False)
    args = {
        **{
            name: getattr(columns, name)
            for name in ("keys", "offsets", "accounts", "amounts", "dims", "flags")
        },
        **{name: getattr(columns, name) for name in ("dates", "pending", "books", "extra", "period_closed")},
        **{
            name: getattr(state, name)
            for name in ("rows", "entry_table", "pending_table", "pending_accounts")
        },
        "pending_amounts": state.pending_amounts,
        "counters": state.counters,
        "groups_count": 1,
        "lines_max": 8,
        "codes": np.full(2, 255, np.uint8),
    }
    args.update(changes)
    return list(args.values())


def _read_only(array: np.ndarray) -> np.ndarray:
    array = array.copy()
    array.flags.writeable = False
    return array


_POST_NAMES = (
    *("keys", "offsets", "accounts", "amounts", "dims", "flags", "dates", "pending", "books", "extra"),
    *("period_closed", "rows", "entry_table", "pending_table", "pending_accounts", "pending_amounts"),
    *("counters", "groups_count", "lines_max", "codes"),
)
OTHER_STRUCT = [(f"f{i}", "<i8") for i in range(8)]  # 64 bytes, as an account row, other fields

# case -> (argument, how it is spoiled, what the error names)
BAD_ARRAYS = {
    "keys as int32": ("keys", lambda a: a.astype(np.int32), "keys: expected"),
    "amounts not contiguous": ("amounts", lambda a: np.repeat(a, 2)[::2], "amounts: expected"),
    "amounts big-endian": ("amounts", lambda a: a.astype(">i8"), "amounts: expected"),
    "accounts as int64": ("accounts", lambda a: a.astype(np.int64), "accounts: expected"),
    "accounts as 2-d": ("accounts", lambda a: a.reshape(2, -1), "accounts: expected"),
    "dims of 3 codes": ("dims", lambda a: np.zeros((4, 3), np.int32), "dims: expected"),
    "dims of 1 dimension": ("dims", lambda a: np.zeros(0, np.int32), "dims: expected"),
    "flags as int16": ("flags", lambda a: a.astype(np.int16), "flags: expected"),
    "extra as int64": ("extra", lambda a: a.astype(np.int64), "extra: expected"),
    "rows of another struct": ("rows", lambda a: np.zeros(len(a), OTHER_STRUCT), "account_table: expected"),
    "entry table as pairs": (
        "entry_table",
        lambda a: np.zeros((len(a), 2), np.int64),
        "entry_table: expected",
    ),
    "codes read-only": ("codes", _read_only, "codes: expected a writable"),
    "counters read-only": ("counters", _read_only, "counters: expected a writable"),
    "too few codes": ("codes", lambda a: a[:1], "a code per entry"),
    "too few counters": ("counters", lambda a: a[:2], "every counter"),
    "offsets decreasing": (
        "offsets",
        lambda a: np.array([0, 3, 2], np.int64),
        "offsets: expected offsets that do",
    ),
    "offsets not from 0": ("offsets", lambda a: a + 1, "offsets: expected n . 1 offsets from 0"),
    "no offsets": ("offsets", lambda a: a[:0], "offsets: expected n . 1 offsets from 0"),
    "offsets past the lines": ("offsets", lambda a: np.array([0, 2, 5], np.int64), "one per line"),
    "dims short": ("dims", lambda a: np.zeros((3, 4), np.int32), "one per line"),
    "keys short": ("keys", lambda a: a[:1], "keys and dates: one per entry"),
    "dates short": ("dates", lambda a: a[:1], "keys and dates: one per entry"),
    "flags short": ("flags", lambda a: a[:1], "flags: one per entry"),
    "pending short": ("pending", lambda a: a[:1], "pending_keys: one per entry"),
    "books short": ("books", lambda a: a[:1], "books: one per entry"),
    "extra short": ("extra", lambda a: a[:1], "extra: one per entry"),
    "period_closed short": ("period_closed", lambda a: np.zeros(1, np.uint8), "period_closed: one per entry"),
}


@pytest.mark.parametrize("case", sorted(BAD_ARRAYS))
def test_kernel_refuses_arrays_of_the_wrong_kind(case: str):
    """A column of the wrong dtype, layout, writability or length, or offsets that would read
    past the lines, is a ValueError naming it, and nothing is posted."""
    name, spoil, message = BAD_ARRAYS[case]
    args = dict(zip(_POST_NAMES, _post_args(), strict=True))
    before = {key: value.copy() for key, value in args.items() if isinstance(value, np.ndarray)}
    args[name] = spoil(args[name])
    with pytest.raises(ValueError, match=message):
        native.post_batch(*args.values())
    for key, value in before.items():  # every array the call could write is as it was
        if key != name:
            assert args[key].tobytes() == value.tobytes(), key
    good = _post_args()
    native.post_batch(*good)  # the same call with good arrays goes through
    assert good[-1].tolist() == [0, 0]


def test_kernel_takes_equivalent_dtypes():
    """long long is int64 on this platform: the kernel takes it as numpy does."""
    args = dict(zip(_POST_NAMES, _post_args(), strict=True))
    args["keys"] = args["keys"].astype(np.longlong)
    args["amounts"] = args["amounts"].astype("=q")
    native.post_batch(*args.values())
    assert args["codes"].tolist() == [0, 0]


def test_kernel_refuses_none_for_an_array():
    args = _post_args()
    columns = to_columns([EntrySpec(4, (LineSpec(0, 1), LineSpec(1, -1)))], omit_defaults=False)
    rows = aligned_zeros(2, ACCOUNT_DTYPE)
    for position in range(len(args)):
        if isinstance(args[position], np.ndarray):
            with pytest.raises(TypeError):
                native.post_batch(*args[:position], None, *args[position + 1 :])
    fingerprint_args = [*columns.fingerprint_args(), rows, np.zeros(1, np.uint64)]
    for position in range(len(fingerprint_args)):
        with pytest.raises(TypeError):
            native.fingerprints(*fingerprint_args[:position], None, *fingerprint_args[position + 1 :])
    small_args = [columns.keys, *columns.fingerprint_args(), rows, np.zeros(1, np.uint8)]
    for position in range(len(small_args)):
        with pytest.raises(TypeError):
            native.small_rows(*small_args[:position], None, *small_args[position + 1 :], *LINK)


def test_small_rows_and_fingerprints_refuse_arrays_of_the_wrong_kind():
    columns = to_columns([EntrySpec(4, (LineSpec(0, 1), LineSpec(1, -1)))], omit_defaults=False)
    rows = aligned_zeros(2, ACCOUNT_DTYPE)
    args = [columns.keys, *columns.fingerprint_args()]
    with pytest.raises(ValueError, match="dates"):
        native.small_rows(*args[:6], args[6].astype(np.int64), *args[7:], rows, np.zeros(1, np.uint8), *LINK)
    with pytest.raises(ValueError, match="codes"):
        native.small_rows(*args, rows, np.zeros(1, np.int8), *LINK)
    two = to_columns([EntrySpec(4, (LineSpec(0, 1), LineSpec(1, -1)))] * 2, omit_defaults=False)
    backwards = [two.keys, np.array([0, 3, 1], np.int64), *two.fingerprint_args()[1:]]
    with pytest.raises(ValueError, match="offsets"):  # the rows' bytes are sized by the last offset
        native.small_rows(*backwards, rows, np.zeros(2, np.uint8), *LINK)
    with pytest.raises(ValueError, match="a key, a date and a code"):
        native.small_rows(*args, rows, np.zeros(0, np.uint8), *LINK)
    for kernel in (native, reference):
        with pytest.raises(ValueError, match="texts_digest"):
            kernel.small_rows(*args, rows, np.zeros(1, np.uint8), *LINK[:2], b"short")
    with pytest.raises(TypeError):
        native.small_rows(*args, rows, np.zeros(1, np.uint8), None, 1, LINK[2])
    with pytest.raises(ValueError, match="out"):
        native.fingerprints(*args[1:], rows, np.zeros(1, np.int64))
    with pytest.raises(ValueError, match="more outputs"):
        native.fingerprints(*args[1:], rows, np.zeros(2, np.uint64))
    with pytest.raises(ValueError, match="offsets"):
        native.fingerprints(args[1][:0], *args[2:], rows, np.zeros(0, np.uint64))


def test_small_rows_hash_and_extremes():
    """Extreme keys, amounts and codes: the same rows, hash and fold parts either way, and the
    hash and parts are ledger.chain's over the rows' columns, as lists and as arrays."""
    entries = [
        EntrySpec(MAX, (LineSpec(2, MAX, (-1, 2**31 - 1, -(2**31), 7)), LineSpec(0, -MAX)), extra=2**64 - 1),
        EntrySpec(1, (LineSpec(1, -(2**62)), LineSpec(1, 2**62)), book=1, date=-5, extra=2**63),
    ]
    got = _small_rows(native, entries, omit_defaults=False)
    assert got == _small_rows(reference, entries, omit_defaults=False)
    assert got == _small_rows(native, entries, omit_defaults=True)
    entry_rows, line_rows, digest, parts, fold = got
    assert [row[5] for row in entry_rows] == [-1, -(2**63)]  # extra as int64
    assert [row[1] for row in entry_rows] == [1, 1]  # book: the first line's account's, or given
    assert line_rows[0] == (MAX, 0, 1, 2, MAX, -1, 2**31 - 1, -(2**31), 7)
    assert fold[2] == [MAX, MAX, 2**62, 2**62] and fold[1] == [0, 1, 1, 0]
    entry_columns = [[row[c] for row in entry_rows] for c in range(8)]
    line_columns = [[row[c] for row in line_rows] for c in (0, 1, 3, 4, 5, 6, 7, 8)]
    prev_hash, batch_id, texts = LINK
    for columns in (
        (entry_columns, line_columns),
        ([np.array(c) for c in entry_columns], [np.array(c) for c in line_columns]),
    ):
        expected = chain.batch_parts(*columns, [])
        assert parts[:64] == expected[:64] and parts[64:] == texts
    assert digest == chain.link_hash(prev_hash, batch_id, parts)


def test_sha256_is_hashlibs():
    """The kernel's SHA-256: every length around the block and padding boundaries, random
    data, and FIPS 180-2's examples."""
    rng = np.random.default_rng(5)
    for size in [*range(0, 200), 447, 448, 511, 512, 513, 4096, 100_003]:
        data = rng.integers(0, 256, size, np.uint8).tobytes()
        assert native.sha256(data) == hashlib.sha256(data).digest(), size
    assert native.sha256(b"abc").hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    two_blocks = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
    assert (
        native.sha256(two_blocks).hex() == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    )


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


# --- memory of its own mapping ----------------------------------------------------------------


@pytest.mark.parametrize(
    "array",
    [
        np.arange(10, dtype=np.int64),  # small: an ordinary numpy copy
        np.arange(3_000_000, dtype=np.int64),  # 24 MB: mapped
        np.arange(4_000_000, dtype=np.int32).reshape(-1, 4),  # dims-shaped
        np.arange(6_000_000, dtype=np.int64)[::2],  # not contiguous
        np.zeros(0, np.uint16),
    ],
    ids=["small", "large", "2-d", "strided", "empty"],
)
def test_kept_copy_is_an_independent_writable_copy(array: np.ndarray):
    copy = posting.kept_copy(array)
    assert copy.dtype == array.dtype and copy.shape == array.shape and np.array_equal(copy, array)
    assert copy.flags.c_contiguous and copy.flags.writeable
    if array.size:
        copy.flat[0] += 1  # writing the copy leaves the source as it was
        assert copy.flat[0] != array.flat[0]


def test_mapped_memory_is_traced_and_released():
    """tracemalloc counts a mapped copy while it lives (in numpy's domain) and not after."""
    source = np.ones(2_000_000, np.int64)  # 16 MB
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        copy = posting.kept_copy(source)
        held = tracemalloc.get_traced_memory()[0] - before
        del copy
        after = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert source.nbytes <= held < source.nbytes + 4096
    assert after < 4096


@pytest.mark.parametrize("kernel", [native, reference], ids=["native", "reference"])
def test_mapped_buffer_is_zeroed_and_refuses_sizes_below_one(kernel):
    buffer = kernel.mapped_buffer(10_000)
    assert len(buffer) == 10_000 and bytes(memoryview(buffer)) == bytes(10_000)
    memoryview(buffer)[5] = 7
    assert memoryview(buffer)[5] == 7
    for size in (0, -1):
        with pytest.raises(ValueError, match="positive size"):
            kernel.mapped_buffer(size)
