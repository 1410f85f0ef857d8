"""The rollup kernel (`ledger._native.rollup`), its pure-Python twin (`ledger._rollup_reference`)
and the checking wrapper (`ledger.rollup.rollup`).

On hypothesis-drawn forests, keys, trees and amounts the kernel and the twin return the same
thing, and both match a brute force that shares no code with them: a node's total is the
sum of the amounts of the rows whose key sits at the node or below it, once per tree, in
Python ints; the call returns -1 and those totals when every total fits in int64, else the
last node whose total does not. The kernel is held to that for any amounts (its answer does
not depend on the order of its additions); the wrapper only lets non-negative ones through.
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from ledger import _rollup_reference as reference
from ledger import rollup as rollup_module
from ledger._native import rollup as native
from ledger.errors import InvalidInput, LimitExceeded, TotalOverflow
from ledger.rollup import rollup

ROOT = Path(__file__).resolve().parents[1]
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
KERNELS = [pytest.param(native, id="native"), pytest.param(reference, id="twin")]


@contextmanager
def using(kernel: ModuleType):
    """ledger.rollup.rollup runs `kernel` inside the block."""
    saved, rollup_module.kernel = rollup_module.kernel, kernel
    try:
        yield
    finally:
        rollup_module.kernel = saved


# --- the brute force: the definition, node by node -----------------------------------------


def columns_of(values: list[list[int]], signed: bool) -> list[list[int]]:
    """The amounts each row adds: its values, or (debit, credit) of its signed amount."""
    if signed:
        return [[amount, 0] if amount >= 0 else [0, -amount] for (amount,) in values]
    return values


def brute_force(keys, values, signed, key_leaf, parent, k: int = 1) -> tuple[int, list[list[int]]]:
    """(-1 or the last node whose total leaves int64, every node's exact total); `k`, the
    number of value columns, matters only without rows."""
    values = columns_of(values, signed)
    totals = [[0] * (2 if signed else len(values[0]) if values else k) for _ in parent]
    for node in range(len(parent)):
        for key, row in zip(keys, values, strict=True):
            if key == -1:
                continue
            for tree in key_leaf:
                if is_at_or_below(tree[key], node, parent):
                    totals[node] = [total + amount for total, amount in zip(totals[node], row, strict=True)]
    outside = [node for node, row in enumerate(totals) if any(not INT64_MIN <= t <= INT64_MAX for t in row)]
    return (max(outside) if outside else -1), totals


def is_at_or_below(leaf: int, node: int, parent: list[int]) -> bool:
    while leaf != -1:
        if leaf == node:
            return True
        leaf = parent[leaf]
    return False


# --- drawn problems -----------------------------------------------------------------------

SMALL = st.integers(0, 1_000)
HUGE = st.integers(2**61, INT64_MAX)
UNSIGNED = st.one_of(SMALL, SMALL, SMALL, HUGE)
# Any int64, the kernel's contract (the wrapper refuses the negative ones).
ANY = st.one_of(SMALL, SMALL, st.integers(-1_000, 0), HUGE, st.integers(INT64_MIN, -(2**61)))
SIGNED = st.one_of(
    st.integers(-1_000, 1_000), st.integers(-1_000, 1_000), HUGE, st.integers(INT64_MIN, -(2**61)),
    st.just(INT64_MIN),
)  # fmt: skip


@st.composite
def problems(draw, amounts: st.SearchStrategy[int], signed: bool) -> dict:
    """A forest, keys placed in 1-3 trees, rows of keys and amounts: the kernel's arguments
    as lists. Few keys or many, so that both of the kernel's row paths are drawn (straight
    into the leaves when rows * trees <= keys, else through the per-key scratch)."""
    nodes_count = draw(st.integers(0, 12))
    parent = [draw(st.integers(-1, node - 1)) for node in range(nodes_count)]
    keys_count = draw(st.integers(0, 6) | st.integers(7, 40))
    trees_count = draw(st.integers(1, 3))
    leaf = st.integers(-1, nodes_count - 1)
    key_leaf = draw(st.lists(st.lists(leaf, min_size=keys_count, max_size=keys_count),
                             min_size=trees_count, max_size=trees_count))  # fmt: skip
    keys = draw(st.lists(st.integers(-1, keys_count - 1), max_size=30))
    k = 1 if signed else draw(st.integers(1, 3))
    values = draw(st.lists(st.lists(amounts, min_size=k, max_size=k), min_size=len(keys), max_size=len(keys)))
    return {"keys": keys, "values": values, "signed": signed, "key_leaf": key_leaf, "parent": parent, "k": k}


def arrays(p: dict) -> tuple[np.ndarray, ...]:
    """The kernel's arguments as arrays, and zeroed totals."""
    k = p["k"]
    keys_count = len(p["key_leaf"][0])
    return (
        np.array(p["keys"], np.int32),
        np.array(p["values"], np.int64).reshape(len(p["keys"]), k),
        np.array(p["key_leaf"], np.int32).reshape(len(p["key_leaf"]), keys_count),
        np.array(p["parent"], np.int32),
        np.zeros((len(p["parent"]), 2 if p["signed"] else k), np.int64),
    )


