"""Bytes per account a durable ledger holds once open, and what creating them peaks at.

    PYTHONPATH=. python -m benchmarks.account_memory [--accounts 2500000] [--store sqlite,postgresql]

Per store, two spawned children (each starts from a bare interpreter):

1. create: ledger.open(url), one group and book, then every account in one
   create_accounts_columns call. Measured: the call's peak and what it leaves held, as
   Python's traced allocations (tracemalloc, numpy's included) plus Arrow's memory pool, per
   account; and the child's peak RSS. The caller's own lists of keys are made before the
   measure starts (they are the caller's, not the ledger's).
2. open: ledger.open(url) and a first balance() (which builds the key index). Measured: what
   stays held per account, split into the key index (Arrow keys, hashes, slot table), the
   engine's account table (balances, book, group, flags) and the rest; and the peak RSS.

RSS also counts what no ledger structure holds: the interpreter and its imports (about
150 MB), SQLite's page cache (up to 256 MB per connection) and freed memory the allocator
keeps; the traced figures are the ledger's own. Targets (issue 9): an open ledger holds
<= 200 B per account; creating them peaks at <= 2x that.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pyarrow as pa

import ledger
from benchmarks.durable import ACCOUNT_CODE, BOOK_KEY, GROUP_KEY, account_keys, drop_postgres, fresh_postgres

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
HELD_MAX = 200.0  # bytes per account an open ledger holds
PEAK_FACTOR_MAX = 2.0  # creation's peak over HELD_MAX


def _held() -> int:
    return tracemalloc.get_traced_memory()[0] + pa.total_allocated_bytes()


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def create(url: str, count: int) -> dict[str, float]:
    book = ledger.open(url)
    book.create_groups([ledger.Group(key=GROUP_KEY, scale=2)])
    book.create_books([ledger.Book(key=BOOK_KEY)])
    keys, books = account_keys(count), [BOOK_KEY] * count
    groups, codes = [GROUP_KEY] * count, [ACCOUNT_CODE] * count
    tracemalloc.start()
    base = _held()
    start = time.perf_counter()
    result = book.create_accounts_columns(keys, books, groups, codes)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] + pa.total_allocated_bytes()
    held = _held()
    tracemalloc.stop()
    assert int((result == 0).sum()) == count, "every account is created"
    book.close()
    return {
        "create_s": seconds,
        "create_peak_bytes_per_account": (peak - base) / count,
        "create_held_bytes_per_account": (held - base) / count,
        "create_rss_peak_mb": _peak_rss_mb(),
    }


def open_held(url: str, count: int) -> dict[str, float]:
    tracemalloc.start()
    base = _held()
    start = time.perf_counter()
    book = ledger.open(url)
    book.balance(account_keys(1)[0])
    seconds = time.perf_counter() - start
    held = _held() - base
    replica = book._replica  # the parts: what a per-account figure is made of
    keys = replica.catalog.account_keys.nbytes()
    table = replica.engine.rows.nbytes
    tracemalloc.stop()
    book.close()
    return {
        "open_s": seconds,
        "open_bytes_per_account": held / count,
        "open_key_index_bytes_per_account": keys / count,
        "open_account_table_bytes_per_account": table / count,
        "open_rest_bytes_per_account": (held - keys - table) / count,
        "open_rss_peak_mb": _peak_rss_mb(),
    }


def _child(sender: Any, work: Any, url: str, count: int) -> None:
    sender.send(work(url, count))


def in_child(work: Any, url: str, count: int) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, work, url, count))
    process.start()
    result = receiver.recv()
    process.join()
    return result


def measure(kind: str, count: int, directory: Path, postgres_url: str = POSTGRES_URL) -> dict[str, float]:
    """Both children on a fresh database of `kind` (sqlite or postgresql)."""
    schema = f"bench_memory_{kind}"
    if kind == "sqlite":
        url = f"sqlite:///{directory / 'accounts.db'}"
    else:
        url = fresh_postgres(postgres_url, schema)
    try:
        return in_child(create, url, count) | in_child(open_held, url, count)
    finally:
        if kind == "postgresql":
            drop_postgres(postgres_url, schema)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=2_500_000)
    parser.add_argument("--store", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    args = parser.parse_args(argv)
    met = True
    for kind in args.store.split(","):
        with tempfile.TemporaryDirectory() as directory:
            found = measure(kind, args.accounts, Path(directory), args.postgres_url)
        print(f"{kind}, {args.accounts:,} accounts")
        for name, value in found.items():
            print(f"  {name:<40}{value:>12,.1f}")
        held, peak = found["open_bytes_per_account"], found["create_peak_bytes_per_account"]
        for name, value, bound in (
            ("open ledger, bytes/account", held, HELD_MAX),
            ("creation peak, bytes/account", peak, PEAK_FACTOR_MAX * HELD_MAX),
        ):
            verdict = "met" if value <= bound else "MISSED"
            met = met and value <= bound
            print(f"  target {name:<32}{value:>8.0f} <= {bound:<6.0f}{verdict}")
        print(f"  creation peak / open ledger held: {peak / held:.2f}x")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
