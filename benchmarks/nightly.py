"""The nightly reconciliation at production size, into SQLite and PostgreSQL.

    PYTHONPATH=. python -m benchmarks.nightly [--store sqlite,postgresql] [--scale 1] [--seed 1]
        [--scenario month,day] [--postgres-url URL] [--workdir DIR] [--out PATH]

Per store and scenario: a fresh ledger, `ledger synth` (master data, then the payments of the
scenario: `month` is November, ≈ 680,000 payments at S = 1; `day` is 31 December, the year's
peak business day), the banks' files written beside it; then the nightly job as a user runs
it, `ledger reconcile --db URL --date D --bank-files DIR --out DIR` in a fresh process (open,
load the domain's tables and the balances, every pair of every region, store the run, write
findings and the report), timed from the outside; and, for the breakdown, the same in this
process stage by stage. Every injected fault must be found with its type and nothing else.
Target (issue 13): the job for a full month at S = 1 in <= 60 s after posting, on both stores.

Exit status: 0 when the targets are met, 1 when one is missed, 2 when a fault was missed or a
finding is not injected.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import ledger
from benchmarks.durable import drop_postgres, each_store, fresh_postgres
from ledger.fiscal import Fiscal, synth
from ledger.fiscal import reconcile as job

POSTGRES_URL = os.environ.get(
    "LEDGER_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SCENARIOS = {
    "month": (dt.date(2026, 11, 1), dt.date(2026, 11, 30)),
    "day": (dt.date(2026, 12, 31), dt.date(2026, 12, 31)),
}
TARGET_S = 60.0


def run_store(kind: str, scenario: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    schema = f"bench_nightly_{os.getpid()}"
    url = (
        f"sqlite:///{workdir / 'ledger.db'}"
        if kind == "sqlite"
        else fresh_postgres(args.postgres_url, schema)
    )
    first, last = SCENARIOS[scenario]
    try:
        with ledger.open(url) as book:
            started = time.perf_counter()
            summary = synth.synthesize(Fiscal(book), scale=args.scale, seed=args.seed, start=first, end=last)
            synth_s = time.perf_counter() - started
            book.checkpoint()
        synth.write_files(summary, workdir / "bank")
        command = [
            sys.executable,
            "-m",
            "ledger.cli",
            "reconcile",
            "--db",
            url,
            "--date",
            last.isoformat(),
            "--bank-files",
            str(workdir / "bank"),
            "--out",
            str(workdir / "run"),
        ]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
        command_s = time.perf_counter() - started
        if done.returncode not in (0, 2):
            raise RuntimeError(f"ledger reconcile failed: {done.stderr or done.stdout}")
        with ledger.open(url) as book:
            fiscal = Fiscal(book)
            started = time.perf_counter()
            run = job.reconcile(
                fiscal, last, bank_receipts=summary.bank_receipts, unit_statements=summary.unit_statements
            )
            reconcile_s = time.perf_counter() - started
            started = time.perf_counter()
            job.store_run(fiscal, run)
            store_s = time.perf_counter() - started
            started = time.perf_counter()
            job.export(run, workdir / "again", summary.ground_truth)
            export_s = time.perf_counter() - started
        assert summary.ground_truth is not None
        scored = job.score(run.findings, summary.ground_truth).to_pylist()
    finally:
        if kind != "sqlite":
            drop_postgres(args.postgres_url, schema)
    return {
        "payments": summary.counts["payments"],
        "synth_s": synth_s,
        "command_s": command_s,
        "stages": {name: seconds for name, seconds, _ in run.stages} | {"store": store_s, "export": export_s},
        "reconcile_s": reconcile_s,
        "findings": run.findings.num_rows,
        "cleared": run.cleared,
        "scored": scored,
        "exact": all(r["found"] == r["injected"] == r["right"] for r in scored),
        "ledger_side": int(
            sum(1 for p in run.findings.column("pair").to_pylist() if p not in job.BANK_PAIRS)
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nightly", description=__doc__.split("\n")[0])
    parser.add_argument("--store", default="sqlite,postgresql")
    parser.add_argument("--scenario", default="month,day")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    results: dict[str, dict[str, Any]] = {}
    for scenario in args.scenario.split(","):
        if scenario not in SCENARIOS:
            parser.error(f"--scenario {scenario!r}: expected month and/or day")
        for kind, result in each_store(
            args.store,
            args.workdir,
            "ledger-nightly-",
            lambda kind, workdir, scenario=scenario: run_store(kind, scenario, args, workdir),
        ).items():
            results[f"{scenario} {kind}"] = result
    table = Table(title=f"the nightly reconciliation, scale {args.scale}")
    table.add_column("")
    for name in results:
        table.add_column(name, justify="right")
    rows = {
        "payments": lambda r: f"{r['payments']:,}",
        "synth (posting)": lambda r: f"{r['synth_s']:.1f} s",
        "ledger reconcile (fresh process)": lambda r: f"{r['command_s']:.1f} s",
        "  load": lambda r: f"{r['stages']['load']:.1f} s",
        "  every pair, every region": lambda r: f"{r['stages']['reconcile']:.1f} s",
        "  store the run": lambda r: f"{r['stages']['store']:.1f} s",
        "  findings and report": lambda r: f"{r['stages']['export']:.1f} s",
        "payments / s (fresh process)": lambda r: f"{r['payments'] / r['command_s']:,.0f}",
        "findings": lambda r: f"{r['findings']:,} ({r['ledger_side']} in the ledger's own pairs)",
        "in transit, cleared": lambda r: f"{r['cleared']:,}",
        "every fault found, nothing else": lambda r: "yes" if r["exact"] else "NO",
    }
    for label, cell in rows.items():
        table.add_row(label, *(cell(r) for r in results.values()))
    Console(width=180).print(table)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, default=str))
    if not all(r["exact"] and r["ledger_side"] == 0 for r in results.values()):
        return 2
    month = [r for name, r in results.items() if name.startswith("month")]
    return 0 if all(r["command_s"] <= TARGET_S for r in month) else 1


if __name__ == "__main__":
    sys.exit(main())
