"""Posting throughput on the issue's workload: 10 M lines over 2.5 M accounts, entries of 2-6
lines, accounts drawn uniformly at random (so nearly every line misses the cache).

Every benchmark times one call on the same arrays; the state it posts into is reset before
each round, untimed, and a round whose entries are not all accepted fails the benchmark.
pytest-benchmark runs the benchmarks one after another; for the interleaved comparison
against the issue's targets run `python -m benchmarks.run`.
"""

from __future__ import annotations

import pytest

from benchmarks.harness import CheckedKernelScenario, KernelScenario, NumpyScenario

kernel_only = pytest.mark.usefixtures("native_kernel")


@kernel_only
def test_kernel(measure, workload, batch):
    """The kernel alone (Engine.post on a checked batch), accounts without constraint flags.

    Every line is still validated (amount, account, closed, book, balance group, overflow)
    and every key enters the entry-key table: the floor of what posting costs.
    """
    measure(KernelScenario(workload, batch, constrained=False))


@kernel_only
def test_kernel_constrained(measure, workload, batch):
    """The kernel with every account constrained: half debits_must_not_exceed_credits, half
    credits_must_not_exceed_debits, opening balances with room to spare.

    The constraint check runs on every line of every entry and every entry passes, so this
    times the full validation path on accepted work rather than an early rejection.
    """
    measure(KernelScenario(workload, batch, constrained=True))


def test_numpy_turnover(measure, workload):
    """The baseline: debit and credit turnover per account with numpy.add.at on the same
    arrays, no validation. The kernel's figures above are read as multiples of this one."""
    measure(NumpyScenario(workload))


@kernel_only
def test_make_batch_and_kernel(measure, workload, batch):
    """make_batch's checks and conversions on the raw columns, then the kernel: what
    Ledger.post_columns does in memory before it writes to its store (not timed here)."""
    measure(CheckedKernelScenario(workload, batch))
