"""The replica: a ledger's in-memory state and how it stays equal to its store.

A process holds the catalog (keys ↔ dense indices) and the engine (account table, entry-key
and pending tables) of one store. `sync` makes them current before every read and inside
every write: nothing to do when the store's commit sequence is the one last seen, a catch-up
on what other processes committed otherwise, and a full load the first time (from the saved
snapshot and what came after it, or from the tables). `checkpoint` folds the monthly sums
and saves the engine's arrays so the next open is a read.

A write changes the memory before its transaction commits (the kernel decides in memory what
the store then writes). When the write fails, the memory is taken back to where it was when
the write began — its last known commit — and the next sync catches up from there: the
batch the engine applied is undone (Engine.undo), the counters and fold parts are restored.
Only a failed write that created groups, books or accounts (rare calls; the catalog has no
undo) drops the memory instead (`seq = -1`: a full load next time).

A post of a few entries may skip the sync (`post_small`): when the memory is at the head the
store last committed or read under the lock, the kernel runs first and one transaction checks
that head under the lock, then writes (Store.commit_small); a head that moved writes nothing,
the memory is taken back, and the post goes the ordinary way, which syncs first.

A COMMIT that fails (the connection lost while it was in flight, or its reply lost) is read
back over a new connection under the writer lock, so the failed transaction has ended: when
the batch this write wrote is there (its id and hash), the write stands and the call returns
as usual; when the store is still before it, the call raises StoreError (nothing changed);
when it cannot be told (the database unreachable, or a write without a batch that others may
have followed), CommitUnknown, and the next sync catches up on whatever was committed.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy import Connection, select

from ledger import snapshot
from ledger.catalog import Catalog
from ledger.columns import ENTRY_POST_PENDING, PENDING_POSTED, PENDING_VOIDED
from ledger.errors import CommitUnknown, StoreError
from ledger.journal import FoldPart, aggregate_folds, small_rows
from ledger.posting import Applied, Batch, Engine
from ledger.schemas import Book, Group
from ledger.store import Store
from ledger.store import tables as t
from ledger.store.base import Increment


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs a call per field, per write
class _Mark:
    """What a write may change in memory, as it was when the write began (after its sync)."""

    seq: int
    last_batch: int
    dirty: bool
    fold_parts: int  # how many there were
    fold_base: int
    fold_complete: bool
    closed_periods: set[tuple[int, int]]  # the set itself: writes replace it, never change it
    catalog: tuple[int, int, int]  # groups, books and accounts held


class Replica:
    """The in-memory state of one store (see the module docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        # Writes, small posts and syncs of threads sharing this replica, one at a time (a
        # small post changes the memory before it holds the store's writer lock).
        self._lock = threading.RLock()
        self.catalog = Catalog()
        self.engine = Engine()
        self.seq = -1  # commit sequence the memory reflects; -1: nothing loaded
        self.last_batch = 0
        self.closed_periods: set[tuple[int, int]] = set()  # replaced, never changed in place
        self.dirty = False  # this process changed the store since its last checkpoint
        # Monthly changes of this process's batches since the checkpoint `fold_base`; a
        # checkpoint folds them when no other process posted in between (`fold_complete`).
        self.fold_parts: list[FoldPart] = []
        self.fold_base = 0
        self.fold_complete = False
        # The write in progress: the batch the engine applied, and the batch (id, hash) it
        # wrote, what a failed write takes back and a failed COMMIT is read back by.
        self._applied: Applied | None = None
        self._written: tuple[int, bytes] | None = None

    def committed(self, seq: int, batch: int | None = None, hash: bytes | None = None) -> None:
        """Count a write of this process's as done once its transaction commits: the store
        is then at `seq` (and its last batch is `batch`, of hash `hash`, when one was written)."""
        self.seq = seq
        if batch is not None:
            self.last_batch = batch
            self._written = (batch, hash) if hash is not None else None
        self.dirty = True

    def wrote(self, seq: int, batch: int, hash: bytes, fold: FoldPart) -> None:
        """`committed`, for a batch whose monthly changes are `fold` (kept for the next
        checkpoint)."""
        self.committed(seq, batch, hash)
        self.fold_parts.append(fold)

    def post(self, batch: Batch) -> np.ndarray:
        """Run the engine over a batch in a write; a failed write undoes it. The codes."""
        assert self._applied is None, "one batch per write"
        self._applied = self.engine.apply(batch)
        return self._applied.codes

    def post_small(self, batch: Batch, texts: list[tuple[int, str | None, str | None]]) -> np.ndarray | None:
        """Post a small batch of ordinary entries in one transaction that reads nothing first
        (Store.commit_small), when the memory is at the head the store last knew: the
        codes. None when it cannot (every entry must be accepted and none pending, posted or
        voided, journal.small_rows) or when the head had moved: then nothing changed, and the
        caller posts in a writer transaction, which catches up first.

        `texts` are the (key, kind, reference) of the entries that carry them, in batch order.
        A COMMIT whose outcome is unknown is read back as in `writer`.
        """
        with self._lock:
            return self._post_small(batch, texts)

    def _post_small(self, batch: Batch, texts: list[tuple[int, str | None, str | None]]) -> np.ndarray | None:
        head = self.store.known_head
        if head is None or head[0] != self.seq:
            return None
        mark = self._mark()
        try:
            codes = self.post(batch)
            rows = small_rows(self.engine, batch, codes, head[1] + 1, head[2], texts)
            if rows is None:
                self._take_back(mark)
                return None
            self.wrote(head[0] + 1, rows.batch_id, rows.hash, rows.fold)
            seq = self.store.commit_small(rows, head[0])
        except CommitUnknown as error:
            self._settle(mark, error)
            return codes
        except BaseException:
            self._take_back(mark)
            raise
        if seq is None:
            self._take_back(mark)
            return None
        self._applied = self._written = None
        return codes

    def checkpoint(self) -> int:
        """Fold the batches posted since the last checkpoint into the monthly balances and
        save the engine's state, so that the next open reads it instead of recomputing it.

        Reads are exact either way; a checkpoint only makes them (and opening) cheaper.
        Returns the number of batches folded.

        When this process posted every batch since the last checkpoint, their monthly sums
        are in memory already and fold in one step. Otherwise the store folds from the
        tables, a bounded range of batches per transaction: a checkpoint cut short keeps the
        ranges it committed, and the next one goes on from there.
        """
        folded = 0
        while True:
            with self.writer() as conn:
                store = self.store
                checkpoint = store.checkpoint_batch(conn)
                behind = self.last_batch - checkpoint
                if behind > 0 and self.fold_complete and self.fold_base == checkpoint:
                    accounts, periods, sums = aggregate_folds(self.fold_parts)
                    books = self.engine.rows["book"][accounts]
                    store.fold_rows(conn, accounts, periods, books, sums)
                    store.set_checkpoint(conn, self.last_batch)
                    folded += behind
                elif behind > 0:
                    step = store.fold(conn, self.engine.rows["book"])
                    folded += step
                    if 0 < step < behind:
                        store.seal_fold(conn)  # this range is kept; the next goes on from it
                        continue
                self._save(conn)
                break
        self.fold_parts, self.fold_base, self.fold_complete = [], self.last_batch, True
        self.dirty = False
        return folded

    def _save(self, conn: Connection) -> None:
        """Save the engine's state as the snapshot and seal the checkpoint (in its writer
        transaction)."""
        store = self.store
        if not store.durable:  # the in-memory store has nothing to save: its memory is the state
            return
        header, blobs = snapshot.dump(
            self.engine,
            self.catalog.account_keys.array(),
            {"last_batch": self.last_batch, "commit_seq": self.seq},
        )
        store.write_snapshot(conn, header, blobs)
        store.seal_checkpoint(conn, header, blobs)

    def sync(self, conn: Connection) -> None:
        """Make the in-memory state current: nothing to do when the store's commit sequence
        is the one this process last saw; catch up on what others committed otherwise (a
        full load the first time, or after a failed write dropped the memory)."""
        seq = self.store.commit_seq(conn)
        if seq == self.seq:
            return
        if self.seq < 0:
            self.load(conn)
        else:
            self.catch_up(conn)

    def load(self, conn: Connection) -> None:
        """Load the whole state: from the saved snapshot and what came after it when there is
        one, from the tables otherwise."""
        checkpoint = self.store.checkpoint_batch(conn)
        if not self._restore(conn):
            self._load_tables(conn)
        self.fold_parts, self.fold_base = [], checkpoint
        self.fold_complete = self.last_batch == checkpoint

    def _restore(self, conn: Connection) -> bool:
        saved = self.store.read_snapshot(conn)
        restored = snapshot.restore(*saved) if saved is not None else None
        if restored is None:
            return False
        meta, engine, keys = restored
        state = self.store.chain_head(conn)[0]
        if int(meta["last_batch"]) > state:
            return False  # a snapshot from a future this database does not have
        groups = [(r.key, int(r.scale)) for r in conn.execute(select(t.groups).order_by(t.groups.c.idx))]
        books = [(r.key, r.name) for r in conn.execute(select(t.books).order_by(t.books.c.idx))]
        catalog = Catalog.from_rows(groups, books, pa.table({"key": pa.array([], pa.string())}))
        catalog.set_account_keys(keys)
        catalog.fetch_account = self._fetch_account
        engine.groups_count = max(1, len(groups))
        self.catalog, self.engine = catalog, engine
        self.last_batch = int(meta["last_batch"])
        self.catch_up(conn)
        return True

    def _fetch_account(self, index: int) -> dict[str, Any]:
        with self.store.reader() as conn:
            return self.store.account_row(conn, index)

    def _load_tables(self, conn: Connection) -> None:
        state = self.store._load(conn)
        # a durable store's accounts table has the fields, when a reader can run beside the
        # writer (not so on one shared connection: an in-memory SQLite database)
        fetch = self._fetch_account if self.store.durable and self.store.separate_writer else None
        catalog = Catalog.from_rows(state.groups, state.books, state.accounts, fetch)
        engine = Engine(groups_count=max(1, len(catalog.group_keys)))
        accounts = state.accounts
        engine.load(
            accounts.column("book").to_numpy(),
            accounts.column("group").to_numpy(),
            accounts.column("flags").to_numpy().astype(np.uint32),
            state.balances,
            state.entry_keys,
            state.entry_fingerprints,
            state.pending_keys,
            state.pending_books,
            state.pending_states,
            state.pending_line_counts,
            state.pending_accounts,
            state.pending_amounts,
        )
        self.catalog, self.engine = catalog, engine
        self.closed_periods = state.closed_periods
        self.last_batch = state.last_batch
        self.seq = state.commit_seq

    def catch_up(self, conn: Connection) -> None:
        """Apply what other processes committed since this one's last look: new groups,
        books and accounts, closed periods, and the effects of the new batches. Everything
        is read before anything changes; a failure while applying it drops the memory."""
        catalog = self.catalog
        new = self.store.load_since(
            conn, self.last_batch, len(catalog.group_keys), len(catalog.book_keys), len(catalog.account_keys)
        )
        try:
            self._apply(new)
        except BaseException:
            self.seq = -1
            raise

    def _apply(self, new: Increment) -> None:
        catalog, engine = self.catalog, self.engine
        for key, scale in new.groups:
            catalog.add_group(Group(key=key, scale=scale))
        for key, name in new.books:
            catalog.add_book(Book(key=key, name=name))
        engine.groups_count = max(1, len(catalog.group_keys))
        if new.accounts.num_rows:
            catalog.add_account_table(new.accounts)
            engine.add_accounts(
                new.accounts.column("book").to_numpy(),
                new.accounts.column("group").to_numpy(),
                new.accounts.column("flags").to_numpy().astype(np.uint32),
            )
        engine.add_balances(new.balance_accounts, new.balance_changes)
        engine.add_entries(new.entry_keys, new.entry_fingerprints)
        engine.add_pendings(
            new.pending_keys,
            new.pending_books,
            new.pending_line_counts,
            new.pending_accounts,
            new.pending_amounts,
        )
        for key, flags in zip(new.resolved_keys.tolist(), new.resolved_flags.tolist(), strict=True):
            engine.set_pending_state(key, PENDING_POSTED if flags & ENTRY_POST_PENDING else PENDING_VOIDED)
        if new.last_batch != self.last_batch:
            self.fold_complete = False  # batches of other processes: a checkpoint folds from the tables
        self.closed_periods = new.closed_periods
        self.last_batch = new.last_batch
        self.seq = new.commit_seq

    @contextlib.contextmanager
    def writer(self) -> Iterator[Connection]:
        """The writer transaction of one write; a failure takes the memory back to where the
        write began, and a failed COMMIT is read back (see the module docstring)."""
        with self._lock, self._writer() as conn:
            yield conn

    @contextlib.contextmanager
    def _writer(self) -> Iterator[Connection]:
        mark: _Mark | None = None
        finished = False
        try:
            with self.store.writer() as conn:
                self.sync(conn)
                mark = self._mark()
                yield conn
                finished = True
        except CommitUnknown as error:
            if not finished or mark is None:
                self._take_back(mark)
                raise
            if self._applied is not None and self._written is None and self.seq == mark.seq:
                # a post that wrote nothing (every entry refused or there already): its
                # COMMIT had nothing to carry, so its codes stand whatever became of it
                self._applied = None
                return
            self._settle(mark, error)
        except BaseException:
            self._take_back(mark)
            raise
        self._applied = self._written = None

    def _settle(self, mark: _Mark, error: CommitUnknown) -> None:
        """After a COMMIT whose outcome the client could not learn: return when it was
        committed (read back under the writer lock); otherwise take the write back and raise
        StoreError (it was not: nothing changed) or `error` (it cannot be told)."""
        committed = self._outcome(mark)
        if committed:
            self._applied = self._written = None
            return
        self._take_back(mark)
        if committed is None:
            raise error
        raise StoreError(
            f"{self.store.url}: COMMIT failed and, read back after reconnecting, the write was"
            " not committed: nothing changed"
        ) from error.__cause__

    def _mark(self) -> _Mark:
        self._applied = self._written = None
        catalog = self.catalog
        return _Mark(
            seq=self.seq,
            last_batch=self.last_batch,
            dirty=self.dirty,
            fold_parts=len(self.fold_parts),
            fold_base=self.fold_base,
            fold_complete=self.fold_complete,
            closed_periods=self.closed_periods,
            catalog=(len(catalog.group_keys), len(catalog.book_keys), len(catalog.account_keys)),
        )

    def _take_back(self, mark: _Mark | None) -> None:
        """Put the memory back where it was when a failed write began (its last known commit)."""
        applied, self._applied, self._written = self._applied, None, None
        if mark is None:
            return  # failed before or while syncing: nothing of the write is in memory
        catalog = self.catalog
        if (len(catalog.group_keys), len(catalog.book_keys), len(catalog.account_keys)) != mark.catalog:
            self.seq = -1  # groups, books or accounts were added: reload them (see the docstring)
            return
        if applied is not None:
            self.engine.undo(applied)
        self.seq, self.last_batch, self.dirty = mark.seq, mark.last_batch, mark.dirty
        del self.fold_parts[mark.fold_parts :]
        self.fold_base, self.fold_complete = mark.fold_base, mark.fold_complete
        self.closed_periods = mark.closed_periods

    def _outcome(self, mark: _Mark) -> bool | None:
        """Whether the write whose COMMIT failed was committed (None: it cannot be told).

        Read in a writer transaction of its own: once it holds the writer lock, the failed
        transaction has ended, committed or rolled back, and what the store holds is final.
        A batch is there when its id holds its hash (another writer's batch of the same id
        has another hash: the chain links it to its own predecessor). A write without a batch
        was not committed when the commit sequence is still before its own; at or past it,
        another process may have committed instead, so it cannot be told.
        """
        written = self._written
        answer: bool | None = None
        try:
            with self.store.writer() as conn:
                if written is not None:
                    answer = self.store.batch_hash_of(conn, written[0]) == written[1]
                elif self.seq > mark.seq and self.store.commit_seq(conn) < self.seq:
                    answer = False
        except StoreError:
            pass  # unreachable again; an answer read under the lock stands even so
        return answer

    def refresh(self) -> None:
        """Make the memory current before a read (cheap when nothing changed)."""
        with self._lock, self.store.reader() as conn:
            self.sync(conn)


__all__ = ["Replica"]
