"""A province-year in one ledger: a 100 M-line history over 2.5 M accounts whose last 20 M
lines a crash left unfolded; then the recovery (checkpoint, open) and one-entry calls, with
the peak memory of each step.

    PYTHONPATH=. python -m benchmarks.scale [--store sqlite,postgresql] [--accounts 2500000]
        [--lines 100000000] [--unfolded 20000000] [--calls 2000] [--batch 1000000]
        [--checkpoint-lines 10000000] [--dates chronological|random] [--workdir DIR]
        [--postgres-url URL] [--schema NAME] [--keep] [--out PATH] [--no-readback] [--no-check]

Every step runs in a child process of its own, spawned (not forked) so that it starts from a
bare interpreter and its peak RSS (ru_maxrss, read by the child as it ends; imports included)
is its own. Per store, in order:

1. accounts: one group, one book and --accounts accounts in one create_accounts_columns call
   (benchmarks.durable.create_accounts).
2. build: ledger.open, then the first (lines - unfolded) lines through post_columns in calls
   of --batch lines, checkpoint() after every --checkpoint-lines lines (a nightly or monthly
   load ending; 0: only at the end) and close(), which checkpoints the rest. Each call's lines
   are generated when it is due (benchmarks.workload.transfers: entries of 2-6 lines, accounts
   uniform at random), keys call * 10**9 + 1.., dates in 2026: chronological (the history in
   posting order, a few days per call) or uniform over the year.
3. crash: ledger.open, the last --unfolded lines the same way, then the child SIGKILLs itself:
   no close(), no checkpoint, so those lines stay unfolded. On PostgreSQL the parent waits
   until the killed sessions have left pg_stat_activity (the time is reported), so that no
   later step's figure includes waiting for a dead writer's lock.
4. checkpoint: ledger.open(url), then checkpoint(): the catch-up on the unfolded tail, and its
   fold from the tables.
5. open: the next ledger.open(url) and a first balance().
6. calls: one entry per post() on the big ledger, in blocks of 100 alternating with the
   database's own locked insert + commit of two rows (benchmarks.small_calls.run). Each
   side's first call is timed apart and left out of the rates: the ledger's builds the
   account-key index of the freshly opened ledger (reported as "first post() ms").
7. readback (unless --no-readback): every history account's posted balances, read from a
   fresh open, against numpy's turnover of the regenerated lines.

Reported per step: its wall time, lines/s (lines over the post_columns calls' own time), the
child's peak RSS in MiB (a bare child with the imports holds about 150 MiB), and what it did;
for the calls, calls/s, p50 and p99 of post() and of the raw loop, and their ratio. The table
goes to stdout, progress to stderr when it is a terminal, the whole report to --out as JSON.
The SQLite files live in a new directory under --workdir (default: the temp dir), and that
directory and the PostgreSQL schema --schema are removed at the end unless --keep.

Targets (issue 9, "Done when"): the checkpoint and the next open succeed, each process
peaking at <= 4 GB; one-entry post() >= 0.5x the raw locked insert + commit rate; p99 <=
5 ms on PostgreSQL. Exit status: 0 when every step succeeded and every target is met (or
--no-check), 1 when a target is missed or a recovery step failed, 2 when the history could
not be built or the balances read back differ.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import functools
import json
import multiprocessing
import os
import platform
import resource
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.engine import make_url

import ledger
from benchmarks import durable, small_calls
from benchmarks.durable import Slice, Target, account_keys, post_slice, postgres_conninfo
from benchmarks.workload import numpy_turnover, transfers
from ledger import limits

LINES_DEFAULT = 100_000_000
ACCOUNTS_DEFAULT = 2_500_000
UNFOLDED_DEFAULT = 20_000_000
BATCH_LINES_DEFAULT = 1_000_000
CHECKPOINT_LINES_DEFAULT = 10_000_000
CALLS_DEFAULT = 2000
SCHEMA_DEFAULT = "bench_scale"
POSTGRES_URL_DEFAULT = os.environ.get("LEDGER_BENCH_POSTGRES_URL", small_calls.POSTGRES_URL)

KEY_STRIDE = 10**9  # entry keys of call i are i * KEY_STRIDE + 1..; a call holds fewer entries
YEAR_FIRST_DAY = (dt.date(2026, 1, 1) - dt.date(1970, 1, 1)).days
YEAR_DAYS = 365
CRASH_SESSION = "ledger_scale_crash"
SESSIONS_GONE_TIMEOUT_S = 300.0

# The targets.
PEAK_MB_MAX = 4096
CALLS_RATIO_MIN = 0.5
POSTGRES_P99_MS_MAX = 5.0


def progress(message: str) -> None:
    """A progress line on stderr when it is a terminal; nothing in a pipe or a log."""
    if sys.stderr.isatty():
        durable.progress(message)


def timed(work: Callable[[], Any]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


# --- the history -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """The history: its size, how it is cut into post_columns calls, and how it is generated."""

    accounts: int
    lines: int
    unfolded: int
    batch: int
    seed: int
    dates: str  # "chronological" or "random"

    def calls(self, tail: bool) -> list[tuple[int, int, int]]:
        """(call number, first line, end line) of the folded head or of the unfolded tail."""
        head = self.lines - self.unfolded
        bounds = (head, self.lines) if tail else (0, head)
        first_number = -(-head // self.batch) if tail else 0
        starts = range(bounds[0], bounds[1], self.batch)
        return [(first_number + n, s, min(s + self.batch, bounds[1])) for n, s in enumerate(starts)]

    @property
    def calls_count(self) -> int:
        return len(self.calls(False)) + len(self.calls(True))


def generated(plan: Plan, number: int, start: int, end: int) -> Slice:
    """The lines of one call (accounts as 0..accounts-1, before account_index)."""
    seed = int(np.random.SeedSequence([plan.seed, number]).generate_state(1)[0])
    work = transfers(end - start, plan.accounts, seed=seed)
    if plan.dates == "chronological":
        first_lines = start + work.offsets[:-1]
        days = np.minimum(first_lines * YEAR_DAYS // plan.lines, YEAR_DAYS - 1)
    else:
        days = np.random.default_rng([plan.seed, number, 1]).integers(0, YEAR_DAYS, work.entries_count)
    return Slice(
        number,
        work.keys + number * KEY_STRIDE,
        work.offsets,
        work.accounts,
        work.amounts,
        (YEAR_FIRST_DAY + days).astype(np.int32),
    )


def history(plan: Plan, tail: bool, index: np.ndarray | None = None) -> Iterator[Slice]:
    """The calls of the head or the tail, accounts mapped through `index` when given."""
    for number, start, end in plan.calls(tail):
        part = generated(plan, number, start, end)
        yield part if index is None else dataclasses.replace(part, accounts=index[part.accounts])


def account_indices(book: ledger.Ledger, count: int) -> np.ndarray:
    return book.account_index(account_keys(count)).astype(np.int32)


def post_history(
    book: ledger.Ledger, plan: Plan, tail: bool, label: str, checkpoint_lines: int = 0
) -> dict[str, Any]:
    """Posts the head or the tail; checkpoints every `checkpoint_lines` lines (0: never)."""
    index = account_indices(book, plan.accounts)
    calls = len(plan.calls(tail))
    posting_s, lines, since, checkpoints_s = 0.0, 0, 0, []
    for position, part in enumerate(history(plan, tail, index), 1):
        posting_s += timed(functools.partial(post_slice, book, part))
        lines += part.lines_count
        since += part.lines_count
        if checkpoint_lines and since >= checkpoint_lines and position < calls:
            checkpoints_s.append(timed(book.checkpoint))
            since = 0
        progress(f"{label}: call {position} of {calls}, {lines:,} lines, {lines / posting_s:,.0f} lines/s")
    return {
        "lines": lines,
        "calls": calls,
        "post_s": posting_s,
        "lines_per_s": lines / posting_s,
        "checkpoints_s": checkpoints_s,
    }


# --- the steps (each in a child process) -------------------------------------------------------


def step_accounts(url: str, plan: Plan) -> dict[str, Any]:
    seconds, _ = durable.create_accounts(url, plan.accounts)
    return {"seconds": seconds, "accounts": plan.accounts}


def step_build(url: str, plan: Plan, checkpoint_lines: int, label: str) -> dict[str, Any]:
    start = time.perf_counter()
    book = ledger.open(url)
    out: dict[str, Any] = {"open_s": time.perf_counter() - start}
    out.update(post_history(book, plan, False, label, checkpoint_lines))
    progress(f"{label}: close() (checkpoints the last calls)")
    out["close_s"] = timed(book.close)
    out["seconds"] = time.perf_counter() - start
    return out


def step_crash(url: str, plan: Plan, label: str) -> dict[str, Any]:
    """Posts the tail and returns; the child then kills itself (see in_child)."""
    start = time.perf_counter()
    book = ledger.open(url)
    out: dict[str, Any] = {"open_s": time.perf_counter() - start}
    out.update(post_history(book, plan, True, label))
    out["seconds"] = time.perf_counter() - start
    return out


def step_checkpoint(url: str) -> dict[str, Any]:
    start = time.perf_counter()
    book = ledger.open(url)
    opened = time.perf_counter()
    folded = book.checkpoint()
    out = {"open_s": opened - start, "checkpoint_s": time.perf_counter() - opened, "batches_folded": folded}
    out["seconds"] = time.perf_counter() - start
    out["close_s"] = timed(book.close)
    return out


def step_open(url: str) -> dict[str, Any]:
    start = time.perf_counter()
    book = ledger.open(url)
    opened = time.perf_counter()
    balance = book.balance(account_keys(1)[0])
    out: dict[str, Any] = {"open_s": opened - start, "balance_s": time.perf_counter() - opened}
    out["seconds"] = time.perf_counter() - start
    out["first_balance_net"] = str(balance.net)
    book.close()
    return out


def latency(times: list[float]) -> dict[str, float]:
    """calls/s, p50 and p99 (ms) as benchmarks.small_calls.run reports them."""
    ordered = sorted(times)
    return {
        "calls_per_s": len(times) / sum(times),
        "p50_ms": 1e3 * statistics.median(times),
        "p99_ms": 1e3 * ordered[int(0.99 * len(ordered))],
    }


def step_calls(kind: str, url: str, raw_path: Path, calls: int, key_base: int) -> dict[str, Any]:
    """small_calls.run on the big ledger; the callables record what run() times."""
    book, call = small_calls.ledger_caller(url)
    if kind == "sqlite":
        raw, close_raw = small_calls.sqlite_raw(raw_path), lambda: None
    else:
        raw, close_raw = small_calls.postgres_raw(url)
    mine: list[float] = []
    theirs: list[float] = []

    def recorded(work: Callable[[int], None], into: list[float]) -> Callable[[int], None]:
        def timed_call(key: int) -> None:
            start = time.perf_counter()
            work(key)
            into.append(time.perf_counter() - start)

        return timed_call

    try:
        line = small_calls.run(
            kind, recorded(lambda key: call(key_base + key), mine), recorded(raw, theirs), calls
        )
    finally:
        book.close()
        close_raw()
    # run() times each side's first call apart (the ledger's builds the account-key index)
    ledger_figures, raw_figures = latency(mine[1:]), latency(theirs[1:])
    ratio = ledger_figures["calls_per_s"] / raw_figures["calls_per_s"]
    return {
        "calls": calls,
        "first_call_ms": 1e3 * mine[0],
        "ledger": ledger_figures,
        "raw": raw_figures,
        "ratio": ratio,
        "line": line,
    }


def step_readback(url: str, plan: Plan) -> dict[str, Any]:
    start = time.perf_counter()
    with ledger.open(url) as book:
        index = account_indices(book, plan.accounts)
        balances = book.balances()
    debits = np.zeros(plan.accounts, np.int64)
    credits = np.zeros(plan.accounts, np.int64)
    for tail in (False, True):
        for part in history(plan, tail):
            part_debits, part_credits = numpy_turnover(plan.accounts, part.accounts, part.amounts)
            debits += part_debits
            credits += part_credits
    differ = int(
        np.count_nonzero(
            (balances["debits_posted"][index] != debits) | (balances["credits_posted"][index] != credits)
        )
    )
    return {"seconds": time.perf_counter() - start, "accounts_differ": differ}


def peak_mb() -> float:
    """This process's peak resident memory so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(sender: Any, step: Callable[..., dict[str, Any]], kwargs: dict[str, Any], crash: bool) -> None:
    start_mb = peak_mb()
    try:
        report = step(**kwargs)
    except Exception as error:
        report = {"error": f"{type(error).__name__}: {error}"}
    sender.send({**report, "rss_start_mb": start_mb, "peak_mb": peak_mb()})
    sender.close()
    if crash:
        os.kill(os.getpid(), signal.SIGKILL)


