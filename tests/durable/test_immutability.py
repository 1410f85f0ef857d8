"""Entries, lines, texts, batch records and seals are append-only, and the hash chain shows edits.

The database itself refuses UPDATE and DELETE on the immutable tables (and TRUNCATE on
PostgreSQL), whoever sends them. Someone who drops a trigger can change a row behind the
ledger's back; `verify()` then names the first batch whose stored rows no longer hash to
its chained hash, and the table the edited row is in, and finds nothing on a ledger nobody
touched. (tests/durable/test_tamper.py edits every other table too.)
"""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

import ledger
from ledger.chain import entry_extra_hash
from ledger.store.tables import IMMUTABLE_TABLES

from ._workload import balance_rows, rows

BATCHES = 5

UPDATES = {
    "entries": "UPDATE entries SET date = date + 1",
    "lines": "UPDATE lines SET amount = amount",
    "pending_lines": "UPDATE pending_lines SET amount = amount",
    "entry_texts": "UPDATE entry_texts SET reference = 'forged'",
    "batches": "UPDATE batches SET created_at = 0",
    "seals": "UPDATE seals SET created_at = 0",
}


def build(url: str) -> None:
    """BATCHES batches: odd ones through the record path, even ones through the bulk path;
    entries with a kind and a reference (on the bulk path some with only one of them) and
    lines with dimension codes."""
    with ledger.open(url) as book:
        book.create_groups([{"key": "CNY", "scale": 2}])
        book.create_books([{"key": "B"}])
        book.create_accounts(
            [{"key": f"a{i}", "book": "B", "group": "CNY", "code": "1001"} for i in range(4)]
        )
        for b in range(1, BATCHES + 1):
            keys = [100 * b + i for i in range(3)]
            if b % 2:
                results = book.post(
                    [
                        {
                            "key": key,
                            "book": "B",
                            "date": f"2024-0{b}-1{i}",
                            "kind": "payment",
                            "reference": f"P-{key}",
                            "lines": [
                                {"account": f"a{i}", "debit": f"{key}.25", "dims": (i, 7)},
                                {"account": f"a{i + 1}", "credit": f"{key}.25"},
                            ],
                        }
                        for i, key in enumerate(keys)
                    ]
                    + resolving(b)
                )
                assert all(r.ok for r in results)
            else:
                codes = book.post_columns(
                    keys,
                    [0, 2, 4, 6],
                    [0, 1, 1, 2, 2, 3],
                    [b, -b, 2 * b, -2 * b, 3 * b, -3 * b],
                    dates=[19800 + b] * 3,
                    dims=[[b, 0, 0, 0], [0, 0, 0, 0]] * 3,
                    kinds=["bulk", None, "bulk"],
                    references=[f"R-{keys[0]}", f"R-{keys[1]}", None],
                )
                assert not codes.any()


def resolving(batch: int) -> list[dict]:
    """Batch 3 reserves a pending entry (310), batch 5 posts it (510)."""
    if batch == 3:
        lines = [{"account": "a0", "debit": "7.50"}, {"account": "a3", "credit": "7.50"}]
        return [{"key": 310, "book": "B", "date": "2024-03-20", "flags": ["pending"], "lines": lines}]
    if batch == 5:
        return [{"key": 510, "book": "B", "date": "2024-05-20", "flags": ["post_pending"], "pending": 310}]
    return []


@pytest.fixture
def built(durable):
    build(durable.url)
    return durable


def drop_trigger(durable, table: str, action: str) -> None:
    with durable.engine().begin() as conn:
        if durable.kind == "sqlite":
            conn.execute(text(f"DROP TRIGGER {table}_no_{action}"))
        else:
            conn.execute(text(f"DROP TRIGGER {table}_append_only ON {table}"))


def counts(durable) -> dict[str, int]:
    engine = durable.engine()
    return {table: int(rows(engine, f"SELECT count(*) FROM {table}")[0][0]) for table in IMMUTABLE_TABLES}


@pytest.mark.parametrize("table", IMMUTABLE_TABLES)
@pytest.mark.parametrize("action", ["update", "delete"])
def test_database_refuses_changes(built, table: str, action: str) -> None:
    """UPDATE and DELETE of the rows of an immutable table fail in the database itself;
    nothing changes, and the chain still verifies."""
    before = counts(built)
    statement = UPDATES[table] if action == "update" else f"DELETE FROM {table}"
    with pytest.raises(DBAPIError, match="append-only"), built.engine().begin() as conn:
        conn.execute(text(statement))
    assert counts(built) == before
    with ledger.open(built.url) as book:
        assert book.verify() is None


