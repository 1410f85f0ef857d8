"""The ledger as a whole against the auditor: ledger.testing.LedgerMachine, run for real.

The machine creates accounts, posts random batches through both paths, replays batches,
posts and voids pending entries and reads balances; after every step every code and every
balance must equal the auditor's. The run is sized here, not by the hypothesis profile:
EXAMPLES runs of up to STEPS_PER_EXAMPLE steps, and the test counts the steps that actually
ran and requires at least STEPS_MIN (hypothesis may end a run early when its buffer fills).

`SqliteFileMachine` is the same machine on a SQLite file that it closes and reopens at
random, the way a durable store is plugged in (override `open_ledger` and `reopen_ledger`).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

import ledger
from ledger.testing import LedgerMachine

STEPS_MIN = 500
EXAMPLES = 40
STEPS_PER_EXAMPLE = 25


class InMemoryMachine(LedgerMachine):
    """The machine on `ledger.open()` (a fresh in-memory ledger per run)."""

    steps_run = 0


class SqliteFileMachine(LedgerMachine):
    """The machine on a SQLite file, closed and reopened now and then."""

    reopenable = True
    steps_run = 0

    def open_ledger(self) -> ledger.Ledger:
        self.directory = Path(tempfile.mkdtemp(prefix="ledger-machine-"))
        return ledger.open(f"sqlite:///{self.directory / 'ledger.db'}")

    def reopen_ledger(self) -> ledger.Ledger:
        self.ledger.close()
        return ledger.open(f"sqlite:///{self.directory / 'ledger.db'}")

    def teardown(self) -> None:
        super().teardown()
        shutil.rmtree(self.directory, ignore_errors=True)


def _run(machine: type[LedgerMachine], examples: int, steps: int) -> int:
    machine.steps_run = 0
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=[
                HealthCheck.too_slow,
                HealthCheck.data_too_large,
                HealthCheck.filter_too_much,
            ],
        ),
    )
    return machine.steps_run


def test_ledger_agrees_with_the_auditor_step_by_step():
    assert _run(InMemoryMachine, EXAMPLES, STEPS_PER_EXAMPLE) >= STEPS_MIN


def test_a_reopened_sqlite_ledger_agrees_with_the_auditor():
    assert _run(SqliteFileMachine, 6, 15) >= 30
