"""The kernel against numpy's add.at turnover, interleaved, checked against the issue's targets.

    python -m benchmarks.run [--rounds 7] [--lines N] [--accounts N] [--no-make-batch] [--cold]
                             [--json PATH]
                             [--no-check]

Each round runs every scenario once, in an order that rotates from round to round, so a
change in the machine's load falls on all scenarios alike. Kernel/numpy ratios are taken
within each round (paired) and their median is reported beside the ratio of the medians.
Times are wall clock; the CPU/wall column (thread CPU time over wall time) shows how much of
a round the process actually ran: well below 1 means it was preempted and the round is noise.

Exit status: 0 when every target is met (or --no-check), 1 when a target is missed, 2 when
the measured work was not all accepted or the compiled kernel is missing or stale.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as a script (python benchmarks/run.py): the repository root holds both packages.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from benchmarks.harness import (
    ACCOUNT_BYTES_MAX,
    KERNEL,
    KERNEL_CONSTRAINED,
    LINES_PER_S_MIN,
    NUMPY,
    NUMPY_SPEEDUP_MIN,
    CheckedKernelScenario,
    KernelScenario,
    NumpyScenario,
    account_row_bytes,
    batch_of,
    build_workload,
    extension_problem,
)
from benchmarks.public import (
    MEMORY_POST,
    POSTGRES_URL,
    DurablePostScenario,
    MemoryPostScenario,
    account_creation,
    memory_footprint,
)
from benchmarks.workload import Workload

# Rewritten before each round under --cold: well above the last-level cache (300 MiB here).
FLUSH_BYTES = 1 << 30


@dataclass
class Series:
    """The rounds of one scenario: wall and thread CPU seconds, in round order."""

    name: str
    wall_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)

    def lines_per_s(self, lines: int) -> list[float]:
        return [lines / seconds for seconds in self.wall_s]


@dataclass(frozen=True)
class Target:
    name: str
    value: float
    bound: float
    at_least: bool
    unit: str  # "M lines/s", "x", "s" or "bytes/account"

    @property
    def met(self) -> bool:
        return self.value >= self.bound if self.at_least else self.value <= self.bound


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds per scenario (default 7)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    parser.add_argument("--lines", type=int, default=None, help="lines (default LEDGER_BENCH_LINES or 10 M)")
    parser.add_argument("--accounts", type=int, default=None, help="accounts (default lines / 4)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--no-make-batch", action="store_true", help="leave out the make_batch + kernel scenario"
    )
    parser.add_argument("--cold", action="store_true", help="evict the caches before every timed call")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="save the figures as JSON")
    parser.add_argument("--no-check", action="store_true", help="exit 0 even when a target is missed")
    parser.add_argument(
        "--stores",
        default="sqlite,postgresql",
        help="durable stores to time post_columns on, comma-separated, or none (default sqlite,postgresql)",
    )
    parser.add_argument("--durable-rounds", type=int, default=1, help="timed rounds per durable store")
    parser.add_argument("--postgres-url", default=POSTGRES_URL, help="server for the PostgreSQL store")
    parser.add_argument(
        "--no-accounts", action="store_true", help="leave out the account-creation and memory figures"
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.warmup < 0:
        parser.error("--rounds must be at least 1 and --warmup at least 0")
    return args


def timed_round(scenario: Any, flush: np.ndarray | None) -> tuple[float, float, Any]:
    """Resets the scenario (untimed), then times one call: (wall s, thread CPU s, result).

    With `flush`, a buffer larger than the last-level cache is rewritten after the reset, so
    the round starts with none of its data cached (the reset rewrites the account table and
    would otherwise leave part of it in cache for the kernel).
    """
    scenario.reset()
    if flush is not None:
        flush += 1
    gc.collect()
    gc.disable()
    try:
        cpu_start, wall_start = time.thread_time_ns(), time.perf_counter_ns()
        result = scenario()
        wall_end, cpu_end = time.perf_counter_ns(), time.thread_time_ns()
    finally:
        gc.enable()
    return (wall_end - wall_start) / 1e9, (cpu_end - cpu_start) / 1e9, result


def measure(
    scenarios: list[Any], rounds: int, warmup: int, cold: bool
) -> tuple[dict[str, Series], list[str]]:
    """Runs the scenarios interleaved; the first timed round of each is checked thoroughly."""
    series = {s.name: Series(s.name) for s in scenarios}
    flush = np.zeros(FLUSH_BYTES, np.uint8) if cold else None
    problems: list[str] = []
    for position in range(-warmup, rounds):
        shift = position % len(scenarios)
        for scenario in scenarios[shift:] + scenarios[:shift]:
            wall_s, cpu_s, result = timed_round(scenario, flush)
            found = scenario.problems(result, thorough=position == 0)
            problems += [f"{scenario.name}: {problem}" for problem in found]
            if position >= 0:
                series[scenario.name].wall_s.append(wall_s)
                series[scenario.name].cpu_s.append(cpu_s)
            del result
    return series, problems


def ratios(series: dict[str, Series], name: str, base: str = NUMPY) -> tuple[float, float]:
    """(median of per-round base/scenario time ratios, ratio of median times): how many
    times faster `name` is than `base` (paired by round when both ran every round)."""
    kernel, numpy_ = series[name], series[base]
    paired = [n / k for n, k in zip(numpy_.wall_s, kernel.wall_s, strict=False)]
    return statistics.median(paired), statistics.median(numpy_.wall_s) / statistics.median(kernel.wall_s)


def targets(series: dict[str, Series], lines: int, extra: dict[str, float]) -> list[Target]:
    found = []
    if MEMORY_POST in series:
        found.append(
            Target(f"{MEMORY_POST}: of the kernel", ratios(series, MEMORY_POST, KERNEL)[0], 0.6, True, "x")
        )
        found.append(
            Target(f"{MEMORY_POST}: over numpy add.at", ratios(series, MEMORY_POST)[0], 1.25, True, "x")
        )
    if "columns_s" in extra:
        found.append(Target("2.5 M accounts, create_accounts_columns", extra["columns_s"], 3.0, False, "s"))
        found.append(Target("2.5 M accounts, create_accounts records", extra["records_s"], 20.0, False, "s"))
    for name in (KERNEL, KERNEL_CONSTRAINED):
        median_lines_per_s = statistics.median(series[name].lines_per_s(lines))
        speedup = ratios(series, name)[0]
        found.append(Target(f"{name}: median", median_lines_per_s, LINES_PER_S_MIN, True, "M lines/s"))
        found.append(Target(f"{name}: over numpy add.at", speedup, NUMPY_SPEEDUP_MIN, True, "x"))
    found.append(Target("account table", account_row_bytes(), ACCOUNT_BYTES_MAX, False, "bytes/account"))
    return found


def render(
    workload: Workload,
    series: dict[str, Series],
    found: list[Target],
    rounds: int,
    cold: bool,
    extra: dict[str, float],
) -> str:
    lines = workload.lines_count
    out = [
        f"workload: {lines:,} lines, {workload.entries_count:,} entries of 2-6 lines, "
        f"{workload.accounts_count:,} accounts (uniform)",
        f"{rounds} rounds, interleaved, order rotating{', caches evicted before each' if cold else ''}; "
        f"wall clock; single thread; numpy {np.__version__}",
        "",
        f"{'M lines/s':<28}{'median':>10}{'min':>9}{'max':>9}{'median s':>11}{'spread':>9}{'cpu/wall':>10}",
    ]
    for s in series.values():
        rates = [r / 1e6 for r in s.lines_per_s(lines)]
        median_s = statistics.median(s.wall_s)
        spread = (max(s.wall_s) - min(s.wall_s)) / median_s
        cpu_share = statistics.median(c / w for c, w in zip(s.cpu_s, s.wall_s, strict=True))
        out.append(
            f"{s.name:<28}{statistics.median(rates):>10.1f}{min(rates):>9.1f}{max(rates):>9.1f}"
            f"{median_s:>11.3f}{spread:>9.0%}{cpu_share:>10.2f}"
        )
    out += ["", f"{'speed-up over numpy add.at':<32}{'median of rounds':>18}{'ratio of medians':>18}"]
    for name in series:
        if name != NUMPY:
            paired, of_medians = ratios(series, name)
            out.append(f"{name:<32}{paired:>17.2f}x{of_medians:>17.2f}x")
    if MEMORY_POST in series:
        paired, of_medians = ratios(series, MEMORY_POST, KERNEL)
        out.append(
            f"{MEMORY_POST + ' / kernel':<32}{paired:>17.2f}x{of_medians:>17.2f}x  (speed of, not over)"
        )
    out += ["", f"account table: {account_row_bytes()} bytes per account (ledger.columns.ACCOUNT_DTYPE)"]
    for name, value in extra.items():
        out.append(f"{name}: {value:,.2f}")
    out.append("")
    out.append("targets")
    for t in found:
        relation = ">=" if t.at_least else "<="
        scale = 1e6 if t.unit == "M lines/s" else 1
        digits = {"x": 3, "M lines/s": 1, "s": 2}.get(t.unit, 0)
        shown = f"{t.value / scale:.{digits}f}"
        verdict = "met" if t.met else f"MISSED by {abs(1 - t.value / t.bound):.1%}"
        out.append(f"  {t.name:<46}{shown:>8} {relation} {t.bound / scale:<5g}{t.unit:<15}{verdict}")
    return "\n".join(out)


def as_json(
    workload: Workload, series: dict[str, Series], found: list[Target], rounds: int, cold: bool
) -> dict:
    lines = workload.lines_count
    return {
        "workload": {
            "lines": lines,
            "entries": workload.entries_count,
            "accounts": workload.accounts_count,
        },
        "rounds": rounds,
        "cold": cold,
        "environment": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "machine": platform.machine(),
        },
        "scenarios": {
            s.name: {
                "wall_s": s.wall_s,
                "cpu_s": s.cpu_s,
                "lines_per_s_median": statistics.median(s.lines_per_s(lines)),
                "lines_per_s_min": min(s.lines_per_s(lines)),
                "lines_per_s_max": max(s.lines_per_s(lines)),
            }
            for s in series.values()
        },
        "speedup_over_numpy": {
            name: dict(zip(("median_of_rounds", "ratio_of_medians"), ratios(series, name), strict=True))
            for name in series
            if name != NUMPY
        },
        "account_row_bytes": account_row_bytes(),
        "targets": [
            {"name": t.name, "value": t.value, "bound": t.bound, "unit": t.unit, "met": t.met} for t in found
        ],
    }


DURABLE_STORES = ("sqlite", "postgresql")


def durable_stores(text: str) -> list[str]:
    """The --stores value as a list of durable store kinds (the in-memory ledger is always
    timed); ValueError naming anything else."""
    if text == "none":
        return []
    kinds = text.split(",")
    unknown = [kind for kind in kinds if kind not in DURABLE_STORES]
    if unknown:
        raise ValueError(
            f"--stores: {', '.join(unknown)}: expected sqlite, postgresql (comma-separated) or none"
        )
    return kinds


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        durable_stores(args.stores)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    problem = extension_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    workload = build_workload(args.lines, args.accounts, seed=args.seed)
    batch = batch_of(workload)
    scenarios: list[Any] = [
        KernelScenario(workload, batch, constrained=False),
        KernelScenario(workload, batch, constrained=True),
        NumpyScenario(workload),
    ]
    if not args.no_make_batch:
        scenarios.append(CheckedKernelScenario(workload, batch))
    memory = MemoryPostScenario(workload, args.rounds + args.warmup + 1)
    scenarios.append(memory)
    series, problems = measure(scenarios, args.rounds, args.warmup, args.cold)
    memory.close()
    del scenarios, memory
    stores = durable_stores(args.stores)
    with tempfile.TemporaryDirectory() as directory:
        for kind in stores:
            durable = DurablePostScenario(workload, kind, Path(directory), args.postgres_url)
            try:
                found_series, found_problems = measure([durable], args.durable_rounds, 0, False)
            finally:
                durable.close()
            series.update(found_series)
            problems += found_problems
    if problems:
        print("error: the measured work was not all accepted:", *problems, sep="\n  ", file=sys.stderr)
        return 2
    extra: dict[str, float] = {}
    if not args.no_accounts:
        extra.update(account_creation(workload.accounts_count))
        extra.update(memory_footprint(workload))
    found = targets(series, workload.lines_count, extra)
    print(render(workload, series, found, args.rounds, args.cold, extra))
    if args.json is not None:
        args.json.write_text(
            json.dumps(as_json(workload, series, found, args.rounds, args.cold) | {"extra": extra}, indent=2)
            + "\n"
        )
    return 0 if args.no_check or all(t.met for t in found) else 1


if __name__ == "__main__":
    sys.exit(main())
