"""A post of a few entries in one transaction that reads nothing first (Store.commit_small).

The ledger derives the rows from the head of the store it last knew; the transaction takes
the writer lock and checks that head before writing. When another process wrote meanwhile
(a batch, an account, a closed period), nothing is written and the post goes the ordinary
way: it catches up first, so its results are those of the store as it is, not as this
process remembered it.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from typing import Any

import numpy as np
import pytest

import ledger

from ._workload import balance_rows, scalar
from .conftest import watch_small_commits


def world(book: ledger.Ledger) -> None:
    book.create_groups([{"key": "C"}])
    book.create_books([{"key": "B"}])
    book.create_accounts([{"key": k, "book": "B", "group": "C", "code": "1"} for k in ("a", "b")])


def entry(key: int, date: str = "2026-02-03", amount: str = "5.00", **fields: Any) -> dict[str, Any]:
    lines = [{"account": "a", "debit": amount}, {"account": "b", "credit": amount}]
    return {"key": key, "book": "B", "date": date, "lines": lines, **fields}


def test_a_few_entries_commit_in_one_transaction(durable, monkeypatch) -> None:
    """Once the ledger knows the head, each post of a few entries is one small commit, texts
    and dimension codes included, and what it stored verifies and reopens the same."""
    answers = watch_small_commits(monkeypatch)
    with ledger.open(durable.url) as book:
        world(book)
        for key in range(1, 6):
            coded = {"kind": "voucher", "reference": f"R-{key}"} if key % 2 else {}
            assert book.post([entry(key, **coded)])[0].ok
        lines = [{"account": "a", "debit": "1.00", "dims": (3, 0, 7)}, {"account": "b", "credit": "1.00"}]
        assert book.post([{"key": 6, "book": "B", "date": "2026-02-04", "lines": lines}])[0].ok
        assert len(answers) == 6 and None not in answers
        assert book.verify() is None
        balances = balance_rows(book)
    with ledger.open(durable.url) as fresh:
        assert np.array_equal(balance_rows(fresh), balances)
        assert fresh.verify() is None
    engine = durable.engine()
    assert scalar(engine, "SELECT count(*) FROM entry_texts") == 3
    assert scalar(engine, "SELECT count(*) FROM lines WHERE dim1 = 3 AND dim3 = 7") == 1


def test_a_batch_of_another_process_moves_the_head(durable, monkeypatch) -> None:
    """B posts between two posts of A: A's small commit finds the head moved and writes
    nothing; A's post then catches up and goes through. The same key posted by B first is
    `exists` for A, not a second entry."""
    with ledger.open(durable.url) as a, ledger.open(durable.url) as b:
        world(a)
        assert a.post([entry(1)])[0].ok
        answers = watch_small_commits(monkeypatch)
        assert a.post([entry(2)])[0].ok
        assert b.post([entry(3)])[0].ok
        assert a.post([entry(4)])[0].ok
        assert b.post([entry(5)])[0].ok
        assert [r.code for r in a.post([entry(5)])] == [ledger.Code.exists]
        assert a.balance("a").debits_posted == 5 * 5
        # A's 2 committed small; B's 3 went the ordinary way (B knew no head yet); A's 4, B's
        # 5 and A's 5 each found the head moved by the other
        assert isinstance(answers[0], int) and answers[1:] == [None, None, None]
        assert a.verify() is None
    engine = durable.engine()
    assert scalar(engine, "SELECT count(*) FROM entries") == 5


def test_a_period_closed_by_another_process_refuses_the_post(durable, monkeypatch) -> None:
    """B closes January: A, which does not know it yet, must not post into it. Its small
    commit finds the head moved; the ordinary post, caught up, refuses the entry."""
    with ledger.open(durable.url) as a, ledger.open(durable.url) as b:
        world(a)
        assert a.post([entry(1, "2026-01-05")])[0].ok
        answers = watch_small_commits(monkeypatch)
        b.close_period("B", "2026-01")
        assert [r.code for r in a.post([entry(2, "2026-01-06")])] == [ledger.Code.period_closed]
        assert answers == [None]
        assert a.post([entry(3, "2026-02-01")])[0].ok
        assert a.balance("a").debits_posted == 2 * 5
    assert scalar(durable.engine(), "SELECT count(*) FROM entries") == 2


def test_an_account_created_by_another_process_is_found(durable, monkeypatch) -> None:
    """B creates an account and A posts to it: A's memory does not know the account, so the
    entry is refused there and the post goes the ordinary way, which knows it."""
    with ledger.open(durable.url) as a, ledger.open(durable.url) as b:
        world(a)
        assert a.post([entry(1)])[0].ok
        b.create_accounts([{"key": "c", "book": "B", "group": "C", "code": "1"}])
        lines = [{"account": "c", "debit": "2.00"}, {"account": "b", "credit": "2.00"}]
        assert a.post([{"key": 2, "book": "B", "date": "2026-02-03", "lines": lines}])[0].ok
        assert a.balance("c").debits_posted == 2


def test_refused_entries_go_the_ordinary_way(durable, monkeypatch) -> None:
    """An entry refused (an unknown account, an unbalanced entry) takes the post the ordinary
    way, which gives the same codes and writes nothing for them."""
    with ledger.open(durable.url) as book:
        world(book)
        assert book.post([entry(1)])[0].ok
        answers = watch_small_commits(monkeypatch)
        unbalanced = {
            "key": 2,
            "book": "B",
            "date": "2026-02-03",
            "lines": [{"account": "a", "debit": "5.00"}, {"account": "b", "credit": "4.00"}],
        }
        unknown = {
            "key": 3,
            "book": "B",
            "date": "2026-02-03",
            "lines": [{"account": "z", "debit": "5.00"}, {"account": "b", "credit": "5.00"}],
        }
        codes = [r.code for r in book.post([unbalanced, unknown, entry(4)])]
        assert codes == [ledger.Code.unbalanced, ledger.Code.account_not_found, ledger.Code.ok]
        assert answers == []  # decided before any small commit
        assert book.post([entry(5)])[0].ok
        assert answers and isinstance(answers[-1], int)
    assert scalar(durable.engine(), "SELECT count(*) FROM entries") == 3


def test_a_locked_sqlite_database_is_a_store_error_and_changes_nothing(tmp_path, monkeypatch) -> None:
    """Another connection holds SQLite's write lock past the busy timeout: the small post's
    BEGIN IMMEDIATE fails, StoreError, nothing changed; once free, the post goes through."""
    monkeypatch.setattr("ledger.store.sqlite._BUSY_TIMEOUT_MS", 100)
    path = tmp_path / "l.db"
    with ledger.open(f"sqlite:///{path}") as book:
        world(book)
        assert book.post([entry(1)])[0].ok
        answers = watch_small_commits(monkeypatch)
        before = balance_rows(book)
        blocker = sqlite3.connect(path, timeout=0)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(ledger.StoreError, match="locked"):
                book.post([entry(2)])
        finally:
            blocker.rollback()
            blocker.close()
        assert answers == ["StoreError"]
        assert np.array_equal(balance_rows(book), before)
        assert book.post([entry(2)])[0].ok  # the ordinary way: the failure left the head unknown
        assert book.post([entry(3)])[0].ok
        assert isinstance(answers[-1], int)
        assert book.balance("a").debits_posted == 15


def test_the_sqlite_small_connection_keeps_a_small_page_cache(tmp_path) -> None:
    """The connection of the small commits touches a few pages each: its page cache is
    bounded at 8 MiB, not the bulk connections' 256 MiB."""
    with ledger.open(f"sqlite:///{tmp_path / 'l.db'}") as book:
        world(book)
        for key in (1, 2):
            assert book.post([entry(key)])[0].ok
        small = book._store._small
        assert small is not None, "the second post went the small way"
        assert small.driver_connection.execute("PRAGMA cache_size").fetchone()[0] == -8192


