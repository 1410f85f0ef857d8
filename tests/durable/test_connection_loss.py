"""Honest outcomes when the connection is lost: before, during and right after COMMIT.

Every call that loses its connection ends in one of three ways: committed and reported (the
results come back), not committed and reported (StoreError: nothing changed), or
CommitUnknown. Retrying the same entries with the same keys then loses nothing and doubles
nothing, and the ledger catches up incrementally instead of loading everything again.

On PostgreSQL the writer's backend is ended with `pg_terminate_backend` from a second
connection: (a) while the batch is being written, (b) while COMMIT runs (a deferred trigger
keeps it busy), (c) just after COMMIT, before the client has its reply; and at random moments
of a stream of batches. On SQLite a failing COMMIT is simulated. The engine's undo, which
puts the memory back after a failed write, is checked against the state before the batch on
random batches. A writer that dies (SIGKILL, or its backend terminated) releases the writer
lock: another process gets it (no tight bound here; the figures measured are in the
docstring of PostgresStore.from_url).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from sqlalchemy import create_engine, text

import ledger
from ledger.columns import (
    ACCOUNT_CLOSED,
    ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS,
    ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS,
    BALANCE_FIELDS,
    COUNTER_ENTRIES,
    COUNTER_ENTRY_TOMBSTONES,
    COUNTER_PENDING_LINES,
    COUNTER_PENDINGS,
)
from ledger.posting import Engine, make_batch
from ledger.replica import Replica
from ledger.store.postgres import PostgresStore
from ledger.testing import BOOKS, GROUPS, Auditor, Mix, NumpyChooser, random_batch, to_columns

from ._workload import REPO_ROOT, CrashPlan, balance_rows, crash_batch, crash_world, scalar
from .conftest import POSTGRES_URL, Durable

ENTRY_AMOUNT = Decimal("5.00")
LOCK_RELEASE_MAX_S = 30.0  # functional bound only: the figures measured are far below it
RACE_BATCHES = 16
RACE_SEED = 424242
UNDO_LEDGERS = 12
UNDO_BATCHES = 30
UNDO_SEED = 5150


# --- helpers ---------------------------------------------------------------------------------------


def world(book: ledger.Ledger) -> None:
    book.create_groups([{"key": "C"}])
    book.create_books([{"key": "B"}])
    book.create_accounts([{"key": k, "book": "B", "group": "C", "code": "1"} for k in ("a", "b")])


def entries(keys: range | list[int]) -> list[dict[str, Any]]:
    lines = [{"account": "a", "debit": "5.00", "dims": (1, 2)}, {"account": "b", "credit": "5.00"}]
    return [{"key": key, "book": "B", "date": "2026-01-02", "lines": lines} for key in keys]


def attempt(call: Callable[[], Any]) -> tuple[str, Any]:
    """Run a call: committed and its results, or not-committed / unknown and the error."""
    try:
        return "committed", call()
    except ledger.CommitUnknown as error:
        assert "Retry the same call with the same keys" in str(error)
        return "unknown", error
    except ledger.StoreError as error:
        return "not-committed", error


def count_loads(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts of the full loads and the catch-ups of every replica from now on."""
    counts = {"load": 0, "catch_up": 0}
    for name in counts:
        original = getattr(Replica, name)

        def counted(self: Replica, conn: Any, _original: Any = original, _name: str = name) -> None:
            counts[_name] += 1
            _original(self, conn)

        monkeypatch.setattr(Replica, name, counted)
    return counts


def assert_entries(durable: Any, book: ledger.Ledger, keys: int) -> None:
    """The ledger holds exactly `keys` entries of ENTRY_AMOUNT, once each, in memory and in
    the store, and its chain verifies; a fresh open reads the same balances."""
    assert book.balance("a").debits_posted == ENTRY_AMOUNT * keys
    assert book.balance("b").credits_posted == ENTRY_AMOUNT * keys
    engine = durable.engine()
    assert scalar(engine, "SELECT count(*) FROM entries") == keys
    assert scalar(engine, "SELECT count(DISTINCT key) FROM entries") == keys
    assert scalar(engine, "SELECT count(*) FROM lines") == 2 * keys
    assert book.verify() is None
    with ledger.open(durable.url) as fresh:
        assert np.array_equal(balance_rows(fresh), balance_rows(book))


