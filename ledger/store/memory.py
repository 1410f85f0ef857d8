"""The in-memory store: what `ledger.open()` without a URL keeps, as numpy columns.

A batch appends one chunk: the accepted entries of the batch as the columns the kernel read
(keys, offsets, accounts, amounts, dims, flags, dates, pending keys, books, extra hashes) —
no SQL, no rows, no per-line Python on the posting path. Everything else a durable store
writes per batch is derived from the chunks when it is first needed, and then kept:

- the hash chain (`seal`), computed over the same canonical bytes as the durable stores';
- the monthly sums (`fold`), which checkpoints and period reads use;
- the entry-key lookups of `reverse` and the state a failed write reloads (`_load`).

A write is a transaction under the store's lock: it appends chunks and catalog rows and
moves the counters; if it fails, everything it appended is cut off again and the counters
restored, so the store is always at its last commit, as a database would be. The store
lives as long as its ledger: nothing is persisted (use `sqlite:///path.db` for that).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection

from ledger.chain import batch_parts, link_hash
from ledger.columns import (
    ACCOUNT_DTYPE,
    ENTRY_PENDING,
    ENTRY_POST_PENDING,
    ENTRY_VOID_PENDING,
    aligned_zeros,
)
from ledger.journal import aggregate_folds, fold_parts, full_column, resolution_moves
from ledger.periods import period_keys, periods_of, split_period_keys
from ledger.posting import NO_DIMS, Batch, kept_copy, kernel
from ledger.store.base import (
    CATALOG_COLUMNS,
    ENTRY_NAMES,
    GENESIS_HASH,
    LINE_NAMES,
    BatchContents,
    BatchRecord,
    Increment,
    LoadedState,
    Store,
    catalog_table,
    pending_states,
    wrap64,
)

_RESOLVING = ENTRY_POST_PENDING | ENTRY_VOID_PENDING
_NO_ROWS = aligned_zeros(1, ACCOUNT_DTYPE)


@dataclass(slots=True)
class Chunk:
    """One committed batch: its accepted entries as columns, in batch order.

    `batch` holds only accepted entries; a post or void keeps no lines of its own (its
    effect is the pending entry's lines), as in the durable stores.
    """

    batch_id: int
    batch: Batch
    books: np.ndarray | None  # int32, each entry's book; None: see MemoryStore.books_of
    texts: list[tuple[int, str | None, str | None]]
    created_at: int  # unix microseconds
    fingerprints: np.ndarray | None = None  # uint64; None: recomputed from the columns
    hash: bytes | None = None  # set by seal()
    prev_hash: bytes | None = None
    parts: bytes | None = None

    @property
    def flags(self) -> np.ndarray:
        return full_column(self.batch.flags, self.batch.entries_count, 0, np.uint16)

    @property
    def pending(self) -> np.ndarray:
        return full_column(self.batch.pending, self.batch.entries_count, 0, np.int64)


@dataclass(slots=True)
class _State:
    commit_seq: int = 0
    last_batch: int = 0
    checkpoint_batch: int = 0
    sealed: int = 0  # batches whose hash is computed
    last_hash: bytes = GENESIS_HASH
    folded: tuple[np.ndarray, np.ndarray, np.ndarray] = field(
        default_factory=lambda: (np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros((0, 4), np.int64))
    )  # accounts, periods, sums [n, 4] of the batches up to checkpoint_batch


class MemoryStore(Store):
    """A ledger's tables as column chunks in this process (see the module docstring)."""

    dialect = "memory"
    durable = False

    def __init__(self) -> None:
        super().__init__("memory://", cast(Any, None))
        self._lock = threading.RLock()
        self._state = _State()
        self.groups: list[tuple[str, int]] = []
        self.books: list[tuple[str, str | None]] = []
        self.accounts: list[pa.Table] = []  # idx, key, book, group, code, normal, subledger, flags, name
        self.accounts_count = 0
        self._account_books = np.zeros(0, np.int32)
        self._rows_of: tuple[Chunk, tuple[list[np.ndarray], list[np.ndarray]]] | None = None
        self.closed: set[tuple[int, int]] = set()
        self.nodes: list[dict[str, Any]] = []  # idx, key, parent, book, name, layout
        self.domain: dict[str, list[pa.Table]] = {}  # a domain's tables (ledger.fiscal), in parts
        self.chunks: list[Chunk] = []
        # Pending entries' lines (views into their chunks), by entry key.
        self.pending_lines: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.pending_dims: dict[int, np.ndarray] = {}  # int32 [lines, 4], when not all zero

    # --- set-up and transactions -------------------------------------------------------------

    def prepare(self) -> None:
        """Nothing to create: an in-memory store starts empty."""

    def dispose(self) -> None:
        self.chunks, self.accounts, self.pending_lines, self._rows_of = [], [], {}, None

    @contextlib.contextmanager
    def writer(self) -> Iterator[Connection]:
        """The store's lock; what the block appends is cut off again if it raises."""
        with self._lock:
            mark = (
                len(self.groups),
                len(self.books),
                self.accounts_count,
                len(self.chunks),
                set(self.closed),
                len(self.nodes),
                {name: len(parts) for name, parts in self.domain.items()},
            )
            state = _State(**{name: getattr(self._state, name) for name in _State.__slots__})
            accounts = list(self.accounts)
            try:
                yield cast(Connection, self)
            except BaseException:
                groups, books, accounts_count, chunks, closed, nodes, domain = mark
                del self.nodes[nodes:]
                self.domain = {
                    name: parts[: domain[name]] for name, parts in self.domain.items() if name in domain
                }
                for chunk in self.chunks[chunks:]:
                    for key in chunk.batch.keys[(chunk.flags & ENTRY_PENDING) != 0].tolist():
                        self.pending_lines.pop(key, None)
                        self.pending_dims.pop(key, None)
                del self.groups[groups:], self.books[books:], self.chunks[chunks:]
                self.accounts, self.accounts_count, self.closed = accounts, accounts_count, closed
                self._state = state
                raise

    @contextlib.contextmanager
    def reader(self) -> Iterator[Connection]:
        with self._lock:
            yield cast(Connection, self)

    def lock(self, conn: Connection) -> None:
        """The writer already holds the store's lock."""

    # --- ledger state ------------------------------------------------------------------------

    def commit_seq(self, conn: Connection) -> int:
        return self._state.commit_seq

    def chain_head(self, conn: Connection) -> tuple[int, bytes]:
        self.seal()
        return self._state.last_batch, self._state.last_hash

    def bump(self, conn: Connection, *, batch: int | None = None, hash: bytes | None = None) -> int:
        self._state.commit_seq += 1
        return self._state.commit_seq

    def checkpoint_batch(self, conn: Connection) -> int:
        return self._state.checkpoint_batch

    def set_checkpoint(self, conn: Connection, batch: int) -> None:
        self._state.checkpoint_batch = batch

    # --- catalog -----------------------------------------------------------------------------

    def insert_rows(self, conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if table.name == "groups":
            self.groups += [(row["key"], int(row["scale"])) for row in rows]
        elif table.name == "books":
            self.books += [(row["key"], row["name"]) for row in rows]
        elif table.name == "accounts":
            self.insert_table(conn, "accounts", pa.Table.from_pylist(rows, schema=_ACCOUNT_SCHEMA))
        elif table.name == "nodes":
            self.nodes += [{name: row.get(name) for name in CATALOG_COLUMNS["nodes"]} for row in rows]
        elif table.name == "periods":
            self.closed |= {(int(row["book"]), int(row["period"])) for row in rows if row["closed"]}
        else:
            raise ValueError(f"the in-memory store has no table {table.name!r} to insert into")

    def insert_table(self, conn: Connection, table: str, data: pa.Table) -> None:
        if table != "accounts":
            raise ValueError(f"the in-memory store has no table {table!r} to insert into")
        if data.num_rows:
            self.accounts.append(data.select(_ACCOUNT_SCHEMA.names).cast(_ACCOUNT_SCHEMA))
            self.accounts_count += data.num_rows

    def nodes_count(self, conn: Connection) -> int:
        return len(self.nodes)

    def ensure_tables(self, conn: Connection, tables: Sequence[Any]) -> None:
        for table in tables:
            self.domain.setdefault(table.name, [])

    def domain_count(self, conn: Connection, table: Any) -> int:
        return sum(part.num_rows for part in self.domain.get(table.name, []))

    def insert_domain(self, conn: Connection, table: str, data: pa.Table) -> None:
        if data.num_rows:
            self.domain.setdefault(table, []).append(data)

    def read_domain(self, conn: Connection, table: Any, where: str = "", start: int = 0) -> pa.Table:
        if where:
            raise ValueError("the in-memory store filters domain tables in Python, not by SQL")
        names = [column.name for column in table.columns]
        parts, offset = [], 0
        for part in self.domain.get(table.name, []):  # only the parts from `start` on
            if offset + part.num_rows > start:
                parts.append(part.slice(max(start - offset, 0)).select(names))
            offset += part.num_rows
        types = {name: pa.int64() if column.type.python_type is int else pa.string()
                 for name, column in zip(names, table.columns, strict=True)}  # fmt: skip
        schema = pa.schema(list(types.items()))
        if not parts:
            return schema.empty_table()
        whole = pa.concat_tables([part.cast(schema) for part in parts]).combine_chunks()
        for position, name in enumerate(names):  # as a database reads them: NULL integers as -1
            if types[name] == pa.int64() and whole.column(name).null_count:
                whole = whole.set_column(position, name, pc.fill_null(whole.column(name), -1))
        return whole

    def node_rows(self, conn: Connection) -> pa.Table:
        names = CATALOG_COLUMNS["nodes"]
        return catalog_table("nodes", {name: [row[name] for row in self.nodes] for name in names})

    def account_table(self) -> pa.Table:
        """Every account by index, as one table."""
        if not self.accounts:
            return _ACCOUNT_SCHEMA.empty_table()
        if len(self.accounts) > 1:
            self.accounts = [pa.concat_tables(self.accounts).combine_chunks()]
        return self.accounts[0]

    def account_row(self, conn: Connection, index: int) -> dict[str, Any]:
        return cast(dict[str, Any], self.account_table().slice(index, 1).to_pylist()[0])

    # --- batches -----------------------------------------------------------------------------

    def append_batch(
        self,
        conn: Connection,
        batch: Batch,
        codes: np.ndarray,
        books: Callable[[], np.ndarray],
        texts: list[tuple[int, str | None, str | None]],
    ) -> int | None:
        """Keep the accepted entries of a batch the kernel ran; its id, or None when the kernel
        accepted nothing. `books()` gives each entry's book (journal.entry_books); it is only
        called when some entry was refused or resolves a pending one: otherwise every entry
        has lines and its book is its own or its first line's, found again when needed. The
        columns are copied: the caller may reuse its arrays."""
        accepted = codes == 0
        everything = bool(accepted.all())
        if not everything and not accepted.any():
            return None
        flags = full_column(batch.flags, batch.entries_count, 0, np.uint16)
        resolving = (flags & _RESOLVING) != 0 if len(batch.flags) else None
        fingerprints, kept_books = None, None
        if everything and (resolving is None or not resolving.any()):
            kept = _copied(batch)
        else:
            # Posts and voids lose their own lines here, which their fingerprints cover.
            resolved = books()
            fingerprints = np.empty(batch.entries_count, np.uint64)
            fingerprint_chunk(batch, resolved, fingerprints)
            fingerprints = fingerprints[accepted]
            kept = _accepted(batch, accepted, resolving)
            kept_books = resolved[accepted]
        state = self._state
        chunk = Chunk(state.last_batch + 1, kept, kept_books, texts, time.time_ns() // 1000, fingerprints)
        self.chunks.append(chunk)
        state.last_batch = chunk.batch_id
        if len(kept.flags):
            self._keep_pending_lines(chunk)
        return chunk.batch_id

    def _keep_pending_lines(self, chunk: Chunk) -> None:
        batch = chunk.batch
        for e in np.flatnonzero((chunk.flags & ENTRY_PENDING) != 0).tolist():
            start, end = int(batch.offsets[e]), int(batch.offsets[e + 1])
            self.pending_lines[int(batch.keys[e])] = (batch.accounts[start:end], batch.amounts[start:end])
            if len(batch.dims):
                self.pending_dims[int(batch.keys[e])] = batch.dims[start:end]

    def books_of(self, chunk: Chunk) -> np.ndarray:
        """Each entry's book in a chunk: kept, or its own else its first line's account's."""
        if chunk.books is None:
            batch = chunk.batch
            first = self._books_by_account()[batch.accounts[batch.offsets[:-1]]]
            chunk.books = first if not len(batch.books) else np.where(batch.books >= 0, batch.books, first)
        return chunk.books

    def _books_by_account(self) -> np.ndarray:
        """int32 book of every account, by index."""
        if len(self._account_books) != self.accounts_count:
            self._account_books = self.account_table().column("book").to_numpy()
        return self._account_books

    def pending_lines_of(self, key: int) -> tuple[np.ndarray, np.ndarray]:
        return self.pending_lines[key]

    def seal(self) -> None:
        """Compute the hash chain up to the last batch (the same bytes a durable store hashes)."""
        state = self._state
        for chunk in self.chunks[state.sealed :]:
            entries, lines = self._rows(chunk)
            chunk.prev_hash = state.last_hash
            chunk.parts = batch_parts(entries, lines, chunk.texts)
            chunk.hash = link_hash(state.last_hash, chunk.batch_id, chunk.parts)
            state.last_hash = chunk.hash
            state.sealed = chunk.batch_id

    def _rows(self, chunk: Chunk) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """chunk_rows of one chunk, kept for the next call: verify reads a batch's entries and
        then its lines, and deriving them (fingerprints included) twice would double its cost."""
        if self._rows_of is None or self._rows_of[0] is not chunk:
            self._rows_of = (chunk, chunk_rows(chunk, self.books_of(chunk)))
        return self._rows_of[1]

    # --- reads for verify (ledger.verify) ------------------------------------------------------

    def batch_records(self, conn: Connection, first: int = 1, last: int | None = None) -> list[BatchRecord]:
        self.seal()
        return [
            BatchRecord(
                c.batch_id,
                c.batch.entries_count,
                c.batch.lines_count,
                cast(bytes, c.prev_hash),
                cast(bytes, c.hash),
                cast(bytes, c.parts),
                c.created_at,
            )
            for c in self.chunks[first - 1 : last]
        ]

    def batch_contents(self, conn: Connection, first: int, last: int) -> Iterator[BatchContents]:
        """Batch by batch: the batches are in memory already."""
        for batch in range(first, last + 1):
            chunk = self.chunks[batch - 1]
            entries, lines = self._rows(chunk)
            yield BatchContents(
                batch,
                {name: column.astype(np.int64) for name, column in zip(ENTRY_NAMES, entries, strict=True)},
                {name: column.astype(np.int64) for name, column in zip(LINE_NAMES, lines, strict=True)},
                list(chunk.texts),
                self._pending_line_rows(chunk),
            )

    def _pending_line_rows(self, chunk: Chunk) -> dict[str, np.ndarray]:
        """The pending lines of a batch's pending entries, by entry then line."""
        keys = sorted(chunk.batch.keys[(chunk.flags & ENTRY_PENDING) != 0].tolist())
        parts = [(key, self.pending_lines[key]) for key in keys]
        columns: dict[str, list[np.ndarray]] = {"entry": [], "line": [], "account": [], "amount": []}
        for key, (accounts, amounts) in parts:
            columns["entry"].append(np.full(len(accounts), key, np.int64))
            columns["line"].append(np.arange(len(accounts), dtype=np.int64))
            columns["account"].append(accounts.astype(np.int64))
            columns["amount"].append(amounts.astype(np.int64))
        return {name: np.concatenate(v) if v else np.zeros(0, np.int64) for name, v in columns.items()}

    def pending_lines_count(self, conn: Connection) -> int:
        return sum(len(accounts) for accounts, _ in self.pending_lines.values())

    def period_rows(self, conn: Connection) -> dict[str, np.ndarray]:
        """The folded monthly sums (up to the checkpoint batch)."""
        accounts, periods, sums = self._state.folded
        out = {"account": accounts.astype(np.int64), "period": periods.astype(np.int64)}
        out.update({name: sums[:, i] for i, name in enumerate(("dp", "cp", "dq", "cq"))})
        return out

    def period_sums(self, conn: Connection, after: int, upto: int) -> dict[str, np.ndarray]:
        """The monthly sums of the batches after `after` up to `upto`, from their chunks."""
        parts = [self._fold_chunk(chunk) for chunk in self.chunks[after:upto]]
        accounts, periods, sums = aggregate_folds(parts)
        out = {"account": accounts.astype(np.int64), "period": periods.astype(np.int64)}
        out.update({name: sums[:, i] for i, name in enumerate(("dp", "cp", "dq", "cq"))})
        return out

    def month_sums(self, conn: Connection) -> dict[str, np.ndarray]:
        folded = self.period_rows(conn)
        recent = self.period_sums(conn, self._state.checkpoint_batch, self._state.last_batch)
        return {name: np.concatenate([folded[name], recent[name]]) for name in folded}

    def read_accounts(self, conn: Connection, start: int = 0, names: Sequence[str] | None = None) -> pa.Table:
        table = self.account_table().slice(start)
        return table if names is None else table.select(["idx", *names])

    def recomputed_period_sums(self, conn: Connection, upto: int) -> dict[str, np.ndarray]:
        accounts, periods, sums = aggregate_folds([self._fold_chunk(chunk) for chunk in self.chunks[:upto]])
        out = {"account": accounts.astype(np.int64), "period": periods.astype(np.int64)}
        out.update({name: sums[:, i] for i, name in enumerate(("dp", "cp", "dq", "cq"))})
        return out

    # --- monthly sums ------------------------------------------------------------------------

    def fold(self, conn: Connection, books: np.ndarray | None = None) -> int:
        """Fold the batches after the checkpoint into the monthly sums; the number folded."""
        state = self._state
        first = state.checkpoint_batch
        if state.last_batch <= first:
            return 0
        parts = [self._fold_chunk(chunk) for chunk in self.chunks[first:]]
        accounts, periods, sums = state.folded
        keys = period_keys(accounts, periods)
        folded = (keys, np.zeros(len(keys), np.int8), np.zeros(len(keys), np.int64))
        accounts, periods, sums = aggregate_folds(
            [*(_columns_part(folded, sums, c) for c in range(4)), *parts]
        )
        state.folded = (accounts, periods, sums)
        state.checkpoint_batch = state.last_batch
        return state.last_batch - first

    def write_snapshot(self, conn: Connection, header: str, blobs: dict[str, list[bytes]]) -> None:
        """Nothing to save: the memory is the state."""

    def read_snapshot(self, conn: Connection) -> tuple[str, dict[str, bytes]] | None:
        return None

    def seal_checkpoint(self, conn: Connection, header: str, blobs: dict[str, list[bytes]]) -> None:
        """Nothing to seal: no one edits this store behind the ledger's back. The hash chain
        of its batches is computed (seal) for verify."""
        self.seal()

    def _fold_chunk(self, chunk: Chunk) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        codes = np.zeros(chunk.batch.entries_count, np.uint8)
        return fold_parts(self.pending_lines_of, chunk.batch, codes)

    def period_turnover(self, conn: Connection, account: int) -> list[tuple[int, int, int]]:
        """(period, debit turnover, credit turnover) of posted amounts, for every month in
        which the account's monthly sums are not all zero (as the folded sums keep them)."""
        dates, columns, values = self._account_moves(account)
        periods = periods_of(dates.astype(np.int32))
        totals: dict[int, list[int]] = {}
        for period, column, value in zip(periods.tolist(), columns.tolist(), values.tolist(), strict=True):
            totals.setdefault(period, [0, 0, 0, 0])[column] += value
        return [(period, wrap64(t[0]), wrap64(t[1])) for period, t in sorted(totals.items()) if any(t)]

    def balance_as_of(self, conn: Connection, account: int, period: int, first: int, last: int) -> list[int]:
        dates, columns, values = self._account_moves(account)
        upto = dates <= last
        return [wrap64(int(values[upto & (columns == c)].sum(dtype=object))) for c in range(4)]

    def dimension_lines(
        self, conn: Connection, dim: int, first_day: int, last_day: int
    ) -> dict[str, np.ndarray]:
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for chunk in self.chunks:
            batch, flags = chunk.batch, chunk.flags
            inside = (batch.dates >= first_day) & (batch.dates <= last_day)
            own = inside & ((flags & (ENTRY_PENDING | _RESOLVING)) == 0)
            counts = np.diff(batch.offsets)
            lines = np.repeat(own, counts)
            codes = batch.dims[:, dim - 1] if len(batch.dims) else np.zeros(len(batch.amounts), np.int32)
            parts.append((batch.accounts[lines], codes[lines], batch.amounts[lines]))
            for e in np.flatnonzero(inside & ((flags & ENTRY_POST_PENDING) != 0)).tolist():
                key = int(chunk.pending[e])
                accounts, amounts = self.pending_lines[key]
                dims = self.pending_dims.get(key)
                parts.append(
                    (
                        accounts,
                        dims[:, dim - 1] if dims is not None else np.zeros(len(accounts), np.int32),
                        amounts,
                    )
                )
        if not parts:
            return {name: np.zeros(0, np.int64) for name in ("account", "code", "amount")}
        return {
            name: np.concatenate([p[i] for p in parts]).astype(np.int64)
            for i, name in enumerate(("account", "code", "amount"))
        }

    def _account_moves(self, account: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every balance change of one account: (date, column 0..3 = dp cp dq cq, amount)."""
        dates, columns, values = [], [], []
        for chunk in self.chunks:
            batch = chunk.batch
            mine = np.flatnonzero(batch.accounts == account)
            flags = chunk.flags
            if len(mine):
                entry = np.searchsorted(batch.offsets, mine, side="right") - 1
                amounts = batch.amounts[mine]
                dates.append(batch.dates[entry].astype(np.int64))
                columns.append(2 * ((flags[entry] & ENTRY_PENDING) != 0) + (amounts < 0))
                values.append(np.abs(amounts))
            for e in np.flatnonzero((flags & _RESOLVING) != 0).tolist():
                accounts, amounts = self.pending_lines[int(chunk.pending[e])]
                hit = amounts[accounts == account]
                day = np.full(len(hit), int(batch.dates[e]), np.int64)
                for moved in resolution_moves(day, hit, bool(flags[e] & ENTRY_POST_PENDING)):
                    dates.append(moved[0])
                    columns.append(moved[1])
                    values.append(moved[2])
        if not dates:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(dates), np.concatenate(columns).astype(np.int64), np.concatenate(values)

    # --- entries -----------------------------------------------------------------------------

    def find_entry(self, conn: Connection, key: int) -> dict[str, int] | None:
        """The stored fields of entry `key` (batch, book, flags, pending), or None."""
        for chunk in reversed(self.chunks):
            at = np.flatnonzero(chunk.batch.keys == key)
            if len(at):
                e = int(at[0])
                return {
                    "key": key,
                    "batch": chunk.batch_id,
                    "book": int(self.books_of(chunk)[e]),
                    "flags": int(chunk.flags[e]),
                    "pending": int(chunk.pending[e]),
                }
        return None

    def entry_lines(self, conn: Connection, batch: int, key: int) -> list[tuple[int, int, tuple[int, ...]]]:
        """(account, amount, dims) of the lines of entry `key` of batch `batch`, in order."""
        stored = self.chunks[batch - 1].batch
        e = int(np.flatnonzero(stored.keys == key)[0])
        start, end = int(stored.offsets[e]), int(stored.offsets[e + 1])
        dims = stored.dims[start:end].tolist() if len(stored.dims) else [[0, 0, 0, 0]] * (end - start)
        return [
            (account, amount, tuple(codes))
            for account, amount, codes in zip(
                stored.accounts[start:end].tolist(), stored.amounts[start:end].tolist(), dims, strict=True
            )
        ]

    # --- loads -------------------------------------------------------------------------------

    def _load(self, conn: Connection) -> LoadedState:
        """The whole state, recomputed from the chunks (after a failed write dropped it)."""
        accounts = self.account_table()
        count = accounts.num_rows
        balances = np.zeros((count, 4), np.int64)
        parts = [self._fold_chunk(chunk) for chunk in self.chunks]
        if parts:
            keys = split_period_keys(np.concatenate([p[0] for p in parts]))[0]
            columns = np.concatenate([p[1] for p in parts]).astype(np.int64)
            with np.errstate(over="ignore"):
                np.add.at(balances, (keys, columns), np.concatenate([p[2] for p in parts]))
        keys, fingerprints = self._entry_keys()
        pending = self._pending_entries()
        resolved = [
            (chunk.pending[mask], chunk.flags[mask])
            for chunk in self.chunks
            for mask in [(chunk.flags & _RESOLVING) != 0]
        ]
        resolved_keys = np.concatenate([r[0] for r in resolved]) if resolved else np.zeros(0, np.int64)
        resolved_flags = np.concatenate([r[1] for r in resolved]) if resolved else np.zeros(0, np.uint16)
        return LoadedState(
            commit_seq=self._state.commit_seq,
            last_batch=self._state.last_batch,
            last_hash=self._state.last_hash,
            groups=list(self.groups),
            books=list(self.books),
            accounts=accounts,
            balances=balances,
            entry_keys=keys,
            entry_fingerprints=fingerprints,
            pending_keys=pending[0],
            pending_books=pending[1],
            pending_states=pending_states(pending[0], resolved_keys, resolved_flags.astype(np.int32)),
            pending_line_counts=pending[2],
            pending_accounts=pending[3],
            pending_amounts=pending[4],
            closed_periods=set(self.closed),
        )

    def _entry_keys(self) -> tuple[np.ndarray, np.ndarray]:
        """Every stored entry's key and fingerprint (recomputed as the kernel computes it)."""
        keys = [np.zeros(0, np.int64), *(chunk.batch.keys for chunk in self.chunks)]
        prints = [
            np.zeros(0, np.uint64),
            *(fingerprints_of(chunk, self.books_of(chunk)) for chunk in self.chunks),
        ]
        return np.concatenate(keys), np.concatenate(prints)

    def _pending_entries(self) -> tuple[np.ndarray, ...]:
        """keys (sorted), books, line counts, and the lines of every pending entry."""
        found = [
            (int(chunk.batch.keys[e]), int(self.books_of(chunk)[e]))
            for chunk in self.chunks
            for e in np.flatnonzero((chunk.flags & ENTRY_PENDING) != 0).tolist()
        ]
        found.sort()
        keys = np.array([k for k, _ in found], np.int64)
        books = np.array([b for _, b in found], np.int32)
        lines = [self.pending_lines[k] for k, _ in found]
        counts = np.array([len(a) for a, _ in lines], np.int32)
        accounts = np.concatenate([a for a, _ in lines]) if lines else np.zeros(0, np.int32)
        amounts = np.concatenate([m for _, m in lines]) if lines else np.zeros(0, np.int64)
        return keys, books, counts, accounts.astype(np.int32), amounts.astype(np.int64)

    def load_since(
        self, conn: Connection, last_batch: int, groups: int, books: int, accounts: int
    ) -> Increment:
        raise NotImplementedError("one process holds an in-memory store: there is nothing to catch up on")


def chunk_rows(chunk: Chunk, books: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A chunk's entry and line columns in the layout ledger.chain hashes (`books`: each
    entry's, MemoryStore.books_of)."""
    batch = chunk.batch
    n = batch.entries_count
    counts = np.diff(batch.offsets)
    fingerprints = fingerprints_of(chunk, books)
    entries = [
        batch.keys,
        books,
        batch.dates,
        chunk.flags.astype(np.int16),
        chunk.pending,
        full_column(batch.extra, n, 0, np.uint64).view(np.int64),
        fingerprints.view(np.int64),
        counts.astype(np.int32),
    ]
    starts = np.repeat(batch.offsets[:-1], counts)
    dims = batch.dims if len(batch.dims) else np.zeros((batch.lines_count, 4), np.int32)
    lines = [
        np.repeat(batch.keys, counts),
        (np.arange(batch.lines_count, dtype=np.int64) - starts).astype(np.int32),
        batch.accounts,
        batch.amounts,
        *(dims[:, i] for i in range(4)),
    ]
    return entries, lines


def fingerprints_of(chunk: Chunk, books: np.ndarray) -> np.ndarray:
    """The kernel's fingerprint of each entry of a chunk (uint64)."""
    if chunk.fingerprints is not None:
        return chunk.fingerprints
    out = np.empty(chunk.batch.entries_count, np.uint64)
    fingerprint_chunk(chunk.batch, books, out)
    return out


def fingerprint_chunk(batch: Batch, books: np.ndarray, out: np.ndarray) -> None:
    """kernel.fingerprints of a batch whose entries' books are resolved (the account table
    is then never read)."""
    kernel.fingerprints(
        batch.offsets, batch.accounts, batch.amounts, batch.dims, batch.flags, batch.dates,
        batch.pending, books, batch.extra, _NO_ROWS, out,
    )  # fmt: skip


def _copied(batch: Batch) -> Batch:
    """The batch with every column copied (the caller's arrays may be reused)."""
    return Batch(
        **{
            name: kept_copy(getattr(batch, name))
            for name in batch.__dataclass_fields__
            if name != "period_closed"
        },
        period_closed=np.zeros(0, np.uint8),
    )


def _accepted(batch: Batch, accepted: np.ndarray, resolving: np.ndarray | None) -> Batch:
    """The accepted entries of a batch; posts and voids keep no lines of their own."""
    n = batch.entries_count
    counts = np.diff(batch.offsets)
    keeps_lines = accepted if resolving is None else accepted & ~resolving
    line_mask = np.repeat(keeps_lines, counts)
    kept_counts = np.where(keeps_lines, counts, 0)[accepted]
    offsets = np.zeros(len(kept_counts) + 1, np.int64)
    np.cumsum(kept_counts, out=offsets[1:])

    def entries(column: np.ndarray) -> np.ndarray:
        return column[accepted] if len(column) == n else column.copy()

    return Batch(
        keys=batch.keys[accepted],
        offsets=offsets,
        accounts=batch.accounts[line_mask],
        amounts=batch.amounts[line_mask],
        dims=batch.dims[line_mask] if len(batch.dims) else NO_DIMS,
        flags=entries(batch.flags),
        dates=batch.dates[accepted],
        pending=entries(batch.pending),
        books=entries(batch.books),
        extra=entries(batch.extra),
        period_closed=np.zeros(0, np.uint8),
    )


def _columns_part(
    folded: tuple[np.ndarray, np.ndarray, np.ndarray], sums: np.ndarray, column: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    keys, _, _ = folded
    return keys, np.full(len(keys), column, np.int8), sums[:, column]


_ACCOUNT_SCHEMA = pa.schema(
    [
        ("idx", pa.int32()),
        ("key", pa.string()),
        ("book", pa.int32()),
        ("group", pa.int32()),
        ("code", pa.string()),
        ("normal", pa.string()),
        ("subledger", pa.string()),
        ("flags", pa.int64()),
        ("name", pa.string()),
    ]
)

__all__ = ["Chunk", "MemoryStore", "chunk_rows"]
