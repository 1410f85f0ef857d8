"""Deterministic workloads of the durability suite, and the child processes that run them.

The tests import this module; child processes run it as a script
(`python _workload.py <mode> <json arguments>`), so the parent and its children build the
very same batches from the same seeds:

* crash — post the generated crash batches 0, 1, 2, … (from the first one not yet
  committed) until killed, printing `committed <i>` after each commit;
* worker — one of the concurrent writers: wait for `go` on stdin, post its planned batches,
  then (on `report`) write every result code and its view of the balances to a JSON file;
* history — post the reopen history and exit without closing the ledger.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, create_engine, text

import ledger
from ledger.columns import (
    BALANCE_FIELDS,
    ENTRY_LINKED,
    ENTRY_PENDING,
    ENTRY_POST_PENDING,
    ENTRY_VOID_PENDING,
)
from ledger.periods import days

REPO_ROOT = Path(__file__).resolve().parents[2]
JAN_1 = days(dt.date(2024, 1, 1))


def balance_rows(book: ledger.Ledger) -> np.ndarray:
    """The four balance columns of every account, as an (accounts, 4) int64 array."""
    balances = book.balances()
    return np.stack([balances[name] for name in BALANCE_FIELDS], axis=1).reshape(-1, 4)


def scalar(engine: Engine, sql: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


def rows(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(sql))]


# --- child processes -----------------------------------------------------------------------------


class Child:
    """A child process running one mode of this module; its stdout lines arrive in a queue,
    its stderr goes to a temporary file (read back for failure messages)."""

    def __init__(self, mode: str, **arguments: Any) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - kept as long as the child
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), mode, json.dumps(arguments)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=env,
            cwd=REPO_ROOT,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, prefix: str, timeout: float = 300.0) -> str:
        """The next stdout line starting with `prefix` (AssertionError if the child ends first)."""
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"child printed no {prefix!r} line; so far: {self.seen}") from None
            if line is None:
                raise AssertionError(f"child ended before {prefix!r}: {self.seen}\n{self.stderr()}")
            self.seen.append(line)
            if line.startswith(prefix):
                return line

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def drain(self) -> list[str]:
        """Every line printed so far (after the child has ended: all of them)."""
        self._reader.join(timeout=60)
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                return self.seen
            if line is not None:
                self.seen.append(line)

    def stderr(self) -> str:
        """What the child wrote to stderr (once it has ended, or after 10 s)."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self._stderr.seek(0)
        return self._stderr.read()

    def wait(self, timeout: float = 300.0) -> int:
        return self.process.wait(timeout=timeout)


# --- crash batches -------------------------------------------------------------------------------

CRASH_SEED = 20240601
CRASH_BOOKS = 2
CRASH_ACCOUNTS_PER_BOOK = 32
CRASH_ENTRIES = 2_000  # ordinary and pending entries per batch (plus resolutions)
CRASH_LINES_PER_ENTRY_MAX = 48  # 2..48 lines: about 50,000 lines per batch
CRASH_PENDING_EVERY = 20  # every 20th entry reserves; the next batch posts or voids it
CRASH_KEY_STRIDE = 10_000_000
CRASH_CHECKPOINT_EVERY = 2  # the child checkpoints after batches 1, 3, 5, …


def crash_world(book: ledger.Ledger) -> None:
    """Groups, books and accounts of the crash workload (account index = position here)."""
    book.create_groups([{"key": "CNY", "scale": 2}])
    book.create_books([{"key": f"B{b}"} for b in range(CRASH_BOOKS)])
    count = CRASH_BOOKS * CRASH_ACCOUNTS_PER_BOOK
    codes = book.create_accounts_columns(
        [f"A{i}" for i in range(count)],
        [f"B{i // CRASH_ACCOUNTS_PER_BOOK}" for i in range(count)],
        ["CNY"] * count,
        ["1001"] * count,
    )
    assert not codes.any()


def _pending_positions() -> np.ndarray:
    return np.arange(7, CRASH_ENTRIES, CRASH_PENDING_EVERY)


def _resolutions(index: int) -> int:
    return 0 if index == 0 else len(_pending_positions())


