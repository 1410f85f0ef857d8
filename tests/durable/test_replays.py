"""A post or void without lines is the same entry whether it names its book (the record
path) or leaves it to its pending entry (the bulk path): replayed through either path, before
and after a reopen, it reports `exists`; naming another book is a different entry."""

from __future__ import annotations

import datetime as dt

import numpy as np

import ledger
from ledger.codes import Code
from ledger.columns import ENTRY_PENDING, ENTRY_POST_PENDING, ENTRY_VOID_PENDING

DAY = (dt.date(2026, 1, 3) - dt.date(1970, 1, 1)).days


def record(key: int, flag: str, pending: int, book: str = "B") -> dict:
    return {"key": key, "book": book, "date": "2026-01-03", "flags": [flag], "pending": pending}


def bulk(book: ledger.Ledger, key: int, flags: int, pending: int) -> int:
    codes = book.post_columns(
        [key], [0, 0], [], [], dates=[DAY], flags=np.array([flags], np.uint16), pending=[pending]
    )
    return int(codes[0])


def test_lineless_resolutions_replay_through_either_path(durable) -> None:
    lines = [{"account": "a", "debit": "5.00"}, {"account": "b", "credit": "5.00"}]
    with ledger.open(durable.url) as book:
        book.create_groups([{"key": "C"}])
        book.create_books([{"key": "B"}, {"key": "D"}])
        book.create_accounts(
            [{"key": k, "book": "B", "group": "C", "code": "1"} for k in ("a", "b")]
            + [{"key": "d", "book": "D", "group": "C", "code": "1"}]
        )
        pendings = [
            {"key": k, "book": "B", "date": "2026-01-02", "flags": ["pending"], "lines": lines}
            for k in (1, 3)
        ]
        assert all(r.ok for r in book.post(pendings))
        assert book.post([record(2, "post_pending", 1)])[0].ok  # names book B
        assert bulk(book, 4, ENTRY_VOID_PENDING, 3) == Code.ok  # names no book
        assert bulk(book, 2, ENTRY_POST_PENDING, 1) == Code.exists
        assert book.post([record(4, "void_pending", 3)])[0].code == Code.exists
        before = book.balance("a")
    with ledger.open(durable.url) as book:  # the fingerprints as stored, reloaded
        assert bulk(book, 2, ENTRY_POST_PENDING, 1) == Code.exists
        assert bulk(book, 4, ENTRY_VOID_PENDING, 3) == Code.exists
        assert book.post([record(2, "post_pending", 1)])[0].code == Code.exists
        assert book.post([record(4, "void_pending", 3)])[0].code == Code.exists
        assert (
            book.post([record(4, "void_pending", 3, book="D")])[0].code == Code.exists_with_different_fields
        )
        assert bulk(book, 4, ENTRY_PENDING, 0) == Code.exists_with_different_fields
        assert book.balance("a") == before
        assert book.verify() is None
