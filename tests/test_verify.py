"""verify puts a batch's lines, read in any order, into the order the hash takes them; the
digests that bind the monthly sums, the catalog and the snapshot to the chain see every edit
(and a fold moves the sums' digest to the digest of the table it leaves)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from ledger.chain import rows_digest, signed64, snapshot_hash, table_hash
from ledger.store.base import first_period_difference
from ledger.verify import Finding, in_entry_order


def lines_of(entries: list[int], numbers: list[int]) -> dict[str, np.ndarray]:
    entry = np.array(entries, np.int64)
    return {"entry": entry, "line": np.array(numbers, np.int64), "amount": entry * 10 + np.array(numbers)}


def test_lines_follow_their_entries_order_then_line_number() -> None:
    keys = np.array([30, 10, 20], np.int64)  # seq order, not key order
    scrambled = lines_of([20, 10, 30, 20, 30, 10], [1, 0, 1, 0, 0, 1])
    ordered = in_entry_order(scrambled, keys)
    assert ordered is not None
    assert ordered["entry"].tolist() == [30, 30, 10, 10, 20, 20]
    assert ordered["line"].tolist() == [0, 1, 0, 1, 0, 1]
    assert ordered["amount"].tolist() == [300, 301, 100, 101, 200, 201]


def test_a_line_of_an_entry_outside_the_batch_is_refused() -> None:
    keys = np.array([30, 10], np.int64)
    assert in_entry_order(lines_of([30, 15], [0, 0]), keys) is None  # between two keys
    assert in_entry_order(lines_of([30, 99], [0, 0]), keys) is None  # past the last
    assert in_entry_order(lines_of([5], [0]), keys) is None  # before the first
    assert in_entry_order(lines_of([5], [0]), np.zeros(0, np.int64)) is None  # no entries at all


def test_no_lines_stay_no_lines() -> None:
    empty = lines_of([], [])
    assert in_entry_order(empty, np.array([1, 2], np.int64)) is empty
    assert in_entry_order(empty, np.zeros(0, np.int64)) is empty


# --- the digests that bind derived data and the catalog to the chain --------------------------

sums_rows = st.lists(
    st.tuples(*(st.integers(-(2**63), 2**63 - 1) for _ in range(7))),
    min_size=0,
    max_size=30,
    unique_by=lambda r: r[:2],
)


def columns_of(rows: list[tuple[int, ...]]) -> list[np.ndarray]:
    return [np.array([row[i] for row in rows], np.int64) for i in range(7)]


@given(sums_rows, st.randoms(use_true_random=False))
def test_the_row_digest_ignores_order(rows: list[tuple[int, ...]], random) -> None:
    shuffled = list(rows)
    random.shuffle(shuffled)
    assert rows_digest(columns_of(rows)) == rows_digest(columns_of(shuffled))


@given(sums_rows, st.data())
def test_the_row_digest_moves_by_the_rows_a_fold_changes(rows: list[tuple[int, ...]], data) -> None:
    """What a fold does to the digest (minus the replaced rows, plus the new ones) is the
    digest of the table it leaves."""
    replaced = data.draw(st.sets(st.integers(0, max(len(rows) - 1, 0)))) if rows else set()
    after = [
        (*row[:3], *(signed64(v + 1) for v in row[3:])) if i in replaced else row
        for i, row in enumerate(rows)
    ]
    old = [rows[i] for i in sorted(replaced)]
    new = [after[i] for i in sorted(replaced)]
    moved = signed64(
        rows_digest(columns_of(rows)) - rows_digest(columns_of(old)) + rows_digest(columns_of(new))
    )
    assert moved == rows_digest(columns_of(after))


def test_the_row_digest_sees_any_one_field() -> None:
    rows = [(1, 202401, 0, 100, 0, 0, 0), (2, 202401, 0, 0, 100, 0, 0)]
    base = rows_digest(columns_of(rows))
    for row in range(2):
        for field in range(7):
            edited = [list(r) for r in rows]
            edited[row][field] += 1
            assert rows_digest(columns_of([tuple(r) for r in edited])) != base


def test_a_table_hash_is_its_rows_whatever_the_arrays_offsets() -> None:
    table = pa.table(
        {
            "idx": pa.array([0, 1, 2, 3], pa.int32()),
            "key": ["a", "bé", None, "d"],
            "flags": pa.array([0, None, 2, 3], pa.int64()),
        }
    )
    rebuilt = pa.table(
        {"idx": pa.array([1, 2], pa.int64()), "key": ["bé", None], "flags": pa.array([None, 2], pa.int64())}
    )
    assert table_hash(table.slice(1, 2)) == table_hash(rebuilt)
    assert table_hash(table.slice(1, 2)) != table_hash(table.slice(0, 2))
    with_empty = pa.table({"idx": pa.array([1, 2], pa.int64()), "key": ["bé", ""], "flags": [None, 2]})
    assert table_hash(rebuilt) != table_hash(with_empty)  # NULL is not ""


def test_a_snapshot_hash_is_its_bytes_whole_or_in_parts() -> None:
    whole = snapshot_hash('{"layout": 2}', {"rows": b"abcdef", "keys": b""})
    assert snapshot_hash('{"layout": 2}', {"keys": [b""], "rows": [b"ab", b"cdef"]}) == whole
    assert snapshot_hash('{"layout": 2}', {"rows": b"abcdeF", "keys": b""}) != whole
    assert snapshot_hash('{"layout": 3}', {"rows": b"abcdef", "keys": b""}) != whole


def test_the_first_period_difference_ignores_zero_rows() -> None:
    def sums(rows: list[tuple[int, int, int]]) -> dict[str, np.ndarray]:
        out = {"account": np.array([r[0] for r in rows], np.int64), "period": np.array([r[1] for r in rows])}
        out["dp"] = np.array([r[2] for r in rows], np.int64)
        for name in ("cp", "dq", "cq"):
            out[name] = np.zeros(len(rows), np.int64)
        return out

    stored = sums([(2, 202401, 5), (1, 202402, 0), (1, 202401, 7)])
    assert first_period_difference(stored, sums([(1, 202401, 7), (2, 202401, 5)])) is None
    assert first_period_difference(stored, sums([(1, 202401, 7), (2, 202401, 6)])) == (2, 202401)
    assert first_period_difference(stored, sums([(2, 202401, 5)])) == (1, 202401)
    assert first_period_difference(stored, sums([(1, 202401, 7), (2, 202401, 5), (3, 202403, 1)])) == (
        3,
        202403,
    )


def test_a_finding_reads_as_table_key_and_message() -> None:
    assert str(Finding("accounts", "idx 5", None, "edited")) == "accounts idx 5: edited"
    assert str(Finding("snapshots", "", None, "edited")) == "snapshots: edited"
