"""The core's state machine (ledger.testing.LedgerMachine) on a durable store.

Every example gets a fresh database (a SQLite file, a PostgreSQL schema). Besides the
machine's own rules (accounts, random batches through both paths with good and bad entries,
pending entries and their posts and voids, linked chains, replays, balance reads; every code
and balance checked against the auditor after every step), the durable machine checkpoints,
reads through a second ledger opened on the same database, verifies the hash chain (also at
the end of every example), and reopens the database: after close(), or after dropping the
ledger without closing it. The run is not shrunk (each step costs real transactions): a
failure shows the steps as they ran, and the auditor's message names the entry.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import ClassVar

from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import rule, run_state_machine_as_test

import ledger
from ledger.testing import LedgerMachine, Mix, assert_matches

EXAMPLES = 25
STEPS_PER_EXAMPLE = 25
STEPS_MIN = 250


class DurableMachine(LedgerMachine):
    """LedgerMachine on a fresh durable database per example (`new_url` makes one)."""

    reopenable = True
    steps_run = 0
    # What a store adds to the engine is most at risk from amounts near the int64 limit
    # (sums in SQL) and from entry texts (kept beside the entries, hashed into the chain).
    mix = Mix(huge=0.1, extra=0.25)
    new_url: ClassVar[Callable[[], str]]

    def open_ledger(self) -> ledger.Ledger:
        self.url = type(self).new_url()
        return ledger.open(self.url)

    def teardown(self) -> None:
        try:
            assert self.ledger.verify() is None
        finally:
            super().teardown()

    def reopen_ledger(self) -> ledger.Ledger:
        """close() (which folds what this ledger posted into the checkpoint), then open."""
        self.ledger.close()
        return ledger.open(self.url)

    @rule()
    def drop_and_reopen(self) -> None:
        """Drop the ledger without closing it (nothing folded) and open the database again."""
        self.ledger = ledger.open(self.url)
        gc.collect()  # the dropped ledger's idle connections go now, not at some later collection
        self._count_step()

    @rule()
    def verify_chain(self) -> None:
        """The hash chain of what was committed verifies."""
        assert self.ledger.verify() is None
        self._count_step()

    @rule()
    def checkpoint(self) -> None:
        """Fold what was posted into the monthly balances; reads stay exact."""
        self.ledger.checkpoint()
        self._count_step()

    @rule()
    def read_through_another_ledger(self) -> None:
        """A second ledger on the same database reads the same balances."""
        with ledger.open(self.url) as other:
            assert_matches(other, self.auditor)
        self._count_step()


def test_durable_ledger_agrees_with_the_auditor(durable) -> None:
    """Random work on a durable ledger, reopened now and then: every code and balance is
    the auditor's, as on an in-memory ledger."""
    machine = type(
        f"DurableMachine_{durable.kind}",
        (DurableMachine,),
        {"new_url": staticmethod(durable.new_url), "steps_run": 0},
    )
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS_PER_EXAMPLE,
            deadline=None,
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
            suppress_health_check=[
                HealthCheck.too_slow,
                HealthCheck.data_too_large,
                HealthCheck.filter_too_much,
            ],
        ),
    )
    assert machine.steps_run >= STEPS_MIN