def crash_batch(index: int) -> dict[str, np.ndarray]:
    """The post_columns arguments of crash batch `index`.

    It starts with the posts (even) and voids (odd) of the previous batch's pending
    entries, without lines; then CRASH_ENTRIES balanced entries in one book each, every
    CRASH_PENDING_EVERY-th of them pending. Every entry is accepted when the batches are
    posted in order.
    """
    rng = np.random.default_rng([CRASH_SEED, index])
    n, r = CRASH_ENTRIES, _resolutions(index)
    counts = rng.integers(2, CRASH_LINES_PER_ENTRY_MAX + 1, n)
    offsets = np.zeros(r + n + 1, np.int64)
    offsets[r + 1 :] = np.cumsum(counts)
    lines = int(offsets[-1])
    book = rng.integers(0, CRASH_BOOKS, n)
    accounts = np.repeat(book, counts) * CRASH_ACCOUNTS_PER_BOOK + rng.integers(
        0, CRASH_ACCOUNTS_PER_BOOK, lines
    )
    amounts = rng.integers(1, 1_000_000, lines) * rng.choice(np.array([-1, 1]), lines)
    starts, ends = offsets[r:-1], offsets[r + 1 :] - 1
    amounts[starts] = np.abs(amounts[starts])
    others = np.add.reduceat(amounts, starts) - amounts[ends]
    amounts[ends] = -others
    zero = amounts[ends] == 0
    amounts[starts[zero]] += 1
    amounts[ends[zero]] = -1
    dims = np.where(rng.random((lines, 1)) < 0.1, rng.integers(1, 1000, (lines, 4)), 0).astype(np.int32)
    flags = np.zeros(r + n, np.uint16)
    flags[r + _pending_positions()] = ENTRY_PENDING
    pending = np.zeros(r + n, np.int64)
    if r:
        previous = crash_keys(index - 1)[_resolutions(index - 1) + _pending_positions()]
        pending[:r] = previous
        flags[:r] = np.where(np.arange(r) % 2 == 0, ENTRY_POST_PENDING, ENTRY_VOID_PENDING)
    return {
        "keys": crash_keys(index),
        "offsets": offsets,
        "accounts": accounts.astype(np.int32),
        "amounts": amounts.astype(np.int64),
        "flags": flags,
        "dates": (JAN_1 + rng.integers(0, 366, r + n)).astype(np.int32),
        "pending": pending,
        "dims": dims,
    }


def crash_keys(index: int) -> np.ndarray:
    return index * CRASH_KEY_STRIDE + 1 + np.arange(_resolutions(index) + CRASH_ENTRIES, dtype=np.int64)


@dataclass
class CrashPlan:
    """What each crash batch does: balance deltas (with its resolutions) and row counts."""

    deltas: list[np.ndarray] = field(default_factory=list)
    entries: list[int] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    _reserved: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)

    def extend(self, count: int) -> None:
        """Work out batches up to `count` (exclusive)."""
        accounts_count = CRASH_BOOKS * CRASH_ACCOUNTS_PER_BOOK
        while len(self.deltas) < count:
            index = len(self.deltas)
            batch = crash_batch(index)
            counts = np.diff(batch["offsets"])
            line_flags = np.repeat(batch["flags"], counts)
            accounts, amounts = batch["accounts"].astype(np.int64), batch["amounts"]
            delta = np.zeros((accounts_count, 4), np.int64)
            held = (line_flags & ENTRY_PENDING) != 0
            debit = amounts > 0
            for column, mask in enumerate((~held & debit, ~held & ~debit, held & debit, held & ~debit)):
                np.add.at(delta[:, column], accounts[mask], np.abs(amounts[mask]))
            if index:
                self._resolve(delta, index)
            entry_of_line = np.repeat(np.arange(len(counts)), counts)
            self._reserved.append((accounts[held], amounts[held], entry_of_line[held]))
            self.deltas.append(delta)
            self.entries.append(len(batch["keys"]))
            self.lines.append(len(amounts))

    def _resolve(self, delta: np.ndarray, index: int) -> None:
        """The previous batch's pending lines, released (void) or moved to posted (post)."""
        accounts, amounts, entry = self._reserved[index - 1]
        pending_index = np.searchsorted(_resolutions(index - 1) + _pending_positions(), entry)
        posted = pending_index % 2 == 0
        debit = amounts > 0
        np.add.at(delta[:, 2], accounts[debit], -amounts[debit])
        np.add.at(delta[:, 3], accounts[~debit], amounts[~debit])
        np.add.at(delta[:, 0], accounts[debit & posted], amounts[debit & posted])
        np.add.at(delta[:, 1], accounts[~debit & posted], -amounts[~debit & posted])

    def balances(self, committed: int) -> np.ndarray:
        """The balances after the first `committed` batches."""
        self.extend(committed)
        total = np.zeros((CRASH_BOOKS * CRASH_ACCOUNTS_PER_BOOK, 4), np.int64)
        for delta in self.deltas[:committed]:
            total += delta
        return total


