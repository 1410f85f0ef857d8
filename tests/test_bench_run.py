"""benchmarks.run's command line: --stores takes the durable kinds or none, nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("stores", ["memory", "sqlite,memory", "", "sqlite,"])
def test_an_unknown_store_is_refused_before_any_work(stores: str) -> None:
    """The in-memory ledger is always timed; anything but sqlite, postgresql or none is an
    error before a workload is built (it was once taken for PostgreSQL, whose schema was
    then left behind)."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--stores", stores, "--lines", "100"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "--stores" in done.stderr and "expected sqlite, postgresql" in done.stderr
    assert done.stdout == ""
