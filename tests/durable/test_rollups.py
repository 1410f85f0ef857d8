"""Rollups and trial balances on every store: against the posted effects the ledger reported,
against a plain SQL GROUP BY over the stored lines, after checkpoints and another process's
posts, and refusing what they cannot answer."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

import ledger
from ledger.columns import ENTRY_PENDING, ENTRY_POST_PENDING, ENTRY_VOID_PENDING
from ledger.rollups import FIGURES
from ledger.store import open_store

from ._rollup_world import BOOKS, World, account_figures, build, expected_rows, sides

RANGES = [(202511, 202511), (202512, 202602), (202603, 202603), (202401, 202412), (202511, 202603)]


def label(month: int) -> str:
    return f"{month // 100:04d}-{month % 100:02d}"


def rows_by_key(table: Any, *keys: str) -> dict[tuple[Any, ...], tuple[int, ...]]:
    out = {}
    for row in table.to_pylist():
        key = tuple(row[k] for k in keys)
        assert key not in out, f"{key} twice"
        out[key] = tuple(row[name] for name in FIGURES)
    return out


def accounts_of(world: World, books: tuple[str, ...]) -> list[int]:
    return [i for i, a in enumerate(world.accounts) if a[1] in books]


def check_world(book: ledger.Ledger, world: World) -> None:
    for first, last in RANGES:
        for b in BOOKS:
            result = book.trial_balance(book=b, period=label(first), to=label(last))
            assert rows_by_key(result.rows, "code", "group") == expected_rows(
                world, accounts_of(world, (b,)), first, last
            )
            assert result.balanced, result.totals.to_pylist()
        for node, books in (("R", ("B0", "B1")), ("D1", ("B0",)), ("n1", ("B1",))):
            result = book.trial_balance(node=node, period=label(first), to=label(last))
            assert rows_by_key(result.rows, "code", "group") == expected_rows(
                world, accounts_of(world, books), first, last
            )
        every = book.trial_balances(period=label(first), to=label(last))
        got = rows_by_key(every.rows, "book", "code", "group")
        want = {
            (b, *key): value
            for b in BOOKS
            for key, value in expected_rows(world, accounts_of(world, (b,)), first, last).items()
        }
        assert got == want
        assert every.balanced


@pytest.mark.parametrize("seed", [1, 2])
def test_trial_balances_are_the_posted_effects(any_store: str | None, seed: int) -> None:
    with ledger.open(any_store) as book:
        world = build(book, seed)
        check_world(book, world)
        book.checkpoint()  # the folded monthly sums, then more batches after them
        more = build_more(book, world, seed)
        check_world(book, more)


def build_more(book: ledger.Ledger, world: World, seed: int) -> World:
    """A few more entries, backdated into open months, after a checkpoint."""
    rng = np.random.default_rng(seed)
    key = 10_000
    for b in BOOKS:
        cny = [a for a in world.accounts if a[1] == b and a[2] == "CNY"]
        if len(cny) < 2:
            continue
        for _ in range(3):
            key += 1
            debit, credit = rng.choice(len(cny), 2, replace=False)
            day = dt.date(2026, 3, int(rng.integers(1, 28)))
            result = book.post(
                [
                    ledger.Entry(
                        key=key,
                        book=b,
                        date=day,
                        lines=[
                            ledger.Line(account=cny[debit][0], debit="12.34"),
                            ledger.Line(account=cny[credit][0], credit="12.34"),
                        ],
                    )
                ]
            )[0]
            if result.ok:
                world.posted.append((world.index[cny[debit][0]], 202603, 1234, 0))
                world.posted.append((world.index[cny[credit][0]], 202603, -1234, 0))
    return world


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 10**6))
def test_trial_balance_property_in_memory(seed: int) -> None:
    """Any seed: every node is its accounts' sums (expected_rows) and debits equal credits."""
    with ledger.open() as book:
        world = build(book, seed, entries=40)
        for first, last in RANGES[:3]:
            for b in BOOKS:
                result = book.trial_balance(book=b, period=label(first), to=label(last))
                assert rows_by_key(result.rows, "code", "group") == expected_rows(
                    world, accounts_of(world, (b,)), first, last
                )
                assert result.balanced
                check_children(result.rows)


