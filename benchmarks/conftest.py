"""Fixtures of the pytest-benchmark suite.

The workload is generated once per session. `measure` runs a scenario in pedantic mode (its
reset is the untimed setup of every round), checks that every round's work was accepted, and
keeps the median so that the session ends with lines/s and the kernel/numpy ratios of this
run. LEDGER_BENCH_LINES shrinks the workload (e.g. 200000 for a smoke run) and
LEDGER_BENCH_ROUNDS sets the rounds per benchmark (default 7).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from benchmarks.harness import (
    KERNEL,
    KERNEL_CONSTRAINED,
    NUMPY,
    account_row_bytes,
    batch_of,
    build_workload,
    extension_problem,
)
from benchmarks.workload import Workload
from ledger.posting import Batch

ROUNDS = int(os.environ.get("LEDGER_BENCH_ROUNDS", "7"))
_MEDIANS = pytest.StashKey[dict[str, float]]()
_WORKLOAD = pytest.StashKey[Workload]()


@pytest.fixture(scope="session")
def workload(pytestconfig: pytest.Config) -> Workload:
    generated = build_workload()
    pytestconfig.stash[_WORKLOAD] = generated
    return generated


@pytest.fixture(scope="session")
def batch(workload: Workload) -> Batch:
    return batch_of(workload)


@pytest.fixture(scope="session")
def native_kernel() -> None:
    """Skips kernel benchmarks when the compiled kernel is absent or older than its source."""
    problem = extension_problem()
    if problem:
        pytest.skip(problem)


@pytest.fixture
def measure(benchmark: Any, pytestconfig: pytest.Config, workload: Workload) -> Callable[[Any], Any]:
    """Benchmarks a scenario; returns the last round's result."""
    medians = pytestconfig.stash.setdefault(_MEDIANS, {})

    def run(scenario: Any) -> Any:
        last: list[Any] = [None]

        def timed() -> Any:
            last[0] = scenario()
            return last[0]

        def check_round() -> None:
            problems = scenario.problems(last[0])
            assert not problems, problems

        benchmark.group = f"{workload.lines_count:,} lines over {workload.accounts_count:,} accounts"
        benchmark.extra_info.update(
            lines=workload.lines_count,
            entries=workload.entries_count,
            accounts=workload.accounts_count,
            account_row_bytes=account_row_bytes(),
        )
        result = benchmark.pedantic(
            timed, setup=scenario.reset, teardown=check_round, rounds=ROUNDS, warmup_rounds=1
        )
        problems = scenario.problems(result, thorough=True)
        assert not problems, problems
        if benchmark.stats is not None:
            median = benchmark.stats.stats.median
            medians[scenario.name] = median
            benchmark.extra_info["lines_per_s_median"] = round(workload.lines_count / median)
            benchmark.extra_info["lines_per_s_best"] = round(workload.lines_count / benchmark.stats.stats.min)
        return result

    return run


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    medians = config.stash.get(_MEDIANS, {})
    workload = config.stash.get(_WORKLOAD, None)
    if not medians or workload is None:
        return
    write = terminalreporter.write_line
    terminalreporter.section("ledger kernel throughput (medians of this run)")
    write(
        f"{workload.lines_count:,} lines, {workload.entries_count:,} entries, "
        f"{workload.accounts_count:,} accounts; {ROUNDS} rounds each, run one benchmark after another"
    )
    for name, median in medians.items():
        ratio = ""
        if name != NUMPY and NUMPY in medians:
            ratio = f"   {medians[NUMPY] / median:5.2f}x numpy add.at"
        write(f"  {name:<28} {workload.lines_count / median / 1e6:7.1f} M lines/s{ratio}")
    write(f"  account table: {account_row_bytes()} bytes per account")
    if KERNEL in medians or KERNEL_CONSTRAINED in medians:
        write("  (targets, interleaved and checked: python -m benchmarks.run)")
