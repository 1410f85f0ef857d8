"""Database failures reach callers as ledger.StoreError, never as a driver's exception."""

from __future__ import annotations

import sqlite3

import pytest

import ledger


def test_unreachable_postgres_is_a_store_error() -> None:
    with pytest.raises(ledger.StoreError, match=r"127\.0\.0\.1:1"):
        ledger.open("postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=2")


def test_unusable_sqlite_file_is_a_store_error(tmp_path) -> None:
    path = tmp_path / "not-a-database.db"
    path.write_bytes(b"this is not a SQLite file" * 100)
    with pytest.raises(ledger.StoreError):
        ledger.open(f"sqlite:///{path}")


def test_a_locked_database_is_a_store_error_and_changes_nothing(tmp_path, monkeypatch) -> None:
    """BEGIN IMMEDIATE cannot take SQLite's write lock: StoreError, and nothing changed."""
    monkeypatch.setattr("ledger.store.sqlite._BUSY_TIMEOUT_MS", 100)
    url = f"sqlite:///{tmp_path / 'l.db'}"
    with ledger.open(url) as book:
        book.create_groups([{"key": "C"}])
        book.create_books([{"key": "B"}])
        blocker = sqlite3.connect(tmp_path / "l.db", timeout=0)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(ledger.StoreError, match="locked"):
                book.create_accounts([{"key": "a", "book": "B", "group": "C", "code": "1"}])
        finally:
            blocker.rollback()
            blocker.close()
        assert book.accounts_count == 0
        created = book.create_accounts([{"key": "a", "book": "B", "group": "C", "code": "1"}])
        assert [r.code for r in created] == [ledger.Code.ok]


def test_a_write_failing_after_the_kernel_leaves_memory_at_the_last_commit(tmp_path, monkeypatch) -> None:
    """The kernel has applied the batch in memory when the store fails: the memory is
    dropped and reloaded, so balances and keys are those of the last commit."""
    url = f"sqlite:///{tmp_path / 'l.db'}"
    with ledger.open(url) as book:
        book.create_groups([{"key": "C", "scale": 0}])
        book.create_books([{"key": "B"}])
        book.create_accounts([{"key": k, "book": "B", "group": "C", "code": "1"} for k in ("a", "b")])
        entry = {
            "key": 1,
            "book": "B",
            "date": "2026-01-02",
            "lines": [{"account": "a", "debit": "5"}, {"account": "b", "credit": "5"}],
        }
        before = book.balances()

        def fail(*args: object, **kwargs: object) -> None:
            raise ledger.StoreError("disk full")

        for name in ("write_batch", "write_small", "commit_small"):
            monkeypatch.setattr(type(book._store), name, fail)
        with pytest.raises(ledger.StoreError, match="disk full"):
            book.post([entry])
        monkeypatch.undo()
        after = book.balances()
        assert all((before[k] == after[k]).all() for k in before)
        assert [r.code for r in book.post([entry])] == [ledger.Code.ok]
        assert book.balance("a").debits_posted == 5