def test_an_in_memory_sqlite_database_posts_the_ordinary_way(monkeypatch) -> None:
    """sqlite:// has one connection, shared: no small commits are tried there."""
    answers = watch_small_commits(monkeypatch)
    with ledger.open("sqlite://") as book:
        world(book)
        for key in (1, 2, 3):
            assert book.post([entry(key)])[0].ok
        assert book.balance("a").debits_posted == 15
        assert book.verify() is None
    assert answers == []


def test_dates_beyond_python_years_go_the_vectorised_way(durable) -> None:
    """A day number the kernel takes but Python's dates do not reach (beyond 9999-12-31):
    the few entries' rows are derived vectorised instead, and they verify."""
    with ledger.open(durable.url) as book:
        world(book)
        assert book.post([entry(1)])[0].ok
        accounts = book.account_index(["a", "b"]).astype(np.int32)
        day = (dt.date.max - dt.date(1970, 1, 1)).days + 40
        codes = book.post_columns(
            np.array([2], np.int64),
            np.array([0, 2], np.int64),
            accounts,
            np.array([500, -500], np.int64),
            dates=np.array([day], np.int32),
        )
        assert codes.tolist() == [0]
        assert book.balance("a").debits_posted == 10
        assert book.verify() is None


def test_postgresql_unreachable_for_a_small_post_is_a_store_error(pg, monkeypatch) -> None:
    """The small posts' connection cannot be opened (the pool's error): StoreError, not the
    pool's own error, nothing changed; once it can, the post goes through."""
    from sqlalchemy.exc import OperationalError

    from ledger.store.postgres import PostgresStore

    with ledger.open(pg.url) as book:
        world(book)
        before = balance_rows(book)

        def refused(*args: object, **kwargs: object) -> Any:
            raise OperationalError("connect", {}, Exception("connection refused (injected)"))

        monkeypatch.setattr(PostgresStore, "_small_connection", refused)
        with pytest.raises(ledger.StoreError, match="injected") as raised:
            book.post([entry(1)])
        assert not isinstance(raised.value, ledger.CommitUnknown)
        monkeypatch.undo()
        assert np.array_equal(balance_rows(book), before)
        assert book.post([entry(1)])[0].ok
        assert book.post([entry(2)])[0].ok
        assert book.balance("a").debits_posted == 10
    assert scalar(pg.engine(), "SELECT count(*) FROM entries") == 2


