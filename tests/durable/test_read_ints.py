"""Store.read_ints: integer columns of a query as int64 arrays, on both stores (PostgreSQL
by a binary COPY read in place), exact at the int64 limits, empty when no row matches, and
refusing NULLs rather than inventing a value."""

from __future__ import annotations

import numpy as np
import pytest

import ledger

VALUES = [(-(2**63), 2**63 - 1, 0), (-1, 1, 2**31), (7, -(2**31), 2**40)]


def test_read_ints_gives_every_value_in_order(durable) -> None:
    with ledger.open(durable.url) as book:
        store = book._store
        union = " UNION ALL ".join(
            f"SELECT {i} AS o, {a} AS a, {b} AS b, {c} AS c" for i, (a, b, c) in enumerate(VALUES)
        )
        with store.reader() as conn:
            got = store.read_ints(conn, f"SELECT a, b, c FROM ({union}) AS v ORDER BY o", ("a", "b", "c"))
            empty = store.read_ints(conn, "SELECT key, lines FROM entries WHERE key < 0", ("key", "lines"))
            with pytest.raises(ledger.StoreError, match="NULL"):
                store.read_ints(conn, "SELECT NULL AS a UNION ALL SELECT 1", ("a",))
    for position, name in enumerate(("a", "b", "c")):
        assert got[name].dtype == np.int64
        assert got[name].tolist() == [row[position] for row in VALUES]
    assert {name: column.tolist() for name, column in empty.items()} == {"key": [], "lines": []}
