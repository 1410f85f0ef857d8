"""Trial balances and rollups on a province-sized ledger: 19,000 books under an organisation
tree, 2.5 M accounts on a 4-2-2 chart, 10 M lines over a year — the public methods a user
calls, beside plain SQL on the same database, in one run.

    PYTHONPATH=. python -m benchmarks.trial_balance [--store sqlite,postgresql] [--books 19000]
        [--accounts 2500000] [--lines 10000000] [--month 2026-06] [--repeat 5] [--books-sampled 50]
        [--seed 7] [--postgres-url URL] [--workdir DIR] [--keep] [--out PATH]

Per store: build the ledger (books, nodes province → 42 regions → departments → a unit node
per book, accounts book by book on the same chart, two-line entries inside a book dated over
2026, posted through post_columns in calls of 1 M lines, checkpoint, close). Then, in a
fresh ledger.open:
- cold: the first trial_balance(book=...) — it reads the monthly sums and account codes once;
- one book's trial balance for --month: median over --books-sampled random books;
- every book's trial balance for --month (trial_balances): median of --repeat;
- rollup("node") for --month and rollup("subledger") for --month: median of --repeat;
- peers on the same database: SQL a user would write for the same month, one book's debit
  and credit turnover per account code, and every book's turnover per first-level code.
Targets (issue 10): one book's month ≤ 20 ms, every book's month ≤ 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text

import ledger
from benchmarks.durable import drop_postgres, each_store, fresh_postgres
from ledger import Code

POSTGRES_URL = os.environ.get(
    "LEDGER_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
GROUP = "CNY"
FIRST_DAY = 20454  # 2026-01-01 as days since 1970-01-01
CALL_LINES = 1_000_000
ONE_BOOK_MS_MAX = 20.0
EVERY_BOOK_S_MAX = 2.0


def progress(message: str) -> None:
    if sys.stderr.isatty():
        print(f"\r\033[K{message}", end="", file=sys.stderr, flush=True)


def chart(count: int) -> tuple[list[str], list[str]]:
    """`count` account codes of a 4-2-2 chart (first-level headings with sub-accounts under
    them) and their names."""
    headings = [f"{h:04d}" for h in (1001, 1002, 1011, 1201, 1212, 1214, 1218, 1302, 1501, 1601, 1611, 1701,
                                     2001, 2101, 2103, 2201, 2301, 2302, 2307, 3001, 3101, 3201, 3301, 4001,
                                     4101, 4201, 4401, 4601, 5001, 5101, 5201, 5301, 6001, 6101, 6201, 7101,
                                     7201, 7301, 8001, 8101, 8201)]  # fmt: skip
    codes, names = [], []
    i = 0
    while len(codes) < count:
        heading = headings[i % len(headings)]
        level = i // len(headings)
        code = (
            heading
            if level == 0
            else f"{heading}{(level - 1) // 3 + 1:02d}"
            + (f"{(level - 1) % 3 + 1:02d}" if level % 2 == 0 else "")
        )
        if code not in codes:
            codes.append(code)
            names.append(f"科目 {code}")
        i += 1
    return codes, names


def build(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """The province ledger; the time of each stage."""
    rng = np.random.default_rng(args.seed)
    per_book = args.accounts // args.books
    accounts = per_book * args.books
    codes, names = chart(per_book)
    times: dict[str, float] = {}
    with ledger.open(url) as book:
        start = time.perf_counter()
        book.create_groups([ledger.Group(key=GROUP)])
        book.create_books([ledger.Book(key=f"B{b:05d}") for b in range(args.books)])
        regions = [ledger.Node(key=f"R{r:02d}", parent="CQ", name=f"区县 {r}") for r in range(42)]
        departments = [ledger.Node(key=f"D{d:03d}", parent=f"R{d % 42:02d}") for d in range(420)]
        units = [
            ledger.Node(key=f"U{b:05d}", parent=f"D{b % 420:03d}", book=f"B{b:05d}")
            for b in range(args.books)
        ]
        results = book.create_nodes(
            [ledger.Node(key="CQ", name="重庆市", layout="4-2-2"), *regions, *departments, *units]
        )
        assert all(r.code == Code.ok for r in results)
        times["books and nodes"] = time.perf_counter() - start
        start = time.perf_counter()
        book_of = np.repeat(np.arange(args.books), per_book)
        slot = np.tile(np.arange(per_book), args.books)
        subledger = np.where(np.char.startswith(np.array(codes)[slot], "5001"), slot % 33, -1)
        created = book.create_accounts_columns(
            [f"A{i:09d}" for i in range(accounts)],
            [f"B{b:05d}" for b in book_of.tolist()],
            [GROUP] * accounts,
            [codes[s] for s in slot.tolist()],
            subledgers=[
                None if s < 0 else f"P{b:05d}-{s:02d}"
                for b, s in zip(book_of.tolist(), subledger.tolist(), strict=True)
            ],
            names=[names[s] for s in slot.tolist()],
        )
        assert (created == Code.ok).all()
        times["accounts"] = time.perf_counter() - start
        index = book.account_index([f"A{i:09d}" for i in range(accounts)]).astype(np.int32)
        entries = args.lines // 2
        start = time.perf_counter()
        posted = 0
        for first in range(0, entries, CALL_LINES // 2):
            n = min(CALL_LINES // 2, entries - first)
            books = rng.integers(0, args.books, n)
            debit = books * per_book + rng.integers(0, per_book, n)
            credit = books * per_book + (debit - books * per_book + rng.integers(1, per_book, n)) % per_book
            lines = np.empty(2 * n, np.int32)
            lines[0::2], lines[1::2] = index[debit], index[credit]
            amounts = np.empty(2 * n, np.int64)
            amount = rng.integers(1, 10**7, n)
            amounts[0::2], amounts[1::2] = amount, -amount
            dates = (FIRST_DAY + rng.integers(0, 365, n)).astype(np.int32)
            keys = np.arange(first + 1, first + n + 1, dtype=np.int64)
            result = book.post_columns(
                keys, np.arange(0, 2 * n + 1, 2, dtype=np.int64), lines, amounts, dates=dates
            )
            assert (result == Code.ok).all()
            posted += 2 * n
            progress(f"build: {posted:,} lines")
        times["post"] = time.perf_counter() - start
        start = time.perf_counter()
        book.checkpoint()
        times["checkpoint"] = time.perf_counter() - start
    return {"times": times, "accounts": accounts, "lines": posted, "per_book": per_book}


def median_s(work: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def measure(url: str, args: argparse.Namespace, built: dict[str, Any]) -> dict[str, Any]:
    rng = np.random.default_rng(args.seed + 1)
    out: dict[str, Any] = {}
    start = time.perf_counter()
    book = ledger.open(url)
    out["open_s"] = time.perf_counter() - start
    try:
        sample = [f"B{b:05d}" for b in rng.integers(0, args.books, args.books_sampled).tolist()]
        start = time.perf_counter()
        first = book.trial_balance(book=sample[0], period=args.month)
        out["cold_one_book_s"] = time.perf_counter() - start
        assert first.balanced
        times = []
        for key in sample:
            start = time.perf_counter()
            result = book.trial_balance(book=key, period=args.month)
            times.append(time.perf_counter() - start)
            assert result.balanced
        out["one_book_ms"] = 1e3 * statistics.median(times)
        out["one_book_p99_ms"] = 1e3 * sorted(times)[int(0.99 * (len(times) - 1))]
        out["one_book_rows"] = first.rows.num_rows
        out["every_book_s"], every = median_s(lambda: book.trial_balances(period=args.month), args.repeat)
        assert every.balanced
        out["every_book_rows"] = every.rows.num_rows
        out["by_node_s"], nodes = median_s(lambda: book.rollup("node", period=args.month), args.repeat)
        out["by_subledger_s"], subs = median_s(
            lambda: book.rollup("subledger", period=args.month), args.repeat
        )
        out["subledgers"] = subs.num_rows
        rollups = book._rollup_data
        out["cache_mb"] = (rollups.turnover.nbytes() + rollups.accounts.nbytes) / 2**20 if rollups else 0
        out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out["nodes"] = nodes.num_rows
    finally:
        book.close()
    out.update(peers(url, args, sample))
    return out


def peers(url: str, args: argparse.Namespace, sample: list[str]) -> dict[str, Any]:
    """What a user would write in SQL on the same database for the same month: turnover only
    (opening and closing would need every earlier month too)."""
    month = int(args.month.replace("-", ""))
    engine = create_engine(url)
    one = text(
        "SELECT a.code, sum(p.debits_posted), sum(p.credits_posted) FROM period_balances p"
        " JOIN accounts a ON a.idx = p.account JOIN books b ON b.idx = a.book"
        " WHERE b.key = :book AND p.period = :month GROUP BY a.code"
    )
    every = text(
        "SELECT a.book, substr(a.code, 1, 4), sum(p.debits_posted), sum(p.credits_posted)"
        " FROM period_balances p JOIN accounts a ON a.idx = p.account WHERE p.period = :month"
        " GROUP BY a.book, substr(a.code, 1, 4)"
    )
    out: dict[str, Any] = {}
    try:
        with engine.connect() as conn:
            times = []
            for key in sample[: max(3, len(sample) // 5)]:
                start = time.perf_counter()
                conn.execute(one, {"book": key, "month": month}).all()
                times.append(time.perf_counter() - start)
            out["sql_one_book_ms"] = 1e3 * statistics.median(times)
            out["sql_every_book_s"], _ = median_s(
                lambda: conn.execute(every, {"month": month}).all(), max(1, args.repeat // 2)
            )
    finally:
        engine.dispose()
    return out


def run_store(kind: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    schema = f"bench_tb_{os.getpid()}"
    url = (
        f"sqlite:///{workdir / 'ledger.db'}"
        if kind == "sqlite"
        else fresh_postgres(args.postgres_url, schema)
    )
    try:
        built = build(url, args)
        progress("")
        return {**built, **measure(url, args, built)}
    finally:
        if kind != "sqlite" and not args.keep:
            drop_postgres(args.postgres_url, schema)


def render(console: Console, results: dict[str, dict[str, Any]]) -> None:
    table = Table(title="trial balances and rollups (medians)")
    table.add_column("")
    for kind in results:
        table.add_column(kind, justify="right")
    rows = [
        ("ledger", lambda r: f"{r['accounts']:,} accounts, {r['lines']:,} lines"),
        ("build: accounts / post / checkpoint",
         lambda r: " / ".join(f"{r['times'][k]:.1f} s" for k in ("accounts", "post", "checkpoint"))),
        ("open", lambda r: f"{r['open_s']:.2f} s"),
        ("first trial balance (reads the sums)", lambda r: f"{r['cold_one_book_s']:.2f} s"),
        ("one book, one month", lambda r: f"{r['one_book_ms']:.1f} ms (p99 {r['one_book_p99_ms']:.1f})"),
        ("  SQL turnover, one book", lambda r: f"{r['sql_one_book_ms']:.1f} ms"),
        ("every book, one month", lambda r: f"{r['every_book_s']:.2f} s ({r['every_book_rows']:,} rows)"),
        ("  SQL turnover by book × heading", lambda r: f"{r['sql_every_book_s']:.2f} s"),
        ("rollup by node, one month", lambda r: f"{r['by_node_s']:.2f} s"),
        ("rollup by sub-ledger, one month",
         lambda r: f"{r['by_subledger_s']:.2f} s ({r['subledgers']:,} rows)"),
        ("rollup memory (sums + codes) / peak RSS",
         lambda r: f"{r['cache_mb']:.0f} MiB / {r['peak_mb']:.0f} MiB"),
        ("targets: one book ≤ 20 ms, every book ≤ 2 s", lambda r: "met" if met(r) else "MISSED"),
    ]  # fmt: skip
    for name, cell in rows:
        table.add_row(name, *(cell(r) for r in results.values()))
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.trial_balance", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--store", default="sqlite,postgresql")
    parser.add_argument("--books", type=int, default=19_000)
    parser.add_argument("--accounts", type=int, default=2_500_000)
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--month", default="2026-06")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--books-sampled", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    results = each_store(
        args.store,
        args.workdir,
        "ledger-tb-",
        lambda kind, workdir: run_store(kind, args, workdir),
        keep=args.keep,
    )
    render(Console(width=160), results)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0 if all(met(r) for r in results.values()) else 1


def met(r: dict[str, Any]) -> bool:
    return bool(r["one_book_ms"] <= ONE_BOOK_MS_MAX and r["every_book_s"] <= EVERY_BOOK_S_MAX)


if __name__ == "__main__":
    sys.exit(main())