def crash_child(url: str, batches_max: int) -> None:
    """Post crash batches from the first one not committed yet, checkpointing now and then,
    until killed; print `committed <index> <seconds the post took>` after each commit."""
    book = ledger.open(url)
    engine = create_engine(url)
    start = int(scalar(engine, "SELECT count(*) FROM batches"))
    engine.dispose()
    print("ready", start, flush=True)
    for index in range(start, batches_max):
        started = time.perf_counter()
        codes = book.post_columns(**crash_batch(index))
        if codes.any():
            print("refused", index, np.flatnonzero(codes)[:5].tolist(), flush=True)
            sys.exit(3)
        print("committed", index, time.perf_counter() - started, flush=True)
        if index % CRASH_CHECKPOINT_EVERY == CRASH_CHECKPOINT_EVERY - 1:
            book.checkpoint()
            print("checkpointed", index, flush=True)
    print("done", flush=True)
    time.sleep(3600)


# --- concurrent writers --------------------------------------------------------------------------

WORKER_BOOKS = ("B0", "B1")
# Per book: budget (credits fund it, debits spend it; debits must not exceed credits) and cash
# (debits deposit into it, credits pay from it; credits must not exceed debits).
WORKER_ACCOUNTS = ("source", "budget", "cash", "equity", "expense")
CONSTRAINED = {"budget": "debits_must_not_exceed_credits", "cash": "credits_must_not_exceed_debits"}
SHARED_KEY_BASE = 9_000_000
WORKER_KEY_STRIDE = 1_000_000


def worker_account_keys() -> list[str]:
    return [f"{book}.{name}" for book in WORKER_BOOKS for name in WORKER_ACCOUNTS]


def worker_world(book: ledger.Ledger) -> None:
    assert all(r.ok for r in book.create_groups([{"key": "CNY", "scale": 2}]))
    assert all(r.ok for r in book.create_books([{"key": key} for key in WORKER_BOOKS]))
    accounts = []
    for book_key in WORKER_BOOKS:
        for name in WORKER_ACCOUNTS:
            flags = [CONSTRAINED[name]] if name in CONSTRAINED else []
            normal = "credit" if name in ("budget", "equity") else "debit"
            accounts.append(
                {
                    "key": f"{book_key}.{name}",
                    "book": book_key,
                    "group": "CNY",
                    "code": "1001",
                    "normal": normal,
                    "flags": flags,
                }
            )
    assert all(r.ok for r in book.create_accounts(accounts))


@dataclass(frozen=True)
class PlannedEntry:
    """One entry a worker offers: lines as (account key, signed minor units)."""

    key: int
    book: str
    date: int
    lines: tuple[tuple[str, int], ...] = ()
    flags: int = 0
    pending: int = 0
    kind: str | None = None
    reference: str | None = None

    def record(self) -> dict[str, Any]:
        flags = [name for bit, name in _FLAG_NAMES.items() if self.flags & bit]
        return {
            "key": self.key,
            "book": self.book,
            "date": (dt.date(1970, 1, 1) + dt.timedelta(days=self.date)).isoformat(),
            "lines": [
                {
                    "account": account,
                    ("debit" if amount > 0 else "credit"): f"{abs(amount) // 100}.{abs(amount) % 100:02d}",
                }
                for account, amount in self.lines
            ],
            "flags": flags,
            "pending": self.pending or None,
            "kind": self.kind,
            "reference": self.reference,
        }


_FLAG_NAMES = {
    ENTRY_LINKED: "linked",
    ENTRY_PENDING: "pending",
    ENTRY_POST_PENDING: "post_pending",
    ENTRY_VOID_PENDING: "void_pending",
}


