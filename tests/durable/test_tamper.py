"""An edit of any row of any table is found, and derived data that fails its check is never served.

A ledger is built (five batches with texts, dimension codes and a pending entry posted
later, a closed period, a checkpoint), then one row of one table is changed behind its back,
as an attacker with the database's credentials would: dropping the append-only trigger
first where there is one. `verify()` then names the table and the row, and `ledger verify`
exits 1. Reopening after an edit of the monthly sums or of the snapshot serves exactly the
balances of the untouched ledger, and logs a warning; the monthly sums are rebuilt.
"""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

import ledger
from ledger.cli import app

from ._workload import balance_rows
from .test_immutability import BATCHES, build, drop_trigger

ACCOUNTS = [f"a{i}" for i in range(4)]
AS_OF = [dt.date(2024, 1, 31), dt.date(2024, 3, 15), dt.date(2024, 5, 31)]

# table -> (statement per store (one for both when a str), trigger to drop, expected key)
EDITS = {
    "groups": ("UPDATE groups SET scale = 3 WHERE idx = 0", None, "idx 0"),
    "books": ("UPDATE books SET name = 'forged' WHERE idx = 0", None, "idx 0"),
    "accounts": ("UPDATE accounts SET code = '9999' WHERE idx = 2", None, "idx 0-3"),
    "periods": ("UPDATE periods SET period = 202402 WHERE book = 0 AND period = 202401", None, ""),
    "entries": ("UPDATE entries SET date = date - 1 WHERE key = 302", "entries", "batch 3"),
    "lines": (
        {
            "sqlite": "UPDATE lines SET amount = amount + 1 WHERE batch = 4 AND entry = 401 AND line = 0",
            "postgresql": "UPDATE entries SET amounts[1] = amounts[1] + 1 WHERE key = 401",
        },
        "lines",
        "batch 4",
    ),
    "entry_texts": (
        "UPDATE entry_texts SET reference = 'R-forged' WHERE entry = 400",
        "entry_texts",
        "batch 4",
    ),
    "pending_lines": (
        "UPDATE pending_lines SET amount = amount + 1 WHERE entry = 310 AND line = 0",
        "pending_lines",
        "entry 310",
    ),
    "batches": ("UPDATE batches SET hash = prev_hash WHERE id = 2", "batches", "id 2"),
    "period_balances": (
        "UPDATE period_balances SET debits_posted = debits_posted + 99999"
        " WHERE account = 1 AND period = 202401",
        None,
        "account 1 period 202401",
    ),
    "snapshots": ("DELETE FROM snapshots WHERE name = 'counters'", None, ""),
    "ledger_state": ("UPDATE ledger_state SET commit_seq = commit_seq + 1", None, "commit_seq"),
    "seals": ("UPDATE seals SET created_at = created_at + 1 WHERE id = 2", "seals", "id 2"),
}

# More edits of the same tables, where a table has columns checked in other ways.
MORE_EDITS = [
    ("batches", "UPDATE batches SET created_at = 0 WHERE id = 3", "batches", f"id 1-{BATCHES}"),
    ("batches", "UPDATE batches SET parts = prev_hash WHERE id = 3", "batches", "id 3"),
    ("ledger_state", "UPDATE ledger_state SET checkpoint_batch = 2", None, "checkpoint_batch"),
    ("ledger_state", "UPDATE ledger_state SET last_batch = 4", None, "last_batch"),
    ("period_balances", "DELETE FROM period_balances WHERE account = 3 AND period = 202405", None, None),
    (
        "period_balances",
        "UPDATE period_balances SET book = 7 WHERE account = 0 AND period = 202401",
        None,
        None,
    ),
    ("snapshots", "UPDATE snapshots SET part = part WHERE name = 'rows'", None, None),  # untouched
    ("accounts", "DELETE FROM accounts WHERE idx = 3", None, "idx 3"),
    ("periods", "DELETE FROM periods", None, ""),
    ("seals", "DELETE FROM seals WHERE id = 1", "seals", "id 1"),
]