@pytest.mark.postgres
@pytest.mark.parametrize("table", IMMUTABLE_TABLES)
def test_postgres_refuses_truncate(pg, table: str) -> None:
    """TRUNCATE (which fires no row trigger) is refused on every immutable table."""
    build(pg.url)
    before = counts(pg)
    # lines is a view of entries there (their rows carry the lines): not a table to empty
    refusal = '"lines" is not a table' if table == "lines" else "append-only"
    with pytest.raises(DBAPIError, match=refusal), pg.engine().begin() as conn:
        conn.execute(text(f"TRUNCATE {table}"))
    assert counts(pg) == before


# On PostgreSQL a line lives in its entry's row (arrays numbered from 1); the same edits there.
POSTGRES_EDITS = {
    "line-amount": (
        "entries",
        "UPDATE entries SET amounts[1] = amounts[1] + 1 WHERE batch = 4 AND key = 401",
    ),
    "line-deleted": (
        "entries",
        "UPDATE entries SET amounts = amounts[1:1], accounts = accounts[1:1], dims = dims[1:1]"
        " WHERE key = 300",
    ),
    "line-account-first-batch": (
        "entries",
        "UPDATE entries SET accounts[2] = 3 WHERE batch = 1 AND key = 100",
    ),
    "line-of-no-entry": ("entries", "UPDATE entries SET key = 999999 WHERE batch = 4 AND key = 401"),
}

EDITS = [
    pytest.param(
        "lines",
        "update",
        4,
        "UPDATE lines SET amount = amount + 1 WHERE batch = 4 AND entry = 401 AND line = 0",
        id="line-amount",
    ),
    pytest.param(
        "entries",
        "update",
        3,
        "UPDATE entries SET date = date - 1 WHERE key = 302",
        id="entry-date",
    ),
    pytest.param(
        "entry_texts",
        "update",
        4,
        "UPDATE entry_texts SET reference = 'R-forged' WHERE entry = 400",
        id="text-reference",
    ),
    pytest.param(
        "entry_texts",
        "update",
        3,
        "UPDATE entry_texts SET kind = 'refund' WHERE entry = 301",
        id="text-kind",
    ),
    pytest.param(
        "lines",
        "delete",
        3,
        "DELETE FROM lines WHERE entry = 300 AND line = 1",
        id="line-deleted",
    ),
    pytest.param(
        "pending_lines",
        "update",
        3,
        "UPDATE pending_lines SET amount = amount + 1 WHERE entry = 310 AND line = 0",
        id="pending-line-amount",
    ),
    pytest.param(
        "pending_lines",
        "delete",
        3,
        "DELETE FROM pending_lines WHERE entry = 310 AND line = 1",
        id="pending-line-deleted",
    ),
    pytest.param(
        "batches",
        "update",
        BATCHES,
        f"UPDATE batches SET hash = prev_hash WHERE id = {BATCHES}",
        id="batch-hash",
    ),
    pytest.param(
        "lines",
        "update",
        1,
        "UPDATE lines SET account = 3 WHERE batch = 1 AND entry = 100 AND line = 1",
        id="line-account-first-batch",
    ),
    pytest.param(
        "lines",
        "update",
        4,
        "UPDATE lines SET entry = 999999 WHERE batch = 4 AND entry = 401 AND line = 1",
        id="line-of-no-entry",
    ),
]


@pytest.mark.parametrize(("table", "action", "bad_batch", "statement"), EDITS)
def test_verify_finds_the_first_edited_batch(
    built, request, table: str, action: str, bad_batch: int, statement: str
) -> None:
    """With a trigger dropped, one row of batch k is edited behind the ledger's back:
    verify() names batch k (everything before it still verifies) and the edited table."""
    with ledger.open(built.url) as book:
        assert book.verify() is None
    found_in = table
    if built.kind == "postgresql" and table == "lines":
        edit = request.node.callspec.id.split("-", 1)[1]
        table, statement = POSTGRES_EDITS[edit]
        action = "update"
        found_in = "entries" if edit == "line-of-no-entry" else "lines"  # a line is in its entry's row
    drop_trigger(built, table, action)
    with built.engine().begin() as conn:
        assert conn.execute(text(statement)).rowcount == 1
    with ledger.open(built.url) as book:
        found = book.verify()
    assert found is not None
    assert (found.table, found.batch) == (found_in, bad_batch)


def test_verify_accepts_every_posting_path(durable) -> None:
    """An untouched ledger verifies whichever way its entries came in: records with texts,
    bulk columns with kinds and references, and bulk columns carrying only the hash of
    kind and reference in `extra` (as post_columns documents)."""
    build(durable.url)
    with ledger.open(durable.url) as book:
        assert book.verify() is None
        codes = book.post_columns(
            [900, 901],
            [0, 2, 4],
            [0, 1, 2, 3],
            [5, -5, 6, -6],
            dates=[19900, 19901],
            extra=np.array([entry_extra_hash("payment", "P-900"), 0], np.uint64),
        )
        assert not codes.any()
        before = balance_rows(book)
        assert book.verify() is None
    with ledger.open(durable.url) as book:
        assert np.array_equal(balance_rows(book), before)
        assert book.verify() is None
