"""Bad input through the public API: a specific error or a specific code, and no partial change.

A malformed call raises a ledger.LedgerError subclass (InvalidInput here) before anything is
applied, never an error from inside the kernel (a plain ValueError or TypeError from a
buffer). A well-formed entry that breaks a posting rule is no exception at all: it gets its
code. After every raising call the ledger must be exactly as before: the same balances, and
the keys of the valid entries that came with the bad one still free.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

import ledger
from ledger import limits
from ledger.codes import Code
from ledger.errors import InvalidInput, LedgerError, NotFound

DATE = dt.date(2024, 1, 15)


@pytest.fixture
def book(open_ledger):
    """A ledger with one group at scale 2 and one at scale 0, two books, four accounts."""
    book = open_ledger()
    book.create_groups([{"key": "CNY", "scale": 2}, {"key": "BUD", "scale": 0}])
    book.create_books([{"key": "B1"}, {"key": "B2"}])
    book.create_accounts(
        [
            {"key": "cash", "book": "B1", "group": "CNY", "code": "1001"},
            {"key": "bank", "book": "B1", "group": "CNY", "code": "1002"},
            {"key": "bud_a", "book": "B1", "group": "BUD", "code": "8001"},
            {"key": "bud_b", "book": "B1", "group": "BUD", "code": "8002"},
        ]
    )
    assert book.post([entry(1)]) == [ledger.Result(1, Code.ok)]
    return book


def entry(key: int, amount: Any = "1.00", **changes: Any) -> dict[str, Any]:
    base = {
        "key": key,
        "book": "B1",
        "date": DATE,
        "lines": [{"account": "cash", "debit": amount}, {"account": "bank", "credit": amount}],
    }
    return {**base, **changes}


def line(**fields: Any) -> dict[str, Any]:
    return {"account": "cash", **fields}


def state(book: ledger.Ledger) -> dict[str, list[int]]:
    return {field: column.tolist() for field, column in book.balances().items()}


def assert_unchanged(book: ledger.Ledger, before: dict[str, list[int]], free_keys: list[int] = ()) -> None:
    """Balances as before, and every key in `free_keys` still takes a valid entry."""
    assert state(book) == before
    if free_keys:
        assert [r.code for r in book.post([entry(key) for key in free_keys])] == [Code.ok] * len(free_keys)


# --- the record path ---------------------------------------------------------------------------

MALFORMED_BATCHES = {
    "an int": 5,
    "None": None,
    "a string": "entries",
    "bytes": b"entries",
    "one mapping instead of a list": entry(10),
    "one Entry instead of a list": ledger.Entry.model_validate(entry(10)),
    "an int in the list": [entry(10), 5],
    "a string in the list": [entry(10), "entry"],
    "a list in the list": [entry(10), [entry(11)]],
}

MALFORMED_ENTRIES = {
    "float amount": entry(11, 1.5),
    "float amount as debit only": entry(11, lines=[line(debit=1.0), line(account="bank", credit="1.00")]),
    "bool amount": entry(11, True),
    "NaN amount": entry(11, "NaN"),
    "Decimal infinity": entry(11, Decimal("Infinity")),
    "text amount": entry(11, "one"),
    "empty amount": entry(11, ""),
    "zero amount": entry(11, "0.00"),
    "negative zero": entry(11, "-0"),
    "negative amount": entry(11, "-1.00"),
    "debit and credit on one line": entry(
        11, lines=[line(debit="1", credit="1"), line(account="bank", credit="1")]
    ),
    "neither debit nor credit": entry(11, lines=[line(), line(account="bank", credit="1.00")]),
    "unknown line field": entry(11, lines=[line(debit="1", memo="x"), line(account="bank", credit="1")]),
    "unknown entry field": entry(11, memo="x"),
    "missing key": {k: v for k, v in entry(11).items() if k != "key"},
    "missing book": {k: v for k, v in entry(11).items() if k != "book"},
    "missing date": {k: v for k, v in entry(11).items() if k != "date"},
    "float key": entry(11.0),
    "text key": entry("11"),
    "bool key": entry(True),
    "key beyond int64": entry(2**63),
    "key below int64": entry(-(2**63) - 1),
    "text pending key": entry(11, flags=["post_pending"], lines=[], pending="2"),
    "unknown flag": entry(11, flags=["urgent"]),
    "flags as one string": entry(11, flags="linked"),
    "bad date": entry(11, date="2024-13-01"),
    "empty book key": entry(11, book=""),
    "control character in the book key": entry(11, book="B\x001"),
    "lines as a string": entry(11, lines="cash 1.00"),
    "a line as a string": entry(11, lines=["cash 1.00", line(account="bank", credit="1")]),
    "five dims": entry(11, lines=[line(debit="1", dims=[1, 2, 3, 4, 5]), line(account="bank", credit="1")]),
    "dim beyond int32": entry(11, lines=[line(debit="1", dims=[2**31]), line(account="bank", credit="1")]),
    "text dim": entry(11, lines=[line(debit="1", dims=["7"]), line(account="bank", credit="1")]),
    "float dim": entry(11, lines=[line(debit="1", dims=[1.5]), line(account="bank", credit="1")]),
    "dims as a string": entry(11, lines=[line(debit="1", dims="12"), line(account="bank", credit="1")]),
    "reference too long": entry(11, reference="r" * (limits.reference_length_max + 1)),
    "more than lines_max lines": entry(11, lines=[line(debit="1")] * (limits.lines_max + 1)),
}


@pytest.mark.parametrize("batch", MALFORMED_BATCHES.values(), ids=MALFORMED_BATCHES.keys())
def test_post_refuses_what_is_not_a_list_of_entries(book, batch):
    before = state(book)
    with pytest.raises(InvalidInput):
        book.post(batch)
    assert_unchanged(book, before, [10])


@pytest.mark.parametrize("bad", MALFORMED_ENTRIES.values(), ids=MALFORMED_ENTRIES.keys())
def test_post_refuses_a_malformed_entry_and_applies_none_of_the_batch(book, bad):
    before = state(book)
    with pytest.raises(InvalidInput) as raised:
        book.post([entry(10), bad, entry(12)])
    assert "entries[1]" in str(raised.value)
    assert_unchanged(book, before, [10, 12])


@pytest.mark.parametrize(
    ("lines", "code"),
    [
        ([line(debit="1.001"), line(account="bank", credit="1.001")], Code.amount_invalid),
        ([line(debit="1E-3"), line(account="bank", credit="1E-3")], Code.amount_invalid),
        ([line(account="bud_a", debit="0.5"), line(account="bud_b", credit="0.5")], Code.amount_invalid),
        ([line(debit="92233720368547758.08"), line(account="bank", credit="1")], Code.amount_invalid),
        ([line(debit="1E+30"), line(account="bank", credit="1E+30")], Code.amount_invalid),
        ([line(debit="1.000"), line(account="bank", credit="1.0")], Code.ok),
        ([line(account="nope", debit="1"), line(account="bank", credit="1")], Code.account_not_found),
        ([], Code.no_lines),
        ([line(debit="1")], Code.no_lines),
    ],
    ids=[
        "three places",
        "exponent",
        "a place at scale 0",
        "beyond int64",
        "huge exponent",
        "trailing zeros",
        "unknown account",
        "empty lines",
        "one line",
    ],
)
def test_well_formed_entries_that_break_a_rule_get_a_code(book, lines, code):
    before = state(book)
    assert book.post([entry(10, lines=lines)]) == [ledger.Result(10, code)]
    if code != Code.ok:
        assert_unchanged(book, before, [10])


def test_unknown_book_is_a_code(book):
    before = state(book)
    assert book.post([entry(10, book="B9")]) == [ledger.Result(10, Code.book_not_found)]
    assert_unchanged(book, before, [10])


def test_empty_batch_posts_nothing(book):
    before = state(book)
    assert book.post([]) == []
    assert book.post(iter([])) == []
    assert_unchanged(book, before, [10])


def test_entries_may_come_from_any_iterable(book):
    assert [r.code for r in book.post(entry(k) for k in (10, 11))] == [Code.ok, Code.ok]
    assert [r.code for r in book.post((ledger.Entry.model_validate(entry(12)),))] == [Code.ok]


# --- the bulk path -----------------------------------------------------------------------------


def columns(**changes: Any) -> dict[str, Any]:
    """Two valid entries (keys 10, 11) on cash/bank, as post_columns keyword arguments."""
    base = {
        "keys": np.array([10, 11], np.int64),
        "offsets": np.array([0, 2, 4], np.int64),
        "accounts": np.array([0, 1, 0, 1], np.int32),
        "amounts": np.array([100, -100, 5, -5], np.int64),
        "dates": np.array([19_737, 19_737], np.int32),
    }
    return {**base, **changes}


MALFORMED_COLUMNS = {
    "float keys": {"keys": np.array([10.0, 11.0])},
    "2-d keys": {"keys": np.array([[10, 11]])},
    "scalar keys": {"keys": 10},
    "keys as a string": {"keys": "10"},
    "keys None": {"keys": None},
    "keys of strings": {"keys": ["10", "11"]},
    "keys beyond int64": {"keys": np.array([2**63, 11], np.uint64)},
    "keys as objects": {"keys": [2**70, 11]},
    "offsets too short": {"offsets": [0, 4]},
    "offsets too long": {"offsets": [0, 2, 4, 4]},
    "offsets not from 0": {"offsets": [1, 2, 4]},
    "offsets not to the end": {"offsets": [0, 2, 3]},
    "offsets decreasing": {"offsets": [0, 5, 4]},
    "float offsets": {"offsets": [0.0, 2.0, 4.0]},
    "accounts too short": {"accounts": [0, 1, 0]},
    "float accounts": {"accounts": [0.0, 1.0, 0.0, 1.0]},
    "account keys instead of indices": {"accounts": ["cash", "bank", "cash", "bank"]},
    "2-d accounts": {"accounts": [[0, 1], [0, 1]]},
    "float amounts": {"amounts": [1.0, -1.0, 5.0, -5.0]},
    "decimal amounts": {"amounts": [Decimal(1), Decimal(-1), Decimal(5), Decimal(-5)]},
    "amounts beyond int64": {"amounts": np.array([2**63, 1, 5, 5], np.uint64)},
    "amounts as objects": {"amounts": [2**64, -1, 5, -5]},
    "amounts as strings": {"amounts": ["1", "-1", "5", "-5"]},
    "flags too short": {"flags": [0]},
    "flags beyond uint16": {"flags": [70_000, 0]},
    "negative flags": {"flags": [-1, 0]},
    "float flags": {"flags": [0.0, 0.0]},
    "dates too long": {"dates": [19_737] * 3},
    "dates as strings": {"dates": ["2024-01-15", "2024-01-15"]},
    "dates beyond int32": {"dates": [2**31, 0]},
    "pending too short": {"pending": [0]},
    "float pending": {"pending": [0.0, 0.0]},
    "books too long": {"books": [0, 0, 0]},
    "books beyond int32": {"books": [2**31, 0]},
    "negative extra": {"extra": [-1, 0]},
    "dims of three columns": {"dims": np.zeros((4, 3), np.int32)},
    "dims per entry instead of per line": {"dims": np.zeros((2, 4), np.int32)},
    "float dims": {"dims": np.zeros((4, 4))},
    "dims beyond int32": {"dims": np.full((4, 4), 2**31, np.int64)},
    "flat dims": {"dims": np.zeros(16, np.int32)},
}


@pytest.mark.parametrize("changes", MALFORMED_COLUMNS.values(), ids=MALFORMED_COLUMNS.keys())
def test_post_columns_refuses_malformed_columns(book, changes):
    before = state(book)
    with pytest.raises(InvalidInput):
        book.post_columns(**columns(**changes))
    assert_unchanged(book, before, [10, 11])


@pytest.mark.parametrize(
    ("changes", "codes"),
    [
        ({}, [Code.ok, Code.ok]),
        ({"accounts": np.array([0, 1, 0, 2**40], np.int64)}, [Code.ok, Code.account_not_found]),
        ({"accounts": [0, 1, -7, 1]}, [Code.ok, Code.account_not_found]),
        ({"amounts": [100, -100, 0, 0]}, [Code.ok, Code.amount_invalid]),
        ({"amounts": np.array([100, -100, -(2**63), 2**63 - 1], np.int64)}, [Code.ok, Code.amount_invalid]),
        ({"keys": [0, -11]}, [Code.key_invalid, Code.key_invalid]),
        ({"keys": [10, 10]}, [Code.ok, Code.exists_with_different_fields]),
        ({"keys": [1, 11]}, [Code.exists, Code.ok]),
        ({"keys": [11, 1]}, [Code.ok, Code.exists_with_different_fields]),
        ({"books": [-2, 7]}, [Code.book_not_found, Code.cross_book]),
        ({"flags": [16, 0]}, [Code.flags_invalid, Code.ok]),
        ({"offsets": [0, 0, 4]}, [Code.no_lines, Code.ok]),
        ({"offsets": [0, 1, 4]}, [Code.no_lines, Code.unbalanced]),
        ({"dates": np.array(["2024-01-15", "2024-01-16"], "datetime64[D]")}, [Code.ok, Code.ok]),
    ],
    ids=[
        "valid",
        "account index beyond int32",
        "negative account index",
        "zero amounts",
        "INT64_MIN",
        "keys not positive",
        "key twice",
        "the record-path entry again",
        "key taken by another entry",
        "unknown and wrong book",
        "unknown flag bit",
        "empty entry",
        "one-line entry",
        "datetime64 dates",
    ],
)
def test_well_formed_columns_that_break_a_rule_get_a_code(book, changes, codes):
    result = book.post_columns(**columns(**changes))
    assert result.dtype == np.uint8
    assert result.tolist() == codes


def test_empty_columns_post_nothing(book):
    before = state(book)
    empty = book.post_columns([], [0], [], [])
    assert empty.dtype == np.uint8 and empty.tolist() == []
    assert_unchanged(book, before, [10])


# --- groups, books, accounts and reads ---------------------------------------------------------

MALFORMED_CREATIONS = [
    ("groups", "CNY"),
    ("groups", {"key": "EUR"}),
    ("groups", [{"key": "EUR", "scale": 10}]),
    ("groups", [{"key": "EUR", "scale": -1}]),
    ("groups", [{"key": "EUR", "scale": "2"}]),
    ("groups", [{"key": "EUR", "scale": 2.0}]),
    ("groups", [{"key": ""}]),
    ("groups", [{"key": "k" * (limits.key_length_max + 1)}]),
    ("groups", [{"key": "EUR", "currency": "EUR"}]),
    ("books", [5]),
    ("books", [{"key": "B3"}, {"key": "line\nbreak"}]),
    ("accounts", [{"key": "x", "book": "B1", "group": "CNY"}]),
    ("accounts", [{"key": "x", "book": "B1", "group": "CNY", "code": "10-01"}]),
    ("accounts", [{"key": "x", "book": "B1", "group": "CNY", "code": "1", "normal": "up"}]),
    ("accounts", [{"key": "x", "book": "B1", "group": "CNY", "code": "1", "flags": ["frozen"]}]),
    (
        "accounts",
        [
            {
                "key": "x",
                "book": "B1",
                "group": "CNY",
                "code": "1",
                "flags": ["debits_must_not_exceed_credits", "credits_must_not_exceed_debits"],
            }
        ],
    ),
    ("accounts", [{"key": "ok", "book": "B1", "group": "CNY", "code": "1"}, {"key": "x", "book": "B1"}]),
]


@pytest.mark.parametrize(("kind", "items"), MALFORMED_CREATIONS)
def test_create_refuses_malformed_items_and_creates_none(book, kind, items):
    create = {"groups": book.create_groups, "books": book.create_books, "accounts": book.create_accounts}[
        kind
    ]
    count = book.accounts_count
    with pytest.raises(InvalidInput):
        create(items)
    assert book.accounts_count == count
    assert book.account_index(["ok", "x"]).tolist() == [-1, -1]
    assert [r.code for r in book.create_groups([{"key": "EUR"}])] == [Code.ok]
    assert [r.code for r in book.create_books([{"key": "B3"}])] == [Code.ok]


def test_unknown_group_and_book_are_codes(book):
    results = book.create_accounts(
        [
            {"key": "x", "book": "B1", "group": "EUR", "code": "1"},
            {"key": "y", "book": "B9", "group": "CNY", "code": "1"},
        ]
    )
    assert [r.code for r in results] == [Code.group_not_found, Code.book_not_found]
    assert book.account_index(["x", "y"]).tolist() == [-1, -1]


def test_reads_name_what_does_not_exist(book):
    with pytest.raises(NotFound):
        book.balance("nope")
    with pytest.raises(InvalidInput):
        book.account_index("cash")
    assert book.account_index(["cash", "nope"]).tolist() == [0, -1]


def test_a_closed_ledger_refuses_every_call(book):
    book.close()
    for call in (
        lambda: book.post([entry(10)]),
        lambda: book.post_columns(**columns()),
        lambda: book.create_groups([{"key": "EUR"}]),
        lambda: book.balances(),
        lambda: book.balance("cash"),
    ):
        with pytest.raises(InvalidInput):
            call()


def test_every_error_is_a_ledger_error():
    assert issubclass(InvalidInput, LedgerError) and issubclass(NotFound, LedgerError)
    assert issubclass(ledger.AmountError, InvalidInput)


@pytest.mark.parametrize("count", [-1, True, 1.5, "10", 2**40])
def test_reserve_refuses_what_is_not_a_count(book, count) -> None:
    with pytest.raises((InvalidInput, ledger.LimitExceeded)):
        book.reserve(count)


def test_reserve_makes_room_once_and_posting_fits_in_it(book) -> None:
    book.reserve(100_000)
    table = book._engine.entry_table
    assert len(table) >= 200_000
    assert book.post_columns(**columns())[0] == Code.ok
    assert book._engine.entry_table is table  # no rehash while posting


def test_a_taken_account_key_on_an_in_memory_sqlite_database() -> None:
    """On one shared connection (sqlite://) an account key given again is told apart as
    exists / exists_with_different_fields from the fields held in memory."""
    with ledger.open("sqlite://") as book:
        book.create_groups([{"key": "C"}])
        book.create_books([{"key": "B"}])
        account = {"key": "a", "book": "B", "group": "C", "code": "1"}
        assert book.create_accounts([account])[0].code == ledger.Code.ok
        assert book.create_accounts([account])[0].code == ledger.Code.exists
        assert (
            book.create_accounts([{**account, "code": "2"}])[0].code
            == ledger.Code.exists_with_different_fields
        )