def backend_pid(conn: Any) -> int:
    return int(conn.connection.driver_connection.info.backend_pid)


def terminate(pid: int) -> None:
    """End a backend from a second connection and wait until the server has reaped it."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            deadline = time.monotonic() + 30
            while conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            ).scalar():
                assert time.monotonic() < deadline, f"backend {pid} still alive"
                time.sleep(0.01)
    finally:
        admin.dispose()


class Writers(list[int]):
    """Backend pids of writer transactions (newest last); `small` those of small posts."""

    def __init__(self) -> None:
        super().__init__()
        self.small: list[int] = []


def watch_writer(monkeypatch: pytest.MonkeyPatch) -> Writers:
    """The backend pid of every writer transaction from now on (newest last): those of
    Store.writer and those of a small post's own (Store.commit_small)."""
    pids = Writers()
    original = PostgresStore.lock_writer
    send = PostgresStore._send_small

    def lock_writer(self: PostgresStore, conn: Any) -> None:
        pids.append(backend_pid(conn))
        original(self, conn)

    def send_small(self: PostgresStore, raw: Any, message: str) -> None:
        pids.append(int(raw.info.backend_pid))
        pids.small.append(pids[-1])
        send(self, raw, message)

    monkeypatch.setattr(PostgresStore, "lock_writer", lock_writer)
    monkeypatch.setattr(PostgresStore, "_send_small", send_small)
    return pids


def lose_commit_reply(
    monkeypatch: pytest.MonkeyPatch, store: Any, after_commit: Callable[[Any], None]
) -> None:
    """The next COMMIT runs for real, then `after_commit(dbapi_connection)` runs and its
    error is what the client gets instead of the reply (it must raise)."""
    dialect = store.engine.dialect
    real = dialect.do_commit
    state = {"armed": True}

    def do_commit(dbapi_connection: Any) -> None:
        if not state["armed"]:
            real(dbapi_connection)
            return
        state["armed"] = False
        real(dbapi_connection)
        after_commit(dbapi_connection)
        raise AssertionError("after_commit must raise")

    monkeypatch.setattr(dialect, "do_commit", do_commit)


def lose_reply(
    monkeypatch: pytest.MonkeyPatch, store: Any, post_path: str, after_commit: Callable[[Any], None]
) -> None:
    """lose_commit_reply on the way `post_path` commits a post of a few entries: the small
    post's message (BEGIN ... COMMIT) is carried out, then `after_commit(driver connection)`
    raises instead of the reply."""
    if post_path != "small":
        lose_commit_reply(monkeypatch, store, after_commit)
        return
    send = type(store)._send_small
    state = {"armed": True}

    def send_small(self: Any, raw: Any, message: str) -> None:
        send(self, raw, message)
        if state["armed"]:
            state["armed"] = False
            after_commit(raw)
            raise AssertionError("after_commit must raise")

    monkeypatch.setattr(type(store), "_send_small", send_small)


def fail_commit(monkeypatch: pytest.MonkeyPatch, store: Any, error: Exception) -> None:
    """The next COMMIT fails with `error` before it reaches the database."""
    dialect = store.engine.dialect
    real = dialect.do_commit
    state = {"armed": True}

    def do_commit(dbapi_connection: Any) -> None:
        if state["armed"]:
            state["armed"] = False
            raise error
        real(dbapi_connection)

    monkeypatch.setattr(dialect, "do_commit", do_commit)


def unreachable(monkeypatch: pytest.MonkeyPatch, store: Any) -> None:
    """From now on the store cannot connect (the read-back after a lost COMMIT fails)."""

    def connect(*args: object, **kwargs: object) -> Any:
        raise ledger.StoreError("the database is unreachable (injected)")

    monkeypatch.setattr(store.engine, "connect", connect)