def assert_matches_brute_force(p: dict) -> None:
    expected, exact = brute_force(p["keys"], p["values"], p["signed"], p["key_leaf"], p["parent"], p["k"])
    event("overflow" if expected >= 0 else "totals")
    direct = len(p["keys"]) * len(p["key_leaf"]) <= len(p["key_leaf"][0])
    event("rows straight into the leaves" if direct else "rows through the per-key scratch")
    for kernel in (native, reference):
        keys, values, key_leaf, parent, totals = arrays(p)
        assert kernel.rollup(keys, values, p["signed"], key_leaf, parent, totals) == expected, kernel
        if expected == -1:
            assert totals.tolist() == exact, kernel
            assert_nodes_add_up(p, totals)


def assert_nodes_add_up(p: dict, totals: np.ndarray) -> None:
    """Every node's total is its own keys' amounts plus its children's totals."""
    own = [[0] * totals.shape[1] for _ in p["parent"]]
    for key, row in zip(p["keys"], columns_of(p["values"], p["signed"]), strict=True):
        for tree in p["key_leaf"] if key != -1 else []:
            if tree[key] != -1:
                own[tree[key]] = [total + amount for total, amount in zip(own[tree[key]], row, strict=True)]
    rows = totals.tolist()
    for node, up in enumerate(p["parent"]):
        children = [rows[child] for child, above in enumerate(p["parent"]) if above == node]
        assert rows[node] == [sum(column) for column in zip(own[node], *children, strict=True)], node
        assert up < node


@settings(max_examples=60, deadline=None)
@given(problems(ANY, signed=False))
def test_kernel_and_twin_match_the_brute_force(p: dict) -> None:
    assert_matches_brute_force(p)


@settings(max_examples=60, deadline=None)
@given(problems(SIGNED, signed=True))
def test_kernel_and_twin_match_the_brute_force_signed(p: dict) -> None:
    assert_matches_brute_force(p)


@pytest.mark.parametrize("kernel", KERNELS)
@settings(max_examples=25, deadline=None)
@given(p=st.one_of(problems(UNSIGNED, signed=False), problems(SIGNED, signed=True)))
def test_the_wrapper_gives_the_totals_or_raises_total_overflow(kernel: ModuleType, p: dict) -> None:
    expected, exact = brute_force(p["keys"], p["values"], p["signed"], p["key_leaf"], p["parent"], p["k"])
    keys, values, key_leaf, parent, _ = arrays(p)
    with using(kernel):
        if expected >= 0:
            with pytest.raises(TotalOverflow, match=f"node {expected} "):
                rollup(keys, values, key_leaf, parent, signed=p["signed"])
        else:
            assert rollup(keys, values, key_leaf, parent, signed=p["signed"]).tolist() == exact


def test_a_scratch_of_huge_pages_gives_what_numpy_gives() -> None:
    """Enough keys for the kernel's scratch to come from mmap (>= 4 MiB), two trees."""
    rng = np.random.default_rng(11)
    keys_count, rows_count = 300_000, 400_000
    parent = np.concatenate([[-1], np.zeros(999, np.int32), 1 + rng.integers(0, 999, keys_count)])
    accounts = np.arange(1_000, 1_000 + keys_count, dtype=np.int32)
    key_leaf = np.stack([accounts, rng.integers(-1, 1_000, keys_count, dtype=np.int32)])
    keys = rng.integers(-1, keys_count, rows_count, dtype=np.int32)
    amounts = rng.integers(-(10**9), 10**9, rows_count)
    totals = rollup(keys, amounts, key_leaf, parent.astype(np.int32), signed=True)
    expected = np.zeros_like(totals)
    kept = keys >= 0
    debit_credit = np.stack([np.maximum(amounts, 0), np.maximum(-amounts, 0)], axis=1)[kept]
    np.add.at(expected, accounts[keys[kept]], debit_credit)
    in_chart = key_leaf[1][keys[kept]] >= 0
    np.add.at(expected, key_leaf[1][keys[kept]][in_chart], debit_credit[in_chart])
    np.add.at(expected, parent[1_000:], expected[1_000:].copy())  # accounts into their node
    np.add.at(expected, parent[1:1_000], expected[1:1_000].copy())  # nodes 1..999 into the root
    assert (totals == expected).all()


# --- overflow, one case a row -----------------------------------------------------------------

