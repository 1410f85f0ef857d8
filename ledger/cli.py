"""The `ledger` command: parse, call the service, render.

Exit codes a scheduler can act on: 0 clean, 1 error (nothing of the failing file was
committed), 2 discrepancies found or entries rejected. Only LedgerError is caught: anything
else is a bug and shows its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pyarrow as pa
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

import ledger
from ledger import files, reports
from ledger.codes import Code
from ledger.errors import LedgerError
from ledger.store import open_store as open_store_for_migration

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_REJECTED = 2

app = typer.Typer(
    help="A double-entry ledger core for public finance.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True)  # a message is one line: the terminal (if any) wraps it
err = Console(stderr=True, soft_wrap=True)

DbOption = Annotated[
    str, typer.Option("--db", help="Database URL: sqlite:///path.db or postgresql+psycopg://...")
]


@contextmanager
def _stage_bars() -> Iterator[Callable[[str, int, int], None]]:
    """progress(stage, done, total): one bar per stage on a terminal, nothing in a pipe."""
    with Progress(console=err, transient=True, disable=not err.is_terminal) as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=max(total, 1))
            bar.update(tasks[stage], completed=done)

        yield progress


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(EXIT_ERROR)


@app.command()
def init(db: DbOption) -> None:
    """Create the ledger schema in a database (an existing ledger is only checked)."""
    try:
        with ledger.open(db) as book:
            out.print(f"ledger ready at {book.url} ({book.accounts_count} accounts)")
    except LedgerError as error:
        raise _fail(str(error)) from None


@app.command()
def post(
    db: DbOption,
    paths: Annotated[
        list[Path], typer.Argument(help="Groups, accounts, nodes and/or entries files (CSV or Parquet).")
    ],
    rejected: Annotated[
        Path | None,
        typer.Option("--rejected", help="Where to write rejected entries (default: beside each file)."),
    ] = None,
) -> None:
    """Create groups, accounts and organisation nodes and post entries from files, told apart
    by their header.

    Groups files are read first, then accounts files (creating the books and groups they
    name), then nodes files, then entries files in the order given. A malformed file stops the command before
    anything of that file is committed.
    """
    try:
        kinds = {path: files.detect_kind(path) for path in paths}
    except LedgerError as error:
        raise _fail(str(error)) from None
    rejected_total = 0
    try:
        with ledger.open(db) as book:
            declared = []
            for path in (p for p in paths if kinds[p] == "groups"):
                groups = files.read_groups(path)
                declared.extend(groups)
                rejected_total += _report(path, "groups", book.create_groups(groups))
            for path in (p for p in paths if kinds[p] == "accounts"):
                accounts = files.read_accounts(path)
                book.create_groups(files.named_groups(accounts, declared))
                book.create_books(files.named_books(accounts))
                rejected_total += _report(path, "accounts", book.create_accounts(accounts))
            for path in (p for p in paths if kinds[p] == "nodes"):
                rejected_total += _report(path, "nodes", book.create_nodes(files.read_nodes(path)))
            entry_paths = [p for p in paths if kinds[p] == "entries"]
            with Progress(console=err, transient=True, disable=not entry_paths) as progress:
                task = progress.add_task("posting", total=len(entry_paths))
                for path in entry_paths:
                    rejected_total += _post_entries(book, path, rejected)
                    progress.advance(task)
    except LedgerError as error:
        raise _fail(str(error)) from None
    raise typer.Exit(EXIT_REJECTED if rejected_total else EXIT_OK)


def _report(path: Path, what: str, results: list[ledger.Result]) -> int:
    """Print a creation summary; the number of items refused (exists counts as fine)."""
    refused = [r for r in results if r.code not in (Code.ok, Code.exists)]
    created = sum(r.code == Code.ok for r in results)
    out.print(f"{path}: {what}: {created} created, {len(results) - created - len(refused)} existed")
    for result in refused[:20]:
        out.print(f"  {what[:-1]} {result.key!r}: {result.code.name}", highlight=False)
    if len(refused) > 20:
        out.print(f"  … and {len(refused) - 20} more")
    return len(refused)


def _post_entries(book: ledger.Ledger, path: Path, rejected: Path | None) -> int:
    batch = files.read_entries(path, book)
    arguments = batch.post_arguments()
    codes = book.post_columns(
        **arguments,  # type: ignore[arg-type]
        kinds=None if batch.kinds is None else batch.kinds.to_pylist(),
        references=None if batch.references is None else batch.references.to_pylist(),
    )
    counts = np.bincount(codes, minlength=len(Code))
    bad = int(batch.entries_count - counts[Code.ok])
    exists = int(counts[Code.exists])
    out.print(
        f"{path}: {batch.entries_count} entries, {batch.lines_count} lines: "
        f"{int(counts[Code.ok])} posted, {exists} already posted, {bad - exists} rejected"
    )
    refused = bad - exists
    if refused:
        table = Table("code", "entries", title="rejected")
        for code in Code:
            if code not in (Code.ok, Code.exists) and counts[code]:
                table.add_row(code.name, str(int(counts[code])))
        out.print(table)
        target = rejected or files.rejected_path_for(path)
        files.write_rejected(target, batch, np.where(codes == Code.exists, Code.ok, codes))
        out.print(f"rejected entries written to {target}")
    return refused


@app.command()
def balances(
    db: DbOption,
    output: Annotated[
        Path | None, typer.Option("--out", help="Write CSV or Parquet (by suffix) instead of printing.")
    ] = None,
    limit: Annotated[int, typer.Option(help="Rows to print when no --out is given.")] = 50,
) -> None:
    """All account balances: written to a file, or printed."""
    try:
        with ledger.open(db) as book:
            if output is not None:
                rows = files.write_balances(output, book)
                out.print(f"{rows} balances written to {output}")
                return
            columns = book.balances()
            table = Table(
                "account", "debits posted", "credits posted", "debits pending", "credits pending", "net"
            )
            keys = book.accounts_table().column("key").to_pylist()
            for index in columns["account"][:limit].tolist():
                balance = book.balance(keys[index])
                table.add_row(
                    keys[index],
                    str(balance.debits_posted),
                    str(balance.credits_posted),
                    str(balance.debits_pending),
                    str(balance.credits_pending),
                    str(balance.net),
                )
            out.print(table)
            if len(columns["account"]) > limit:
                out.print(f"… {len(columns['account']) - limit} more (use --out)")
    except LedgerError as error:
        raise _fail(str(error)) from None


@app.command()
def verify(db: DbOption) -> None:
    """Check every table against the hash chain: exit 0 when intact, 1 naming the first
    table and row that is not."""
    try:
        with ledger.open(db) as book:
            found = book.verify()
    except LedgerError as error:
        raise _fail(str(error)) from None
    if found is None:
        out.print("chain intact")
        raise typer.Exit(EXIT_OK)
    err.print(f"[bold red]verify failed:[/] {found}")
    raise typer.Exit(EXIT_ERROR)


FormatOption = Annotated[
    str, typer.Option("--format", help="table (printed), csv or parquet (to --out, or CSV to stdout).")
]
OutOption = Annotated[Path | None, typer.Option("--out", help="Where to write csv or parquet.")]
PeriodOption = Annotated[str, typer.Option("--period", help="A month YYYY-MM or a year YYYY.")]
ToOption = Annotated[str | None, typer.Option("--to", help="The last month or year of a range.")]
LevelsOption = Annotated[
    str | None,
    typer.Option("--levels", help="Chart code layout, digits per level (default: each book's; 4-2-2-2-2)."),
]


@app.command("trial-balance")
def trial_balance(
    db: DbOption,
    period: PeriodOption,
    book: Annotated[str | None, typer.Option("--book", help="One book.")] = None,
    node: Annotated[
        str | None, typer.Option("--node", help="The books at and below an organisation node.")
    ] = None,
    every_book: Annotated[
        bool, typer.Option("--all-books", help="Every book, each apart (adds a book column).")
    ] = False,
    to: ToOption = None,
    depth: Annotated[int | None, typer.Option("--depth", help="Deepest chart level shown.")] = None,
    levels: LevelsOption = None,
    format: FormatOption = "table",
    output: OutOption = None,
) -> None:
    """The trial balance (试算平衡表) of a book or an organisation node: per chart node and
    balance group, opening balance, debit and credit turnover, closing balance. Exit 0 when
    debits equal credits in every group, 2 when they do not."""
    if (book is not None) + (node is not None) + every_book != 1:
        raise _fail("name exactly one of --book, --node or --all-books")
    try:
        with ledger.open(db) as opened:
            if every_book:
                result = opened.trial_balances(period=period, to=to, depth=depth, levels=levels)
            else:
                result = opened.trial_balance(
                    book=book, node=node, period=period, to=to, depth=depth, levels=levels
                )
        title = (
            f"试算平衡表 trial balance — {book or node or 'every book'} — {period}{'..' + to if to else ''}"
        )
        _emit(reports.trial_balance_rows(result.rows), format, output, title, result)
    except LedgerError as error:
        raise _fail(str(error)) from None
    raise typer.Exit(EXIT_OK if result.balanced else EXIT_REJECTED)


@app.command()
def rollup(
    db: DbOption,
    by: Annotated[str, typer.Option("--by", help="book, node, subledger or code:N (chart levels 1..N).")],
    period: PeriodOption,
    to: ToOption = None,
    code: Annotated[
        str | None, typer.Option("--code", help="Only accounts whose code starts with this.")
    ] = None,
    each_month: Annotated[
        bool, typer.Option("--each-month", help="One set of rows per month of the range.")
    ] = False,
    levels: LevelsOption = None,
    format: FormatOption = "table",
    output: OutOption = None,
) -> None:
    """Totals per book, organisation node, project sub-ledger or chart node and balance group
    for a period range: opening, debit and credit turnover, closing."""
    try:
        with ledger.open(db) as opened:
            table = opened.rollup(by, period=period, to=to, code=code, levels=levels, each_month=each_month)
        _emit(
            reports.decimal_columns(table),
            format,
            output,
            f"rollup by {by} — {period}{'..' + to if to else ''}",
        )
    except LedgerError as error:
        raise _fail(str(error)) from None


FISCAL_ORDER = (
    "regions",
    "departments",
    "units",
    "projects",
    "indicators",
    "payments",
    "bank_results",
    "refunds",
)


@app.command()
def fiscal(
    db: DbOption,
    paths: Annotated[
        list[Path],
        typer.Argument(help=f"Files named by their kind ({', '.join(FISCAL_ORDER)}), CSV or Parquet."),
    ],
) -> None:
    """Load public-finance master data and a day's payments from files (ledger.fiscal): each
    file's kind is the start of its name (units.csv, payments-2026-06-15.parquet…), and kinds
    are taken in the order regions, departments, units, projects, indicators, payments,
    bank_results, refunds. Prints how many items came out with each code; exit 2 when any
    was refused."""
    from ledger import fiscal as domain
    from ledger.fiscal import files as fiscal_files

    kinds = {}
    for path in paths:
        kind = next((k for k in FISCAL_ORDER if path.name.startswith(k)), None)
        if kind is None:
            raise _fail(f"{path}: the name does not start with a kind ({', '.join(FISCAL_ORDER)})")
        kinds[path] = kind
    refused = 0
    try:
        with ledger.open(db) as opened:
            f = domain.Fiscal(opened)
            models: dict[str, Callable[[list[dict[str, Any]]], list[domain.Outcome]]] = {
                "regions": f.create_regions,
                "departments": f.create_departments,
                "units": f.create_units,
                "projects": f.create_projects,
                "indicators": f.create_indicators,
            }
            for kind in FISCAL_ORDER:
                for path in (p for p in paths if kinds[p] == kind):
                    table = fiscal_files.read(path, kind)
                    if kind in models:
                        codes = [o.code for o in models[kind](fiscal_files.records(table))]
                    else:
                        run = {
                            "payments": f.payments.apply,
                            "bank_results": f.payments.settle,
                            "refunds": f.payments.refund,
                        }[kind]
                        codes = run(table).column("code").to_pylist()
                    counts: dict[str, int] = {}
                    for code in codes:
                        counts[code] = counts.get(code, 0) + 1
                    refused += sum(n for code, n in counts.items() if code not in ("ok", "exists"))
                    summary = ", ".join(f"{n} {code}" for code, n in sorted(counts.items()))
                    out.print(f"{path}: {kind}: {summary or 'no rows'}", highlight=False)
    except LedgerError as error:
        raise _fail(str(error)) from None
    raise typer.Exit(EXIT_REJECTED if refused else EXIT_OK)


@app.command()
def synth(
    db: Annotated[
        str | None, typer.Option("--db", help="Database URL (default: in memory, for --out).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--out", help="Write bank_receipts.parquet/.csv and ground_truth.csv here.")
    ] = None,
    profile: Annotated[str, typer.Option("--profile", help="The province's profile.")] = "chongqing",
    scale: Annotated[
        float, typer.Option("--scale", help="1 = 42 regions, 18,000 units, 8 M payments a year.")
    ] = 1.0,
    seed: Annotated[
        int, typer.Option("--seed", help="The same seed, scale and dates give the same ledger.")
    ] = 0,
    start: Annotated[str, typer.Option("--from", help="First day of payments, YYYY-MM-DD.")] = "2026-01-01",
    end: Annotated[
        str, typer.Option("--to", help="Last day of payments, YYYY-MM-DD (same year).")
    ] = "2026-12-31",
) -> None:
    """Generate a synthetic province (ledger.fiscal.synth) into a ledger: master data,
    indicator movements and a period of payments, through the fiscal domain's bulk paths;
    prints the counts and the distributions that came out."""
    import datetime as dt
    import json

    from ledger import fiscal as domain
    from ledger.fiscal import synth as generator

    try:
        first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    except ValueError as error:
        raise _fail(f"--from/--to: {error}") from None
    try:
        with ledger.open(db) as opened, _stage_bars() as progress:
            summary = generator.synthesize(
                domain.Fiscal(opened),
                profile=profile,
                scale=scale,
                seed=seed,
                start=first,
                end=last,
                progress=progress,
            )
        if output is not None:
            generator.write_files(summary, output)
    except LedgerError as error:
        raise _fail(str(error)) from None
    report = {"counts": summary.counts, "distributions": summary.distributions, "targets": generator.TARGETS}
    out.print(json.dumps(report, ensure_ascii=False, indent=1))


@app.command()
def reconcile(
    db: DbOption,
    date: Annotated[str, typer.Option("--date", help="The cut-off day, YYYY-MM-DD.")],
    output: Annotated[
        Path, typer.Option("--out", help="Write the run's findings, pairs and report.html here.")
    ],
    regions: Annotated[
        str | None, typer.Option("--regions", help="Comma-separated region codes (default: all).")
    ] = None,
    bank_files: Annotated[
        Path | None,
        typer.Option(
            "--bank-files",
            help="A folder of the banks' bank_receipts*.parquet or .csv files, and unit_statements*"
            " (the units' own accounts; and, from ledger synth, ground_truth.csv to score the"
            " findings against).",
        ),
    ] = None,
    window: Annotated[int, typer.Option("--window", help="Days a payment may be in transit.")] = 3,
    year: Annotated[
        int | None,
        typer.Option(
            "--year", help="The fiscal year (default the cut-off's; the year before in January's clean-up)."
        ),
    ] = None,
) -> None:
    """The nightly reconciliation (ledger.fiscal.reconcile): every pair, region by region, the
    run stored in the ledger's database and aged against the last one, its findings written as
    CSV/Parquet with an HTML report. Exit 0 clean, 2 findings, 1 error."""
    import datetime as dt
    import time

    from ledger import fiscal as domain
    from ledger.fiscal import files as fiscal_files
    from ledger.fiscal import reconcile as job

    try:
        cut_off = dt.date.fromisoformat(date)
    except ValueError as error:
        raise _fail(f"--date: {error}") from None
    started = time.perf_counter()
    try:
        bank = truth = statements = None
        if bank_files is not None:
            found = sorted(bank_files.glob("bank_receipts*.parquet")) or sorted(
                bank_files.glob("bank_receipts*.csv")
            )
            if not found:
                raise _fail(f"--bank-files {bank_files}: no bank_receipts*.parquet or .csv there")
            bank = pa.concat_tables([fiscal_files.read(path, "bank_receipts") for path in found])
            lines = sorted(bank_files.glob("unit_statements*.parquet")) or sorted(
                bank_files.glob("unit_statements*.csv")
            )
            if lines:
                statements = pa.concat_tables([fiscal_files.read(path, "unit_statements") for path in lines])
            if (bank_files / "ground_truth.csv").exists():
                truth = fiscal_files.read(bank_files / "ground_truth.csv", "ground_truth")
        with ledger.open(db) as opened, _stage_bars() as progress:
            fiscal = domain.Fiscal(opened)
            run = job.reconcile(
                fiscal,
                cut_off,
                regions=regions.split(",") if regions else None,
                bank_receipts=bank,
                unit_statements=statements,
                window=window,
                year=year,
                progress=progress,
            )
            for name, step in (
                ("store", lambda: job.store_run(fiscal, run)),
                ("report", lambda: job.export(run, output, truth)),
            ):
                progress(name, 0, 1)
                stage = time.perf_counter()
                step()
                run.stages.append((name, time.perf_counter() - stage, run.findings.num_rows))
                progress(name, 1, 1)
    except LedgerError as error:
        raise _fail(str(error)) from None
    counts = {k: n for k, n in run.counts().items() if n}
    out.print(
        f"run {run.run_id}: {len(run.regions)} regions, {run.findings.num_rows} findings"
        f" ({', '.join(f'{n} {k}' for k, n in counts.items()) or 'clean'}), {run.cleared} cleared in transit,"
        f" {run.closed} closed since the last run; {time.perf_counter() - started:.1f} s",
        highlight=False,
    )
    if truth is not None:
        for row in job.score(run.findings, truth).to_pylist():
            out.print(
                f"  {row['type']}: injected {row['injected']}, found {row['found']}, right {row['right']}",
                highlight=False,
            )
    out.print(f"report: {output / 'report.html'}", highlight=False)
    raise typer.Exit(EXIT_REJECTED if run.findings.num_rows else EXIT_OK)


@app.command("match")
def match_command(
    a: Annotated[Path, typer.Argument(help="Side A: a CSV or Parquet file.")],
    b: Annotated[Path, typer.Argument(help="Side B: a CSV or Parquet file.")],
    key: Annotated[str, typer.Option("--key", help="The column both sides are matched by.")],
    amount: Annotated[str, typer.Option("--amount", help="The amount column (decimal).")],
    date: Annotated[str, typer.Option("--date", help="The date column (YYYY-MM-DD).")],
    output: Annotated[Path, typer.Option("--out", help="Write items.csv and groups.csv here.")],
    group: Annotated[
        str | None,
        typer.Option("--group", help="The column totals are grouped by (a key mismatch when it differs)."),
    ] = None,
    attr: Annotated[
        str | None, typer.Option("--attr", help="A further column compared (a key mismatch when it differs).")
    ] = None,
    window: Annotated[int, typer.Option("--window", help="Days apart that are still in transit.")] = 0,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="YYYY-MM-DD: missing items are aged to this day.")
    ] = None,
    scale: Annotated[int, typer.Option("--scale", help="Decimals of the amounts.")] = 2,
) -> None:
    """Match any two files record by record (ledger.match): one finding per key that does
    not match (in_transit, date_mismatch, amount_mismatch, key_mismatch, missing_a,
    missing_b, duplicate_a, duplicate_b) in items.csv, totals per group in groups.csv.
    Exit 0 when nothing is found, 2 when something is, 1 on error."""
    from ledger import match as matching

    try:
        found = matching.match_files(
            a,
            b,
            key=key,
            amount=amount,
            date=date,
            group=group,
            attr=attr,
            window=window,
            out_dir=output,
            scale=scale,
            as_of=as_of,
        )
    except LedgerError as error:
        raise _fail(str(error)) from None
    counts = {k: n for k, n in found.counts().items() if n}
    out.print(
        f"{sum(counts.values())} findings ({', '.join(f'{n} {k}' for k, n in counts.items()) or 'clean'});"
        f" {output / 'items.csv'}, {output / 'groups.csv'}",
        highlight=False,
    )
    raise typer.Exit(EXIT_REJECTED if counts else EXIT_OK)


@app.command()
def migrate(db: DbOption) -> None:
    """Upgrade an existing ledger database to this version's schema (one transaction)."""
    try:
        store = open_store_for_migration(db, prepare=False)
        try:
            before, after = store.migrate()
        finally:
            store.dispose()
    except LedgerError as error:
        raise _fail(str(error)) from None
    out.print(
        f"schema version {before} → {after}" if before != after else f"schema version {after}: up to date"
    )


def _emit(table: pa.Table, format: str, output: Path | None, title: str, result: object = None) -> None:
    """Write `table` as CSV or Parquet, or print it (a trial balance with its totals)."""
    if format not in ("table", "csv", "parquet"):
        raise _fail(f"--format {format!r}: expected table, csv or parquet")
    if format == "parquet" and output is None:
        raise _fail("--format parquet needs --out PATH")
    if format == "table":
        reports.print_table(out, table, title, result)
        return
    reports.write(table, format, output, sys.stdout)
    if output is not None:
        err.print(f"{table.num_rows} rows written to {output}")


def main() -> None:
    """Entry point of the `ledger` console script."""
    app(prog_name="ledger")


if __name__ == "__main__":
    main()