def check_children(rows: Any) -> None:
    """Every node's turnover is its own accounts' plus its children's: a node's figures are at
    least the sum of its children's, with equality where no account sits on the node."""
    table = rows.to_pylist()
    by = {(r["code"], r["group"]): r for r in table}
    for r in table:
        children = [
            c for c in table
            if c["group"] == r["group"] and c["code"] != r["code"] and c["code"].startswith(r["code"])
            and c["level"] == r["level"] + 1
        ]  # fmt: skip
        for name in ("debit", "credit"):
            assert r[name] >= sum(c[name] for c in children)
        assert (r["code"], r["group"]) in by


def test_rollups_by_book_node_subledger_and_code(any_store: str | None) -> None:
    with ledger.open(any_store) as book:
        world = build(book, 7)
        first, last = 202512, 202602
        figures = account_figures(world, first, last)

        def totals(accounts: list[int]) -> dict[str, tuple[int, ...]]:
            out: dict[str, list[int]] = {}
            for i in accounts:
                f = figures.get(i, [0, 0, 0, 0])
                t = out.setdefault(world.accounts[i][2], [0, 0, 0, 0])
                for j in range(4):
                    t[j] += f[j]
            return {
                g: (*sides(t[0] - t[2], t[1] - t[3]), t[2], t[3], *sides(t[0], t[1])) for g, t in out.items()
            }

        by_book = rows_by_key(book.rollup("book", period="2025-12", to="2026-02"), "key", "group")
        want = {(b, g): v for b in BOOKS for g, v in totals(accounts_of(world, (b,))).items()}
        assert by_book == want
        by_node = rows_by_key(book.rollup("node", period="2025-12", to="2026-02"), "key", "group")
        for node, books in (("R", ("B0", "B1")), ("D1", ("B0",)), ("n0", ("B0",)), ("n1", ("B1",))):
            for g, v in totals(accounts_of(world, books)).items():
                assert by_node[(node, g)] == v
        by_sub = rows_by_key(book.rollup("subledger", period="2025-12", to="2026-02"), "book", "key", "group")
        subs = {(a[1], a[4]) for a in world.accounts if a[4] is not None}
        want_sub = {}
        for b, s in subs:
            mine = [i for i, a in enumerate(world.accounts) if a[1] == b and a[4] == s]
            want_sub.update({(b, s, g): v for g, v in totals(mine).items()})
        assert by_sub == want_sub
        by_code = rows_by_key(
            book.rollup("code:1", period="2025-12", to="2026-02", levels="4-2-2"), "key", "group"
        )
        for heading in ("1001", "1002", "5001"):
            mine = [i for i, a in enumerate(world.accounts) if a[3].startswith(heading)]
            for g, v in totals(mine).items():
                assert by_code[(heading, g)] == v
        monthly = book.rollup("book", period="2025-12", to="2026-02", code="5001", each_month=True)
        assert sorted(set(monthly.column("period").to_pylist())) == ["2025-12", "2026-01", "2026-02"]
        for m in (202512, 202601, 202602):
            figures = account_figures(world, m, m)
            got = rows_by_key(monthly.filter(pc.equal(monthly.column("period"), label(m))), "key", "group")
            for b in BOOKS:
                mine = [i for i, a in enumerate(world.accounts) if a[1] == b and a[3].startswith("5001")]
                for g, v in totals(mine).items():
                    assert got[(b, g)] == v


