"""Several processes posting into one durable ledger behave like one process posting serially.

Three worker processes open their own Ledger on the same database and post interleaved
batches (`worker_plan`): funding and deposits, spends that both constrained accounts of a
book must allow (so whether a spend is accepted depends on which batches committed first),
pending spends that any worker may post or void, linked chains, and entries that every
worker offers identically under the same key. The workers alternate the bulk and the record
path and read balances between batches; two of them checkpoint while the others write, and
close their ledger at the end, the third just exits.

Afterwards the entries and lines actually stored, taken batch by batch in batch-id order,
are replayed through a fresh in-memory ledger: it must accept every one of them and end with
exactly the durable ledger's balances (a serial order of the accepted batches explains
the result; nothing was lost or applied twice). Each worker's reported codes must agree
with what is stored, each worker's own view of the balances at the end must be the stored
one, and no constrained account may be over its limit.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

import ledger
from ledger import Code
from ledger.columns import ENTRY_POST_PENDING, ENTRY_VOID_PENDING

from ._workload import (
    CONSTRAINED,
    SHARED_KEY_BASE,
    WORKER_BOOKS,
    Child,
    balance_rows,
    rows,
    worker_account_keys,
    worker_plan,
    worker_world,
)

WORKERS = 3
BATCHES = 30
SHARED = 12
SEED = 424242


def stored_batches(engine) -> list[dict[str, np.ndarray]]:
    """Every stored batch as post_columns arguments (entries in stored order)."""
    entries = rows(
        engine,
        "SELECT batch, key, book, date, flags, pending, extra, lines FROM entries ORDER BY batch, seq",
    )
    lines = rows(
        engine,
        "SELECT entry, account, amount, dim1, dim2, dim3, dim4 FROM lines ORDER BY batch, entry, line",
    )
    by_entry: dict[int, list[tuple[int, ...]]] = defaultdict(list)
    for entry, *rest in lines:
        by_entry[int(entry)].append(tuple(int(v or 0) for v in rest))
    grouped: dict[int, list[tuple]] = defaultdict(list)
    for row in entries:
        grouped[int(row[0])].append(row[1:])
    batches = []
    for batch_id in sorted(grouped):
        members = grouped[batch_id]
        entry_lines = [by_entry[int(m[0])] for m in members]
        assert [len(ls) for ls in entry_lines] == [int(m[6]) for m in members]
        flat = [line for ls in entry_lines for line in ls]
        batches.append(
            {
                "keys": np.array([int(m[0]) for m in members], np.int64),
                "offsets": np.concatenate([[0], np.cumsum([len(ls) for ls in entry_lines])]).astype(np.int64),
                "accounts": np.array([line[0] for line in flat], np.int64),
                "amounts": np.array([line[1] for line in flat], np.int64),
                "dims": np.array([line[2:] for line in flat], np.int32).reshape(-1, 4),
                "books": np.array([int(m[1]) for m in members], np.int32),
                "dates": np.array([int(m[2]) for m in members], np.int32),
                "flags": np.array([int(m[3]) for m in members], np.uint16),
                "pending": np.array([int(m[4] or 0) for m in members], np.int64),
                "extra": np.array([int(m[5] or 0) for m in members], np.int64).view(np.uint64),
            }
        )
    return batches


def run_workers(durable, tmp_path: Path) -> list[dict]:
    """Start the workers together; each one's [[key, code], ...] per batch ("results") and
    its view of the balances once all had posted ("balances")."""
    children = [
        Child(
            "worker",
            url=durable.url,
            worker=w,
            seed=SEED,
            workers=WORKERS,
            batches=BATCHES,
            shared=SHARED,
            out=str(tmp_path / f"worker-{w}.json"),
            close=w != 1,
        )
        for w in range(WORKERS)
    ]
    try:
        for child in children:
            child.expect("ready")
        for child in children:
            child.send("go")
        for child in children:
            child.expect("posted")
        for child in children:
            child.send("report")
        for child in children:
            child.expect("finished")
            assert child.wait() == 0, child.stderr()
    finally:
        for child in children:
            if child.process.poll() is None:
                child.process.kill()
                child.wait()
    return [json.loads((tmp_path / f"worker-{w}.json").read_text()) for w in range(WORKERS)]


def test_concurrent_writers_equal_a_serial_order(durable, tmp_path: Path) -> None:
    """Interleaved batches of three processes: the stored result is some serial order of
    the accepted batches (a fresh ledger replaying them accepts all and ends with the same
    balances), every report matches the store, every process ends seeing the stored
    balances, and no constraint is broken."""
    with ledger.open(durable.url) as book:
        worker_world(book)
    plan = worker_plan(SEED, WORKERS, BATCHES, SHARED)
    outputs = run_workers(durable, tmp_path)
    reports = [output["results"] for output in outputs]
    engine = durable.engine()

    duplicates = rows(engine, "SELECT key, count(*) FROM entries GROUP BY key HAVING count(*) > 1")
    assert duplicates == [], "an entry key is stored twice"
    stored = stored_batches(engine)
    stored_keys = {int(k) for batch in stored for k in batch["keys"]}

    # Each call that accepted something is exactly one stored batch, entries in call order.
    accepted_calls = sorted(
        tuple(key for key, code in call if code == Code.ok) for report in reports for call in report
    )
    accepted_calls = [call for call in accepted_calls if call]
    assert sorted(tuple(int(k) for k in batch["keys"]) for batch in stored) == accepted_calls

    codes_by_key: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for w, report in enumerate(reports):
        assert [[key for key, _ in call] for call in report] == [[e.key for e in call] for call in plan[w]]
        for call in report:
            for key, code in call:
                codes_by_key[key].append((w, code))
    for key, offers in codes_by_key.items():
        codes = [Code(code) for _, code in offers]
        if key >= SHARED_KEY_BASE:
            assert len(offers) == WORKERS and key in stored_keys, (key, codes)
            assert sorted(codes) == [Code.ok] + [Code.exists] * (WORKERS - 1), (key, codes)
        else:
            assert len(offers) == 1, (key, codes)
            assert (codes[0] == Code.ok) == (key in stored_keys), (key, codes)
            assert codes[0] not in (Code.exists, Code.exists_with_different_fields), (key, codes)
    outcome = Counter(Code(code).name for offers in codes_by_key.values() for _, code in offers)
    assert outcome["exceeds_credits"] + outcome["exceeds_debits"] > 0, outcome
    assert outcome["ok"] > 0, outcome

    # A pending entry is resolved at most once; a refusal as already resolved names one that was.
    resolutions = Counter(
        int(p)
        for batch in stored
        for p, f in zip(batch["pending"], batch["flags"], strict=True)
        if f & (ENTRY_POST_PENDING | ENTRY_VOID_PENDING)
    )
    assert all(count == 1 for count in resolutions.values()), resolutions
    planned = {e.key: e for worker in plan for call in worker for e in call}
    for key, offers in codes_by_key.items():
        if any(code == Code.pending_already_resolved for _, code in offers):
            assert planned[key].pending in resolutions, key

    with ledger.open(durable.url) as book:
        durable_rows = balance_rows(book)
        for w, output in enumerate(outputs):
            assert output["balances"] == durable_rows.tolist(), f"worker {w} sees other balances"
        assert book.verify() is None
        index = dict(
            zip(worker_account_keys(), book.account_index(worker_account_keys()).tolist(), strict=True)
        )
    stored_lines: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for entry, account, amount in rows(
        engine, "SELECT entry, account, amount FROM lines ORDER BY entry, line"
    ):
        stored_lines[int(entry)].append((int(account), int(amount)))
    for key, date, flags, pending in rows(engine, "SELECT key, date, flags, pending FROM entries"):
        wanted = planned[int(key)]
        assert (int(date), int(flags), int(pending or 0)) == (wanted.date, wanted.flags, wanted.pending), key
        assert stored_lines.get(int(key), []) == [(index[a], amount) for a, amount in wanted.lines], key

    with ledger.open() as replay:
        worker_world(replay)
        for position, batch in enumerate(stored):
            codes = replay.post_columns(**batch)
            assert not codes.any(), (
                f"stored batch {position + 1} is not accepted in batch order: {codes.tolist()}"
            )
        assert np.array_equal(balance_rows(replay), durable_rows)

    for book_key in WORKER_BOOKS:
        for name, constraint in CONSTRAINED.items():
            dp, cp, dq, cq = durable_rows[index[f"{book_key}.{name}"]].tolist()
            if constraint == "debits_must_not_exceed_credits":
                assert dp + dq <= cp, (book_key, name, dp, cp, dq)
            else:
                assert cp + cq <= dp, (book_key, name, dp, cp, cq)


def small_world(url: str) -> ledger.Ledger:
    book = ledger.open(url)
    book.create_groups([{"key": "CNY", "scale": 0}])
    book.create_books([{"key": "B"}])
    book.create_accounts(
        [
            {"key": "a", "book": "B", "group": "CNY", "code": "1"},
            {"key": "b", "book": "B", "group": "CNY", "code": "2"},
        ]
    )
    return book


def pay(book: ledger.Ledger, key: int, amount: int) -> None:
    entry = {
        "key": key,
        "book": "B",
        "date": "2024-01-05",
        "lines": [{"account": "a", "debit": str(amount)}, {"account": "b", "credit": str(amount)}],
    }
    assert book.post([entry])[0].ok


def while_reading_groups(pg, read, meanwhile) -> None:
    """Run `read` in a thread, hold it at its read of the groups table (a lock taken by
    another session), run `meanwhile`, then let the read finish."""
    waiting = text(
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
        " WHERE NOT l.granted AND c.relname = 'groups' AND c.relnamespace = CAST(:schema AS regnamespace)"
    )
    errors: list[BaseException] = []

    def run() -> None:
        try:
            read()
        except BaseException as error:
            errors.append(error)

    with pg.engine().connect() as locker:
        locker.execute(text("LOCK TABLE groups IN ACCESS EXCLUSIVE MODE"))
        reader = threading.Thread(target=run)
        reader.start()
        with pg.engine().connect() as watcher:
            while not watcher.execute(waiting, {"schema": pg.schema()}).scalar_one():
                assert reader.is_alive(), errors
                time.sleep(0.01)
        meanwhile()
        locker.rollback()
    reader.join(timeout=60)
    assert not reader.is_alive() and not errors, errors


@pytest.mark.postgres
def test_load_during_checkpoint_is_one_snapshot(pg) -> None:
    """A ledger opened while another one checkpoints reads every balance once.

    Opening reads the checkpoint position, then the folded monthly sums plus the lines of
    later batches. If the checkpoint commits between those reads, a reader that does not
    see one snapshot counts the newly folded batches twice. The opening reader is held (by
    a lock on a table it reads in between) until the checkpoint has committed.
    """
    writer = small_world(pg.url)
    opened: list[ledger.Ledger] = []
    try:
        pay(writer, 1, 5)
        while_reading_groups(pg, lambda: opened.append(ledger.open(pg.url)), lambda: writer.checkpoint())
        with opened[0] as late:
            assert np.array_equal(balance_rows(late), balance_rows(writer))
    finally:
        writer.close()


@pytest.mark.postgres
def test_catch_up_during_a_commit_counts_each_batch_once(pg) -> None:
    """A ledger catching up on another process's commits while that process commits again
    applies every batch exactly once (then and at its next catch-up).

    The catching-up reader is held (by a lock on a table it reads in between) after it has
    read the chain head and before it reads the new batches; the writer commits one more
    batch meanwhile.
    """
    writer = small_world(pg.url)
    reader = ledger.open(pg.url)
    try:
        pay(writer, 1, 5)
        assert np.array_equal(balance_rows(reader), balance_rows(writer))
        pay(writer, 2, 7)
        while_reading_groups(pg, reader.balances, lambda: pay(writer, 3, 11))
        assert np.array_equal(balance_rows(reader), balance_rows(writer))
        assert (
            reader.post(
                [
                    {
                        "key": 3,
                        "book": "B",
                        "date": "2024-01-05",
                        "lines": [{"account": "a", "debit": "11"}, {"account": "b", "credit": "11"}],
                    }
                ]
            )[0].code
            == Code.exists
        )
        pay(reader, 4, 13)
        assert np.array_equal(balance_rows(reader), balance_rows(writer))
        assert balance_rows(writer).tolist() == [[36, 0, 0, 0], [0, 36, 0, 0]]
    finally:
        reader.close()
        writer.close()
