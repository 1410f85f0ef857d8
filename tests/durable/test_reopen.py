"""Reopening a durable ledger shows exactly what was committed, with or without a checkpoint.

Each test builds the same history (`build_history`: both posting paths, two balance groups,
pending entries resolved in later months, chains, refusals, a closed period, reversals),
reads everything a reader can see (`snapshot`: balances, monthly turnover, closed periods,
as-of balances) and compares it after the ledger is opened again: after `close()` (which
folds the batches into the monthly checkpoint), after the object is merely dropped, after
a child process that posted the history exits without closing, and through a second ledger
that was open all along. Two more cases: pending amounts near the int64 limit, and accounts
created after reopening from a checkpoint.
"""

from __future__ import annotations

import datetime as dt
import gc
import json

import numpy as np
import pytest

import ledger

from ._workload import Child, balance_rows, build_history, rows, snapshot

DEBIT_HUGE = 2**63 - 10


def batch_hashes(durable, url=None) -> list[tuple[int, bytes, bytes, int, int]]:
    """Every batch record: id, hash, previous hash, entries, lines."""
    engine = durable.engine(url)
    return [
        (int(i), bytes(h), bytes(p), int(e), int(n))
        for i, h, p, e, n in rows(
            engine, "SELECT id, hash, prev_hash, entries, lines FROM batches ORDER BY id"
        )
    ]


def assert_period_books(durable) -> None:
    """Every monthly row carries its account's book (folds stage it; none is left out)."""
    engine = durable.engine()
    assert rows(engine, "SELECT count(*) FROM period_balances")[0][0] > 0
    assert rows(
        engine,
        "SELECT count(*) FROM period_balances p JOIN accounts a ON a.idx = p.account WHERE p.book <> a.book",
    ) == [(0,)]


def checkpoint_state(durable) -> tuple[int, int]:
    """(checkpoint_batch, last_batch) of the state row: how much of the chain is folded."""
    folded, last = rows(durable.engine(), "SELECT checkpoint_batch, last_batch FROM ledger_state")[0]
    return int(folded), int(last)


@pytest.fixture
def reference():
    """The history posted into an in-memory ledger: its codes and what a reader sees."""
    with ledger.open() as book:
        codes = build_history(book)
        yield codes, snapshot(book)


def test_reopen_after_close_is_identical(durable, reference) -> None:
    """After close() and open() the balances, monthly turnover, closed periods, as-of
    balances and the hash chain (every batch's stored hash) are exactly as before, and as
    an in-memory ledger given the same calls has them."""
    codes, expected = reference
    book = ledger.open(durable.url)
    assert build_history(book) == codes
    before = snapshot(book)
    assert before == expected
    assert book.verify() is None
    hashes = batch_hashes(durable)
    assert len(hashes) >= 6
    book.close()
    folded, last = checkpoint_state(durable)
    assert folded == last, "close() folds every batch into the checkpoint"
    assert_period_books(durable)  # folded from memory
    with ledger.open(durable.url) as again:
        assert snapshot(again) == before
        assert again.verify() is None
    assert batch_hashes(durable) == hashes


def test_reopen_without_close_is_identical(durable, reference) -> None:
    """A ledger dropped without close() (no final checkpoint: the later half of the batches
    is not folded) reopens to exactly the same balances, turnover and as-of balances."""
    codes, expected = reference
    book = ledger.open(durable.url)
    assert build_history(book, checkpoint=True) == codes
    hashes = batch_hashes(durable)
    del book
    gc.collect()
    folded, last = checkpoint_state(durable)
    assert 0 < folded < last, "half of the history is folded, half is not"
    with ledger.open(durable.url) as again:
        assert snapshot(again) == expected
        assert again.verify() is None
    with ledger.open(durable.url) as again:
        again.checkpoint()  # folds, from the tables, what the dropped ledger left unfolded
        assert snapshot(again) == expected
    assert checkpoint_state(durable)[0] == last
    assert_period_books(durable)
    assert batch_hashes(durable) == hashes


def test_reopen_after_child_exits_without_closing(durable, reference) -> None:
    """A child process posts the history and exits without closing its ledger (nothing is
    folded); the parent then opens the database and reads exactly what an in-memory ledger
    given the same calls reads."""
    codes, expected = reference
    child = Child("history", url=durable.url)
    posted = child.expect("posted")
    assert child.wait() == 0, child.stderr()
    assert json.loads(posted.split(" ", 1)[1]) == codes
    assert checkpoint_state(durable)[0] == 0
    with ledger.open(durable.url) as book:
        assert snapshot(book) == expected
        assert book.verify() is None
        # Reopened state also decides: every key is taken, the pending entries are resolved.
        again = book.post(
            [
                {
                    "key": 1,
                    "book": "B0",
                    "date": "2024-01-03",
                    "lines": [{"account": "cash", "debit": "1"}, {"account": "revenue", "credit": "1"}],
                }
            ]
        )
        assert again[0].code == ledger.Code.exists_with_different_fields
        resolve = book.post(
            [{"key": 60, "book": "B0", "date": "2024-05-01", "flags": ["void_pending"], "pending": 10}]
        )
        assert resolve[0].code == ledger.Code.pending_already_resolved


