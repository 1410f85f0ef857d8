"""PostgreSQL finds the lines of a range of batches by the heap blocks they were written to
(the lines table has no index): the range must hold exactly those lines, and when the
recorded block positions do not account for every line, the whole table is searched."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import text

import ledger
from ledger.store.postgres import PostgresStore, copy_chunks

from ._workload import balance_rows, rows, scalar

BATCHES = 6
ENTRIES = 3000  # a few hundred heap blocks per batch


def build(url: str) -> np.ndarray:
    """BATCHES bulk batches of two-line entries over 50 accounts; the balances after them."""
    with ledger.open(url) as book:
        book.create_groups([{"key": "CNY"}])
        book.create_books([{"key": "B"}])
        book.create_accounts(
            [{"key": f"a{i}", "book": "B", "group": "CNY", "code": "1001"} for i in range(50)]
        )
        rng = np.random.default_rng(5)
        for b in range(BATCHES):
            accounts = rng.integers(0, 50, 2 * ENTRIES).astype(np.int32)
            amounts = rng.integers(1, 10_000, ENTRIES).astype(np.int64)
            codes = book.post_columns(
                np.arange(ENTRIES, dtype=np.int64) + b * ENTRIES + 1,
                np.arange(0, 2 * ENTRIES + 1, 2),
                accounts,
                np.stack([amounts, -amounts], axis=1).ravel(),
                dates=np.full(ENTRIES, 19_800 + 20 * b, np.int32),
            )
            assert not codes.any()
        return balance_rows(book)


def where(url: str, first: int, last: int | None = None) -> tuple[str, int]:
    """The condition PostgresStore.lines_where gives, and how many lines it selects."""
    store = PostgresStore.from_url(url)
    try:
        with store.reader() as conn:
            condition = store.lines_where(conn, first, last)
            return condition, int(
                conn.exec_driver_sql(f"SELECT count(*) FROM lines WHERE {condition}").scalar()
            )
    finally:
        store.dispose()


@pytest.mark.parametrize(
    ("first", "last"), [(1, None), (2, None), (4, None), (3, 3), (2, 5), (BATCHES, BATCHES)]
)
def test_block_range_holds_exactly_the_batches_lines(pg, first: int, last: int | None) -> None:
    build(pg.url)
    engine = pg.engine()
    condition, found = where(pg.url, first, last)
    upper = BATCHES if last is None else last
    assert found == scalar(engine, f"SELECT count(*) FROM lines WHERE batch BETWEEN {first} AND {upper}")
    assert found == 2 * ENTRIES * (upper - first + 1)
    if first > 1 or last is not None:
        assert "ctid" in condition  # the block range was used, not the whole table


def test_wrong_block_positions_fall_back_to_the_whole_table(pg) -> None:
    """Block positions that would leave lines out are caught by the count, and every read
    (open without a snapshot, catch-up, checkpoint, reversal, verify) stays exact."""
    expected = build(pg.url)
    engine = pg.engine()
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER batches_append_only ON batches"))
        conn.execute(text("UPDATE batches SET lines_blocks = lines_blocks + 100000 WHERE id = 2"))
    condition, found = where(pg.url, 3)
    assert "ctid" not in condition
    assert found == 2 * ENTRIES * (BATCHES - 2)
    reversed_key = 2 * ENTRIES + 7  # in batch 3
    lines = rows(engine, f"SELECT account, amount FROM lines WHERE entry = {reversed_key} ORDER BY line")
    for account, amount in lines:  # the reversal: each line again, on the other side
        expected[account, 1 if amount > 0 else 0] += abs(amount)
    with ledger.open(pg.url) as book:
        assert book.verify() is None
        assert book.reverse(reversed_key, 10**9, dt.date(2024, 6, 1)).ok
        assert np.array_equal(balance_rows(book), expected)
        book.checkpoint()
    with ledger.open(pg.url) as book:
        assert np.array_equal(balance_rows(book), expected)
        assert book.verify() is None


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
