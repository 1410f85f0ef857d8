"""One entry per call, as a service posting one voucher at a time, beside the database's own
locked insert + commit of two rows, in the same run.

    python -m benchmarks.small_calls [--calls 2000] [--store sqlite,postgresql] [--postgres-url URL]

Blocks of 100 calls alternate between the ledger's post() (an Entry model), its
post_columns() (one entry as columns) and the raw loop, so a change in the host's load falls
on all three. Each side's first call is timed apart and left out of its rate: the ledger's
builds the account-key index of a freshly opened ledger (about 0.8 s at 2.5 M accounts),
a cost of the open that a process pays once. Reported per store: calls/s, p50 and p99
latency of each, and the ratio of each ledger call's rate to the raw rate. Durability is the
same on both sides: SQLite WAL with synchronous=FULL, PostgreSQL with synchronous_commit on.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import ledger
import ledger.periods
from benchmarks.durable import drop_postgres, fresh_postgres, postgres_conninfo

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BLOCK = 100


def ledger_caller(url: str) -> tuple[ledger.Ledger, Callable[[int], None]]:
    book = ledger.open(url)
    book.create_groups([ledger.Group(key="CNY")])
    book.create_books([ledger.Book(key="U1")])
    book.create_accounts(
        [
            ledger.Account(key="cash", book="U1", group="CNY", code="1001"),
            ledger.Account(key="fees", book="U1", group="CNY", code="5001"),
        ]
    )
    day = dt.date(2026, 3, 2)

    def call(key: int) -> None:
        entry = ledger.Entry(
            key=key,
            book="U1",
            date=day,
            lines=[ledger.Line(account="fees", debit="1.00"), ledger.Line(account="cash", credit="1.00")],
        )
        if book.post([entry])[0].code != ledger.Code.ok:
            raise RuntimeError(f"entry {key} refused")

    return book, call


def columns_caller(book: ledger.Ledger) -> Callable[[int], None]:
    """post_columns of one entry (keys from 10**12 on, apart from ledger_caller's)."""
    offsets = np.array([0, 2], np.int64)
    accounts = book.account_index(["fees", "cash"]).astype(np.int32)
    amounts = np.array([100, -100], np.int64)
    dates = np.array([ledger.periods.days(dt.date(2026, 3, 2))], np.int32)

    def call(key: int) -> None:
        keys = np.array([10**12 + key], np.int64)
        if book.post_columns(keys, offsets, accounts, amounts, dates=dates)[0] != 0:
            raise RuntimeError(f"entry {key} refused")

    return call


def sqlite_raw(path: Path) -> Callable[[int], None]:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (entry INTEGER, line INTEGER, account INTEGER, amount INTEGER)")

    def call(key: int) -> None:
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t VALUES (?, 0, 1, 100), (?, 1, 0, -100)", (key, key))
        db.execute("COMMIT")

    return call


def postgres_raw(url: str) -> tuple[Callable[[int], None], Callable[[], None]]:
    import psycopg

    conn = psycopg.connect(postgres_conninfo(url))
    conn.execute("CREATE TABLE t (entry BIGINT, line INT, account INT, amount BIGINT)")
    conn.commit()

    def call(key: int) -> None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(7, 7)")
            conn.execute("INSERT INTO t VALUES (%s, 0, 1, 100), (%s, 1, 0, -100)", (key, key))

    return call, conn.close


def timed(call: Callable[[int], None], keys: range) -> list[float]:
    out = []
    for key in keys:
        start = time.perf_counter()
        call(key)
        out.append(time.perf_counter() - start)
    return out


def run(
    name: str,
    ledger_call: Callable[[int], None],
    raw_call: Callable[[int], None],
    calls: int,
    columns_call: Callable[[int], None] | None = None,
) -> str:
    first = timed(ledger_call, [calls + 1])[0]  # keys after the timed ones
    if columns_call is not None:
        timed(columns_call, [calls + 1])
    timed(raw_call, [calls + 1])
    mine: list[float] = []
    raw: list[float] = []
    columns: list[float] = []
    for start in range(1, calls + 1, BLOCK):
        keys = range(start, min(start + BLOCK, calls + 1))
        mine += timed(ledger_call, keys)
        if columns_call is not None:
            columns += timed(columns_call, keys)
        raw += timed(raw_call, keys)

    def summary(times: list[float]) -> tuple[float, float, float]:
        ordered = sorted(times)
        return (
            len(times) / sum(times),
            1e3 * statistics.median(times),
            1e3 * ordered[int(0.99 * len(ordered))],
        )

    (rate, p50, p99), (raw_rate, raw_p50, raw_p99) = summary(mine), summary(raw)
    line = (
        f"{name:<11} ledger post(): {rate:7.0f} calls/s  p50 {p50:5.2f} ms  p99 {p99:5.2f} ms | "
        f"raw locked insert+commit: {raw_rate:7.0f}/s  p50 {raw_p50:5.2f} ms  p99 {raw_p99:5.2f} ms | "
        f"ledger/raw {rate / raw_rate:.2f} | first post() {1e3 * first:.1f} ms, not in the rate"
    )
    if columns:
        c_rate, c_p50, c_p99 = summary(columns)
        line += (
            f"\n{'':<11} post_columns(): {c_rate:6.0f} calls/s  p50 {c_p50:5.2f} ms  p99 {c_p99:5.2f} ms"
            f" | ledger/raw {c_rate / raw_rate:.2f}"
        )
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.small_calls", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--store", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    args = parser.parse_args(argv)
    for kind in args.store.split(","):
        with tempfile.TemporaryDirectory() as directory:
            if kind == "sqlite":
                book, call = ledger_caller(f"sqlite:///{Path(directory) / 'ledger.db'}")
                raw = sqlite_raw(Path(directory) / "raw.db")
                print(run(kind, call, raw, args.calls, columns_caller(book)))
                book.close()
            else:
                schema = f"bench_small_{int(time.time())}"
                url = fresh_postgres(args.postgres_url, schema)
                try:
                    book, call = ledger_caller(url)
                    raw_call, close = postgres_raw(url)
                    print(run(kind, call, raw_call, args.calls, columns_caller(book)))
                    book.close()
                    close()
                finally:
                    drop_postgres(args.postgres_url, schema)
    return 0


if __name__ == "__main__":
    sys.exit(main())