def test_rollup_by_dimension_is_the_turnover_of_the_coded_lines(any_store: str | None) -> None:
    """dim:1: debit and credit turnover per functional class, section and item (3-2-2) and
    group, of the posted lines dated in the range — posts of pending entries with their
    pending lines' codes, reversals with the reversed lines' codes."""
    with ledger.open(any_store) as book:
        world = build(book, 13, entries=90)
        for first, last in RANGES:
            got = rows_by_key_turnover(book.rollup("dim:1", period=label(first), to=label(last)))
            want: dict[tuple[str, str], list[int]] = {}
            for account, m, amount, code in world.posted:
                if code and first <= m <= last:
                    text = str(code)
                    for node in (text[:3], text[:5], text):
                        total = want.setdefault((node, world.accounts[account][2]), [0, 0])
                        total[0 if amount > 0 else 1] += abs(amount)
            assert got == {k: tuple(v) for k, v in want.items()}
        monthly = book.rollup("dim:1", period="2025-11", to="2026-03", each_month=True, code="5001")
        assert set(monthly.column("period").to_pylist()) <= {
            "2025-11",
            "2025-12",
            "2026-01",
            "2026-02",
            "2026-03",
        }
        with pytest.raises(ledger.InvalidInput, match="dim:K"):
            book.rollup("dim:5", period="2026")


def rows_by_key_turnover(table: Any) -> dict[tuple[str, str], tuple[int, int]]:
    return {(r["key"], r["group"]): (r["debit"], r["credit"]) for r in table.to_pylist()}


def sql_book_sums(url: str, first: int, last: int) -> dict[tuple[str, str], tuple[int, ...]]:
    """Per (book, group) the six figures from a plain GROUP BY over the stored lines: an
    entry's own lines when it is not pending and resolves nothing, and the pending entry's
    lines for a post_pending, in the month of the entry's date."""
    store = open_store(url)
    try:
        month_of = store.period_sql("e.date")
        own = (
            f"SELECT l.account, {month_of} AS month, l.amount FROM lines l JOIN entries e"
            " ON e.batch = l.batch AND e.key = l.entry"
            f" WHERE (e.flags & {ENTRY_PENDING | ENTRY_POST_PENDING | ENTRY_VOID_PENDING}) = 0"
        )
        resolved = (
            f"SELECT p.account, {month_of} AS month, p.amount FROM entries e JOIN pending_lines p"
            f" ON p.entry = e.pending WHERE (e.flags & {ENTRY_POST_PENDING}) <> 0"
        )
        query = (
            "SELECT b.key, g.key,"
            f" sum(CASE WHEN m.amount > 0 AND m.month <= {last} THEN m.amount ELSE 0 END),"
            f" sum(CASE WHEN m.amount < 0 AND m.month <= {last} THEN -m.amount ELSE 0 END),"
            f" sum(CASE WHEN m.amount > 0 AND m.month BETWEEN {first} AND {last} THEN m.amount ELSE 0 END),"
            f" sum(CASE WHEN m.amount < 0 AND m.month BETWEEN {first} AND {last} THEN -m.amount ELSE 0 END)"
            f" FROM ({own} UNION ALL {resolved}) m JOIN accounts a ON a.idx = m.account"
            ' JOIN books b ON b.idx = a.book JOIN groups g ON g.idx = a."group"'
            " GROUP BY b.key, g.key"
        )
        with store.engine.connect() as conn:
            rows = conn.execute(text(query)).all()
    finally:
        store.dispose()
    return {
        (r[0], r[1]): figures(int(r[2]), int(r[3]), int(r[4]), int(r[5]))
        for r in rows
    }  # fmt: skip


def figures(debits: int, credits: int, debit: int, credit: int) -> tuple[int, ...]:
    """The six figures from posted debits and credits to the end and turnover in the range."""
    return (*sides(debits - debit, credits - credit), debit, credit, *sides(debits, credits))


def test_rollups_equal_sql_group_by(durable: Any) -> None:
    """The same ledger on SQLite or PostgreSQL: rollup by book equals a GROUP BY over the
    stored lines, before and after a checkpoint, and as another process posts."""
    with ledger.open(durable.url) as book:
        world = build(book, 11, entries=80)
        for first, last in RANGES:
            got = rows_by_key(book.rollup("book", period=label(first), to=label(last)), "key", "group")
            want = sql_book_sums(durable.url, first, last)
            assert {k: v for k, v in got.items() if k in want} == want
            assert all(v == (0,) * 6 for k, v in got.items() if k not in want)
        book.checkpoint()
        with ledger.open(durable.url) as other:  # another process's posts: caught up by batch
            build_more(other, world, 3)
        for first, last in RANGES:
            got = rows_by_key(book.rollup("book", period=label(first), to=label(last)), "key", "group")
            want = sql_book_sums(durable.url, first, last)
            assert {k: v for k, v in got.items() if k in want} == want
        check_world(book, world)


