"""A writer killed with SIGKILL at a random moment leaves the database at a commit boundary.

A child process posts the generated crash batches (about 50,000 lines each, with pending
entries whose posts and voids come in the next batch, and a checkpoint after every second
batch) until the parent kills it after a random delay: before, inside or right after a
write transaction or a checkpoint. After each kill the parent opens the ledger and requires
that what it reads is exactly the first k batches for some k (balances computed with numpy
from the same generated batches), that the rows of each batch are all there or all absent,
and that the hash chain verifies; the next child carries on from batch k. After every
EPOCH_KILLS kills the workload starts over on a fresh database (which keeps the chain that
verify() walks short).
"""

from __future__ import annotations

import signal
import time
import uuid

import numpy as np
import pytest

import ledger

from ._workload import (
    CRASH_KEY_STRIDE,
    Child,
    CrashPlan,
    balance_rows,
    crash_keys,
    crash_world,
    rows,
    scalar,
)

KILLS_PER_STORE = 10
EPOCH_KILLS = 3
BATCHES_MAX = 10_000
DELAY_SEED = 8675309


def assert_commit_boundary(durable, url: str, plan: CrashPlan, low: int, high: int) -> int:
    """The database holds exactly the first k crash batches, low <= k <= high; returns k."""
    engine = durable.engine(url)
    committed = int(scalar(engine, "SELECT count(*) FROM batches"))
    assert low <= committed <= high, f"{committed} batches committed, the child reported {low}..{high}"
    assert int(scalar(engine, "SELECT last_batch FROM ledger_state")) == committed
    assert int(scalar(engine, "SELECT checkpoint_batch FROM ledger_state")) <= committed
    plan.extend(committed)
    expected = [(i + 1, plan.entries[i], plan.lines[i]) for i in range(committed)]
    batches = rows(engine, "SELECT id, entries, lines FROM batches ORDER BY id")
    assert [tuple(int(v) for v in row) for row in batches] == expected
    by_key_range = rows(
        engine,
        f"SELECT key / {CRASH_KEY_STRIDE} AS g, count(*), sum(lines) FROM entries"
        f" GROUP BY key / {CRASH_KEY_STRIDE} ORDER BY 1",
    )
    assert [(int(g) + 1, int(n), int(s)) for g, n, s in by_key_range] == expected, "a batch is partly stored"
    by_batch = rows(
        engine, "SELECT batch, min(key), max(key), count(*) FROM entries GROUP BY batch ORDER BY batch"
    )
    assert [tuple(int(v) for v in row) for row in by_batch] == [
        (i + 1, int(crash_keys(i)[0]), int(crash_keys(i)[-1]), plan.entries[i]) for i in range(committed)
    ]
    lines = rows(engine, "SELECT batch, count(*) FROM lines GROUP BY batch ORDER BY batch")
    assert [(int(b), int(n)) for b, n in lines] == [(i + 1, plan.lines[i]) for i in range(committed)]
    with ledger.open(url) as book:
        actual = balance_rows(book)
        wanted = plan.balances(committed)
        wrong = np.flatnonzero((actual != wanted).any(axis=1))
        assert not len(wrong), (
            f"after {committed} batches, account {wrong[0]}: {actual[wrong[0]]} != {wanted[wrong[0]]}"
        )
        assert book.verify() is None
    return committed


def kill_round(
    durable, url: str, plan: CrashPlan, committed: int, delay: float, after_a_commit: bool
) -> tuple[int, list[float]]:
    """Start a writer and kill it `delay` seconds after it is ready (with `after_a_commit`:
    after its first commit), then check the boundary. Returns the batches committed and how
    long each of the writer's posts took (the scale of later random delays)."""
    name = f"crash-{uuid.uuid4().hex[:12]}"
    child = Child("crash", url=durable.child_url(url, name), batches_max=BATCHES_MAX)
    try:
        ready = child.expect("ready")
        assert int(ready.split()[1]) == committed
        if after_a_commit:
            child.expect("committed")
        time.sleep(delay)
    finally:
        child.process.send_signal(signal.SIGKILL)
    status = child.wait()
    assert status == -signal.SIGKILL, (
        f"the writer ended by itself ({status}): {child.drain()}\n{child.stderr()}"
    )
    durable.wait_backends_gone(name)
    # A kill can cut the writer's last report short ("committed" alone): only whole reports
    # count, and the boundary check below allows the one commit a cut report stood for.
    posts = [
        fields for line in child.drain() if len(fields := line.split()) == 3 and fields[0] == "committed"
    ]
    low = int(posts[-1][1]) + 1 if posts else committed
    committed = assert_commit_boundary(durable, url, plan, low, low + 1)
    return committed, [float(post[2]) for post in posts]


@pytest.mark.slow
def test_killed_writer_leaves_a_commit_boundary(durable) -> None:
    """Ten SIGKILLs per store at random moments of a writer posting large batches: after
    each, the database is exactly a prefix of the batches (balances, entries, lines, batch
    records) and verify() finds the chain intact."""
    rng = np.random.default_rng(DELAY_SEED)
    plan = CrashPlan()
    post_time = 0.2
    kills = 0
    while kills < KILLS_PER_STORE:
        url = durable.url if kills == 0 else durable.new_url()
        with ledger.open(url) as book:
            crash_world(book)
        committed = 0
        for position in range(min(EPOCH_KILLS, KILLS_PER_STORE - kills)):
            delay = float(rng.uniform(0, 2.5 * post_time))
            committed, times = kill_round(durable, url, plan, committed, delay, after_a_commit=position == 0)
            post_time = times[-1] if times else post_time
            kills += 1
