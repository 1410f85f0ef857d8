"""aggregate_folds: the monthly sums of fold parts, per (account, month) and column, modulo
2**64 like every stored sum, rows that sum to zero dropped."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.journal import aggregate_folds
from ledger.store.base import wrap64

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
