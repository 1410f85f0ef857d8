"""The main job on the embedded default (SQLite), end to end: `python -m ledger.demo`.

It generates a Chongqing-sized province (`ledger synth`: 42 regions, 18,000 units, 628,000
projects, about 400,000 indicators at scale 1), posts a month of payments with injected
faults through the fiscal domain (each payment frozen on its indicator, then executed into the
indicator, treasury and unit ledgers as one linked chain), rolls the month up into every
book's trial balance, runs the nightly reconciliation against the banks' receipts, stores the
run and writes its report, and prints a summary: counts, time and throughput of each stage,
findings by type beside the faults that were injected.

    python -m ledger.demo [DIR] [--scale S] [--month YYYY-MM] [--seed N]

The scale is also read from LEDGER_DEMO_SCALE (`make demo SCALE=0.05`). DIR (default a new
temporary folder) receives ledger.db, the bank files, the ground truth and the run's report.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

import ledger
from ledger.fiscal import Fiscal, synth
from ledger.fiscal import reconcile as job

MONTH = "2026-11"  # about 8.5 % of the year's payments: ≈ 680,000 at scale 1


def main(argv: list[str] | None = None) -> int:
    """Run the demo; 0 when every injected fault was found with its type and nothing else."""
    parser = argparse.ArgumentParser(prog="python -m ledger.demo", description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path)
    parser.add_argument("--scale", type=float, default=float(os.environ.get("LEDGER_DEMO_SCALE", "1")))
    parser.add_argument("--month", default=MONTH)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    folder: Path = args.folder or Path(tempfile.mkdtemp(prefix="ledger-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "ledger.db"
    for stale in (database, folder / "ledger.db-wal", folder / "ledger.db-shm"):
        stale.unlink(missing_ok=True)
    first = dt.date.fromisoformat(f"{args.month}-01")
    last = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    console = Console(soft_wrap=True)
    err = Console(stderr=True)
    console.print(
        f"ledger demo: scale {args.scale:g}, payments {first} to {last}, in {folder}", highlight=False
    )
    stages: list[tuple[str, float, int, str]] = []
    with (
        ledger.open(f"sqlite:///{database}") as book,
        Progress(console=err, transient=True, disable=not err.is_terminal) as bar,
    ):
        tasks: dict[str, object] = {}
        marks: dict[str, float] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=max(total, 1))
                marks[stage] = time.perf_counter()
            bar.update(tasks[stage], completed=done)  # type: ignore[arg-type]

        fiscal = Fiscal(book)
        started = time.perf_counter()
        summary = synth.synthesize(
            fiscal, scale=args.scale, seed=args.seed, start=first, end=last, progress=progress
        )
        generated = time.perf_counter()
        counts = summary.counts
        payments_started = marks.get("payments", generated)
        stages.append(
            (
                "master data",
                payments_started - started,
                counts["units"] + counts["projects"] + counts["indicators"] + counts["movements"],
                "units, projects, indicators, movements",
            )
        )
        stages.append(("payments", generated - payments_started, counts["payments"], "payments"))
        synth.write_files(summary, folder)
        at = time.perf_counter()
        book.checkpoint()
        trial = book.trial_balances(period=args.month)
        stages.append(("trial balances", time.perf_counter() - at, trial.rows.num_rows, "rows"))
        at = time.perf_counter()
        run = job.reconcile(
            fiscal,
            last,
            bank_receipts=summary.bank_receipts,
            unit_statements=summary.unit_statements,
            progress=progress,
        )
        job.store_run(fiscal, run)
        stages.append(("reconcile", time.perf_counter() - at, counts["payments"], "payments"))
        run.stages.extend((name, seconds, rows) for name, seconds, rows, _ in stages)
        at = time.perf_counter()
        written = job.export(run, folder / "run", summary.ground_truth)
        stages.append(("report", time.perf_counter() - at, run.findings.num_rows, "findings"))
    table = Table(title="stages")
    for column in ("stage", "seconds", "count", "per second"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for name, seconds, count, what in stages:
        table.add_row(name, f"{seconds:.1f}", f"{count:,} {what}", f"{count / max(seconds, 1e-9):,.0f}")
    console.print(table)
    console.print(
        f"{counts['regions']} regions, {counts['units']:,} units, {counts['projects']:,} projects,"
        f" {counts['indicators']:,} indicators, {counts['payments']:,} payments;"
        f" trial balances balanced: {trial.balanced}",
        highlight=False,
    )
    scored = job.score(run.findings, summary.ground_truth) if summary.ground_truth is not None else None
    findings = Table(title=f"run {run.run_id}: findings by type beside the injected faults")
    for column in ("type", "found", "injected", "right"):
        findings.add_column(column, justify="left" if column == "type" else "right")
    exact = True
    if scored is not None:
        for row in scored.to_pylist():
            findings.add_row(row["type"], f"{row['found']:,}", f"{row['injected']:,}", f"{row['right']:,}")
            exact &= row["found"] == row["injected"] == row["right"]
    console.print(findings)
    inside = pc.invert(pc.is_in(run.findings.column("pair"), value_set=pa.array(job.BANK_PAIRS)))
    other = run.findings.filter(inside)  # the pairs within the ledger: none on a sound ledger
    console.print(
        f"the ledger's own pairs (R4, R5, C1, U6): {other.num_rows} findings; {run.cleared:,} items in"
        f" transit cleared; total {time.perf_counter() - started:.1f} s",
        highlight=False,
    )
    console.print(f"report: {written[-1]}", highlight=False)
    return 0 if exact and other.num_rows == 0 and trial.balanced else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