def test_a_small_post_interrupted_releases_the_writer_lock(pg, monkeypatch) -> None:
    """KeyboardInterrupt once the small post's transaction holds the writer lock: the post
    raises it, the memory is back, and the connection is closed, so the lock is released for
    every other writer at once (not left to an idle-in-transaction timeout)."""
    from ledger.store.postgres import _LOCK_CLASS, _LOCK_SQL, PostgresStore

    with ledger.open(pg.url) as book, ledger.open(pg.url) as other:
        world(book)
        assert book.post([entry(1)])[0].ok
        before = balance_rows(book)

        def interrupted(self: PostgresStore, raw: Any, message: str) -> None:
            with raw.cursor() as cursor:
                cursor.execute(f"BEGIN; {_LOCK_SQL}")
            raise KeyboardInterrupt

        monkeypatch.setattr(PostgresStore, "_send_small", interrupted)
        with pytest.raises(KeyboardInterrupt):
            book.post([entry(2)])
        monkeypatch.undo()
        assert np.array_equal(balance_rows(book), before)
        engine = pg.engine()
        free = f"SELECT pg_try_advisory_xact_lock({_LOCK_CLASS}, hashtext(current_schema()))"
        deadline = time.monotonic() + 10
        while not scalar(engine, free):  # this schema's writer lock, taken and let go at once
            assert time.monotonic() < deadline, "the writer lock is still held"
            time.sleep(0.01)
        assert other.post([entry(3)])[0].ok
        assert book.post([entry(2)])[0].ok
        assert book.balance("a").debits_posted == 15
        assert book.verify() is None