def build_closed(url: str) -> None:
    """The immutability suite's ledger, with January of book B closed, checkpointed at close."""
    build(url)
    with ledger.open(url) as book:
        book.close_period("B", "2024-01")


def readings(book: ledger.Ledger) -> tuple:
    """Everything a user reads of the balances: current, as of dates, and monthly turnover."""
    return (
        balance_rows(book).tolist(),
        [book.balance(key) for key in ACCOUNTS],
        [book.balance(key, as_of=day) for key in ACCOUNTS for day in AS_OF],
        [book.period_balances(key) for key in ACCOUNTS],
    )


def tamper(durable, statement: str | dict[str, str], trigger: str | None) -> None:
    """Run `statement` behind the ledger's back, dropping the trigger of `trigger` first."""
    sql = statement[durable.kind] if isinstance(statement, dict) else statement
    if trigger is not None:
        if durable.kind == "postgresql":  # one trigger refuses UPDATE and DELETE; lines live in entries
            drop_trigger(durable, "entries" if trigger == "lines" else trigger, "update")
        else:
            drop_trigger(durable, trigger, "delete" if sql.startswith("DELETE") else "update")
    with durable.engine().begin() as conn:
        assert conn.execute(text(sql)).rowcount >= 1


def cli_verify(url: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["verify", "--db", url])
    return result.exit_code, result.output


@pytest.fixture
def closed(durable):
    build_closed(durable.url)
    with ledger.open(durable.url) as book:
        assert book.verify() is None
    assert cli_verify(durable.url)[0] == 0
    return durable


@pytest.mark.parametrize("table", list(EDITS))
def test_an_edit_of_any_table_is_named(closed, table: str) -> None:
    """One row of `table` edited: verify names the table and the row, `ledger verify` exits 1."""
    statement, trigger, key = EDITS[table]
    tamper(closed, statement, trigger)
    with ledger.open(closed.url) as book:
        found = book.verify()
    assert found is not None, table
    assert (found.table, found.key) == (table, key), found
    code, output = cli_verify(closed.url)
    assert code == 1
    assert table in output


@pytest.mark.parametrize(("table", "statement", "trigger", "key"), MORE_EDITS)
def test_other_edits_are_named(
    closed, table: str, statement: str, trigger: str | None, key: str | None
) -> None:
    """Edits of the columns a table's other checks cover (None: any key of that table)."""
    if table == "snapshots":  # an UPDATE that changes nothing is no edit
        tamper(closed, statement, trigger)
        with ledger.open(closed.url) as book:
            assert book.verify() is None
        return
    tamper(closed, statement, trigger)
    with ledger.open(closed.url) as book:
        found = book.verify()
    assert found is not None and found.table == table, found
    if key is not None:
        assert found.key == key, found
    assert cli_verify(closed.url)[0] == 1


def test_the_users_report(durable, caplog) -> None:
    """The issue's case: 300.00 of fees, the monthly sums raised by 999.99 and the snapshot
    deleted. Reopened: 300.00, warnings naming both, and verify names the first; the sums
    are rebuilt (sealed anew, without a snapshot), so the next open verifies clean."""
    with ledger.open(durable.url) as book:
        book.create_groups([ledger.Group(key="CNY")])
        book.create_books([ledger.Book(key="U001")])
        book.create_accounts(
            [
                ledger.Account(key="cash", book="U001", group="CNY", code="1001"),
                ledger.Account(key="fees", book="U001", group="CNY", code="5001"),
            ]
        )
        entry = ledger.Entry(
            key=1,
            book="U001",
            date=dt.date(2026, 3, 2),
            lines=[ledger.Line(account="fees", debit="300.00"), ledger.Line(account="cash", credit="300.00")],
        )
        assert book.post([entry])[0].ok
    tamper(durable, "UPDATE period_balances SET debits_posted = debits_posted + 99999", None)
    tamper(durable, "DELETE FROM snapshots", None)
    with caplog.at_level(logging.WARNING, logger="ledger"), ledger.open(durable.url) as book:
        assert str(book.balance("fees").net) == "300.00"
        assert str(book.balance("fees", as_of=dt.date(2026, 3, 31)).net) == "300.00"
        assert [(p, str(d), str(c)) for p, d, c in book.period_balances("fees")] == [
            ("2026-03", "300.00", "0.00")
        ]
        found = book.verify()
    assert found is not None and found.table == "snapshots"  # the first thing opening found
    warnings = [r.getMessage() for r in caplog.records if r.name == "ledger"]
    assert any("snapshots" in w for w in warnings) and any(
        "period_balances account 0 period 202603" in w for w in warnings
    )
    with ledger.open(durable.url) as book:  # rebuilt: the new seal expects no snapshot
        assert book.verify() is None
        assert str(book.balance("fees").net) == "300.00"
        book.checkpoint()
        assert book.verify() is None


