"""Rollup: the totals of rows of amounts at every node of one or more trees, exact or refused.

A forest is a parent array over dense node ids, children after parents (``parent[i]`` is -1
for a root, else a node before i). Rows (ledger lines, per-account period sums) carry a key
(an account index) and amounts; each key sits at one node of each of several trees
(``key_leaf[t, key]``, -1 when tree t leaves it out): an account under its book, unit and
region, and under its chart code. A node's total is its own keys' amounts plus its
children's totals, so a node can hold accounts and have sub-nodes at once.

This module keeps the kernel's preconditions: it converts and checks every argument (no
lossy conversion, InvalidInput naming the fault), allocates the zeroed totals and runs the
compiled kernel, or its pure-Python twin when LEDGER_NO_EXTENSIONS=1. Totals are exact int64
minor units or not given: when one would leave the int64 range, TotalOverflow.
"""

from __future__ import annotations

import os

import numpy as np

from ledger.errors import InvalidInput, LimitExceeded, TotalOverflow


def _load_kernel():
    if os.environ.get("LEDGER_NO_EXTENSIONS") == "1":
        from ledger import _rollup_reference as kernel

        return kernel
    from ledger._native import rollup as kernel

    return kernel


kernel = _load_kernel()
# True when the compiled kernel is in use (LEDGER_NO_EXTENSIONS unset).
NATIVE = kernel.__name__ == "ledger._native.rollup"

# Trees one call rolls up into. The kernel's exact fallback sums in int128, which holds
# trees * rows amounts of up to 2**63 each as long as trees * rows < 2**64.
trees_max = 64


def rollup(
    keys: object, values: object, key_leaf: object, parent: object, *, signed: bool = False
) -> np.ndarray:
    """The totals (int64 [nodes, k], or [nodes, 2] when `signed`) of every node.

    keys: [rows] key of each row, in [-1, keys_count); -1 skips the row.
    values: [rows, k] non-negative amounts (1-d: one column); when `signed`, [rows, 1] (or
        [rows]) of signed amounts, debit > 0, credit < 0, whose totals are (debits, credits).
    key_leaf: [trees, keys_count] the node of each key in each tree, -1 for none (1-d: one
        tree); keys_count is its second dimension.
    parent: [nodes] the parent of each node, -1 for a root, else a node before it.

    Raises InvalidInput for malformed arguments, LimitExceeded for more than `trees_max`
    trees, TotalOverflow when some node's total does not fit in int64.
    """
    parent_a = _parents(parent)
    nodes_count = len(parent_a)
    key_leaf_a = _integers("key_leaf", key_leaf, np.int32, (1, 2))
    if key_leaf_a.ndim == 1:
        key_leaf_a = key_leaf_a.reshape(1, -1)
    trees_count, keys_count = key_leaf_a.shape
    if trees_count > trees_max:
        raise LimitExceeded(f"key_leaf: {trees_count} trees; the limit is {trees_max}")
    _check_range("key_leaf", key_leaf_a, nodes_count, "nodes")
    keys_a = _integers("keys", keys, np.int32, (1,))
    _check_range("keys", keys_a, keys_count, "keys (the columns of key_leaf)")
    values_a = _values(values, len(keys_a), signed)
    columns_count = 2 if signed else values_a.shape[1]
    totals = np.zeros((nodes_count, columns_count), np.int64)
    node = kernel.rollup(keys_a, values_a, signed, key_leaf_a, parent_a, totals)
    if node >= 0:
        raise TotalOverflow(
            f"the total of node {node} does not fit in int64 minor units (nor do those of its"
            " ancestors); no totals are given"
        )
    return totals


def _integers(name: str, value: object, dtype: type[np.integer], ndims: tuple[int, ...]) -> np.ndarray:
    """`value` as a C-contiguous array of `dtype` with one of `ndims` dimensions, refusing
    lossy conversions."""
    array = np.asarray(value)
    target = np.dtype(dtype)
    if array.ndim not in ndims:
        expected = " or ".join(f"{n}-d" for n in ndims)
        raise InvalidInput(f"{name}: expected a {expected} array, got {array.ndim} dimensions")
    if array.dtype != target:
        if array.size and array.dtype.kind not in "iu":
            raise InvalidInput(f"{name}: expected integers ({target}), got {array.dtype}")
        if array.size:
            info = np.iinfo(target)
            if int(array.min()) < info.min or int(array.max()) > info.max:
                raise InvalidInput(f"{name}: values outside the {target} range")
        array = array.astype(target)
    return np.ascontiguousarray(array)


def _check_range(name: str, array: np.ndarray, count: int, what: str) -> None:
    """Every value of `array` in [-1, count); else InvalidInput naming the first one outside."""
    if array.size and (int(array.min()) < -1 or int(array.max()) >= count):
        flat = array.reshape(-1)
        first = int(np.flatnonzero((flat < -1) | (flat >= count))[0])
        where = np.unravel_index(first, array.shape)
        at = ", ".join(str(int(i)) for i in where)
        raise InvalidInput(f"{name}: {int(flat[first])} at [{at}] is outside [-1, {count}) ({count} {what})")


def _parents(parent: object) -> np.ndarray:
    """The parent array as int32, each parent -1 or a node before its child."""
    array = _integers("parent", parent, np.int32, (1,))
    if len(array) > np.iinfo(np.int32).max:
        raise LimitExceeded(f"parent: {len(array)} nodes; node ids are int32")
    bad = (array < -1) | (array >= np.arange(len(array), dtype=np.int32))
    if bad.any():
        node = int(np.flatnonzero(bad)[0])
        raise InvalidInput(
            f"parent: node {node} has parent {int(array[node])}; a parent must be -1 (a root)"
            f" or a node before its child (in [-1, {node}))"
        )
    return array


def _values(values: object, rows_count: int, signed: bool) -> np.ndarray:
    """Amounts as int64 [rows, k]: k == 1 when signed, else non-negative."""
    array = _integers("values", values, np.int64, (1, 2))
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.shape[0] != rows_count:
        raise InvalidInput(f"values: expected {rows_count} rows (one per key), got {array.shape[0]}")
    if signed:
        if array.shape[1] != 1:
            raise InvalidInput(f"values: signed amounts are one column, got {array.shape[1]}")
        return array
    if array.size and int(array.min()) < 0:
        row, column = (int(i) for i in np.argwhere(array < 0)[0])
        raise InvalidInput(
            f"values: {int(array[row, column])} at row {row}, column {column} is negative;"
            " amounts must be non-negative (signed=True takes debit > 0 / credit < 0)"
        )
    return array


__all__ = ["NATIVE", "rollup", "trees_max"]
