"""Synthetic posting workloads for the benchmarks (generated, never stored).

`transfers(...)` builds the issue's reference workload: entries of 2-6 lines over a given
number of accounts in one book and one balance group, each entry balanced, accounts drawn
uniformly at random (the worst case for caches), keys 1..n in order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Workload:
    accounts_count: int
    keys: np.ndarray
    offsets: np.ndarray
    accounts: np.ndarray  # int32
    amounts: np.ndarray  # int64, debit > 0
    dates: np.ndarray  # int32 days

    @property
    def lines_count(self) -> int:
        return len(self.amounts)

    @property
    def entries_count(self) -> int:
        return len(self.keys)


def transfers(lines_target: int, accounts_count: int, seed: int = 7, lines_min: int = 2,
              lines_max: int = 6) -> Workload:  # fmt: skip
    rng = np.random.default_rng(seed)
    sizes = rng.integers(lines_min, lines_max + 1, size=lines_target // lines_min + 1)
    ends = np.cumsum(sizes)
    count = int(np.searchsorted(ends, lines_target)) + 1
    sizes = sizes[:count]
    offsets = np.zeros(count + 1, np.int64)
    offsets[1:] = np.cumsum(sizes)
    lines = int(offsets[-1])
    accounts = rng.integers(0, accounts_count, size=lines, dtype=np.int32)
    amounts = rng.integers(1, 10_000_000, size=lines, dtype=np.int64)
    amounts *= np.where(rng.random(lines) < 0.5, 1, -1)
    last = offsets[1:] - 1
    # The last line balances its entry; where that leaves it zero, move one unit.
    amounts[last] = 0
    amounts[last] = -np.add.reduceat(amounts, offsets[:-1])
    zero = last[amounts[last] == 0]
    amounts[zero] = 1
    amounts[zero - 1] -= 1
    assert not (amounts == 0).any()
    keys = np.arange(1, count + 1, dtype=np.int64)
    dates = np.full(count, 20_454, np.int32)  # 2026-01-01
    return Workload(accounts_count, keys, offsets, accounts, amounts, dates)


def numpy_turnover(
    accounts_count: int, accounts: np.ndarray, amounts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """What a ledger's balance arithmetic is in plain numpy: debit and credit turnover per
    account with numpy.add.at, no validation at all."""
    debits = np.zeros(accounts_count, np.int64)
    credits = np.zeros(accounts_count, np.int64)
    positive = amounts > 0
    np.add.at(debits, accounts[positive], amounts[positive])
    np.add.at(credits, accounts[~positive], -amounts[~positive])
    return debits, credits