# --- the engine's undo -----------------------------------------------------------------------------


def engine_state(engine: Engine) -> dict[str, Any]:
    """What the engine holds, as a reader of it sees it (layout aside)."""
    entries = engine.entry_table[engine.entry_table["key"] > 0]
    pendings = engine.pending_table[engine.pending_table["key"] > 0]
    order = np.argsort(pendings["key"])
    used = int(engine.counters[COUNTER_PENDING_LINES])
    lines = [
        (
            engine.pending_accounts[s : s + c].tolist(),
            engine.pending_amounts[s : s + c].tolist(),
        )
        for s, c in zip(
            pendings["lines_start"][order].tolist(), pendings["lines_count"][order].tolist(), strict=True
        )
    ]
    return {
        "rows": engine.rows.copy(),
        "entries": sorted(zip(entries["key"].tolist(), entries["fingerprint"].tolist(), strict=True)),
        "pendings": [
            (k, b, s)
            for k, b, s in zip(*(pendings[f][order].tolist() for f in ("key", "book", "state")), strict=True)
        ],
        "pending_lines": lines,
        "live": [int(engine.counters[i]) for i in (COUNTER_ENTRIES, COUNTER_PENDINGS)],
        "used": used,
    }


def assert_same_state(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert np.array_equal(before["rows"], after["rows"])
    for name in ("entries", "pendings", "pending_lines", "live", "used"):
        assert before[name] == after[name], name


def test_engine_undo_restores_the_state_before_the_batch() -> None:
    """Random batches (good and bad, pending, posts and voids, linked chains, duplicates)
    applied and then undone leave the engine as it was before: balances, keys with their
    fingerprints, pending entries with their lines and states, live counters; and the
    entry-key table byte for byte when it held no tombstones. Batches kept in between move
    the state on, so later undos meet pending entries, tombstones and grown tables."""
    undone = 0
    for ledger_index in range(UNDO_LEDGERS):
        rng = np.random.default_rng([UNDO_SEED, ledger_index])
        chooser = NumpyChooser(rng)
        auditor = Auditor()
        engine = Engine(groups_count=len(GROUPS))
        flags = [
            0,
            0,
            0,
            ACCOUNT_CLOSED,
            ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS,
            ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS,
        ]
        layouts = [
            (int(rng.integers(0, len(BOOKS))), int(rng.integers(0, len(GROUPS))), int(rng.choice(flags)))
            for _ in range(8)
        ]
        for book, group, bits in layouts:
            auditor.add_account(book, group, bits)
        engine.add_accounts(
            np.array([x[0] for x in layouts], np.int32),
            np.array([x[1] for x in layouts], np.int32),
            np.array([x[2] for x in layouts], np.uint32),
        )
        for _ in range(UNDO_BATCHES):
            specs = random_batch(chooser, auditor, int(rng.integers(1, 12)), Mix(linked=0.3))
            columns = to_columns(specs)
            batch = make_batch(**columns.post_columns_kwargs())
            engine.reserve(batch.entries_count)  # a rehash is not what undo takes back
            before = engine_state(engine)
            table = engine.entry_table.copy()
            tombstones = int(engine.counters[COUNTER_ENTRY_TOMBSTONES])
            applied = engine.apply(batch)
            if rng.random() < 0.5:
                engine.undo(applied)
                undone += 1
                assert_same_state(before, engine_state(engine))
                if tombstones == 0:
                    assert engine.entry_table.tobytes() == table.tobytes()
            else:
                expected = auditor.post(specs)
                assert applied.codes.tolist() == [int(c) for c in expected]
        assert np.array_equal(
            np.stack([engine.rows[f] for f in BALANCE_FIELDS], axis=1), auditor.balance_rows()
        )
    assert undone > UNDO_LEDGERS * UNDO_BATCHES // 3


# --- SQLite: a COMMIT that fails -------------------------------------------------------------------


@pytest.fixture
def sqlite_file(tmp_path: Any) -> Iterator[Durable]:
    """A fresh SQLite file (the SQLite half of the `durable` fixture)."""
    store = Durable("sqlite", tmp_path)
    yield store
    store.cleanup()


def test_sqlite_commit_failing_before_it_is_carried_out(sqlite_file, post_path, monkeypatch) -> None:
    """COMMIT fails and nothing was written: StoreError (not CommitUnknown), the memory is
    back at the last commit without a reload, and the retry posts the entries once."""
    with ledger.open(sqlite_file.url) as book:
        world(book)
        assert all(r.ok for r in book.post(entries(range(1, 4))))
        loads = count_loads(monkeypatch)
        fail_commit(monkeypatch, book._store, sqlite3.OperationalError("disk I/O error"))
        post_path.small.clear()
        outcome, error = attempt(lambda: book.post(entries(range(4, 7))))
        assert post_path.small == (["CommitUnknown"] if post_path == "small" else [])
        assert outcome == "not-committed"
        assert "read back after reconnecting, the write was not committed" in str(error)
        assert book.balance("a").debits_posted == 3 * ENTRY_AMOUNT
        assert [r.code for r in book.post(entries(range(1, 7)))] == [ledger.Code.exists] * 3 + [
            ledger.Code.ok
        ] * 3
        assert loads["load"] == 0
        assert_entries(sqlite_file, book, 6)


def test_sqlite_commit_carried_out_but_reported_failed(sqlite_file, post_path, monkeypatch) -> None:
    """COMMIT is carried out but the client is told it failed: read back, the batch is
    there, so the call returns its results; the retry finds every key (exists)."""
    with ledger.open(sqlite_file.url) as book:
        world(book)
        loads = count_loads(monkeypatch)

        def lost(dbapi_connection: Any) -> None:
            raise sqlite3.OperationalError("disk I/O error")

        lose_commit_reply(monkeypatch, book._store, lost)
        post_path.small.clear()
        outcome, results = attempt(lambda: book.post(entries(range(1, 4))))
        assert post_path.small == (["CommitUnknown"] if post_path == "small" else [])
        assert outcome == "committed"
        assert all(r.ok for r in results)
        assert [r.code for r in book.post(entries(range(1, 4)))] == [ledger.Code.exists] * 3
        assert loads["load"] == 0
        assert_entries(sqlite_file, book, 3)


def commit_lost_then_unreachable(monkeypatch: pytest.MonkeyPatch, store: Any) -> None:
    """The next COMMIT is carried out, its reply lost (a disk I/O error), and the database
    is unreachable from then on (until the test restores store.engine.connect)."""

    def lost(dbapi_connection: Any) -> None:
        unreachable(monkeypatch, store)
        raise sqlite3.OperationalError("disk I/O error")

    lose_commit_reply(monkeypatch, store, lost)


def test_sqlite_commit_unknown_then_retry(sqlite_file, post_path, monkeypatch) -> None:
    """COMMIT reported failed and the read-back cannot reach the database: CommitUnknown,
    whose message says to retry with the same keys; the retry catches up on the batch that
    was in fact committed (incrementally) and reports its keys as exists."""
    with ledger.open(sqlite_file.url) as book:
        world(book)
        assert all(r.ok for r in book.post(entries([1])))
        loads = count_loads(monkeypatch)
        store = book._store
        original_connect = store.engine.connect
        commit_lost_then_unreachable(monkeypatch, store)
        post_path.small.clear()
        with pytest.raises(ledger.CommitUnknown, match="same keys"):
            book.post(entries(range(2, 5)))
        assert post_path.small == (["CommitUnknown"] if post_path == "small" else [])
        monkeypatch.setattr(store.engine, "connect", original_connect)
        assert [r.code for r in book.post(entries(range(1, 6)))] == [ledger.Code.exists] * 4 + [
            ledger.Code.ok
        ]
        assert loads == {"load": 0, "catch_up": 1}
        assert_entries(sqlite_file, book, 5)


def test_a_post_that_wrote_nothing_needs_no_answer_from_its_commit(sqlite_file, monkeypatch) -> None:
    """A retry whose entries are all there already writes nothing: its COMMIT failing, and
    the database unreachable for a read-back, cannot make its outcome unknown; the codes
    come back (exists) and the ledger goes on."""
    with ledger.open(sqlite_file.url) as book:
        world(book)
        assert all(r.ok for r in book.post(entries(range(1, 3))))
        store = book._store
        original_connect = store.engine.connect
        commit_lost_then_unreachable(monkeypatch, store)
        assert [r.code for r in book.post(entries(range(1, 3)))] == [ledger.Code.exists] * 2
        monkeypatch.setattr(store.engine, "connect", original_connect)
        assert all(r.ok for r in book.post(entries(range(3, 4))))
        assert_entries(sqlite_file, book, 3)


def test_sqlite_catalog_and_period_writes_failing_at_commit(sqlite_file, monkeypatch) -> None:
    """A catalog write whose COMMIT fails is not committed (read back: the commit sequence
    is still before it): StoreError, and the account is not there; the memory reloads the
    catalog (the one write that does). A closed period likewise, without a reload."""
    with ledger.open(sqlite_file.url) as book:
        world(book)
        fail_commit(monkeypatch, book._store, sqlite3.OperationalError("disk I/O error"))
        with pytest.raises(ledger.StoreError) as raised:
            book.create_accounts([{"key": "c", "book": "B", "group": "C", "code": "1"}])
        assert not isinstance(raised.value, ledger.CommitUnknown)
        assert book.accounts_count == 2
        loads = count_loads(monkeypatch)
        fail_commit(monkeypatch, book._store, sqlite3.OperationalError("disk I/O error"))
        with pytest.raises(ledger.StoreError):
            book.close_period("B", "2026-01")
        assert book.closed_periods("B") == []
        book.close_period("B", "2026-01")
        assert book.closed_periods("B") == ["2026-01"]
        assert loads["load"] == 0
        assert [
            r.code for r in book.create_accounts([{"key": "c", "book": "B", "group": "C", "code": "1"}])
        ] == [ledger.Code.ok]


def test_a_write_failing_before_commit_does_not_reload(durable, post_path, monkeypatch) -> None:
    """A store write failing part-way takes the memory back to the last commit exactly (the
    engine's undo): the next call neither loads nor catches up, and posts once."""
    with ledger.open(durable.url) as book:
        world(book)
        assert all(r.ok for r in book.post(entries(range(1, 3))))
        before = balance_rows(book)
        loads = count_loads(monkeypatch)

        def fail(*args: object, **kwargs: object) -> None:
            raise ledger.StoreError("injected: the connection was lost")

        store = type(book._store)
        name = "_small_statements" if durable.kind == "postgresql" else "_insert_small"  # both ways
        original = getattr(store, name)
        monkeypatch.setattr(store, name, fail)
        post_path.small.clear()
        with pytest.raises(ledger.StoreError, match="injected"):
            book.post(entries(range(3, 6)))
        assert post_path.small == (["StoreError"] if post_path == "small" else [])
        monkeypatch.setattr(store, name, original)
        assert np.array_equal(balance_rows(book), before)
        assert all(r.ok for r in book.post(entries(range(3, 6))))
        assert loads == {"load": 0, "catch_up": 0}
        assert_entries(durable, book, 5)


# --- PostgreSQL: the writer's backend terminated -----------------------------------------------------


def test_terminated_while_writing(pg, post_path, monkeypatch) -> None:
    """(a) The backend ends after the entries' rows are made, before COMMIT: in the writer
    transaction, the COMMIT they travel with fails; a small post's one message fails as it
    is sent. Its outcome read back, StoreError, nothing committed; the retry posts every
    entry once."""
    with ledger.open(pg.url) as book:
        world(book)
        assert all(r.ok for r in book.post(entries(range(1, 3))))
        pids = watch_writer(monkeypatch)
        name = "_send_small" if post_path == "small" else "write_small"
        original = getattr(PostgresStore, name)

        def write_small(self: PostgresStore, conn: Any, rows: Any) -> None:
            original(self, conn, rows)
            terminate(backend_pid(conn))

        def send_small(self: PostgresStore, raw: Any, message: str) -> None:
            terminate(int(raw.info.backend_pid))
            original(self, raw, message)

        loads = count_loads(monkeypatch)
        monkeypatch.setattr(PostgresStore, name, send_small if post_path == "small" else write_small)
        outcome, error = attempt(lambda: book.post(entries(range(3, 6))))
        monkeypatch.setattr(PostgresStore, name, original)
        assert outcome == "not-committed"
        causes = f"{error} {error.__cause__}"
        lost = ("terminating connection", "server closed the connection", "the connection is lost")
        assert any(text in causes for text in lost)
        assert scalar(pg.engine(), "SELECT count(*) FROM entries") == 2
        assert book.balance("a").debits_posted == 2 * ENTRY_AMOUNT
        codes = [r.code for r in book.post(entries(range(1, 6)))]
        assert codes == [ledger.Code.exists] * 2 + [ledger.Code.ok] * 3
        assert loads["load"] == 0
        assert len(set(pids)) >= 2, "the retry ran on a new connection"
        assert bool(pids.small) == (post_path == "small"), "the way under test was taken"
        assert_entries(pg, book, 5)


SLOW_COMMIT = """
CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep(60); RETURN NULL; END $$;
CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON batches
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit();
"""


def test_a_dead_pooled_connection_is_replaced(pg, post_path, monkeypatch) -> None:
    """The pool does not ping what it hands out: a pooled connection whose backend ended
    while it sat idle is found dead by the first statements of the next write or read,
    before anything is written, and replaced; the call goes through once, unaware. With
    small posts, the connection ended is the small posts' own: it is checked before a
    message is sent (the server's last words on the socket) and, found dead, the post goes
    the ordinary way (the pooled writer's replacement is the "locked" case's)."""
    with ledger.open(pg.url) as book, ledger.open(pg.url) as other:
        world(book)
        assert all(r.ok for r in book.post(entries(range(1, 3))))
        pids = watch_writer(monkeypatch)
        assert all(r.ok for r in book.post(entries(range(3, 4))))
        terminate(pids[-1])  # the writer's connection, idle in the pool
        loads = count_loads(monkeypatch)
        assert all(r.ok for r in book.post(entries(range(4, 5))))
        assert len(set(pids)) == 2, "the write ran on a new connection"
        assert all(r.ok for r in other.post(entries(range(5, 6))))
        with book._store.reader() as conn:
            reader_pid = backend_pid(conn)
        terminate(reader_pid)  # a reader's connection, idle in the pool
        assert book.balance("a").debits_posted == 5 * ENTRY_AMOUNT  # a read catches up on key 5
        assert loads["load"] == 0
        assert bool(pids.small) == (post_path == "small"), "the way under test was taken"
        assert_entries(pg, book, 5)


def test_terminated_during_commit(pg, post_path, monkeypatch) -> None:
    """(b) The backend ends while COMMIT runs (a deferred trigger holds it there): read back
    under the writer lock, the batch is not there, so StoreError; the retry posts once."""
    with ledger.open(pg.url) as book:
        world(book)
        assert all(r.ok for r in book.post(entries(range(1, 3))))
        engine = pg.engine()
        with engine.begin() as conn:
            conn.exec_driver_sql(SLOW_COMMIT)
        pids = watch_writer(monkeypatch)
        stop = threading.Event()

        def terminate_in_commit() -> None:
            admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
            try:
                with admin.connect() as conn:
                    while not stop.is_set():
                        pid = conn.execute(
                            text(
                                # only the deferred trigger sleeps, and only at COMMIT (the
                                # statement may be a small batch's rows sent with its COMMIT)
                                "SELECT pid FROM pg_stat_activity WHERE state = 'active'"
                                " AND wait_event = 'PgSleep' AND pid = ANY(:pids)"
                            ),
                            {"pids": pids},
                        ).scalar()
                        if pid is not None:
                            terminate(pid)
                            return
                        time.sleep(0.01)
            finally:
                admin.dispose()

        killer = threading.Thread(target=terminate_in_commit)
        killer.start()
        loads = count_loads(monkeypatch)
        try:
            outcome, error = attempt(lambda: book.post(entries(range(3, 6))))
        finally:
            stop.set()
            killer.join()
        assert outcome == "not-committed"
        assert "read back after reconnecting, the write was not committed" in str(error)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER slow_commit ON batches")
        codes = [r.code for r in book.post(entries(range(1, 6)))]
        assert codes == [ledger.Code.exists] * 2 + [ledger.Code.ok] * 3
        assert loads["load"] == 0
        assert bool(pids.small) == (post_path == "small"), "the way under test was taken"
        assert_entries(pg, book, 5)


def test_terminated_right_after_commit(pg, post_path, monkeypatch) -> None:
    """(c) COMMIT is carried out, then the backend ends before the client has the reply
    (the driver's error on the dead connection is what the client gets): read back, the
    batch is there, so the call returns its results; the retry finds every key."""
    with ledger.open(pg.url) as book:
        world(book)
        assert all(r.ok for r in book.post(entries(range(1, 3))))
        pids = watch_writer(monkeypatch)

        def lost(dbapi_connection: Any) -> None:
            terminate(pids[-1])
            dbapi_connection.cursor().execute("SELECT 1")  # the driver's own error

        loads = count_loads(monkeypatch)
        lose_reply(monkeypatch, book._store, post_path, lost)
        outcome, results = attempt(lambda: book.post(entries(range(3, 6))))
        assert outcome == "committed"
        assert all(r.ok for r in results)
        codes = [r.code for r in book.post(entries(range(1, 6)))]
        assert codes == [ledger.Code.exists] * 5
        assert loads["load"] == 0
        assert bool(pids.small) == (post_path == "small"), "the way under test was taken"
        assert_entries(pg, book, 5)


def test_terminated_right_after_commit_and_unreachable(pg, post_path, monkeypatch) -> None:
    """(c) as before, but the database cannot be reached to read the outcome back:
    CommitUnknown; once it can, the retry with the same keys catches up on the committed
    batch (no full load) and reports its keys as exists, and posts the new one once."""
    with ledger.open(pg.url) as book:
        world(book)
        assert all(r.ok for r in book.post(entries(range(1, 3))))
        pids = watch_writer(monkeypatch)
        store = book._store
        original_connect = store.engine.connect

        def lost(dbapi_connection: Any) -> None:
            terminate(pids[-1])
            unreachable(monkeypatch, store)
            dbapi_connection.cursor().execute("SELECT 1")

        loads = count_loads(monkeypatch)
        lose_reply(monkeypatch, store, post_path, lost)
        outcome, _ = attempt(lambda: book.post(entries(range(3, 6))))
        assert outcome == "unknown"
        monkeypatch.setattr(store.engine, "connect", original_connect)
        codes = [r.code for r in book.post(entries(range(1, 7)))]
        assert codes == [ledger.Code.exists] * 5 + [ledger.Code.ok]
        assert loads == {"load": 0, "catch_up": 1}
        assert bool(pids.small) == (post_path == "small"), "the way under test was taken"
        assert_entries(pg, book, 6)


def test_terminated_at_random_moments(pg, monkeypatch) -> None:
    """Batches of about 50,000 lines with pending entries and their posts and voids, the
    writer's backend ended at a random moment of each first attempt (spread over the time a
    post takes: while writing, during or after COMMIT, or after the call): each outcome is
    honest, retries bring every batch in exactly once, and the ledger never loads
    everything again."""
    rng = random.Random(RACE_SEED)
    outcomes: dict[str, int] = {}
    with ledger.open(pg.url) as book:
        crash_world(book)
        started = time.perf_counter()
        assert not book.post_columns(**crash_batch(0)).any()
        took = time.perf_counter() - started
        pids = watch_writer(monkeypatch)
        engine = pg.engine()
        loads = count_loads(monkeypatch)
        read_back: list[bool | None] = []
        outcome_of = Replica._outcome

        def counted(self: Replica, mark: Any) -> bool | None:
            read_back.append(outcome_of(self, mark))
            return read_back[-1]

        monkeypatch.setattr(Replica, "_outcome", counted)
        for index in range(1, RACE_BATCHES):
            batch = crash_batch(index)
            written = len(pids)
            timer = threading.Timer(
                rng.uniform(0.0, 1.2 * took), lambda n=written: len(pids) > n and terminate(pids[n])
            )
            timer.start()
            outcome, codes = attempt(lambda b=batch: book.post_columns(**b))
            timer.join()
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            stored = int(scalar(engine, f"SELECT count(*) FROM batches WHERE id = {index + 1}"))
            if outcome == "committed":
                assert not codes.any() and stored == 1
            elif outcome == "not-committed":
                assert stored == 0
            while outcome != "committed":
                outcome, codes = attempt(lambda b=batch: book.post_columns(**b))
            assert set(codes.tolist()) <= {0, int(ledger.Code.exists)}
        assert loads["load"] == 0
        print(f"first attempts ({took:.3f} s a post): {outcomes}; COMMITs read back: {read_back}")
        plan = CrashPlan()
        assert np.array_equal(balance_rows(book), plan.balances(RACE_BATCHES))
        assert scalar(engine, "SELECT count(*) FROM batches") == RACE_BATCHES
        assert scalar(engine, "SELECT count(*) FROM entries") == sum(plan.entries)
        assert scalar(engine, "SELECT count(DISTINCT key) FROM entries") == sum(plan.entries)
        assert book.verify() is None
    with ledger.open(pg.url) as fresh:
        assert np.array_equal(balance_rows(fresh), plan.balances(RACE_BATCHES))


# --- PostgreSQL: a writer that dies releases the writer lock -----------------------------------------

HOLDER = """
import sys, time
import ledger.store
store = ledger.store.open_store(sys.argv[1])
with store.writer() as conn:
    if sys.argv[2] == "statement":
        print("locked", conn.connection.driver_connection.info.backend_pid, flush=True)
        conn.exec_driver_sql("SELECT pg_sleep(600)")
    else:
        print("locked", conn.connection.driver_connection.info.backend_pid, flush=True)
        time.sleep(600)
"""


def lock_wait_after(url: str, mode: str, end: Callable[[subprocess.Popen[str], int], None]) -> float:
    """Seconds until this process holds the writer lock after a child holding it (idle in
    its transaction, or running a statement) was ended by `end`."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOLDER), url, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline().split()
        assert line[:1] == ["locked"], line
        time.sleep(0.3)  # the child is idle in its transaction or inside its statement now
        store = PostgresStore.from_url(url)
        try:
            started = time.perf_counter()
            end(child, int(line[1]))
            with store.engine.connect() as conn, conn.begin():
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(LOCK_RELEASE_MAX_S)}s'")
                store.lock(conn)
                return time.perf_counter() - started
        finally:
            store.dispose()
    finally:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        child.wait()


def sigkill(child: subprocess.Popen[str], pid: int) -> None:
    child.send_signal(signal.SIGKILL)


def terminated(child: subprocess.Popen[str], pid: int) -> None:
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        admin.dispose()


@pytest.mark.parametrize("mode", ["idle", "statement"])
@pytest.mark.parametrize("end", [sigkill, terminated], ids=["sigkill", "pg_terminate_backend"])
def test_a_dead_writer_releases_the_writer_lock(pg, mode: str, end: Callable[..., None]) -> None:
    """A child holds the writer lock, idle in its transaction or inside a long statement,
    and is killed (SIGKILL) or has its backend terminated: another process gets the lock
    (a functional check; the seconds it took are printed, not asserted tightly)."""
    with ledger.open(pg.url):
        pass  # the schema
    seconds = lock_wait_after(pg.url, mode, end)
    print(f"writer lock after {end.__name__} of a writer {mode}: {seconds:.3f} s")
    assert seconds < LOCK_RELEASE_MAX_S