# (what, keys, values, key_leaf, parent, signed, the node named); the forest: 0 root, 1 and 2
# under it, 3 under 1.
FOREST = [-1, 0, 0, 1]
OVERFLOWS = [
    ("one leaf's rows", [0, 0], [[INT64_MAX], [1]], [[3]], FOREST, False, 3),
    ("each leaf fits, the parent not", [0, 1], [[2**62], [2**62]], [[1, 2]], FOREST, False, 0),
    ("the sweep through a chain", [0, 1], [[2**62], [2**62]], [[3, 1]], FOREST, False, 1),
    ("one row in two trees at one node", [0], [[2**62]], [[2], [2]], FOREST, False, 2),
    ("one column of two", [0, 0], [[1, INT64_MAX], [1, 1]], [[2]], FOREST, False, 2),
    ("INT64_MIN, signed", [0], [[INT64_MIN]], [[2]], FOREST, True, 2),
    ("credits of a leaf, signed", [0, 0], [[-INT64_MAX], [-1]], [[3]], FOREST, True, 3),
    ("debits in the sweep, signed", [0, 1], [[2**62], [2**62]], [[3, 2]], FOREST, True, 0),
]


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize(
    ("what", "keys", "values", "key_leaf", "parent", "signed", "node"),
    OVERFLOWS,
    ids=[o[0] for o in OVERFLOWS],
)
def test_overflow_raises_total_overflow_naming_the_node(
    kernel: ModuleType, what: str, keys, values, key_leaf, parent, signed: bool, node: int
) -> None:
    with using(kernel), pytest.raises(TotalOverflow, match=f"node {node} "):
        rollup(keys, values, key_leaf, parent, signed=signed)
    assert brute_force(keys, values, signed, key_leaf, parent)[0] == node


FITS = [
    ("INT64_MAX exactly", [0], [[INT64_MAX]], [[3]], False, [[INT64_MAX], [INT64_MAX], [0], [INT64_MAX]]),
    ("INT64_MIN + 1, signed", [0], [[INT64_MIN + 1]], [[2]], True,
     [[0, INT64_MAX], [0, 0], [0, INT64_MAX], [0, 0]]),
    # The rows of a key in no tree wrap the kernel's scratch, but no total holds them.
    ("a key in no tree", [1, 1, 0], [[INT64_MAX], [INT64_MAX], [5]], [[3, -1]], False, [[5], [5], [0], [5]]),
]  # fmt: skip


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize(
    ("what", "keys", "values", "key_leaf", "signed", "expected"), FITS, ids=[f[0] for f in FITS]
)
def test_totals_up_to_int64_max_are_given(
    kernel: ModuleType, what: str, keys, values, key_leaf, signed: bool, expected
) -> None:
    with using(kernel):
        assert rollup(keys, values, key_leaf, FOREST, signed=signed).tolist() == expected


# --- bad input, one case a row ----------------------------------------------------------------

