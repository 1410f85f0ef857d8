"""The matching kernel (`ledger._native.reconcile`), its pure-Python twin
(`ledger._reconcile_reference`) and the overflow refusals of the wrapper (`ledger.match`).

On hypothesis-drawn sides (keys from a small pool or anywhere in int64, sides in order or not,
duplicates, keys on one side only, empty sides, extreme amounts and dates) the kernel and the
twin return the same counts, status, findings and group totals; the twin is the definition
written for reading (a dict of each side's records per key, exact Python ints). Overflow is
decided on exact sums, so it does not depend on the order of the rows either.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from ledger import _reconcile_reference as reference
from ledger import match as match_module
from ledger._native import reconcile as native
from ledger.errors import TotalOverflow
from ledger.match import Side, match

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
INT32_MAX = 2**31 - 1
INT32_MIN = -(2**31)
KERNELS = [pytest.param(native, id="native"), pytest.param(reference, id="twin")]


@contextmanager
def using(kernel: ModuleType) -> Iterator[None]:
    """ledger.match.match runs `kernel` inside the block."""
    saved, match_module.kernel = match_module.kernel, kernel
    try:
        yield
    finally:
        match_module.kernel = saved


# --- drawn problems -----------------------------------------------------------------------

SMALL = st.integers(-1_000, 1_000)
HUGE = st.sampled_from([INT64_MAX, INT64_MIN, 2**62, -(2**62), INT64_MAX - 1])
DAYS = st.one_of(st.integers(0, 6), st.sampled_from([INT32_MIN, INT32_MAX, -1]))


@st.composite
def problems(draw, amounts: st.SearchStrategy[int] = SMALL) -> dict:
    """Two sides over a shared pool of keys, dense groups, a window and as_of: the kernel's
    arguments as lists (attr [] or group [] for a side drawn without them)."""
    pool = draw(
        st.one_of(
            st.lists(st.integers(-20, 20), min_size=1, max_size=12),
            st.lists(st.integers(INT64_MIN, INT64_MAX), min_size=1, max_size=12),
            st.just([INT64_MIN, INT64_MAX, 0, -1]),
        )
    )
    groups_count = draw(st.integers(1, 5))

    def side() -> dict:
        count = draw(st.integers(0, 25))
        keys = draw(st.lists(st.sampled_from(pool), min_size=count, max_size=count))
        if draw(st.booleans()):
            keys.sort()  # the kernel's path for a side in key order
        column = lambda values: draw(st.lists(values, min_size=count, max_size=count))  # noqa: E731
        return {
            "key": keys,
            "group": column(st.integers(0, groups_count - 1)) if draw(st.booleans()) else [],
            "attr": column(st.integers(0, 2)) if draw(st.booleans()) else [],
            "amount": column(amounts),
            "date": column(DAYS),
        }

    return {
        "a": side(),
        "b": side(),
        "groups_count": groups_count,
        "window": draw(st.integers(0, 3) | st.just(2**32)),
        "as_of": draw(st.none() | st.integers(-5, 10)),
    }


def arguments(side: dict) -> list[np.ndarray]:
    return [
        np.array(side["key"], np.int64),
        np.array(side["group"], np.int64),
        np.array(side["attr"], np.int64),
        np.array(side["amount"], np.int64),
        np.array(side["date"], np.int32),
    ]


def run(kernel: ModuleType, p: dict) -> tuple[tuple[int, int, int, int], np.ndarray, np.ndarray]:
    """The kernel's answer: (items_count, groups_count, status, where), the findings and the
    groups given (both empty after an overflow)."""
    items = np.zeros((len(p["a"]["key"]) + len(p["b"]["key"]), 13), np.int64)
    groups = np.zeros((12, p["groups_count"]), np.int64)
    result = kernel.match(*arguments(p["a"]), *arguments(p["b"]), p["window"], p["as_of"], items, groups)
    items_count, groups_found, status, _ = result
    if status:
        return result[2:], items[:0], groups[:, :0]
    return result, items[:items_count], groups[:, :groups_found]


STATUSES = ("matched", "a key's amount overflows", "a group's total overflows")


def assert_kernel_is_twin(p: dict) -> str:
    """The kernel and the twin give the same answer; returns what it was."""
    native_answer, native_items, native_groups = run(native, p)
    twin_answer, twin_items, twin_groups = run(reference, p)
    assert native_answer == twin_answer
    assert native_items.tolist() == twin_items.tolist()
    assert native_groups.tolist() == twin_groups.tolist()
    return STATUSES[native_answer[-2]]


@settings(max_examples=150, deadline=None)
@given(problems())
def test_kernel_and_twin_agree(p: dict) -> None:
    event(assert_kernel_is_twin(p))


@settings(max_examples=60, deadline=None)
@given(problems(st.one_of(SMALL, HUGE)))
def test_kernel_and_twin_agree_on_overflow(p: dict) -> None:
    event(assert_kernel_is_twin(p))


@pytest.mark.parametrize(
    "keys",
    [
        pytest.param("dense", id="dense keys: a bucket sort of one pass"),
        pytest.param("wide", id="keys anywhere in int64: many passes per bucket"),
        pytest.param("clustered", id="few distinct keys: large buckets"),
    ],
)
def test_kernel_and_twin_agree_on_larger_sides(keys: str) -> None:
    """Sides large enough for every path of the kernel's sort (the drawn ones are small)."""
    rng = np.random.default_rng(5)
    count = 30_000
    pool = {
        "dense": rng.permutation(count).astype(np.int64) + 10**12,
        "wide": rng.integers(INT64_MIN, INT64_MAX, count, dtype=np.int64),
        "clustered": rng.integers(0, 50, count).astype(np.int64),
    }[keys]
    sides = []
    for _ in range(2):
        chosen = rng.choice(pool, count)
        sides.append({
            "key": chosen.tolist(), "group": rng.integers(0, 700, count).tolist(), "attr": [],
            "amount": rng.integers(-(10**9), 10**9, count).tolist(),
            "date": rng.integers(0, 9, count).tolist(),
        })  # fmt: skip
    assert (
        assert_kernel_is_twin({"a": sides[0], "b": sides[1], "groups_count": 700, "window": 2, "as_of": 20})
        == "matched"
    )


