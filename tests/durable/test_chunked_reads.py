"""Bounded reads: every read of the journal and the monthly sums goes in chunks, a fold of a
long unfolded tail goes in committed steps, and a checkpoint cut short keeps its steps.

The suite's conftest makes the chunk five rows (entries plus lines, or rows of a catalog or
the monthly sums), so the whole durability suite runs its loads, catch-ups, folds and checks
chunked; the tests here check that they are chunked and that a cut is harmless.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

import ledger
from ledger.errors import StoreError
from ledger.store.base import Store
from ledger.store.ranges import AccountSums, PeriodSums, segments_by_key

from ._workload import balance_rows, build_history, rows, snapshot


def checkpoint_seals(durable) -> int:
    return int(rows(durable.engine(), "SELECT count(*) FROM seals WHERE kind = 'checkpoint'")[0][0])


def state(durable) -> tuple[int, int]:
    folded, last = rows(durable.engine(), "SELECT checkpoint_batch, last_batch FROM ledger_state")[0]
    return int(folded), int(last)


def largest_batch(durable) -> int:
    """The most entries plus lines (plus one) of any one batch: a range holds at most a
    chunk plus one batch (a batch is never split)."""
    return int(rows(durable.engine(), "SELECT max(entries + lines + 1) FROM batches")[0][0])


@pytest.fixture
def unfolded(durable):
    """A history posted by a ledger that was dropped without close(): nothing folded."""
    book = ledger.open(durable.url)
    build_history(book)
    expected = snapshot(book)
    del book
    gc.collect()
    assert state(durable)[0] == 0
    return expected


def test_reads_are_bounded_by_the_chunk(durable, unfolded, monkeypatch) -> None:
    """An open that loads from the tables, a catch-up and a fold read no statement of more
    rows than a chunk (or one batch, when a batch is larger), and read the same state."""
    biggest: list[int] = []
    read_ints, read_table = Store.read_ints, Store.read_table

    def counted_ints(self, conn, sql, names):
        result = read_ints(self, conn, sql, names)
        biggest.append(len(result[names[0]]))
        return result

    def counted_table(self, conn, sql, types, names=None):
        result = read_table(self, conn, sql, types, names)
        biggest.append(result.num_rows)
        return result

    for cls in {type(ledger.open(durable.url)._store), Store}:
        monkeypatch.setattr(cls, "read_ints", counted_ints)
        monkeypatch.setattr(cls, "read_table", counted_table)
    with ledger.open(durable.url) as book:
        assert snapshot(book) == unfolded
        other = ledger.open(durable.url)
        late = [{"key": f"late-{i}", "book": "B0", "group": "CNY", "code": "9001"} for i in range(7)]
        other.create_accounts(late)
        expected = snapshot(other)
        other.close()
        assert snapshot(book) == expected  # caught up on seven accounts and a checkpoint
        assert book.verify() is None
    assert biggest and max(biggest) <= Store.chunk_rows + largest_batch(durable)


def test_fold_goes_in_committed_steps(durable, unfolded) -> None:
    """A checkpoint that folds from the tables commits one range of batches at a time: a
    checkpoint seal per step, the last one with the snapshot."""
    before = checkpoint_seals(durable)
    with ledger.open(durable.url) as book:
        folded = book.checkpoint()
        assert folded == state(durable)[1]
        assert checkpoint_seals(durable) - before >= 3
        assert snapshot(book) == unfolded
        assert book.verify() is None
    with ledger.open(durable.url) as again:
        assert snapshot(again) == unfolded


def test_checkpoint_cut_short_keeps_its_steps(durable, unfolded, monkeypatch) -> None:
    """A checkpoint that fails after its first steps (as one killed would) leaves those steps
    committed and sealed: verify passes, reads are exact, and the next checkpoint goes on
    from there instead of starting over."""
    folds = []
    fold = Store.fold

    def failing(self, conn, books=None):
        if len(folds) == 2:
            raise StoreError("the process was killed")
        folds.append(fold(self, conn, books))
        return folds[-1]

    monkeypatch.setattr(Store, "fold", failing)
    book = ledger.open(durable.url)
    with pytest.raises(StoreError, match="killed"):
        book.checkpoint()
    folded, last = state(durable)
    assert folded == folds[0] + folds[1], "two steps committed, the third rolled back"
    assert 0 < folded < last
    assert snapshot(book) == unfolded
    assert book.verify() is None
    monkeypatch.setattr(Store, "fold", fold)
    with ledger.open(durable.url) as again:
        assert snapshot(again) == unfolded
        assert again.checkpoint() == last - folded
        assert state(durable)[0] == last
        assert again.verify() is None
    del book
    gc.collect()


def test_chunked_load_equals_whole_load(durable, unfolded, monkeypatch) -> None:
    """The same state comes out of a load in chunks of five rows and in one chunk."""
    with ledger.open(durable.url) as small:
        chunked = balance_rows(small)
    monkeypatch.setattr(Store, "chunk_rows", 10**9)
    with ledger.open(durable.url) as whole:
        assert np.array_equal(balance_rows(whole), chunked)
        assert snapshot(whole) == unfolded


# --- the range helpers ------------------------------------------------------------------------


def test_account_sums_grow_and_add() -> None:
    total = AccountSums()
    total.add(np.array([3, 0]), np.array([[1, 2, 3, 4], [5, 6, 7, 8]], np.int64))
    total.add(np.array([10]), np.array([[1, 1, 1, 1]], np.int64))
    total.add(np.array([3]), np.array([[2**63 - 1, 0, 0, 0]], np.int64))  # wraps modulo 2**64
    total.add(np.array([], np.int64), np.zeros((0, 4), np.int64))
    index, sums = total.result()
    assert index.tolist() == [0, 3, 10]
    assert sums.tolist() == [[5, 6, 7, 8], [-(2**63), 2, 3, 4], [1, 1, 1, 1]]


def test_period_sums_merge_like_one_pass() -> None:
    rng = np.random.default_rng(7)
    n = 500
    data = {
        "account": rng.integers(0, 20, n),
        "period": rng.choice([202401, 202402, 202512], n),
        **{name: rng.integers(-(10**6), 10**6, n) for name in ("dp", "cp", "dq", "cq")},
    }
    merged = PeriodSums()
    for start in range(0, n, 37):
        merged.add({name: column[start : start + 37] for name, column in data.items()})
    once = PeriodSums()
    once.add(data)
    result = merged.result()
    assert all(np.array_equal(result[name], once.result()[name]) for name in PeriodSums.NAMES)
    keys = list(zip(result["account"].tolist(), result["period"].tolist(), strict=True))
    assert keys == sorted(set(keys))
    for account, period in keys[:10]:
        at = (data["account"] == account) & (data["period"] == period)
        position = keys.index((account, period))
        assert int(result["dp"][position]) == int(data["dp"][at].sum())


def test_segments_by_key_reorders_records_with_their_items() -> None:
    keys = np.array([30, 10, 20])
    counts = np.array([2, 0, 3])
    items = np.array([300, 301, 200, 201, 202])
    order, positions = segments_by_key(keys, counts)
    assert keys[order].tolist() == [10, 20, 30]
    assert items[positions].tolist() == [200, 201, 202, 300, 301]
    empty_order, empty_positions = segments_by_key(np.zeros(0, np.int64), np.zeros(0, np.int64))
    assert len(empty_order) == len(empty_positions) == 0


def two_accounts(book: ledger.Ledger) -> list[dict[str, str]]:
    """Accounts a and b in book B; the lines of a 1.00 transfer between them."""
    book.create_groups([{"key": "C"}])
    book.create_books([{"key": "B"}])
    book.create_accounts([{"key": k, "book": "B", "group": "C", "code": "1"} for k in ("a", "b")])
    return [{"account": "a", "debit": "1"}, {"account": "b", "credit": "1"}]


def test_batch_ranges_group_batches_by_their_size(durable, monkeypatch) -> None:
    """Ranges hold several small batches up to about a chunk (integer arithmetic on every
    store: a NUMERIC running total once made every batch a range of its own on PostgreSQL),
    and a range never holds more than a chunk plus one batch."""
    monkeypatch.setattr(Store, "chunk_rows", 20)
    with ledger.open(durable.url) as book:
        lines = two_accounts(book)
        for key in range(1, 11):  # ten batches of 1 entry, 2 lines: weight 4 each
            assert book.post([{"key": key, "book": "B", "date": "2026-01-02", "lines": lines}])[0].ok
        big = [{"key": 100 + i, "book": "B", "date": "2026-01-02", "lines": lines} for i in range(10)]
        assert all(r.ok for r in book.post(big))  # weight 31
        assert book.post([{"key": 200, "book": "B", "date": "2026-01-02", "lines": lines}])[0].ok
        store = book._store
        with store.reader() as conn:
            ranges = store.batch_ranges(conn, 0)
    # running totals 4, 8, ..., 40, then 71 (the big batch), 75: buckets of 20
    assert ranges == [(1, 5), (6, 10), (11, 12)]


def test_verify_reads_batches_a_range_at_a_time(durable, monkeypatch) -> None:
    """verify reads the batches' rows a range at a time: 60 one-entry batches cost a few
    statements, not four each, and an edited line among them is still found."""
    monkeypatch.setattr(Store, "chunk_rows", 1000)
    with ledger.open(durable.url) as book:
        lines = two_accounts(book)
        for key in range(1, 61):
            entry = {"key": key, "book": "B", "date": "2026-01-02", "lines": lines, "reference": f"R{key}"}
            assert book.post([entry])[0].ok
        calls: list[str] = []
        read_ints = Store.read_ints

        def counted(self, conn, sql, names):
            calls.append(sql)
            return read_ints(self, conn, sql, names)

        monkeypatch.setattr(type(book._store), "read_ints", counted)
        assert book.verify() is None
        assert len([sql for sql in calls if "FROM entries" in sql or "FROM lines" in sql]) < 20
    if durable.kind == "sqlite":
        edit = "UPDATE lines SET amount = 200 WHERE batch = 37 AND line = 0"
        triggers = ("DROP TRIGGER lines_no_update",)
    else:
        edit = "UPDATE entries SET amounts = '{200,-100}' WHERE batch = 37"
        triggers = ("ALTER TABLE entries DISABLE TRIGGER USER",)
    with durable.engine().begin() as conn:
        for statement in (*triggers, edit):
            conn.exec_driver_sql(statement)
    with ledger.open(durable.url) as book:
        found = book.verify()
        assert found is not None and found.batch == 37