def in_child(step: Callable[..., dict[str, Any]], crash: bool = False, **kwargs: Any) -> dict[str, Any]:
    """Runs a step in a fresh spawned process; its report, with its exit code."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, step, kwargs, crash))
    process.start()
    sender.close()
    try:
        report = receiver.recv()
    except EOFError:
        report = {"error": "the process died before it reported (killed, or out of memory?)"}
    process.join()
    report["exit_code"] = process.exitcode
    if crash and "error" not in report and process.exitcode != -signal.SIGKILL:
        report["error"] = f"the crashing child ended with {process.exitcode}, not SIGKILL"
    return report


# --- one store ---------------------------------------------------------------------------------


def crash_url(url: str, schema: str) -> str:
    """The URL the crashing child opens: on PostgreSQL its sessions carry a name to wait on."""
    if not url.startswith("postgresql"):
        return url
    named = make_url(url).update_query_dict({"application_name": f"{CRASH_SESSION}_{schema}"})
    return named.render_as_string(hide_password=False)


def wait_sessions_gone(url: str, name: str) -> float:
    """Seconds until the server has ended every session named `name` (a killed child's)."""
    import psycopg

    start = time.perf_counter()
    with psycopg.connect(postgres_conninfo(url), autocommit=True) as conn:
        query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
        while conn.execute(query, (name,)).fetchone() != (0,):
            if time.perf_counter() - start > SESSIONS_GONE_TIMEOUT_S:
                raise RuntimeError(f"sessions {name} still alive after {SESSIONS_GONE_TIMEOUT_S:.0f} s")
            time.sleep(0.01)
    return time.perf_counter() - start


def database_bytes(kind: str, url: str, workdir: Path, schema: str) -> int:
    if kind == "sqlite":
        return sum(p.stat().st_size for p in workdir.glob("ledger.db*"))
    import psycopg

    with psycopg.connect(postgres_conninfo(url)) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'",
            (schema,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def run_store(kind: str, args: argparse.Namespace, plan: Plan, workdir: Path) -> dict[str, Any]:
    """Every step on one store; stops after a failed set-up step (accounts, build, crash)."""
    if kind == "sqlite":
        url = f"sqlite:///{workdir / 'ledger.db'}"
    else:
        url = durable.fresh_postgres(args.postgres_url, args.schema)
    steps: dict[str, dict[str, Any]] = {}
    result: dict[str, Any] = {"url": url, "steps": steps}
    progress(f"{kind}: creating {plan.accounts:,} accounts")
    steps["accounts"] = in_child(step_accounts, url=url, plan=plan)
    if "error" not in steps["accounts"]:
        progress(f"{kind}: building {plan.lines - plan.unfolded:,} lines")
        steps["build"] = in_child(
            step_build, url=url, plan=plan, checkpoint_lines=args.checkpoint_lines, label=f"{kind} build"
        )
    if "error" not in steps.get("build", {"error": ""}):
        progress(f"{kind}: posting the last {plan.unfolded:,} lines, then SIGKILL")
        steps["crash"] = in_child(
            step_crash, crash=True, url=crash_url(url, args.schema), plan=plan, label=f"{kind} tail"
        )
        if kind == "postgresql":
            steps["crash"]["sessions_gone_s"] = wait_sessions_gone(url, f"{CRASH_SESSION}_{args.schema}")
    if any("error" in step for step in steps.values()) or "crash" not in steps:
        result["set_up_failed"] = True
        return result
    progress(f"{kind}: open + checkpoint of the unfolded tail")
    steps["checkpoint"] = in_child(step_checkpoint, url=url)
    progress(f"{kind}: open + first balance()")
    steps["open"] = in_child(step_open, url=url)
    if args.calls:
        progress(f"{kind}: {args.calls} one-entry calls beside the raw loop")
        steps["calls"] = in_child(
            step_calls,
            kind=kind,
            url=url,
            raw_path=workdir / "raw.db",
            calls=args.calls,
            key_base=(plan.calls_count + 1) * KEY_STRIDE,
        )
    if not args.no_readback:
        progress(f"{kind}: reading the balances back")
        steps["readback"] = in_child(step_readback, url=url, plan=plan)
    result["database_bytes"] = database_bytes(kind, url, workdir, args.schema)
    return result


# --- report ------------------------------------------------------------------------------------


def targets(results: dict[str, dict[str, Any]]) -> list[Target]:
    found = []
    for kind, result in results.items():
        steps = result["steps"]
        for name in ("checkpoint", "open"):
            if name in steps and "error" not in steps[name]:
                found.append(
                    Target(f"{kind}: {name} peak memory", steps[name]["peak_mb"], PEAK_MB_MAX, False, "MB")
                )
        calls = steps.get("calls", {})
        if "ratio" in calls:
            found.append(
                Target(f"{kind}: post() / raw insert+commit", calls["ratio"], CALLS_RATIO_MIN, True, "x")
            )
            if kind == "postgresql":
                p99 = calls["ledger"]["p99_ms"]
                found.append(Target(f"{kind}: post() p99", p99, POSTGRES_P99_MS_MAX, False, "ms"))
    return found


def describe(name: str, s: dict[str, Any]) -> str:
    """What a step did, in a line of the steps table."""
    if "error" in s:
        return f"[red]FAILED[/red] {escape(s['error'].splitlines()[0][:200])}"
    if name == "accounts":
        return f"{s['accounts']:,} accounts, one create_accounts_columns call"
    if name in ("build", "crash"):
        text = f"open {s['open_s']:.2f} s; {s['lines']:,} lines, {s['calls']} x post_columns"
        text += f" ({s['post_s']:.1f} s)"
        if checkpoints := s["checkpoints_s"]:
            text += f"; {len(checkpoints)} checkpoints, median {statistics.median(checkpoints):.2f} s"
            text += f", max {max(checkpoints):.2f} s"
        if name == "build":
            return text + f"; close() {s['close_s']:.2f} s"
        gone = f"; sessions gone {s['sessions_gone_s']:.2f} s after" if "sessions_gone_s" in s else ""
        return text + f"; SIGKILL (exit {s['exit_code']}){gone}"
    if name == "checkpoint":
        folded = f"{s['batches_folded']} batches folded"
        return f"open {s['open_s']:.2f} s + checkpoint() {s['checkpoint_s']:.2f} s ({folded})"
    if name == "open":
        return f"open {s['open_s']:.2f} s + first balance() {s['balance_s'] * 1e3:.1f} ms"
    if name == "calls":
        return f"{s['calls']:,} one-entry post() calls beside the raw loop: post/raw {s['ratio']:.2f}"
    if s["accounts_differ"]:
        return f"[red]{s['accounts_differ']:,} accounts differ[/red]"
    return "balances equal numpy's turnover"


def steps_table(results: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="steps, each in a fresh process (peak: its peak RSS)")
    for column in ("store", "step", "what"):
        table.add_column(column)
    for column in ("seconds", "lines/s", "peak MB"):
        table.add_column(column, justify="right")
    for kind, result in results.items():
        for name, s in result["steps"].items():
            seconds = f"{s['seconds']:.2f}" if "seconds" in s else ""
            rate = f"{s['lines_per_s']:,.0f}" if "lines_per_s" in s else ""
            table.add_row(kind, name, describe(name, s), seconds, rate, f"{s['peak_mb']:,.0f}")
        if "database_bytes" in result:
            table.add_row(kind, "size", f"database {result['database_bytes'] / 2**30:.2f} GiB", "", "", "")
        table.add_section()
    return table


def calls_table(results: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="one entry per call on the big ledger, beside the database's locked insert+commit")
    table.add_column("store")
    columns = ("first post() ms", "post() calls/s", "p50 ms", "p99 ms", "raw calls/s", "p50 ms", "p99 ms")
    for column in (*columns, "post/raw"):
        table.add_column(column, justify="right")
    for kind, result in results.items():
        c = result["steps"].get("calls", {})
        if "ratio" in c:
            cells = [f"{c['first_call_ms']:,.1f}"]
            for side in (c["ledger"], c["raw"]):
                cells += [f"{side['calls_per_s']:,.0f}", f"{side['p50_ms']:.2f}", f"{side['p99_ms']:.2f}"]
            table.add_row(kind, *cells, f"{c['ratio']:.2f}")
    return table


def targets_table(found: list[Target]) -> Table:
    table = Table(title="targets (issue 9)")
    for column, justify in (("target", "left"), ("value", "right"), ("bound", "right"), ("verdict", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for t in found:
        verdict = "met" if t.met else f"[red]MISSED[/red] by {abs(1 - t.value / t.bound):.1%}"
        relation = ">=" if t.at_least else "<="
        table.add_row(t.name, f"{t.value:,.2f} {t.unit}", f"{relation} {t.bound:g} {t.unit}", verdict)
    return table


def render(console: Console, plan: Plan, args: argparse.Namespace, results: dict[str, dict[str, Any]],
           found: list[Target]) -> None:  # fmt: skip
    every = args.checkpoint_lines
    building = f"checkpoint() every {every:,} lines while building" if every else "checkpoint only at close()"
    console.print(
        f"history: {plan.lines:,} lines over {plan.accounts:,} accounts, the last {plan.unfolded:,} "
        f"unfolded; post_columns calls of {plan.batch:,} lines, {building}, dates {plan.dates} over 2026\n"
        f"machine: {os.cpu_count()} cores, {memory_total_mb():,.0f} MB, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}"
    )
    for table in (steps_table(results), calls_table(results), targets_table(found)):
        console.print(table)


def memory_total_mb() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20


# --- main --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__.split("\n")[0])
    parser.add_argument("--store", default="sqlite,postgresql", help="sqlite, postgresql or both (comma)")
    parser.add_argument("--accounts", type=int, default=ACCOUNTS_DEFAULT)
    parser.add_argument("--lines", type=int, default=LINES_DEFAULT, help="lines of the whole history")
    parser.add_argument("--unfolded", type=int, default=UNFOLDED_DEFAULT, help="lines the crash leaves")
    parser.add_argument("--calls", type=int, default=CALLS_DEFAULT, help="one-entry calls (0: none)")
    parser.add_argument("--batch", type=int, default=BATCH_LINES_DEFAULT, help="lines per post_columns call")
    parser.add_argument(
        "--checkpoint-lines",
        type=int,
        default=CHECKPOINT_LINES_DEFAULT,
        help="checkpoint() every so many lines while building (0: only close())",
    )
    parser.add_argument("--dates", choices=("chronological", "random"), default="chronological")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where the SQLite files go (a new directory inside it; default: a temp dir)",
    )
    parser.add_argument("--postgres-url", default=POSTGRES_URL_DEFAULT)
    parser.add_argument("--schema", default=SCHEMA_DEFAULT, help="PostgreSQL schema, dropped and recreated")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite files and the schema")
    parser.add_argument("--out", type=Path, default=None, metavar="PATH", help="write the results as JSON")
    parser.add_argument("--no-readback", action="store_true", help="skip comparing the balances")
    parser.add_argument("--no-check", action="store_true", help="exit 0 even when a target is missed")
    args = parser.parse_args(argv)
    args.stores = args.store.split(",")
    if not set(args.stores) <= {"sqlite", "postgresql"}:
        parser.error("--store: sqlite, postgresql, or both separated by a comma")
    if args.accounts < 2 or not 0 < args.unfolded < args.lines:
        parser.error("--accounts must be at least 2, and 0 < --unfolded < --lines")
    if not 2 <= args.batch <= min(KEY_STRIDE, limits.batch_lines_max) or args.calls < 0:
        parser.error("--batch must be between 2 and 10**8 lines, --calls not negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = Plan(args.accounts, args.lines, args.unfolded, args.batch, args.seed, args.dates)
    results: dict[str, dict[str, Any]] = {}
    for kind in args.stores:
        workdir = Path(tempfile.mkdtemp(prefix=f"ledger-scale-{kind}-", dir=args.workdir))
        try:
            results[kind] = run_store(kind, args, plan, workdir)
        finally:
            if args.keep:
                print(f"{kind}: kept {workdir if kind == 'sqlite' else args.schema}", file=sys.stderr)
            else:
                shutil.rmtree(workdir, ignore_errors=True)
                if kind == "postgresql":
                    durable.drop_postgres(args.postgres_url, args.schema)
    found = targets(results)
    render(Console(width=None if sys.stdout.isatty() else 200), plan, args, results, found)
    if args.out is not None:
        args.out.write_text(json.dumps(document(plan, args, results, found), indent=2, default=float) + "\n")
    return exit_status(results, found, args.no_check)


def document(plan: Plan, args: argparse.Namespace, results: dict[str, dict[str, Any]],
             found: list[Target]) -> dict[str, Any]:  # fmt: skip
    """The JSON results: parameters, machine, every step's report, the targets."""
    settings = durable.postgres_settings(args.postgres_url) if "postgresql" in results else None
    return {
        "parameters": dataclasses.asdict(plan) | {"calls": args.calls,
                                                  "checkpoint_lines": args.checkpoint_lines},
        "environment": {"python": platform.python_version(), "cores": os.cpu_count(),
                        "memory_mb": memory_total_mb(), "sqlite": sqlite3.sqlite_version,
                        "postgresql": settings},
        "stores": results,
        "targets": [dataclasses.asdict(t) | {"met": t.met} for t in found],
    }  # fmt: skip


def exit_status(results: dict[str, dict[str, Any]], found: list[Target], no_check: bool) -> int:
    if any(
        r.get("set_up_failed")
        or r["steps"].get("readback", {}).get("accounts_differ", 0)
        or "error" in r["steps"].get("readback", {})
        for r in results.values()
    ):
        return 2
    failed = any("error" in step for r in results.values() for step in r["steps"].values())
    return 1 if failed or not (no_check or all(t.met for t in found)) else 0


if __name__ == "__main__":
    sys.exit(main())
