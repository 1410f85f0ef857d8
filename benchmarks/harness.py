"""Benchmark scenarios: one workload, several ways of posting it, each timed the same way.

A scenario prepares its state once; `reset()` puts that state back before every round (not
timed); calling the scenario is the timed work; `problems(result)` lists what was wrong with
a round's result, so a benchmark that times rejected entries fails instead of reporting a
flattering figure. The pytest-benchmark suite and the comparison runner (`benchmarks.run`)
share these scenarios, so both time exactly the same calls on the same arrays.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from benchmarks.workload import Workload, numpy_turnover, transfers
from ledger.codes import Code
from ledger.columns import (
    ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS,
    ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS,
    ACCOUNT_DTYPE,
)
from ledger.posting import NATIVE, Batch, Engine, kernel, make_batch

# The reference size: 10 million lines over 2.5 million accounts.
LINES_DEFAULT = 10_000_000
LINES_PER_ACCOUNT = 4
# Opening balance of a constrained account on the side its flag limits; the side it is
# compared with opens at twice as much. The headroom (10**12 minor units) is far above what
# one account receives from the workload (a handful of lines below 5 * 10**7 each), so the
# constraint is evaluated on every line and every entry still passes.
OPENING_MINOR = 10**12

# The targets.
LINES_PER_S_MIN = 40e6
NUMPY_SPEEDUP_MIN = 1.25
ACCOUNT_BYTES_MAX = 64

KERNEL = "kernel"
KERNEL_CONSTRAINED = "kernel + constraint flags"
NUMPY = "numpy add.at turnover"
CHECKED_KERNEL = "make_batch + kernel"


def workload_size() -> tuple[int, int]:
    """(lines, accounts) from LEDGER_BENCH_LINES and LEDGER_BENCH_ACCOUNTS.

    The defaults are the issue's 10 M lines over 2.5 M accounts; a smaller line count keeps
    the same 4 lines per account unless the account count is given too.
    """
    lines = int(os.environ.get("LEDGER_BENCH_LINES", LINES_DEFAULT))
    accounts = int(os.environ.get("LEDGER_BENCH_ACCOUNTS", max(2, lines // LINES_PER_ACCOUNT)))
    return lines, accounts


def build_workload(lines: int | None = None, accounts: int | None = None, seed: int = 7) -> Workload:
    """The reference workload (entries of 2-6 lines, accounts uniform at random)."""
    lines_default, accounts_default = workload_size()
    lines = lines_default if lines is None else lines
    if accounts is None:
        accounts = accounts_default if lines == lines_default else max(2, lines // LINES_PER_ACCOUNT)
    return transfers(lines, accounts, seed=seed)


def batch_of(workload: Workload) -> Batch:
    """The workload as the checked batch Engine.post receives (what post_columns builds)."""
    return make_batch(
        workload.keys, workload.offsets, workload.accounts, workload.amounts, dates=workload.dates
    )


def account_row_bytes() -> int:
    """Bytes of one account row in the engine's account table."""
    return ACCOUNT_DTYPE.itemsize


def extension_problem() -> str | None:
    """Why the timed kernel would not be the current compiled one, or None when it is."""
    if not NATIVE:
        return "the compiled kernel is not in use (LEDGER_NO_EXTENSIONS=1): nothing to benchmark"
    built = Path(kernel.__file__)
    sources = [*built.parent.glob("*.pyx"), *built.parent.glob("*.pxd")]
    newer = sorted(p.name for p in sources if p.stat().st_mtime > built.stat().st_mtime)
    if newer:
        return (
            f"{', '.join(newer)} changed after {built.name} was built: "
            "rebuild with `python setup.py build_ext --inplace`"
        )
    return None


def constraint_flags(accounts_count: int) -> np.ndarray:
    """Every account constrained: even indices debits_must_not_exceed_credits, odd ones
    credits_must_not_exceed_debits (the workload draws accounts uniformly, so each entry
    meets both kinds about equally)."""
    flags = np.full(accounts_count, ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS, np.uint32)
    flags[1::2] = ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS
    return flags


def open_constrained(rows: np.ndarray) -> None:
    """Opening balances that leave each constrained side OPENING_MINOR of headroom."""
    debit_limited = (rows["flags"] & ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS) != 0
    rows["debits_posted"] = np.where(debit_limited, OPENING_MINOR, 2 * OPENING_MINOR)
    rows["credits_posted"] = np.where(debit_limited, 2 * OPENING_MINOR, OPENING_MINOR)


