"""PostgreSQL stores each entry's lines in the entry's own row, as arrays, and the view
`lines` gives back SQLite's lines table: the same ledger built on both stores holds the
same lines, entries and balances, through every posting path, and reads stay exact after
a checkpoint and a reopen."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

import ledger
from ledger.store.postgres import ListColumns, copy_chunks

from ._workload import balance_rows, rows

BATCHES = 4
ENTRIES = 400
ACCOUNTS = 30


def build(url: str) -> np.ndarray:
    """Bulk batches of 1..6-line entries (some lines with dimension codes, some entries
    pending), record-path entries with texts, a post and a void of pending entries, and a
    reversal; the balances after them."""
    with ledger.open(url) as book:
        book.create_groups([{"key": "CNY"}])
        book.create_books([{"key": "B"}, {"key": "C"}])
        book.create_accounts(
            [
                {"key": f"a{i}", "book": "B" if i % 2 else "C", "group": "CNY", "code": "1001"}
                for i in range(ACCOUNTS)
            ]
        )
        rng = np.random.default_rng(11)
        key = 1
        for b in range(BATCHES):
            counts = rng.integers(1, 7, ENTRIES)
            counts[counts == 1] = 2  # a balanced entry has two lines at least
            offsets = np.zeros(ENTRIES + 1, np.int64)
            np.cumsum(counts, out=offsets[1:])
            lines = int(offsets[-1])
            parity = rng.integers(0, 2, ENTRIES)  # each entry in one book
            accounts = 2 * rng.integers(0, ACCOUNTS // 2, lines) + np.repeat(parity, counts)
            amounts = rng.integers(1, 10**9, lines)
            last = offsets[1:] - 1
            amounts[last] = 0
            amounts[last] = -np.add.reduceat(amounts, offsets[:-1])
            dims = np.where(rng.random((lines, 1)) < 0.2, rng.integers(0, 50, (lines, 4)), 0)
            flags = np.where(rng.random(ENTRIES) < 0.1, 2, 0).astype(np.uint16)  # pending
            codes = book.post_columns(
                np.arange(key, key + ENTRIES, dtype=np.int64),
                offsets,
                accounts,
                amounts,
                dates=np.full(ENTRIES, 19_800 + 20 * b, np.int32),
                dims=dims.astype(np.int32),
                flags=flags,
            )
            assert not codes.any()
            books = np.where(parity == 1, "B", "C")
            pending = np.flatnonzero(flags)
            if b == 0:
                ordinary = int(np.flatnonzero(flags == 0)[0]) + key
            first, key = key, key + ENTRIES
            resolutions = [
                {"key": key + i, "book": str(books[p]), "date": f"2024-0{b + 1}-2{i}",
                 "flags": ["post_pending" if i % 2 else "void_pending"], "pending": first + int(p)}
                for i, p in enumerate(pending[:4])
            ]  # fmt: skip
            key += len(resolutions)
            record = {
                "key": key,
                "book": "B",
                "date": f"2024-0{b + 1}-11",
                "kind": "payment",
                "reference": f"P-{key}",
                "lines": [
                    {"account": "a1", "debit": "12.34", "dims": (b, 7)},
                    {"account": "a3", "credit": "12.34"},
                ],
            }
            key += 1
            results = book.post([*resolutions, record])
            assert all(r.ok for r in results), [r.code for r in results]
        assert book.reverse(ordinary, 10**9, dt.date(2024, 6, 1)).ok
        return balance_rows(book)


LINES = "SELECT batch, entry, line, book, account, amount, dim1, dim2, dim3, dim4 FROM lines"
ENTRIES_SQL = "SELECT batch, seq, key, book, date, flags, pending, extra, fingerprint, lines FROM entries"


def stored(url: str) -> tuple[list[tuple], list[tuple]]:
    engine = create_engine(url)
    try:
        lines = [
            (*row[:6], *(int(v or 0) for v in row[6:]))
            for row in rows(engine, f"{LINES} ORDER BY batch, entry, line")
        ]
        return lines, rows(engine, f"{ENTRIES_SQL} ORDER BY batch, seq")
    finally:
        engine.dispose()


def test_postgres_lines_equal_sqlite_lines(pg, tmp_path) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'same.db'}"
    expected = build(sqlite_url)
    assert np.array_equal(build(pg.url), expected)
    lines, entries = stored(pg.url)
    assert (lines, entries) == stored(sqlite_url)
    assert len(lines) > BATCHES * ENTRIES * 2
    assert any(any(line[6:]) for line in lines)  # codes made it through
    # resolutions carry no lines: no arrays in their rows
    assert rows(pg.engine(), "SELECT count(*) FROM entries WHERE lines = 0 AND amounts IS NOT NULL") == [(0,)]
    with ledger.open(pg.url) as book:
        assert book.verify() is None
        book.checkpoint()
    with ledger.open(pg.url) as book:
        assert np.array_equal(balance_rows(book), expected)
        assert book.verify() is None


def test_lines_view_refuses_changes(pg) -> None:
    build(pg.url)
    engine = pg.engine()
    before = rows(engine, f"{LINES} ORDER BY batch, entry, line")
    for statement in (
        "UPDATE lines SET amount = 0",
        "DELETE FROM lines",
        "INSERT INTO lines (batch) VALUES (1)",
    ):
        with pytest.raises(DBAPIError, match=r"append-only|cannot insert into view"), engine.begin() as conn:
            conn.execute(text(statement))
    assert rows(engine, f"{LINES} ORDER BY batch, entry, line") == before


@pytest.mark.parametrize("rows_per_chunk", [1, 3, 8192])
def test_copy_chunks_keep_rows_values_and_order(pg, rows_per_chunk: int) -> None:
    """Rows with and without dimension codes, mixed in runs: NULL where all codes are zero
    (read back as 0), every value and the row order as given, whatever the piece size."""
    rng = np.random.default_rng(3)
    n = 50
    dims = rng.integers(0, 3, (n, 4)) * (rng.random((n, 1)) < 0.5)
    columns = [np.arange(n, dtype=np.int64) * 10**12, rng.integers(-(2**31), 2**31, n), *dims.T]
    types = [">i8", ">i4", ">i4", ">i4", ">i4", ">i4"]
    engine = pg.engine()
    with engine.begin() as conn:
        conn.execute(
            text("CREATE TABLE copied (a BIGINT, b INTEGER, d1 INTEGER, d2 INTEGER, d3 INTEGER, d4 INTEGER)")
        )
        raw = conn.connection.driver_connection
        with raw.cursor() as cursor, cursor.copy("COPY copied FROM STDIN (FORMAT BINARY)") as copy:
            for chunk in copy_chunks(
                columns, types, (2, 3, 4, 5), zero_is_null=True, rows_per_chunk=rows_per_chunk
            ):
                copy.write(chunk)
    back = rows(engine, "SELECT a, b, d1, d2, d3, d4, d1 IS NULL FROM copied ORDER BY ctid")
    assert [row[:6] for row in back] == [
        tuple(int(v) or None if i >= 2 and not dims[r].any() else int(v) for i, v in enumerate(values))
        for r, values in enumerate(zip(*columns, strict=True))
    ]
    assert [row[6] for row in back] == [not dims[r].any() for r in range(n)]


@pytest.mark.parametrize("rows_per_chunk", [1, 4, 8192])
def test_copy_chunks_send_arrays_the_server_reads_back(pg, rows_per_chunk: int) -> None:
    """Array columns of every width, 1-D and 2-D, rows without items and lists of zeros
    (NULL when asked): the server reads back every element, in order."""
    rng = np.random.default_rng(8)
    n = 60
    counts = rng.integers(0, 5, n)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    items = int(offsets[-1])
    wide = rng.integers(-(2**63), 2**63 - 1, items, dtype=np.int64)
    small = rng.integers(-(2**15), 2**15, items)
    pairs = np.where(rng.random((items, 1)) < 0.4, rng.integers(-(2**31), 2**31, (items, 2)), 0)
    lists = ListColumns(
        offsets,
        (((wide,), ">i8", False), ((small,), ">i2", False), ((pairs[:, 0], pairs[:, 1]), ">i4", True)),
    )
    keys = np.arange(n, dtype=np.int64)
    maybe = np.where(rng.random(n) < 0.5, rng.integers(1, 100, n), 0)
    engine = pg.engine()
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE arrays (k BIGINT, m BIGINT, w BIGINT[], s SMALLINT[], p INTEGER[])"))
        raw = conn.connection.driver_connection
        with raw.cursor() as cursor, cursor.copy("COPY arrays FROM STDIN (FORMAT BINARY)") as copy:
            for chunk in copy_chunks([keys, maybe], [">i8", ">i8"], (1,), True, rows_per_chunk, lists):
                copy.write(chunk)
    back = rows(engine, "SELECT k, m, w, s, p FROM arrays ORDER BY ctid")
    expected = []
    for r in range(n):
        low, high = offsets[r], offsets[r + 1]
        empty = low == high
        codes = pairs[low:high]
        expected.append(
            (
                r,
                int(maybe[r]) or None,
                None if empty else wide[low:high].tolist(),
                None if empty else small[low:high].tolist(),
                None if empty or not codes.any() else codes.tolist(),
            )
        )
    assert back == expected


def test_the_largest_entry_is_stored_whole(durable) -> None:
    """An entry of limits.lines_max lines, every line with codes (arrays far past a page on
    PostgreSQL, kept out of line by the server), reads back line for line and verifies."""
    from ledger import limits

    n = limits.lines_max
    rng = np.random.default_rng(21)
    accounts = rng.integers(0, ACCOUNTS // 2, n) * 2 + 1  # book B
    amounts = rng.integers(1, 10**12, n)
    amounts[-1] = 0
    amounts[-1] = -amounts.sum()
    dims = rng.integers(1, 2**31 - 1, (n, 4)).astype(np.int32)
    with ledger.open(durable.url) as book:
        book.create_groups([{"key": "CNY"}])
        book.create_books([{"key": "B"}, {"key": "C"}])
        book.create_accounts(
            [
                {"key": f"a{i}", "book": "B" if i % 2 else "C", "group": "CNY", "code": "1001"}
                for i in range(ACCOUNTS)
            ]
        )
        codes = book.post_columns([7], [0, n], accounts, amounts, dates=[19_900], dims=dims)
        assert not codes.any()
    back = rows(
        durable.engine(), "SELECT line, account, amount, dim1, dim2, dim3, dim4 FROM lines ORDER BY line"
    )
    assert back == [(i, int(accounts[i]), int(amounts[i]), *(int(d) for d in dims[i])) for i in range(n)]
    debits, credits = np.zeros(ACCOUNTS, np.int64), np.zeros(ACCOUNTS, np.int64)
    np.add.at(debits, accounts, np.where(amounts > 0, amounts, 0))
    np.add.at(credits, accounts, np.where(amounts < 0, -amounts, 0))
    with ledger.open(durable.url) as book:
        assert book.verify() is None
        for i in range(ACCOUNTS):
            balance = book.balance(f"a{i}")
            minor = (balance.debits_posted.scaleb(2), balance.credits_posted.scaleb(2))
            assert minor == (int(debits[i]), int(credits[i]))


def test_unfolded_sums_equal_the_sql_sums(durable) -> None:
    """The balance changes after a checkpoint, read as columns and summed in numpy (from
    the entry rows' arrays on PostgreSQL, the lines table on SQLite), are the sums the SQL
    of every store gives (ordinary, pending, posted and voided lines), from any checkpoint on."""
    from ledger.store.base import Store

    build(durable.url)
    with ledger.open(durable.url) as book:
        store = book._store
        with store.reader() as conn:
            last, _ = store.chain_head(conn)
            for checkpoint in range(last + 1):
                index, sums = store.unfolded_sums(conn, checkpoint)
                sql_index, sql_sums = Store.unfolded_sums(store, conn, checkpoint)
                mine, order = np.argsort(index), np.argsort(sql_index)
                assert index[mine].tolist() == sql_index[order].tolist()
                assert sums[mine].tolist() == sql_sums[order].tolist()
                assert (len(index) > 0) == (checkpoint < last)


@pytest.mark.parametrize("conforming", ["on", "off"])
def test_small_batches_sent_with_their_commit_store_what_copy_stores(pg, tmp_path, conforming: str) -> None:
    """Batches of a few entries travel as literal INSERTs with their COMMIT: with texts that
    need quoting, hashes of any bytes (a first batch's all-zero previous hash), and whatever
    the session's standard_conforming_strings, they store what the binary COPY stores (the
    chain verifies, and the rows are SQLite's)."""
    from sqlalchemy import make_url

    url = make_url(pg.url)
    options = f"{url.query['options']} -c standard_conforming_strings={conforming}"
    url = url.update_query_dict({"options": options}).render_as_string(hide_password=False)
    texts = ["it's", "back\\slash", 'quote"s', "E'\\x00'", "新年"]
    results = {}
    for name, target in (("pg", url), ("sqlite", f"sqlite:///{tmp_path / 'small.db'}")):
        with ledger.open(target) as book:
            book.create_groups([{"key": "C", "scale": 2}])
            book.create_books([{"key": "B"}])
            book.create_accounts([{"key": k, "book": "B", "group": "C", "code": "1"} for k in ("a", "b")])
            for key in range(1, 9):
                lines = [
                    {"account": "a", "debit": f"{key}.25", "dims": (key, 0, 7) if key % 2 else ()},
                    {"account": "b", "credit": f"{key}.25"},
                ]
                entry = {"key": key, "book": "B", "date": "2026-02-03", "lines": lines}
                entry["reference"] = texts[key % len(texts)]
                entry["kind"] = texts[(key + 1) % len(texts)]
                assert book.post([entry])[0].ok
            assert book.verify() is None
            results[name] = balance_rows(book)
    assert np.array_equal(results["pg"], results["sqlite"])
    with ledger.open(url) as book:
        assert book.verify() is None
