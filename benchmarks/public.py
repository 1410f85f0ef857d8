"""Scenarios of the public paths a user calls, on the same workload as the kernel's.

- `MemoryPostScenario`: `Ledger.post_columns` on `ledger.open()` (the in-memory store), the
  whole workload in one call, fresh entry keys every round, into a ledger that reserved room
  for every round's entries (as the kernel scenario's engine has room).
- `DurablePostScenario`: the same public call on SQLite or PostgreSQL, in slices of 100,000
  lines (one transaction each), fresh keys every round.
- `account_creation`: 2.5 M accounts through the columnar path and through the record path.
- `memory_footprint`: bytes the in-memory ledger holds per account and per posted entry.
"""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

import ledger
from benchmarks.durable import (
    ACCOUNT_CODE,
    BOOK_KEY,
    GROUP_KEY,
    account_keys,
    drop_postgres,
    fresh_postgres,
    post_slice,
    slices,
)
from benchmarks.workload import Workload
from ledger.codes import Code

MEMORY_POST = "post_columns, ledger.open()"
SQLITE_POST = "post_columns, SQLite (durable)"
POSTGRES_POST = "post_columns, PostgreSQL (durable)"
KEY_STRIDE = 10**11  # added to the workload's keys once per round: every round posts new keys
BATCH_LINES = 100_000
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def new_ledger(url: str | None, count: int) -> ledger.Ledger:
    """A ledger holding one group, one book and `count` accounts (indices 0..count-1)."""
    book = ledger.open(url)
    book.create_groups([ledger.Group(key=GROUP_KEY, scale=2)])
    book.create_books([ledger.Book(key=BOOK_KEY)])
    codes = book.create_accounts_columns(
        account_keys(count), [BOOK_KEY] * count, [GROUP_KEY] * count, [ACCOUNT_CODE] * count
    )
    if (codes != Code.ok).any():
        raise RuntimeError(f"{int((codes != Code.ok).sum())} of {count} accounts not created")
    return book


class MemoryPostScenario:
    """Ledger.post_columns on an in-memory ledger: checks, kernel, and the store's copy."""

    name = MEMORY_POST

    def __init__(self, workload: Workload, rounds: int) -> None:
        self.workload = workload
        self.book = new_ledger(None, workload.accounts_count)
        self.book.reserve(rounds * workload.entries_count)
        self.round = 0
        self.keys = workload.keys

    def reset(self) -> None:
        self.round += 1
        self.keys = self.workload.keys + self.round * KEY_STRIDE

    def __call__(self) -> np.ndarray:
        w = self.workload
        return self.book.post_columns(self.keys, w.offsets, w.accounts, w.amounts, dates=w.dates)

    def problems(self, codes: np.ndarray, thorough: bool = False) -> list[str]:
        refused = int((codes != Code.ok).sum())
        problems = [f"{refused} entries refused"] if refused else []
        if thorough:
            balances = self.book.balances()
            if int(balances["debits_posted"].sum()) != int(balances["credits_posted"].sum()):
                problems.append("debits and credits differ after posting")
        return problems

    def close(self) -> None:
        self.book.close()


class DurablePostScenario:
    """Ledger.post_columns on a durable store, 100,000-line transactions."""

    def __init__(self, workload: Workload, kind: str, directory: Path, postgres_url: str) -> None:
        if kind not in ("sqlite", "postgresql"):
            raise ValueError(f"durable store kind: expected sqlite or postgresql, got {kind!r}")
        self.workload = workload
        self.kind = kind
        self.name = SQLITE_POST if kind == "sqlite" else POSTGRES_POST
        self.schema = f"bench_public_{int(time.time())}"
        if kind == "sqlite":
            self.url = f"sqlite:///{directory / 'public.db'}"
        else:
            self.postgres_url = postgres_url
            self.url = fresh_postgres(postgres_url, self.schema)
        self.book = new_ledger(self.url, workload.accounts_count)
        self.parts = slices(workload, workload.accounts, BATCH_LINES)
        self.round = 0

    def reset(self) -> None:
        self.round += 1

    def __call__(self) -> int:
        shift = self.round * KEY_STRIDE
        for part in self.parts:
            post_slice(self.book, type(part)(**{**part.__dict__, "keys": part.keys + shift}))
        return len(self.parts)

    def problems(self, result: Any, thorough: bool = False) -> list[str]:
        return []  # post_slice raises on any refused entry

    def close(self) -> None:
        self.book.close()
        if self.kind == "postgresql":
            drop_postgres(self.postgres_url, self.schema)


def account_creation(count: int) -> dict[str, float]:
    """Seconds to create `count` accounts on ledger.open(): columns, and records."""
    keys = account_keys(count)
    out = {}
    with ledger.open() as book:
        book.create_groups([ledger.Group(key=GROUP_KEY, scale=2)])
        book.create_books([ledger.Book(key=BOOK_KEY)])
        start = time.perf_counter()
        codes = book.create_accounts_columns(
            keys, [BOOK_KEY] * count, [GROUP_KEY] * count, [ACCOUNT_CODE] * count
        )
        out["columns_s"] = time.perf_counter() - start
        assert (codes == Code.ok).all()
    models = [ledger.Account(key=k, book=BOOK_KEY, group=GROUP_KEY, code=ACCOUNT_CODE) for k in keys]
    with ledger.open() as book:
        book.create_groups([ledger.Group(key=GROUP_KEY, scale=2)])
        book.create_books([ledger.Book(key=BOOK_KEY)])
        start = time.perf_counter()
        results = book.create_accounts(models)
        out["records_s"] = time.perf_counter() - start
        assert all(r.code == Code.ok for r in results)
    return out


def memory_footprint(workload: Workload) -> dict[str, float]:
    """Bytes an in-memory ledger holds per account (after creating them) and per posted
    entry (after posting the workload once): numpy and Python allocations (tracemalloc) plus
    Arrow's own memory pool."""

    def held() -> int:
        return tracemalloc.get_traced_memory()[0] + pa.total_allocated_bytes()

    tracemalloc.start()
    try:
        base = held()
        book = new_ledger(None, workload.accounts_count)
        book.balance(account_keys(1)[0])  # the key index, built on first use
        after_accounts = held()
        w = workload
        codes = book.post_columns(w.keys, w.offsets, w.accounts, w.amounts, dates=w.dates)
        assert (codes == Code.ok).all()
        after_posting = held()
        book.close()
    finally:
        tracemalloc.stop()
    return {
        "bytes_per_account": (after_accounts - base) / workload.accounts_count,
        "bytes_per_entry": (after_posting - after_accounts) / workload.entries_count,
        "bytes_per_line": (after_posting - after_accounts) / workload.lines_count,
    }


__all__ = [
    "MEMORY_POST",
    "POSTGRES_POST",
    "SQLITE_POST",
    "DurablePostScenario",
    "MemoryPostScenario",
    "account_creation",
    "memory_footprint",
]
