"""The engine's vectorised probe of its hash tables finds what the kernel's one-key probe
finds, whatever the table's size (it replaced a scan of the whole table per call)."""

from __future__ import annotations

import numpy as np

import ledger
from ledger.columns import ENTRY_PENDING
from ledger.posting import _slot_of, _slots_in_order


def test_many_keys_are_probed_as_one_key_is() -> None:
    with ledger.open() as book:
        book.create_groups([ledger.Group(key="G")])
        book.create_books([ledger.Book(key="B")])
        book.create_accounts(
            [
                ledger.Account(key="a", book="B", group="G", code="1001"),
                ledger.Account(key="b", book="B", group="G", code="1002"),
            ]
        )
        accounts = book.account_index(["a", "b"]).astype(np.int32)
        n = 5_000
        keys = np.arange(1, n + 1, dtype=np.int64) * 7_919  # runs of keys sharing home blocks
        codes = book.post_columns(
            keys,
            np.arange(0, 2 * n + 1, 2, dtype=np.int64),
            np.tile(accounts, n),
            np.tile(np.array([5, -5], np.int64), n),
            flags=np.full(n, ENTRY_PENDING, np.uint16),
            dates=np.full(n, 20_500, np.int32),
        )
        assert (codes == 0).all()
        for table in (book._engine.pending_table, book._engine.entry_table):
            probe = np.random.default_rng(1).permutation(keys)[:3_000]
            slots = _slots_in_order(table, probe)
            assert (slots >= 0).all()
            assert slots.tolist() == [_slot_of(table, int(k)) for k in probe]
            assert _slots_in_order(table, np.array([12_345_678_901], np.int64)).tolist() == [-1]
