"""Hypothesis profiles and shared fixtures of the test suite.

Profiles (HYPOTHESIS_PROFILE picks one; otherwise "ci" when CI=true, else "dev"):

* dev — quick local runs;
* ci — what CI runs: failing examples printed as reproducible blobs, slow health checks off;
* thorough — a long hunt before a release (`HYPOTHESIS_PROFILE=thorough pytest -n 2`).

Profiles only scale the property tests. The amounts of work the core-engine issue demands
(>= 500 state-machine steps, >= 1,000 differential batches) are fixed in those tests
themselves and measured there, so they hold under every profile.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

import ledger

settings.register_profile("dev", max_examples=40, deadline=None)
settings.register_profile(
    "ci",
    max_examples=50,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("thorough", max_examples=2_000, deadline=None, print_blob=True)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") == "true" else "dev")
)


@pytest.fixture
def open_ledger():
    """How a test opens a ledger (a fresh in-memory one); closed again after the test."""
    opened: list[ledger.Ledger] = []

    def factory() -> ledger.Ledger:
        book = ledger.open()
        opened.append(book)
        return book

    yield factory
    for book in opened:
        book.close()
