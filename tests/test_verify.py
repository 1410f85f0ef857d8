"""verify puts a batch's lines, read in any order, into the order the hash takes them."""

from __future__ import annotations

import numpy as np

from ledger.verify import in_entry_order


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