def worker_plan(seed: int, workers: int, batches: int, shared: int) -> list[list[list[PlannedEntry]]]:
    """Each worker's batches: funding, deposits, spends (some pending, some linked), posts and
    voids of pending spends of any worker, and `shared` entries every worker offers alike.

    Spends outrun funding, so whether a spend is accepted depends on the order the workers'
    batches commit in; shared entries are unconstrained, so exactly one offer of each is ok.
    """
    rng = np.random.default_rng(seed)
    plan: list[list[list[PlannedEntry]]] = [[[] for _ in range(batches)] for _ in range(workers)]
    pending_keys: list[tuple[int, str]] = []
    for w in range(workers):
        next_key = (w + 1) * WORKER_KEY_STRIDE
        for b in range(batches):
            size = int(rng.integers(6, 14))
            position = 0
            while position < size:
                next_key += 1
                book = WORKER_BOOKS[int(rng.integers(0, len(WORKER_BOOKS)))]
                date = JAN_1 + int(rng.integers(0, 120))
                choice = rng.random()
                amount = int(rng.integers(1, 2000)) * 100
                text = (f"w{w}b{b}", f"{w}-{next_key}") if b % 3 else (None, None)
                if choice < 0.22:
                    lines = ((f"{book}.source", amount), (f"{book}.budget", -amount))
                    entry = PlannedEntry(next_key, book, date, lines, kind=text[0], reference=text[1])
                elif choice < 0.40:
                    lines = ((f"{book}.cash", amount), (f"{book}.equity", -amount))
                    entry = PlannedEntry(next_key, book, date, lines, kind=text[0], reference=text[1])
                elif choice < 0.80:
                    spend = int(amount * 1.4)
                    lines = (
                        (f"{book}.budget", spend),
                        (f"{book}.expense", spend),
                        (f"{book}.cash", -spend),
                        (f"{book}.source", -spend),
                    )
                    held = rng.random() < 0.3
                    entry = PlannedEntry(
                        next_key, book, date, lines, ENTRY_PENDING if held else 0, kind=text[0]
                    )
                    if held:
                        pending_keys.append((next_key, book))
                elif pending_keys:
                    target, target_book = pending_keys[int(rng.integers(0, len(pending_keys)))]
                    bit = ENTRY_POST_PENDING if rng.random() < 0.6 else ENTRY_VOID_PENDING
                    entry = PlannedEntry(next_key, target_book, date, flags=bit, pending=target)
                else:
                    continue
                if position + 1 < size and rng.random() < 0.12:
                    entry = PlannedEntry(**{**entry.__dict__, "flags": entry.flags | ENTRY_LINKED})
                plan[w][b].append(entry)
                position += 1
            if plan[w][b][-1].flags & ENTRY_LINKED:
                last = plan[w][b][-1]
                plan[w][b][-1] = PlannedEntry(**{**last.__dict__, "flags": last.flags & ~ENTRY_LINKED})
    for s in range(shared):
        book = WORKER_BOOKS[s % len(WORKER_BOOKS)]
        amount = int(rng.integers(1, 3000)) * 100
        name = "source" if s % 3 else "cash"
        other = "budget" if s % 3 else "equity"
        lines = ((f"{book}.{name}", amount), (f"{book}.{other}", -amount))
        entry = PlannedEntry(SHARED_KEY_BASE + s, book, JAN_1 + int(rng.integers(0, 120)), lines)
        for w in range(workers):
            batch = plan[w][int(rng.integers(0, batches))]
            at = int(rng.integers(0, len(batch) + 1))
            while at > 0 and batch[at - 1].flags & ENTRY_LINKED:
                at -= 1
            batch.insert(at, entry)
    return plan


def post_planned(book: ledger.Ledger, entries: list[PlannedEntry], bulk: bool) -> list[int]:
    """Post planned entries through the bulk path or the record path; their codes."""
    if not bulk:
        return [int(r.code) for r in book.post([e.record() for e in entries])]
    index = dict(zip(worker_account_keys(), book.account_index(worker_account_keys()).tolist(), strict=True))
    offsets = np.zeros(len(entries) + 1, np.int64)
    offsets[1:] = np.cumsum([len(e.lines) for e in entries])
    return book.post_columns(
        np.array([e.key for e in entries], np.int64),
        offsets,
        np.array([index[a] for e in entries for a, _ in e.lines], np.int64),
        np.array([amount for e in entries for _, amount in e.lines], np.int64),
        flags=np.array([e.flags for e in entries], np.uint16),
        dates=np.array([e.date for e in entries], np.int32),
        pending=np.array([e.pending for e in entries], np.int64),
        books=book.book_index([e.book for e in entries]),
        kinds=[e.kind for e in entries],
        references=[e.reference for e in entries],
    ).tolist()


