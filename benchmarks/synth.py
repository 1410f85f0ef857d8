"""`ledger synth` at production size, stage by stage, into SQLite and PostgreSQL.

    PYTHONPATH=. python -m benchmarks.synth [--store sqlite,postgresql] [--scale 1] [--seed 1]
        [--from 2026-12-01] [--to 2026-12-31] [--postgres-url URL] [--workdir DIR] [--out PATH]

Per store: a fresh ledger, then synthesize() with a progress callback that times each stage
(regions, units, projects, indicators, movements, payments), then the trial balances of every
book for the last month and whether they balance, then the invariants of DOMAIN §9 on the
whole province (ledger.fiscal.invariants.check), each with its time. Targets (issue 12):
master data at S = 1 in <= 2 minutes and a month of payments in <= 3 minutes on SQLite; a
whole year in <= 20 minutes on PostgreSQL. Exit status 1 when a book does not balance or an
invariant does not hold.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import ledger
from benchmarks.durable import drop_postgres, each_store, fresh_postgres
from ledger.fiscal import Fiscal
from ledger.fiscal.invariants import INVARIANTS, check, failures
from ledger.fiscal.synth import synthesize

POSTGRES_URL = os.environ.get(
    "LEDGER_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
STAGES = ("regions", "units", "projects", "indicators", "movements", "payments")


def run_store(kind: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    schema = f"bench_synth_{os.getpid()}"
    url = (
        f"sqlite:///{workdir / 'ledger.db'}"
        if kind == "sqlite"
        else fresh_postgres(args.postgres_url, schema)
    )
    stages: dict[str, float] = {}
    last = [time.perf_counter()]

    def progress(stage: str, done: int, total: int) -> None:
        if sys.stderr.isatty():
            print(f"\r\033[K{kind}: {stage} {done:,}/{total:,}", end="", file=sys.stderr, flush=True)
        if done >= total:
            now = time.perf_counter()
            stages[stage] = now - last[0]
            last[0] = now

    try:
        with ledger.open(url) as book:
            fiscal = Fiscal(book)
            start = time.perf_counter()
            summary = synthesize(
                fiscal,
                scale=args.scale,
                seed=args.seed,
                start=args.start,
                end=args.end,
                progress=progress,
            )
            total = time.perf_counter() - start
            start = time.perf_counter()
            balanced = book.trial_balances(period=args.end.strftime("%Y-%m")).balanced
            trial_s = time.perf_counter() - start
            start = time.perf_counter()
            invariants = check(fiscal, args.start.year)
            invariants_s = time.perf_counter() - start
    finally:
        if kind != "sqlite":
            drop_postgres(args.postgres_url, schema)
    return {
        "stages": stages,
        "total_s": total,
        "counts": summary.counts,
        "balanced": balanced,
        "trial_s": trial_s,
        "invariants": invariants.to_pylist(),
        "invariants_s": invariants_s,
        "failures": failures(invariants),
        "faults": summary.distributions.get("faults by type", {}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.synth", description=__doc__.split("\n")[0])
    parser.add_argument("--store", default="sqlite,postgresql")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--from", dest="start", type=dt.date.fromisoformat, default=dt.date(2026, 12, 1))
    parser.add_argument("--to", dest="end", type=dt.date.fromisoformat, default=dt.date(2026, 12, 31))
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    results = each_store(
        args.store, args.workdir, "ledger-synth-", lambda kind, workdir: run_store(kind, args, workdir)
    )
    table = Table(title=f"ledger synth, scale {args.scale}, payments {args.start} .. {args.end}")
    table.add_column("")
    for kind in results:
        table.add_column(kind, justify="right")
    for stage in STAGES:
        table.add_row(stage, *(f"{r['stages'].get(stage, 0):.1f} s" for r in results.values()))
    table.add_row(
        "master data", *(f"{sum(r['stages'].get(s, 0) for s in STAGES[:5]):.1f} s" for r in results.values())
    )
    table.add_row("payments", *(f"{r['counts']['payments']:,}" for r in results.values()))
    table.add_row(
        "every book's trial balance",
        *(
            f"{r['trial_s']:.1f} s, {'balanced' if r['balanced'] else 'NOT balanced'}"
            for r in results.values()
        ),
    )
    console = Console(width=160)
    console.print(table)
    checks = Table(
        title=f"invariants of DOMAIN §9, fiscal year {args.start.year}: items checked, failures, time"
    )
    checks.add_column("invariant")
    checks.add_column("")
    for kind in results:
        checks.add_column(kind, justify="right")
    for i, name in enumerate(INVARIANTS):
        rows = [r["invariants"][i] for r in results.values()]
        checks.add_row(
            name,
            rows[0]["title"],
            *(f"{row['checked']:,}, {row['failures']:,} failed, {row['seconds']:.2f} s" for row in rows),
        )
    checks.add_row("all", "", *(f"{r['invariants_s']:.1f} s" for r in results.values()))
    console.print(checks)
    for kind, r in results.items():
        for line in r["failures"]:
            console.print(f"{kind}: {line}", markup=False)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, default=str))
    # at scale 1 the counts of §7 are exact: 42 regions, 18,000 units, 19,000 books, 628,000 projects
    exact = {"regions": 42, "units": 18_000, "books": 19_000, "projects": 628_000}
    wrong = [
        f"{kind}: {name} {r['counts'][name]:,} (expected {count:,})"
        for kind, r in results.items()
        for name, count in exact.items()
        if args.scale == 1 and r["counts"][name] != count
    ]
    for line in wrong:
        print(line, file=sys.stderr)
    return 0 if not wrong and all(r["balanced"] and not r["failures"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