GOOD = {"keys": [0, 1, -1], "values": [[1], [2], [3]], "key_leaf": [[1, 2]], "parent": FOREST}
BAD = [
    ("keys 2-d", {"keys": [[0, 1, -1]]}, InvalidInput, r"keys: expected a 1-d array, got 2 dimensions"),
    ("keys float", {"keys": [0.0, 1.0, -1.0]}, InvalidInput, r"keys: expected integers \(int32\), got float"),
    ("keys bool", {"keys": [True, False, True]}, InvalidInput, r"keys: expected integers .*, got bool"),
    ("keys beyond int32", {"keys": [0, 2**40, -1]}, InvalidInput, r"keys: values outside the int32 range"),
    ("a key too large", {"keys": [0, 2, -1]}, InvalidInput, r"keys: 2 at \[1\] is outside \[-1, 2\)"),
    ("a key below -1", {"keys": [0, 1, -2]}, InvalidInput, r"keys: -2 at \[2\] is outside \[-1, 2\)"),
    ("values 3-d", {"values": [[[1]], [[2]], [[3]]]}, InvalidInput, r"values: expected a 1-d or 2-d array"),
    ("values float", {"values": [[1.5], [2], [3]]}, InvalidInput, r"values: expected integers \(int64\)"),
    ("values beyond int64", {"values": np.array([[2**64 - 1], [2], [3]], np.uint64)}, InvalidInput,
     r"values: values outside the int64 range"),
    ("values too few rows", {"values": [[1], [2]]}, InvalidInput, r"values: expected 3 rows \(one per key\)"),
    ("a negative value", {"values": [[1, 0], [2, -5], [3, 0]]}, InvalidInput,
     r"values: -5 at row 1, column 1 is negative"),
    ("signed with 2 columns", {"values": [[1, 0], [2, 0], [3, 0]], "signed": True}, InvalidInput,
     r"values: signed amounts are one column, got 2"),
    ("key_leaf 3-d", {"key_leaf": [[[1, 2]]]}, InvalidInput, r"key_leaf: expected a 1-d or 2-d array"),
    ("key_leaf float", {"key_leaf": [[1.0, 2.0]]}, InvalidInput, r"key_leaf: expected integers \(int32\)"),
    ("a leaf past the nodes", {"key_leaf": [[1, 2], [4, -1]]}, InvalidInput,
     r"key_leaf: 4 at \[1, 0\] is outside \[-1, 4\)"),
    ("a leaf below -1", {"key_leaf": [1, -3]}, InvalidInput, r"key_leaf: -3 at \[0, 1\] is outside"),
    ("too many trees", {"key_leaf": [[1, 2]] * 65}, LimitExceeded, r"key_leaf: 65 trees; the limit is 64"),
    ("parent 2-d", {"parent": [FOREST]}, InvalidInput, r"parent: expected a 1-d array, got 2 dimensions"),
    ("parent float", {"parent": [-1.0, 0.0]}, InvalidInput, r"parent: expected integers \(int32\)"),
    ("a node its own parent", {"parent": [-1, 0, 2, 1]}, InvalidInput, r"parent: node 2 has parent 2;"),
    ("a parent after its child", {"parent": [-1, 3, 0, 1]}, InvalidInput, r"parent: node 1 has parent 3;"),
    ("a parent below -1", {"parent": [-1, 0, -2, 1]}, InvalidInput, r"parent: node 2 has parent -2;"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "change", "error", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_with_its_message(what: str, change: dict, error: type, message: str) -> None:
    arguments = {**GOOD, **change}
    signed = arguments.pop("signed", False)
    with pytest.raises(error, match=message):
        rollup(**arguments, signed=signed)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize(
    ("keys", "values", "key_leaf", "parent", "signed", "shape"),
    [
        ([], [], [[]], [], False, (0, 1)),  # no rows, no keys, no nodes
        ([], [], [[]], [], True, (0, 2)),
        ([], np.zeros((0, 3), np.int64), [[-1, -1]], [], False, (0, 3)),  # keys, no nodes
        ([-1, -1], [[5], [6]], [[-1, -1]], [], True, (0, 2)),  # rows, all skipped
        ([], [], [[0]], [-1, 0], True, (2, 2)),  # nodes, no rows
        ([0], np.zeros((1, 0), np.int64), [[0]], [-1], False, (1, 0)),  # no value columns
        ([0, 0], [4, 5], [1], [-1, 0], False, (2, 1)),  # 1-d values and key_leaf
    ],
)
def test_empty_inputs_give_zero_totals(
    kernel: ModuleType, keys, values, key_leaf, parent, signed, shape
) -> None:
    with using(kernel):
        totals = rollup(keys, values, key_leaf, parent, signed=signed)
    assert totals.shape == shape and totals.dtype == np.int64
    assert totals.tolist() == ([[9], [9]] if shape == (2, 1) else np.zeros(shape, np.int64).tolist())


def test_a_1d_key_leaf_is_one_tree() -> None:
    keys, values, parent = [0, 1, 1], [3, -4, 5], [-1, 0, 0]
    one = rollup(keys, values, [1, 2], parent, signed=True)
    assert one.tolist() == rollup(keys, values, [[1, 2]], parent, signed=True).tolist()
    assert one.tolist() == [[8, 4], [3, 0], [5, 4]]


def test_native_is_what_the_environment_asks_for() -> None:
    asked = os.environ.get("LEDGER_NO_EXTENSIONS") != "1"
    assert rollup_module.NATIVE is asked


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"keys": np.zeros(2, np.int32)}, "one key per row"),
        ({"totals": np.zeros((3, 1), np.int64)}, "one total per node"),
        ({"totals": np.zeros((4, 2), np.int64)}, "one total column per value column"),
        ({"signed": True}, "signed: values must have 1 column and totals 2"),
    ],
)
def test_the_kernel_refuses_arrays_of_mismatched_shapes(change: dict, message: str) -> None:
    arguments = {
        "keys": np.zeros(3, np.int32),
        "values": np.zeros((3, 1), np.int64),
        "signed": False,
        "key_leaf": np.zeros((1, 1), np.int32),
        "parent": np.array(FOREST, np.int32),
        "totals": np.zeros((4, 1), np.int64),
    }
    arguments.update(change)
    with pytest.raises(ValueError, match=message):
        native.rollup(**arguments)


def test_the_benchmark_runs_at_a_tiny_size() -> None:
    """`python -m benchmarks.rollup` end to end (the figures are not checked)."""
    command = [sys.executable, "-m", "benchmarks.rollup", "--lines", "2000", "--accounts", "500",
               "--repeat", "1", "--no-check"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all totals identical" in done.stdout
