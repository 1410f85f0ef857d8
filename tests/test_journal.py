"""aggregate_folds: the monthly sums of fold parts, per (account, month) and column, modulo
2**64 like every stored sum, rows that sum to zero dropped. small_rows: a few accepted
ordinary entries as Python rows, the same rows, chain link and fold parts as the vectorised
derivation (line_rows, batch_rows, fold_parts) gives."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import journal
from ledger.columns import ENTRY_PENDING, ENTRY_POST_PENDING, ENTRY_VOID_PENDING
from ledger.journal import (
    SMALL_ENTRIES,
    aggregate_folds,
    batch_rows,
    entry_books,
    line_rows,
    small_rows,
)
from ledger.posting import Engine, make_batch
from ledger.store.base import key_runs, wrap64
from ledger.testing import BOOKS, GROUPS, Auditor, Mix, NumpyChooser, random_batch, to_columns

INT64 = st.integers(-(2**63), 2**63 - 1)


@st.composite
def fold_parts(draw: st.DrawFn) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        n = draw(st.integers(0, 12))
        accounts = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
        periods = draw(st.lists(st.sampled_from([202401, 202402, 202512]), min_size=n, max_size=n))
        columns = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
        values = draw(st.lists(st.one_of(st.integers(-5, 5), INT64), min_size=n, max_size=n))
        keys = (np.array(accounts, np.int64) << 20) | np.array(periods, np.int64)
        parts.append((keys, np.array(columns, np.int8), np.array(values, np.int64)))
    return parts


@settings(max_examples=200, deadline=None)
@given(parts=fold_parts())
def test_aggregate_folds_is_the_plain_sum(parts) -> None:
    expected: dict[tuple[int, int], list[int]] = {}
    for keys, columns, values in parts:
        for key, column, value in zip(keys.tolist(), columns.tolist(), values.tolist(), strict=True):
            row = expected.setdefault((key >> 20, key & 0xFFFFF), [0, 0, 0, 0])
            row[column] += value
    wanted = sorted(
        (k, [wrap64(v) for v in row]) for k, row in expected.items() if any(wrap64(v) for v in row)
    )
    accounts, periods, sums = aggregate_folds(parts)
    got = [
        ((a, p), row) for a, p, row in zip(accounts.tolist(), periods.tolist(), sums.tolist(), strict=True)
    ]
    assert got == wanted
    assert accounts.dtype == np.int32 and periods.dtype == np.int32 and sums.dtype == np.int64


@settings(max_examples=100, deadline=None)
@given(keys=st.lists(st.integers(-3, 3), max_size=20))
def test_key_runs_sum_each_key_once(keys: list[int]) -> None:
    """key_runs' order and run starts give every distinct key once, with its own sum (the
    fold from the tables and aggregate_folds both sum this way)."""
    array = np.array(keys, np.int64)
    order, starts = key_runs(array)
    unique = array[order[starts]]
    sums = np.add.reduceat((array * 10 + 1)[order], starts)
    assert unique.tolist() == sorted(set(keys))
    assert sums.tolist() == [sum(k * 10 + 1 for k in keys if k == key) for key in sorted(set(keys))]


def _engine_and_auditor(rng: np.random.Generator) -> tuple[Engine, Auditor]:
    auditor = Auditor()
    engine = Engine(groups_count=len(GROUPS))
    layouts = [(int(rng.integers(0, len(BOOKS))), int(rng.integers(0, len(GROUPS)))) for _ in range(8)]
    for book, group in layouts:
        auditor.add_account(book, group, 0)
    engine.add_accounts(
        np.array([x[0] for x in layouts], np.int32),
        np.array([x[1] for x in layouts], np.int32),
        np.zeros(len(layouts), np.uint32),
    )
    return engine, auditor


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), omit_defaults=st.booleans())
def test_small_rows_are_the_vectorised_rows(seed: int, omit_defaults: bool) -> None:
    """Batches of 1..SMALL_ENTRIES + 2 random entries (good and bad, pending, posts, voids,
    dimension codes, books given or not, extra hashes), applied one after another: where
    small_rows answers, its entries, lines, hash (and its parts) and fold parts are those
    of the vectorised derivation, and BatchRows.as_small gives the same rows; it answers
    exactly for the batches of at most SMALL_ENTRIES entries, all accepted, none pending,
    posting or voiding."""
    mix = Mix(bad=0.05, pending=0.1, resolve=0.1, linked=0.1, duplicate=0.02, huge=0.0)
    _compare_small_rows(np.random.default_rng(seed), mix, omit_defaults)


def test_small_rows_answer_for_ordinary_batches() -> None:
    """Good ordinary entries only: small_rows answers for every batch of at most
    SMALL_ENTRIES entries (and the rows are the vectorised ones)."""
    mix = Mix(bad=0.0, pending=0.0, resolve=0.0, linked=0.0, duplicate=0.0, huge=0.0)
    small, batches = _compare_small_rows(np.random.default_rng(7), mix, omit_defaults=True)
    assert small == sum(1 for size in batches if size <= SMALL_ENTRIES) > 0


def _compare_small_rows(rng: np.random.Generator, mix: Mix, omit_defaults: bool) -> tuple[int, list[int]]:
    """Run random batches; compare small_rows with the vectorised rows wherever it answers.
    Returns how many batches it answered for, and the batches' sizes."""
    engine, auditor = _engine_and_auditor(rng)
    chooser = NumpyChooser(rng)
    prev_hash, batch_id, answered, sizes = bytes(range(32)), 1, 0, []
    for _ in range(12):
        size = int(rng.integers(1, SMALL_ENTRIES + 3))
        sizes.append(size)
        specs = random_batch(chooser, auditor, size, mix)
        columns = to_columns(specs, omit_defaults=omit_defaults)
        batch = make_batch(**columns.post_columns_kwargs())
        codes = engine.post(batch)
        assert codes.tolist() == [int(c) for c in auditor.post(specs)]
        texts = [(int(batch.keys[0]), "voucher", "R-1")] if int(rng.integers(0, 2)) else []
        small = small_rows(engine, batch, codes, batch_id, prev_hash, texts)
        flags = batch.flags if len(batch.flags) else np.zeros(size, np.uint16)
        pending_like = (flags & (ENTRY_PENDING | ENTRY_POST_PENDING | ENTRY_VOID_PENDING)) != 0
        assert (small is not None) == (size <= SMALL_ENTRIES and not codes.any() and not pending_like.any())
        if small is None:
            continue
        answered += 1
        books = entry_books(engine, batch)
        lines = line_rows(batch, codes, books, batch_id)
        assert lines is not None
        rows = batch_rows(engine, batch, codes, books, lines, prev_hash, texts)
        assert bytes(small.hash) == bytes(rows.hash)
        assert small.hash.parts == rows.hash.parts  # type: ignore[attr-defined]
        twin = rows.as_small()
        assert small.entries == twin.entries and small.lines == twin.lines
        assert (small.entries_count, small.lines_count) == (rows.entries_count, rows.lines_count)
        expected = journal.fold_parts(engine, batch, codes)
        for got, want in zip(small.fold, expected, strict=True):
            assert list(got) == want.tolist()
        prev_hash, batch_id = bytes(rows.hash), batch_id + 1
    return answered, sizes