def test_trial_balance_refuses_what_it_cannot_answer() -> None:
    with ledger.open() as book:
        build(book, 5, entries=10)
        with pytest.raises(ledger.InvalidInput, match="name a book or an organisation node"):
            book.trial_balance(period="2026-01")
        with pytest.raises(ledger.InvalidInput, match="name a book or an organisation node"):
            book.trial_balance(book="B0", node="R", period="2026-01")
        with pytest.raises(ledger.NotFound, match="book 'nope'"):
            book.trial_balance(book="nope", period="2026-01")
        with pytest.raises(ledger.NotFound, match="organisation node 'nope'"):
            book.trial_balance(node="nope", period="2026-01")
        for bad in ("2026-13", "26-01", "2026/01", "", "x"):
            with pytest.raises(ledger.InvalidInput, match="period"):
                book.trial_balance(book="B0", period=bad)
        with pytest.raises(ledger.InvalidInput, match="ends before it starts"):
            book.trial_balance(book="B0", period="2026-03", to="2026-01")
        with pytest.raises(ledger.InvalidInput, match="depth"):
            book.trial_balance(book="B0", period="2026", depth=0)
        with pytest.raises(ledger.InvalidInput, match="code layout"):
            book.trial_balance(book="B0", period="2026", levels="4-x")
        with pytest.raises(ledger.InvalidInput, match="rollup by"):
            book.rollup("account", period="2026")
        with pytest.raises(ledger.InvalidInput, match="code:N"):
            book.rollup("code:0", period="2026")


def test_trial_balance_depth_and_layout() -> None:
    with ledger.open() as book:
        world = build(book, 9)
        shallow = book.trial_balance(book="B0", period="2026", depth=1)
        assert set(shallow.rows.column("level").to_pylist()) <= {1}
        deep = book.trial_balance(book="B0", period="2026")
        assert rows_by_key(shallow.rows, "code", "group") == {
            k: v for k, v in rows_by_key(deep.rows, "code", "group").items() if len(k[0]) == 4
        }
        flat = book.trial_balance(book="B0", period="2026", levels="8")  # one level: codes as they are
        assert set(flat.rows.column("level").to_pylist()) == {1}
        assert set(flat.rows.column("code").to_pylist()) == {a[3] for a in world.accounts if a[1] == "B0"}


def test_a_total_beyond_int64_is_an_error_not_a_wrap() -> None:
    with ledger.open() as book:
        book.create_groups([ledger.Group(key="G", scale=0)])
        book.create_books([ledger.Book(key="B")])
        big = 2**62 + 1
        book.create_accounts(
            [ledger.Account(key=k, book="B", group="G", code=c)
             for k, c in (("a1", "100101"), ("a2", "100102"), ("c1", "2001"), ("c2", "2002"))]
        )  # fmt: skip
        for key, (debit, credit) in enumerate((("a1", "c1"), ("a2", "c2")), start=1):
            result = book.post(
                [ledger.Entry(key=key, book="B", date=dt.date(2026, 1, 5),
                              lines=[ledger.Line(account=debit, debit=str(big)),
                                     ledger.Line(account=credit, credit=str(big))])]
            )  # fmt: skip
            assert result[0].ok
        with pytest.raises(ledger.TotalOverflow):
            book.trial_balance(book="B", period="2026-01")
        # one level of six digits: each account its own node, each within int64; the totals of
        # the group are beyond it, and refused as well
        with pytest.raises(ledger.TotalOverflow):
            book.trial_balance(book="B", period="2026-01", levels="6")
        with pytest.raises(ledger.TotalOverflow):
            book.rollup("book", period="2026-01")
        assert book.rollup("code:1", period="2026-01", levels="6").num_rows == 4  # each node fits