# --- overflow through the wrapper, one case a row ------------------------------------------

# (what, side A's (key, amount, group) records, side B's, the TotalOverflow message)
OVERFLOWS = [
    ("a key's duplicates on A", [(5, INT64_MAX, 0), (5, 1, 0)], [], r"key 5: the sum of its amounts"),
    ("a key's duplicates on B, below", [], [(7, INT64_MIN, 0), (7, -1, 0)], r"key 7: the sum"),
    ("the smaller key first", [(9, INT64_MAX, 0), (9, 1, 0)], [(3, INT64_MIN, 0), (3, -1, 0)], r"key 3: "),
    ("two keys into one group", [(1, 2**62, 3), (2, 2**62, 3)], [], r"group 3: its total_a"),
    ("total_b", [], [(1, INT64_MIN, 1), (2, -1, 1)], r"group 1: "),
    ("the difference only", [(1, INT64_MAX, 0)], [(2, -1, 0)], r"group 0: its total_a, total_b or diff"),
    ("the difference, below", [(1, INT64_MIN, 2)], [(1, 1, 2)], r"group 2: "),
    ("the smaller group first", [(1, INT64_MAX, 4), (2, INT64_MAX, 4), (3, INT64_MAX, 1), (4, 1, 1)], [],
     r"group 1: "),
    ("a sparse group by its value", [(1, 2**62, 10**15), (2, 2**62, 10**15)], [], r"group 10{15}: "),
]  # fmt: skip


def side_of(records: list[tuple[int, int, int]]) -> Side:
    keys, amounts, groups = ([record[i] for record in records] for i in range(3))
    return Side(np.array(keys, np.int64), np.array(amounts, np.int64), np.zeros(len(keys), np.int32),
                group=np.array(groups, np.int64))  # fmt: skip


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize(("what", "a", "b", "message"), OVERFLOWS, ids=[o[0] for o in OVERFLOWS])
def test_overflow_raises_total_overflow(kernel: ModuleType, what: str, a, b, message: str) -> None:
    with using(kernel), pytest.raises(TotalOverflow, match=message):
        match(side_of(a), side_of(b))


# Sums that fit though some order of adding them would wrap in int64.
FITS = [
    ("up and down on one key", [(1, INT64_MAX, 0), (1, 1, 0), (1, -1, 0)], [], INT64_MAX),
    ("down and up on one key", [(1, INT64_MIN, 0), (1, -1, 0), (1, 1, 0)], [], INT64_MIN),
    ("into one group", [(1, INT64_MAX, 0), (2, 5, 0), (3, -5, 0)], [(1, 0, 0)], INT64_MAX),
    ("the difference at the edge", [(1, INT64_MAX - 1, 0)], [(1, -1, 0)], INT64_MAX),
]  # fmt: skip


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize(("what", "a", "b", "difference"), FITS, ids=[f[0] for f in FITS])
def test_exact_sums_that_fit_are_given(kernel: ModuleType, what: str, a, b, difference: int) -> None:
    with using(kernel):
        for order in (a, a[::-1]):
            assert match(side_of(order), side_of(b)).groups.column("difference").to_pylist() == [difference]


def test_native_is_what_the_environment_asks_for() -> None:
    assert match_module.NATIVE is (os.environ.get("LEDGER_NO_EXTENSIONS") != "1")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"amount_a": np.zeros(2, np.int64)}, "side A: key, amount and date need one value a row"),
        ({"group_b": np.zeros(2, np.int64)}, "side B: .*group and attr one or none"),
        ({"attr_a": np.zeros(4, np.int64)}, "side A: .*group and attr one or none"),
        (
            {"items": np.zeros((5, 13), np.int64)},
            r"items: expected \[capacity >= rows of A \+ rows of B, 13\]",
        ),
        ({"items": np.zeros((6, 12), np.int64)}, r"items: expected"),
        ({"groups": np.zeros((11, 3), np.int64)}, r"groups: expected \[12, groups_count"),
        ({"window": -1}, "window: must be >= 0"),
    ],
)
def test_the_kernel_refuses_arrays_of_mismatched_shapes(change: dict, message: str) -> None:
    arguments = {
        **{
            f"{name}_{side}": np.zeros(3, np.int64)
            for name in ("key", "group", "attr", "amount")
            for side in "ab"
        },
        "date_a": np.zeros(3, np.int32),
        "date_b": np.zeros(3, np.int32),
        "window": 0,
        "as_of": None,
        "items": np.zeros((6, 13), np.int64),
        "groups": np.zeros((12, 3), np.int64),
    }
    arguments.update(change)
    with pytest.raises(ValueError, match=message):
        native.match(**arguments)
