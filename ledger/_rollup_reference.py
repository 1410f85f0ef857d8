"""Pure-Python twin of ``ledger/_native/rollup.pyx``.

The same function with the same arguments and the same answer, written for reading: every
total is summed exactly in Python ints, then checked against the int64 range. The kernel
gets the same answer another way (int64 sums, and exact ones only after a wrap). Used when
LEDGER_NO_EXTENSIONS=1 and by the differential tests, which require the two to agree.
"""

from __future__ import annotations

import numpy as np

INT64_MAX = (1 << 63) - 1
INT64_MIN = -(1 << 63)


def rollup(
    keys: np.ndarray,
    values: np.ndarray,
    signed: bool,
    key_leaf: np.ndarray,
    parent: np.ndarray,
    totals: np.ndarray,
) -> int:
    """Add each row's amounts into its key's node in every tree, then every node's total
    into its parent's; returns -1 when every total fits in int64 (and writes them into
    `totals`), else the last node (by id) whose total does not (`totals` is left alone).

    `values` is [rows, k] with totals [nodes, k], or, when `signed`, [rows, 1] of signed
    amounts with totals [nodes, 2]: debits (the positive amounts) and credits (the
    magnitudes of the negative ones). Key -1 skips its row; key_leaf[t, key] -1 leaves the
    key out of tree t; parent[i] is -1 (a root) or a node before i.
    """
    nodes_count, columns_count = totals.shape
    exact = [[0] * columns_count for _ in range(nodes_count)]
    leaves = [[leaf for leaf in column if leaf >= 0] for column in key_leaf.T.tolist()]
    for key, row in zip(keys.tolist(), values.tolist(), strict=True):
        if key == -1:
            continue
        amounts = _debit_credit(row[0]) if signed else row
        for leaf in leaves[key]:
            for column, amount in enumerate(amounts):
                exact[leaf][column] += amount
    # Children come after their parents: walking back, a node is complete when it is reached.
    parents = parent.tolist()
    for node in range(nodes_count - 1, -1, -1):
        up = parents[node]
        if up >= 0:
            for column in range(columns_count):
                exact[up][column] += exact[node][column]
    for node in range(nodes_count - 1, -1, -1):
        if any(not INT64_MIN <= total <= INT64_MAX for total in exact[node]):
            return node
    if nodes_count and columns_count:
        totals[:] = np.array(exact, dtype=np.int64)
    return -1


def _debit_credit(amount: int) -> tuple[int, int]:
    """A signed amount as (debit, credit): one of them its magnitude, the other 0."""
    return (amount, 0) if amount >= 0 else (0, -amount)
