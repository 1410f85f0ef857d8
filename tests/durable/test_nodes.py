"""The organisation tree: nodes created in order with one result each, placed books, edits of
the nodes table found by verify, and the migration of a version-4 database."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

import ledger
from ledger import Code, Node


def test_nodes_are_created_in_order_with_one_result_each(any_store: str | None) -> None:
    with ledger.open(any_store) as book:
        book.create_books([ledger.Book(key="B1"), ledger.Book(key="B2")])
        results = book.create_nodes(
            [
                Node(key="CQ", name="重庆市", layout="4-2-2"),
                {"key": "D", "parent": "CQ", "name": "教育局"},
                Node(key="u1", parent="D", book="B1"),
                Node(key="later-child", parent="later"),  # parents come first
                Node(key="later", parent="CQ"),
                Node(key="again", parent="CQ", book="B1"),  # B1 is placed already
                Node(key="ghost", book="NOPE"),
            ]
        )
        assert [r.code for r in results] == [
            Code.ok, Code.ok, Code.ok, Code.parent_not_found, Code.ok, Code.book_placed, Code.book_not_found,
        ]  # fmt: skip
        twice = book.create_nodes([Node(key="T", parent="CQ"), Node(key="T", parent="CQ"), Node(key="T")])
        assert [r.code for r in twice] == [Code.ok, Code.exists, Code.exists_with_different_fields]
        again = book.create_nodes([Node(key="CQ", name="重庆市", layout="4-2-2"), Node(key="D", parent="CQ")])
        assert [r.code for r in again] == [Code.exists, Code.exists_with_different_fields]
        table = book.nodes_table().to_pylist()
        assert [(r["idx"], r["key"], r["parent"], r["book"]) for r in table] == [
            (0, "CQ", None, None), (1, "D", 0, None), (2, "u1", 1, "B1"), (3, "later", 0, None),
            (4, "T", 0, None),
        ]  # fmt: skip
        assert book.verify() is None
    if any_store is not None:
        with ledger.open(any_store) as book:
            assert len(book.nodes_table()) == 5
            assert book.create_nodes([Node(key="u2", parent="later", book="B2")])[0].code == Code.ok


@pytest.mark.parametrize(
    "bad",
    [
        {"key": ""},
        {"key": "x", "layout": "4-0-2"},
        {"key": "x", "layout": "4--2"},
        {"key": "x", "layout": "20-20"},
        {"key": "x", "name": "n" * 300},
        {"key": "x", "other": 1},
        {"key": "x\n"},
    ],
)
def test_bad_nodes_are_refused_whole(bad: dict[str, Any]) -> None:
    with ledger.open() as book:
        with pytest.raises(ledger.InvalidInput, match=r"nodes\[1\]"):
            book.create_nodes([Node(key="ok"), bad])
        assert book.nodes_table().num_rows == 0


def test_an_edited_node_is_found_by_verify(durable: Any) -> None:
    with ledger.open(durable.url) as book:
        book.create_books([ledger.Book(key="B1")])
        book.create_nodes([Node(key="R"), Node(key="u", parent="R", book="B1")])
    with durable.engine().begin() as conn:
        conn.execute(text("UPDATE nodes SET parent = NULL WHERE key = 'u'"))
    with ledger.open(durable.url) as book:
        found = book.verify()
        assert found is not None and found.table == "nodes"


def test_a_version_4_database_is_migrated(durable: Any) -> None:
    """A database made before the nodes table is refused with the way out named; `migrate`
    adds the table in one transaction and the ledger opens with its data intact."""
    with ledger.open(durable.url) as book:
        book.create_groups([ledger.Group(key="G")])
        book.create_books([ledger.Book(key="B")])
    with durable.engine().begin() as conn:
        conn.execute(text("DROP TABLE nodes"))
        conn.execute(text("UPDATE ledger_state SET schema_version = 4"))
    with pytest.raises(ledger.SchemaVersionError, match="ledger migrate"):
        ledger.open(durable.url)
    from ledger.store import open_store

    store = open_store(durable.url, prepare=False)
    try:
        assert store.migrate() == (4, 5)
        assert store.migrate() == (5, 5)
    finally:
        store.dispose()
    with ledger.open(durable.url) as book:
        assert book.create_nodes([Node(key="R", book="B")])[0].code == Code.ok
        assert book.verify() is None