def worker_child(
    url: str, worker: int, seed: int, workers: int, batches: int, shared: int, out: str, close: bool
) -> None:
    """Post the worker's planned batches (reading balances between them; even workers also
    checkpoint after every tenth), then, once every worker has posted ("report" on stdin),
    write its codes and its final view of the balances, and close (`close`) or just exit."""
    plan = worker_plan(seed, workers, batches, shared)[worker]
    book = ledger.open(url)
    rng = np.random.default_rng([seed, worker])
    print("ready", flush=True)
    assert sys.stdin.readline().strip() == "go"
    results = []
    for b, entries in enumerate(plan):
        codes = post_planned(book, entries, bulk=b % 2 == 0)
        results.append([[e.key, code] for e, code in zip(entries, codes, strict=True)])
        if worker % 2 == 0 and b % 10 == 9:
            book.checkpoint()
        book.balances()
        time.sleep(float(rng.random()) * 0.004)
    print("posted", flush=True)
    assert sys.stdin.readline().strip() == "report"
    view = balance_rows(book).tolist()
    Path(out).write_text(json.dumps({"results": results, "balances": view}))
    if close:
        book.close()
    print("finished", flush=True)


# --- history (reopen) ----------------------------------------------------------------------------

HISTORY_ACCOUNTS = (
    # key, book, group, normal, flags
    ("cash", "B0", "CNY", "debit", ()),
    ("revenue", "B0", "CNY", "credit", ()),
    ("expense", "B0", "CNY", "debit", ()),
    ("budget", "B0", "BUD", "credit", ("debits_must_not_exceed_credits",)),
    ("quota", "B0", "BUD", "debit", ()),
    ("bank", "B1", "CNY", "debit", ()),
    ("payable", "B1", "CNY", "credit", ()),
    ("limit", "B1", "CNY", "debit", ("credits_must_not_exceed_debits",)),
)
HISTORY_BULK_ACCOUNTS = 20
HISTORY_DATES = tuple(dt.date(2024, 1, 1) + dt.timedelta(days=d) for d in range(-3, 130, 9))


def _line(account: str, amount: str, dims: tuple[int, ...] = ()) -> dict[str, Any]:
    side = "credit" if amount.startswith("-") else "debit"
    return {"account": account, side: amount.lstrip("-"), "dims": dims}


def _entry(key: int, book: str, date: str, *lines: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"key": key, "book": book, "date": date, "lines": list(lines), **fields}


