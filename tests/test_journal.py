"""aggregate_folds: the monthly sums of fold parts, per (account, month) and column, modulo
2**64 like every stored sum, rows that sum to zero dropped."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.journal import aggregate_folds
from ledger.store.base import key_runs, wrap64

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
