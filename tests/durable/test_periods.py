"""Closed periods, as-of balances, reversals and the schema version on a durable ledger.

As-of balances are checked against a plain model of the rule `Ledger.balance` states: by
accounting date, entries dated on or before the day count; a pending entry counts as pending
from its own date, and from the date of the entry that posts (voids) it as posted (released).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pytest
from sqlalchemy import text

import ledger
from ledger import Code
from ledger.periods import days as day_number

from ._workload import balance_rows, rows

D = dt.date
ACCOUNTS = ("cash", "revenue", "expense", "payable")


def world(book: ledger.Ledger) -> None:
    assert all(r.ok for r in book.create_groups([{"key": "CNY", "scale": 2}]))
    assert all(r.ok for r in book.create_books([{"key": "B"}, {"key": "C"}]))
    accounts = [
        {
            "key": key,
            "book": "B",
            "group": "CNY",
            "code": "1001",
            "normal": "credit" if key in ("revenue", "payable") else "debit",
        }
        for key in ACCOUNTS
    ] + [{"key": f"c.{key}", "book": "C", "group": "CNY", "code": "1001"} for key in ("cash", "revenue")]
    assert all(r.ok for r in book.create_accounts(accounts))


def entry(key: int, date: D, *lines: tuple[str, int], book: str = "B", **fields) -> dict:
    """A record-path entry; amounts in minor units, debit > 0."""
    return {
        "key": key,
        "book": book,
        "date": date.isoformat(),
        "lines": [
            {
                "account": account,
                "debit" if amount > 0 else "credit": f"{abs(amount) // 100}.{abs(amount) % 100:02d}",
            }
            for account, amount in lines
        ],
        **fields,
    }


@dataclass
class AsOfModel:
    """What balance(account, as_of=day) must say, from the entries as posted."""

    posted: list[tuple[D, tuple[tuple[str, int], ...]]] = field(default_factory=list)
    pending: dict[int, tuple[D, tuple[tuple[str, int], ...]]] = field(default_factory=dict)
    resolved: list[tuple[D, int, bool]] = field(default_factory=list)  # (date, pending key, posted?)

    def post(self, book: ledger.Ledger, entries: list[dict]) -> None:
        results = book.post(entries)
        assert [r.code for r in results] == [Code.ok] * len(entries), results
        for e in entries:
            date = D.fromisoformat(e["date"])
            flags = e.get("flags", [])
            lines = tuple(
                (line["account"], _minor(line["debit"]) if "debit" in line else -_minor(line["credit"]))
                for line in e.get("lines", [])
            )
            if "pending" in flags:
                self.pending[e["key"]] = (date, lines)
            elif "post_pending" in flags or "void_pending" in flags:
                self.resolved.append((date, e["pending"], "post_pending" in flags))
            else:
                self.posted.append((date, lines))

    def balance(self, account: str, day: D) -> list[int]:
        totals = [0, 0, 0, 0]
        for date, lines in self.posted:
            if date <= day:
                _add(totals, lines, account, 0)
        for date, lines in self.pending.values():
            if date <= day:
                _add(totals, lines, account, 2)
        for date, key, posted in self.resolved:
            if date <= day:
                lines = self.pending[key][1]
                _add(totals, lines, account, 2, sign=-1)
                if posted:
                    _add(totals, lines, account, 0)
        return totals


def _minor(amount: str) -> int:
    whole, _, cents = amount.partition(".")
    return int(whole) * 100 + int(cents.ljust(2, "0"))


def _add(totals: list[int], lines, account: str, column: int, sign: int = 1) -> None:
    for name, amount in lines:
        if name == account:
            totals[column + (amount < 0)] += sign * abs(amount)


def check_as_of(book: ledger.Ledger, model: AsOfModel, days: list[D]) -> None:
    for account in ACCOUNTS:
        for day in days:
            balance = book.balance(account, as_of=day)
            actual = [
                _minor(str(value))
                for value in (
                    balance.debits_posted,
                    balance.credits_posted,
                    balance.debits_pending,
                    balance.credits_pending,
                )
            ]
            assert actual == model.balance(account, day), (account, day.isoformat())
        now = book.balance(account)
        assert [
            _minor(str(now.debits_posted)),
            _minor(str(now.credits_posted)),
            _minor(str(now.debits_pending)),
            _minor(str(now.credits_pending)),
        ] == model.balance(account, D(2100, 1, 1)), account


def test_balance_as_of_is_exact_across_checkpoints(durable) -> None:
    """balance(account, as_of=day) equals the model for days around every entry date and
    month boundary: with everything folded into the checkpoint, with part of it folded, with
    nothing folded since, and after reopening. Pending entries are posted and voided in later
    months, one is posted the day it was reserved, and one entry is back-dated."""
    book = ledger.open(durable.url)
    world(book)
    model = AsOfModel()
    model.post(
        book,
        [
            entry(1, D(2024, 1, 5), ("cash", 10_000), ("revenue", -10_000)),
            entry(2, D(2024, 1, 31), ("cash", 5_000), ("revenue", -5_000)),
            entry(3, D(2024, 1, 10), ("expense", 3_000), ("cash", -3_000), flags=["pending"]),
            entry(4, D(2024, 1, 20), ("expense", 2_000), ("payable", -2_000), flags=["pending"]),
        ],
    )
    assert book.checkpoint() == 1
    event_days = [D(2024, 1, d) for d in (5, 10, 20, 31)]
    days = sorted(
        {day + dt.timedelta(days=shift) for day in event_days for shift in (-1, 0, 1)}
        | {
            D(2023, 12, 31),
            D(2024, 1, 1),
            D(2024, 2, 1),
            D(2024, 2, 29),
            D(2024, 3, 1),
            D(2024, 3, 4),
            D(2024, 3, 5),
            D(2024, 3, 6),
            D(2024, 3, 15),
            D(2024, 3, 31),
            D(2024, 4, 1),
            D(2024, 4, 2),
            D(2024, 4, 3),
            D(2024, 4, 30),
            D(2024, 5, 1),
            D(2024, 1, 14),
            D(2024, 1, 15),
            D(2024, 1, 16),
        }
    )
    check_as_of(book, model, days)
    model.post(
        book,
        [
            entry(5, D(2024, 2, 1), ("expense", 1_000), ("cash", -1_000)),
            entry(6, D(2024, 3, 5), flags=["post_pending"], pending=3),
            entry(7, D(2024, 2, 29), ("cash", 700), ("revenue", -700)),
        ],
    )
    check_as_of(book, model, days)
    assert book.checkpoint() == 1
    check_as_of(book, model, days)
    model.post(
        book,
        [
            entry(8, D(2024, 4, 2), flags=["void_pending"], pending=4),
            entry(9, D(2024, 1, 15), ("cash", 300), ("revenue", -300)),
            entry(10, D(2024, 3, 15), ("expense", 450), ("payable", -450), flags=["pending"]),
            entry(11, D(2024, 3, 15), flags=["post_pending"], pending=10),
            entry(12, D(2024, 4, 30), ("payable", 999), ("cash", -999)),
        ],
    )
    check_as_of(book, model, days)
    book.close()
    with ledger.open(durable.url) as again:
        check_as_of(again, model, days)


def test_closed_period_refuses_entries_durably(durable) -> None:
    """close_period makes entries dated in that month of that book period_closed, on both
    posting paths and for posts of pending entries, in a ledger that had opened before the
    close, and after reopening; other months and books are untouched."""
    book = ledger.open(durable.url)
    world(book)
    stale = ledger.open(durable.url)
    try:
        assert book.post(
            [
                entry(1, D(2024, 1, 5), ("cash", 100), ("revenue", -100)),
                entry(2, D(2024, 2, 5), ("expense", 100), ("cash", -100), flags=["pending"]),
            ]
        )[0].ok
        book.close_period("B", "2024-01")
        book.close_period("B", D(2024, 1, 17))
        assert book.closed_periods("B") == ["2024-01"]
        assert book.closed_periods("C") == []
        with pytest.raises(ledger.NotFound):
            book.close_period("no-such-book", "2024-01")
        results = stale.post(
            [
                entry(3, D(2024, 1, 31), ("cash", 100), ("revenue", -100)),
                entry(4, D(2024, 2, 1), ("cash", 100), ("revenue", -100)),
                entry(5, D(2024, 1, 31), ("c.cash", 100), ("c.revenue", -100), book="C"),
                entry(6, D(2024, 1, 20), flags=["post_pending"], pending=2),
            ]
        )
        assert [r.code for r in results] == [Code.period_closed, Code.ok, Code.ok, Code.period_closed]
        index = book.account_index(["cash", "revenue"])
        codes = book.post_columns(
            [7, 8],
            [0, 2, 4],
            np.tile(index, 2),
            [5, -5, 6, -6],
            dates=[day_number(D(2024, 1, 2)), day_number(D(2024, 3, 2))],
        )
        assert codes.tolist() == [Code.period_closed, Code.ok]
        before = balance_rows(book)
    finally:
        stale.close()
        book.close()
    with ledger.open(durable.url) as again:
        assert again.closed_periods("B") == ["2024-01"]
        assert np.array_equal(balance_rows(again), before)
        results = again.post(
            [
                entry(9, D(2024, 1, 9), ("cash", 100), ("revenue", -100)),
                entry(10, D(2024, 1, 9), flags=["void_pending"], pending=2),
                entry(11, D(2024, 2, 9), flags=["void_pending"], pending=2),
            ]
        )
        assert [r.code for r in results] == [Code.period_closed, Code.period_closed, Code.ok]
        again.close_period("B", "2024-03")
        assert again.closed_periods("B") == ["2024-01", "2024-03"]
    with ledger.open(durable.url) as third:
        assert third.closed_periods("B") == ["2024-01", "2024-03"]
        assert (
            third.post([entry(12, D(2024, 3, 9), ("cash", 1), ("revenue", -1))])[0].code == Code.period_closed
        )


def test_reverse_restores_balances(durable) -> None:
    """reverse() posts the swapped lines (same accounts, dimension codes and book): the net
    balance of every account returns to what it was without the entry, also for the posting
    of a pending entry; a second call with the same new key is `exists`; the reversal is
    durable."""
    book = ledger.open(durable.url)
    world(book)
    assert book.post([entry(1, D(2024, 1, 2), ("cash", 90_000), ("revenue", -90_000))])[0].ok
    start = balance_rows(book)
    target = entry(2, D(2024, 1, 5), ("expense", 1_234), ("payable", -1_000), ("cash", -234))
    target["lines"][0]["dims"] = (11, 22, 33, 44)
    assert book.post([target])[0].ok
    with_target = balance_rows(book)
    book.checkpoint()
    assert book.post([entry(3, D(2024, 1, 9), ("cash", 500), ("revenue", -500))])[0].ok
    later = balance_rows(book)
    assert book.reverse(2, 102, D(2024, 2, 1)).code == Code.ok
    reversed_rows = balance_rows(book)
    delta = with_target - start
    assert np.array_equal(reversed_rows[:, 0], later[:, 0] + delta[:, 1])
    assert np.array_equal(reversed_rows[:, 1], later[:, 1] + delta[:, 0])
    net = reversed_rows[:, 0] - reversed_rows[:, 1]
    assert np.array_equal(net, (later - delta)[:, 0] - (later - delta)[:, 1])
    assert book.reverse(2, 102, D(2024, 2, 1)).code == Code.exists
    engine = durable.engine()
    original = rows(
        engine,
        "SELECT line, account, amount, dim1, dim2, dim3, dim4 FROM lines WHERE entry = 2 ORDER BY line",
    )
    reversal = rows(
        engine,
        "SELECT line, account, amount, dim1, dim2, dim3, dim4 FROM lines WHERE entry = 102 ORDER BY line",
    )
    assert [(r[0], r[1], -r[2], *r[3:]) for r in original] == reversal

    assert book.post(
        [
            entry(4, D(2024, 2, 3), ("expense", 700), ("cash", -700), flags=["pending"]),
            entry(5, D(2024, 2, 4), flags=["post_pending"], pending=4),
        ]
    )[1].ok
    before_post = balance_rows(book)
    with pytest.raises(ledger.InvalidInput):
        book.reverse(4, 104, D(2024, 2, 6))
    with pytest.raises(ledger.NotFound):
        book.reverse(999, 1999, D(2024, 2, 6))
    assert book.reverse(5, 105, D(2024, 2, 6)).code == Code.ok
    after = balance_rows(book)
    index = book.account_index(["expense", "cash"])
    assert (after[index, 0] - after[index, 1]).tolist() == (
        before_post[index, 0] - before_post[index, 1] - np.array([700, -700])
    ).tolist()
    book.close_period("B", "2024-03")
    assert book.reverse(3, 103, D(2024, 3, 1)).code == Code.period_closed
    book.close()
    with ledger.open(durable.url) as again:
        assert np.array_equal(balance_rows(again), after)
        assert again.verify() is None


def test_schema_version_mismatch_is_refused(durable) -> None:
    """A database whose schema_version differs from this version's is refused on open with
    SchemaVersionError, and opens again unchanged once the version is restored."""
    with ledger.open(durable.url) as book:
        world(book)
        assert book.post([entry(1, D(2024, 1, 2), ("cash", 100), ("revenue", -100))])[0].ok
        before = balance_rows(book)
    engine = durable.engine()
    with engine.begin() as conn:
        conn.execute(text("UPDATE ledger_state SET schema_version = schema_version + 1"))
    with pytest.raises(ledger.SchemaVersionError):
        ledger.open(durable.url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE ledger_state SET schema_version = schema_version - 1"))
    with ledger.open(durable.url) as book:
        assert np.array_equal(balance_rows(book), before)