@pytest.mark.parametrize(
    "edits",
    [
        pytest.param(["UPDATE period_balances SET debits_posted = debits_posted + 99999"], id="sums"),
        pytest.param(
            ["UPDATE period_balances SET credits_pending = 5 WHERE account = 0"], id="sums-one-account"
        ),
        pytest.param(["DELETE FROM period_balances WHERE account = 2"], id="sums-deleted"),
        pytest.param(["DELETE FROM snapshots"], id="snapshot-deleted"),
        pytest.param(["DELETE FROM snapshots WHERE name = 'rows'"], id="snapshot-part-deleted"),
        pytest.param(["UPDATE seals SET digest = digest + 1 WHERE kind = 'checkpoint'"], id="seal"),
        pytest.param(
            [
                "UPDATE period_balances SET debits_posted = debits_posted + 99999",
                "DELETE FROM snapshots",
            ],
            id="sums-and-snapshot",
        ),
    ],
)
def test_reopening_serves_exact_balances(closed, caplog, edits: list[str]) -> None:
    """After an edit of the monthly sums and/or the snapshot, a reopened ledger serves what
    the untouched one did (balances, as of dates, monthly turnover), with a warning; after
    a checkpoint everything verifies again."""
    with ledger.open(closed.url) as book:
        expected = readings(book)
    for statement in edits:
        tamper(closed, statement, "seals" if "seals" in statement else None)
    with caplog.at_level(logging.WARNING, logger="ledger"), ledger.open(closed.url) as book:
        assert readings(book) == expected
        assert book.verify() is not None
    assert [r for r in caplog.records if r.name == "ledger" and r.levelno == logging.WARNING]
    if "seals" in edits[0]:
        return  # the edited seal stays in the chain: verify keeps naming it
    with ledger.open(closed.url) as book:
        assert readings(book) == expected
        book.checkpoint()
        assert book.verify() is None
    with ledger.open(closed.url) as book:
        assert readings(book) == expected


def test_a_later_checkpoint_keeps_the_sums_checked(closed, caplog) -> None:
    """Sums edited, then more batches and a checkpoint by a process that never read them:
    the edit still shows (the digest moves by what the fold changed, not to the table's)."""
    tamper(closed, "UPDATE period_balances SET debits_posted = debits_posted + 1 WHERE account = 1", None)
    with ledger.open(closed.url) as book:
        codes = book.post_columns([9001], [0, 2], [0, 1], [5, -5], dates=[19790])
        assert not codes.any()
        book.checkpoint()
    with ledger.open(closed.url) as book:
        found = book.verify()
    assert found is not None and found.table == "period_balances"
    with caplog.at_level(logging.WARNING, logger="ledger"), ledger.open(closed.url) as book:
        totals = book.period_balances("a1")
    assert any("period_balances" in r.getMessage() for r in caplog.records)
    with ledger.open(closed.url) as book:
        assert book.period_balances("a1") == totals
        assert book.verify() is None
