"""A batch write failing part-way — while its lines or entries are sent, or while the entry
rows or the monthly sums are derived — commits nothing and leaves the ledger usable."""

from __future__ import annotations

import numpy as np
import pytest

import ledger
import ledger.journal
import ledger.replica
import ledger.service
from ledger.store.base import Store

from ._workload import balance_rows, scalar
from .conftest import watch_small_commits


def world(book: ledger.Ledger) -> None:
    book.create_groups([{"key": "C"}])
    book.create_books([{"key": "B"}])
    book.create_accounts([{"key": k, "book": "B", "group": "C", "code": "1"} for k in ("a", "b")])


def entry(key: int) -> dict:
    lines = [{"account": "a", "debit": "5.00", "dims": (1, 2)}, {"account": "b", "credit": "5.00"}]
    return {"key": key, "book": "B", "date": "2026-01-02", "lines": lines}


def fail(*args: object, **kwargs: object) -> None:
    raise RuntimeError("injected failure")


@pytest.mark.parametrize(
    ("owner", "name"),
    [
        (Store, "write_lines"),
        (Store, "write_batch"),
        (ledger.service, "batch_rows"),
        (ledger.service, "fold_parts"),
        (Store, "write_small"),
        (ledger.replica, "small_rows"),
        (Store, "small rows"),
    ],
    ids=[
        "lines-write", "entries-write", "entry-rows", "monthly-sums",
        "few-rows-write", "small-rows", "small-write",
    ],
)  # fmt: skip
def test_a_failed_batch_commits_nothing(durable, monkeypatch, owner: object, name: str) -> None:
    """The first four fail in the writer transaction writing a batch as columns (a post of
    many entries); the fifth there too, writing a few entries' rows (a small post before
    the ledger knows the store's head, or after it moved); the last two in a small post's
    own transaction (Store.commit_small): its rows derived, or sent."""
    with ledger.open(durable.url) as book:
        world(book)
        assert book.post([entry(1)])[0].ok
        before = balance_rows(book)
        store_class = type(book._store)
        if name == "small rows":
            name = "_small_statements" if durable.kind == "postgresql" else "_insert_small"
        if owner is not ledger.replica and name not in ("_small_statements", "_insert_small"):
            monkeypatch.setattr(ledger.service, "SMALL_ENTRIES", 0)  # the writer transaction
            if name != "write_small":
                monkeypatch.setattr(ledger.journal, "SMALL_ENTRIES", 0)  # rows as columns
        target = store_class if owner is Store else owner
        monkeypatch.setattr(target, name, fail)
        small = watch_small_commits(monkeypatch)
        with pytest.raises(RuntimeError, match="injected failure"):
            book.post([entry(2)])
        if name in ("_small_statements", "_insert_small"):
            assert small == ["RuntimeError"], "it failed in the small commit"
        monkeypatch.undo()
        assert np.array_equal(balance_rows(book), before)
        engine = durable.engine()
        for table, rows in (("lines", 2), ("entries", 1), ("batches", 1), ("pending_lines", 0)):
            assert scalar(engine, f"SELECT count(*) FROM {table}") == rows, table
        assert book.post([entry(2)])[0].ok
        assert book.verify() is None
    with ledger.open(durable.url) as book:
        assert book.balance("a").debits_posted == 10
        assert book.verify() is None