def build_history(book: ledger.Ledger, checkpoint: bool = False) -> list[int]:
    """A small ledger's life: both posting paths, two balance groups, dimension codes,
    texts, pending entries posted and voided in later months, linked chains (one failing),
    refused entries, a closed period and a reversal. Returns every code, in order.

    With `checkpoint`, a checkpoint is taken halfway (otherwise nothing is folded unless
    the caller closes the ledger).
    """
    codes: list[int] = []
    codes += [
        int(r.code) for r in book.create_groups([{"key": "CNY", "scale": 2}, {"key": "BUD", "scale": 0}])
    ]
    codes += [int(r.code) for r in book.create_books([{"key": "B0"}, {"key": "B1", "name": "second"}])]
    accounts = [
        {"key": key, "book": b, "group": g, "code": "1001", "normal": normal, "flags": list(flags)}
        for key, b, g, normal, flags in HISTORY_ACCOUNTS
    ]
    codes += [int(r.code) for r in book.create_accounts(accounts)]
    bulk_keys = [f"X{i}" for i in range(HISTORY_BULK_ACCOUNTS)]
    codes += book.create_accounts_columns(
        bulk_keys,
        [f"B{i % 2}" for i in range(HISTORY_BULK_ACCOUNTS)],
        ["CNY"] * HISTORY_BULK_ACCOUNTS,
        ["2001"] * HISTORY_BULK_ACCOUNTS,
        normals=["credit" if i % 3 == 0 else "debit" for i in range(HISTORY_BULK_ACCOUNTS)],
    ).tolist()

    def post(*entries: dict[str, Any]) -> None:
        codes.extend(int(r.code) for r in book.post(list(entries)))

    post(
        _entry(
            1,
            "B0",
            "2024-01-03",
            _line("cash", "100.00", (101, 2)),
            _line("revenue", "-100.00"),
            _line("budget", "-500"),
            _line("quota", "500"),
            kind="receipt",
            reference="R-1",
        ),
        _entry(
            2, "B1", "2024-01-09", _line("bank", "2000.50"), _line("payable", "-2000.50"), reference="R-2"
        ),
        _entry(3, "B1", "2024-01-31", _line("limit", "300"), _line("payable", "-300")),
        _entry(4, "B0", "2024-01-15", _line("cash", "1"), _line("revenue", "-2")),  # unbalanced
    )
    rng = np.random.default_rng(7)
    index = book.account_index(bulk_keys)
    n = 200
    book_of = rng.integers(0, 2, n)
    first = index[2 * rng.integers(0, HISTORY_BULK_ACCOUNTS // 2, n) + book_of]
    second = index[2 * rng.integers(0, HISTORY_BULK_ACCOUNTS // 2, n) + book_of]
    amounts = rng.integers(1, 10**7, n)
    codes += book.post_columns(
        np.arange(100, 100 + n),
        np.arange(0, 2 * n + 1, 2),
        np.stack([first, second], axis=1).ravel(),
        np.stack([amounts, -amounts], axis=1).ravel(),
        dates=JAN_1 + rng.integers(0, 120, n),
        dims=np.where(rng.random((2 * n, 1)) < 0.3, rng.integers(0, 99, (2 * n, 4)), 0),
    ).tolist()
    post(
        _entry(10, "B0", "2024-02-10", _line("expense", "40.00"), _line("cash", "-40.00"), flags=["pending"]),
        _entry(11, "B1", "2024-02-20", _line("limit", "50"), _line("bank", "-50"), flags=["pending"]),
        _entry(12, "B0", "2024-02-11", _line("quota", "100"), _line("budget", "-100"), flags=["linked"]),
        _entry(13, "B0", "2024-02-11", _line("budget", "550"), _line("quota", "-550")),
        _entry(14, "B0", "2024-02-12", _line("budget", "10"), _line("quota", "-10"), flags=["linked"]),
        _entry(15, "B0", "2024-02-12", _line("budget", "990"), _line("quota", "-990")),  # exceeds_credits
        _entry(16, "B1", "2024-02-13", _line("limit", "-400"), _line("bank", "400")),  # exceeds_debits
    )
    if checkpoint:
        book.checkpoint()
    post(
        _entry(20, "B0", "2024-03-05", flags=["post_pending"], pending=10),
        _entry(21, "B1", "2024-04-02", flags=["void_pending"], pending=11),
        _entry(22, "B1", "2024-04-03", flags=["post_pending"], pending=11),  # already resolved
        _entry(23, "B0", "2024-03-28", _line("cash", "5.55"), _line("revenue", "-5.55"), kind="receipt"),
    )
    book.close_period("B1", "2024-01")
    post(
        _entry(30, "B1", "2024-01-20", _line("bank", "1"), _line("payable", "-1")),  # period_closed
        _entry(31, "B0", "2024-01-20", _line("cash", "1"), _line("revenue", "-1")),
        _entry(32, "B1", "2024-02-01", _line("bank", "1"), _line("payable", "-1")),
    )
    codes += book.post_columns(
        [40, 41, 42],
        [0, 2, 4, 4],
        book.account_index(["cash", "revenue", "expense", "cash"]),
        [700, -700, 900, -900],
        flags=[0, ENTRY_PENDING, ENTRY_POST_PENDING],
        pending=[0, 0, 41],
        dates=[days(dt.date(2024, 4, 9)), days(dt.date(2024, 4, 10)), days(dt.date(2024, 4, 30))],
    ).tolist()
    codes.append(int(book.reverse(2, 50, dt.date(2024, 4, 15)).code))
    codes.append(int(book.reverse(20, 51, dt.date(2024, 4, 16)).code))
    return codes


def history_account_keys() -> list[str]:
    return [key for key, *_ in HISTORY_ACCOUNTS] + [f"X{i}" for i in range(HISTORY_BULK_ACCOUNTS)]


def snapshot(book: ledger.Ledger) -> dict[str, Any]:
    """Everything a reader can see of the history ledger, in comparable form."""
    keys = history_account_keys()
    return {
        "balances": {name: column.tolist() for name, column in book.balances().items()},
        "periods": {key: book.period_balances(key) for key in keys},
        "closed": {b: book.closed_periods(b) for b in ("B0", "B1")},
        "as_of": {key: [book.balance(key, as_of=d) for d in HISTORY_DATES] for key in keys[:8]},
        "balance": {key: book.balance(key) for key in keys},
    }


def history_child(url: str) -> None:
    book = ledger.open(url)
    codes = build_history(book)
    print("posted", json.dumps(codes), flush=True)


def main() -> None:
    mode, arguments = sys.argv[1], json.loads(sys.argv[2])
    if mode == "crash":
        crash_child(**arguments)
    elif mode == "worker":
        worker_child(**arguments)
    elif mode == "history":
        history_child(**arguments)
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