def test_ledger_opened_before_reads_later_commits(durable, reference) -> None:
    """A second ledger opened on the same database before the history was posted reads it
    all afterwards (it reloads what the other one committed) and decides on that state."""
    codes, expected = reference
    reader = ledger.open(durable.url)
    writer = ledger.open(durable.url)
    try:
        assert build_history(writer) == codes
        assert snapshot(reader) == expected
        results = reader.post(
            [
                {
                    "key": 2,
                    "book": "B1",
                    "date": "2024-01-09",
                    "reference": "R-2",
                    "lines": [
                        {"account": "bank", "debit": "2000.50"},
                        {"account": "payable", "credit": "2000.50"},
                    ],
                }
            ]
        )
        assert results[0].code == ledger.Code.exists
        assert np.array_equal(balance_rows(reader), balance_rows(writer))
    finally:
        reader.close()
        writer.close()


def _huge(key: int, date: str, flags: list[str], pending: int | None = None) -> dict:
    entry = {"key": key, "book": "B", "date": date, "flags": flags}
    if pending is None:
        entry["lines"] = [
            {"account": "a", "debit": str(DEBIT_HUGE)},
            {"account": "b", "credit": str(DEBIT_HUGE)},
        ]
    else:
        entry["pending"] = pending
    return entry


@pytest.mark.parametrize(
    "void_date",
    [
        pytest.param("2024-01-06", id="resolved-same-month"),
        pytest.param("2024-02-06", id="resolved-next-month"),
    ],
)
def test_reopen_after_large_pending_amounts(durable, void_date: str) -> None:
    """Pending amounts near the int64 limit, reserved, voided and reserved again: every
    balance fits int64 at every moment (the kernel accepts each entry), so close() must
    succeed and the reopened ledger must read the same balances, also as of a date."""
    book = ledger.open(durable.url)
    book.create_groups([{"key": "C", "scale": 0}])
    book.create_books([{"key": "B"}])
    book.create_accounts(
        [
            {"key": "a", "book": "B", "group": "C", "code": "1"},
            {"key": "b", "book": "B", "group": "C", "code": "2"},
        ]
    )
    results = book.post([_huge(1, "2024-01-05", ["pending"])])
    results += book.post([_huge(2, void_date, ["void_pending"], pending=1)])
    results += book.post([_huge(3, "2024-01-07", ["pending"])])
    assert [r.code for r in results] == [ledger.Code.ok] * 3
    before = balance_rows(book)
    assert before.tolist() == [[0, 0, DEBIT_HUGE, 0], [0, 0, 0, DEBIT_HUGE]]
    as_of = book.balance("a", as_of=dt.date(2024, 3, 1))
    assert as_of.debits_pending == DEBIT_HUGE
    book.close()
    with ledger.open(durable.url) as again:
        assert np.array_equal(balance_rows(again), before)
        assert again.balance("a", as_of=dt.date(2024, 3, 1)) == as_of
        assert again.verify() is None


def test_accounts_created_after_reopening_start_at_zero(durable) -> None:
    """Accounts created by a ledger opened from a checkpoint start with zero balances,
    whatever the process's memory held before (freed memory is filled with -1 first, so
    memory handed out without being cleared shows), and postings to them are exact."""
    with ledger.open(durable.url) as book:
        book.create_groups([{"key": "C", "scale": 0}])
        book.create_books([{"key": "B"}])
        book.create_accounts([{"key": "a", "book": "B", "group": "C", "code": "1"}])
    for i in range(4):
        junk = [np.full(8 * 1024 + 8 * k, -1, np.int64) for k in range(16)]
        del junk
        with ledger.open(durable.url) as book:
            assert [
                r.code
                for r in book.create_accounts([{"key": f"n{i}", "book": "B", "group": "C", "code": "1"}])
            ] == [ledger.Code.ok]
            assert balance_rows(book)[-1].tolist() == [0, 0, 0, 0]
            entry = {
                "key": i + 1,
                "book": "B",
                "date": "2024-01-05",
                "lines": [{"account": f"n{i}", "debit": "3"}, {"account": "a", "credit": "3"}],
            }
            assert book.post([entry])[0].ok
            assert balance_rows(book)[-1].tolist() == [3, 0, 0, 0]
    with ledger.open(durable.url) as book:
        assert balance_rows(book).tolist() == [[0, 12, 0, 0]] + [[3, 0, 0, 0]] * 4
