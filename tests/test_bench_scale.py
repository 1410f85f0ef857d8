"""`python -m benchmarks.scale` runs end to end at a tiny size (the figures are not checked:
tests never assert on wall-clock time): the crash leaves an unfolded tail, the checkpoint
folds it, and the balances read back equal the generated lines'."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get("LEDGER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TINY = ["--accounts", "300", "--lines", "20000", "--unfolded", "5000", "--batch", "4000",
        "--checkpoint-lines", "8000", "--calls", "20", "--no-check"]  # fmt: skip


def postgres_reachable() -> bool:
    from sqlalchemy import create_engine, text

    engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("store", "dates"),
    [("sqlite", "chronological"), pytest.param("postgresql", "random", marks=pytest.mark.postgres)],
)
def test_scale_benchmark_runs_at_a_tiny_size(store: str, dates: str, tmp_path: Path) -> None:
    unreachable = store == "postgresql" and not postgres_reachable()
    if unreachable and os.environ.get("LEDGER_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL at {POSTGRES_URL} is unreachable")
    elif unreachable:
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} is unreachable (LEDGER_REQUIRE_POSTGRES=1 fails instead)")
    out = tmp_path / "scale.json"
    command = [sys.executable, "-m", "benchmarks.scale", "--store", store, "--dates", dates, *TINY,
               "--workdir", str(tmp_path), "--out", str(out), "--postgres-url", POSTGRES_URL,
               "--schema", f"bench_scale_{uuid.uuid4().hex[:12]}"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    steps = json.loads(out.read_text())["stores"][store]["steps"]
    assert [name for name, step in steps.items() if "error" in step] == []
    assert steps["crash"]["exit_code"] == -9
    assert steps["checkpoint"]["batches_folded"] == 2  # the tail's two calls, unfolded until then
    assert len(steps["build"]["checkpoints_s"]) == 1
    assert steps["readback"]["accounts_differ"] == 0
    assert steps["calls"]["calls"] == 20
    assert steps["calls"]["first_call_ms"] > 0  # timed apart from the rates
    assert list(tmp_path.iterdir()) == [out]  # the SQLite directory is gone
