"""The store suite: what every store must do alike — in memory, SQLite and PostgreSQL.

Idempotent keys, pending / post / void, linked chains, as-of balances, monthly turnover
across checkpoints, reversals, closed periods, verify, and a failed write that leaves the
ledger exactly at its last commit. Reopening and other processes are durable-only (the rest
of tests/durable); the auditor's stateful test runs on the in-memory store in
tests/test_stateful.py.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest

import ledger
from ledger import Code
from ledger.columns import ENTRY_LINKED

from .test_periods import AsOfModel, check_as_of, entry, world

D = dt.date


def balances(book: ledger.Ledger) -> dict[str, tuple]:
    return {
        key: tuple(
            getattr(b, f) for f in ("debits_posted", "credits_posted", "debits_pending", "credits_pending")
        )
        for key in ("cash", "revenue", "expense", "payable")
        for b in [book.balance(key)]
    }


def test_keys_are_idempotent_and_rejected_keys_stay_free(any_store) -> None:
    with ledger.open(any_store) as book:
        world(book)
        first = entry(1, D(2026, 3, 2), ("expense", 300_00), ("cash", -300_00))
        assert book.post([first])[0].code == Code.ok
        assert book.post([first])[0].code == Code.exists
        changed = entry(1, D(2026, 3, 2), ("expense", 301_00), ("cash", -301_00))
        assert book.post([changed])[0].code == Code.exists_with_different_fields
        unbalanced = entry(2, D(2026, 3, 2), ("expense", 5_00), ("cash", -4_00))
        assert book.post([unbalanced])[0].code == Code.unbalanced
        assert book.post([entry(2, D(2026, 3, 2), ("expense", 5_00), ("cash", -5_00))])[0].code == Code.ok
        assert book.balance("expense").debits_posted == Decimal("305.00")


def test_a_linked_chain_is_all_or_nothing(any_store) -> None:
    with ledger.open(any_store) as book:
        world(book)
        index = book.account_index(["expense", "cash"])
        codes = book.post_columns(
            np.array([10, 11, 12]),
            np.array([0, 2, 4, 6]),
            np.tile(index, 3),
            np.array([100, -100, 200, -200, 300, -299]),
            flags=np.array([ENTRY_LINKED, ENTRY_LINKED, 0], np.uint16),
        )
        assert codes.tolist() == [Code.linked_event_failed, Code.linked_event_failed, Code.unbalanced]
        assert book.balances()["debits_posted"].sum() == 0
        assert book.post([entry(10, D(2026, 3, 1), ("expense", 1_00), ("cash", -1_00))])[0].code == Code.ok


def test_as_of_balances_and_turnover_hold_across_checkpoints(any_store) -> None:
    model = AsOfModel()
    with ledger.open(any_store) as book:
        world(book)
        model.post(book, [entry(1, D(2026, 1, 5), ("expense", 100_00), ("cash", -100_00))])
        model.post(book, [entry(2, D(2026, 2, 10), ("cash", 50_00), ("revenue", -50_00), flags=["pending"])])
        book.checkpoint()
        model.post(book, [entry(3, D(2026, 1, 20), ("expense", 7_00), ("payable", -7_00))])  # backdated
        model.post(
            book, [{"key": 4, "book": "B", "date": "2026-03-03", "pending": 2, "flags": ["post_pending"]}]
        )
        model.post(book, [entry(5, D(2026, 3, 9), ("cash", 9_00), ("revenue", -9_00), flags=["pending"])])
        model.post(
            book, [{"key": 6, "book": "B", "date": "2026-03-10", "pending": 5, "flags": ["void_pending"]}]
        )
        for checkpointed in (False, True):
            if checkpointed:
                book.checkpoint()
            check_as_of(
                book, model, [D(2026, 1, 4), D(2026, 1, 31), D(2026, 2, 10), D(2026, 3, 3), D(2026, 3, 9)]
            )
            assert book.period_balances("expense") == [("2026-01", Decimal("107.00"), Decimal("0.00"))]
            assert book.period_balances("revenue") == [  # February's pending turnover is not posted
                ("2026-02", Decimal("0.00"), Decimal("0.00")),
                ("2026-03", Decimal("0.00"), Decimal("50.00")),
            ]


def test_reverse_restores_balances(any_store) -> None:
    with ledger.open(any_store) as book:
        world(book)
        before = balances(book)
        assert book.post([entry(1, D(2026, 4, 1), ("expense", 12_34), ("cash", -12_34))])[0].code == Code.ok
        assert book.reverse(1, 2, D(2026, 4, 2)).code == Code.ok
        after = balances(book)
        net = {k: (v[0] - v[1], v[2] - v[3]) for k, v in after.items()}
        assert net == {k: (v[0] - v[1], v[2] - v[3]) for k, v in before.items()}
        with pytest.raises(ledger.NotFound):
            book.reverse(99, 3, D(2026, 4, 2))


def test_closed_periods_refuse_their_entries_only(any_store) -> None:
    with ledger.open(any_store) as book:
        world(book)
        book.close_period("B", "2026-03")
        results = book.post(
            [
                entry(1, D(2026, 3, 31), ("expense", 1_00), ("cash", -1_00)),
                entry(2, D(2026, 4, 1), ("expense", 1_00), ("cash", -1_00)),
                entry(3, D(2026, 3, 31), ("c.cash", 1_00), ("c.revenue", -1_00), book="C"),
            ]
        )
        assert [r.code for r in results] == [Code.period_closed, Code.ok, Code.ok]
        assert book.closed_periods("B") == ["2026-03"]


def test_verify_is_intact_after_posting_and_checkpoints(any_store) -> None:
    with ledger.open(any_store) as book:
        world(book)
        for key in range(1, 6):
            assert (
                book.post([entry(key, D(2026, 5, key), ("expense", key), ("cash", -key))])[0].code == Code.ok
            )
            if key == 3:
                book.checkpoint()
        assert book.verify() is None


def test_a_failed_write_leaves_the_last_commit(any_store, monkeypatch) -> None:
    with ledger.open(any_store) as book:
        world(book)
        assert book.post([entry(1, D(2026, 6, 1), ("expense", 10_00), ("cash", -10_00))])[0].code == Code.ok
        before = balances(book)
        store = type(book._store)
        names = ["append_batch"] if not store.durable else ["write_batch", "write_small", "commit_small"]

        def fail(*args: object, **kwargs: object) -> None:
            raise OSError("the disk is gone")

        for name in names:
            monkeypatch.setattr(store, name, fail)
        with pytest.raises(OSError):
            book.post([entry(2, D(2026, 6, 2), ("expense", 5_00), ("cash", -5_00))])
        monkeypatch.undo()
        assert balances(book) == before
        assert book.post([entry(2, D(2026, 6, 2), ("expense", 5_00), ("cash", -5_00))])[0].code == Code.ok
        assert (
            book.post([entry(1, D(2026, 6, 1), ("expense", 10_00), ("cash", -10_00))])[0].code == Code.exists
        )
        assert book.balance("expense").debits_posted == Decimal("15.00")