def reset_engine(engine: Engine, opening: np.ndarray) -> None:
    """Back to the state before the first round: opening rows, empty key tables, zero counters.

    The tables keep their size (and their pages), so a round neither rehashes nor faults in
    fresh memory: it times posting into a ledger that already has room, as a running one does.
    """
    np.copyto(engine.rows, opening)
    engine.entry_table.view(np.uint8)[:] = 0
    engine.pending_table.view(np.uint8)[:] = 0
    engine.counters[:] = 0


def _rejections(codes: np.ndarray) -> list[str]:
    rejected = np.flatnonzero(codes != Code.ok)
    if not len(rejected):
        return []
    counts = np.bincount(codes[rejected], minlength=len(Code))
    named = ", ".join(f"{Code(c).name}: {int(counts[c])}" for c in np.flatnonzero(counts))
    return [
        f"{len(rejected)} of {len(codes)} entries rejected ({named}); the figure would time rejected work"
    ]


def engine_problems(
    engine: Engine, opening: np.ndarray, workload: Workload, codes: np.ndarray, thorough: bool
) -> list[str]:
    """What is wrong after a round: rejected entries, a wrong entry count, and (thorough) any
    balance that differs from numpy's turnover of the same lines."""
    problems = _rejections(codes)
    if engine.entries_count != workload.entries_count:
        problems.append(f"{engine.entries_count} entries stored, {workload.entries_count} posted")
    if thorough and not problems:
        debits, credits = numpy_turnover(workload.accounts_count, workload.accounts, workload.amounts)
        rows = engine.rows
        for field, expected in (("debits_posted", debits), ("credits_posted", credits)):
            if not np.array_equal(rows[field] - opening[field], expected):
                problems.append(f"{field} differs from numpy's turnover of the same lines")
    return problems


class KernelScenario:
    """Engine.post on a batch already checked by make_batch: the kernel's validation and
    application alone, into a ledger holding the workload's accounts."""

    def __init__(self, workload: Workload, batch: Batch, *, constrained: bool) -> None:
        self.name = KERNEL_CONSTRAINED if constrained else KERNEL
        self.workload = workload
        self.batch = batch
        count = workload.accounts_count
        self.engine = Engine(groups_count=1)
        flags = constraint_flags(count) if constrained else np.zeros(count, np.uint32)
        self.engine.add_accounts(np.zeros(count, np.int32), np.zeros(count, np.int32), flags)
        if constrained:
            open_constrained(self.engine.rows)
        # Grow the entry table once, as the first post would, so no round times a rehash.
        self.engine._make_room(batch)
        self.opening = self.engine.rows.copy()

    def reset(self) -> None:
        reset_engine(self.engine, self.opening)

    def __call__(self) -> np.ndarray:
        return self.engine.post(self.batch)

    def problems(self, codes: np.ndarray, thorough: bool = False) -> list[str]:
        return engine_problems(self.engine, self.opening, self.workload, codes, thorough)

    def table_bytes_per_account(self) -> float:
        """Bytes the engine holds for its account table, per account (capacity included)."""
        return self.engine._rows.nbytes / self.engine.accounts_count


class NumpyScenario:
    """numpy.add.at debit and credit turnover per account on the workload's own arrays: the
    balance arithmetic of a ledger with no validation, no key table and no rollback."""

    name = NUMPY

    def __init__(self, workload: Workload) -> None:
        self.workload = workload

    def reset(self) -> None:
        """Nothing to restore: every call starts from fresh zeroed turnover arrays."""

    def __call__(self) -> tuple[np.ndarray, np.ndarray]:
        w = self.workload
        return numpy_turnover(w.accounts_count, w.accounts, w.amounts)

    def problems(self, result: tuple[np.ndarray, np.ndarray], thorough: bool = False) -> list[str]:
        debits, credits = result
        amounts = self.workload.amounts
        if thorough and int(debits.sum()) != int(amounts[amounts > 0].sum()):
            return ["debit turnover does not add up to the positive amounts"]
        if int(debits.sum()) != int(credits.sum()):
            return ["debit and credit turnover differ on a balanced workload"]
        return []


class CheckedKernelScenario(KernelScenario):
    """make_batch on the caller's raw columns, then Engine.post: the in-memory half of the
    public bulk path, Ledger.post_columns (its input checks and conversions plus the kernel).

    The store write that post_columns does after the kernel is not part of it: that figure
    belongs to the store, and a store cannot be put back to its opening state between rounds
    without rebuilding the whole ledger.
    """

    def __init__(self, workload: Workload, batch: Batch) -> None:
        super().__init__(workload, batch, constrained=False)
        self.name = CHECKED_KERNEL

    def __call__(self) -> np.ndarray:
        return self.engine.post(batch_of(self.workload))
