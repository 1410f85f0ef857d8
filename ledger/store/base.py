"""The durable store: schema set-up, the writer transaction, batch writes and state loads.

One `Store` serves both databases through SQLAlchemy Core; the two subclasses differ only
in the writer lock and the bulk write path (SQLite: executemany; PostgreSQL: binary COPY).
The store never decides anything about entries: the engine has already given every entry
its code, and the store writes exactly what was accepted, in one transaction with the
batch record and the new commit sequence. Until that transaction commits, nothing of the
batch is visible to anyone, in the database or (see service.py) in memory.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Boolean, Connection, Engine, func, insert, inspect, select, update
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.schema import CreateIndex, CreateTable

from ledger.chain import (
    SnapshotHasher,
    records_hash,
    rows_digest,
    seal_hash,
    signed64,
    snapshot_hash,
    table_hash,
)
from ledger.columns import (
    ENTRY_PENDING,
    ENTRY_POST_PENDING,
    ENTRY_VOID_PENDING,
    PENDING_OPEN,
    PENDING_POSTED,
    PENDING_VOIDED,
)
from ledger.errors import CommitUnknown, SchemaVersionError, StoreError
from ledger.journal import BatchRows, LineRows, SmallRows, key_runs
from ledger.store import tables as t
from ledger.store.ranges import CHUNK_ROWS, AccountSums, PeriodSums, batch_ranges, segments_by_key

GENESIS_HASH = bytes(32)
_INSERT_ROWS = 50_000  # rows per slice of a bulk insert made of Python values
_RESOLVING = ENTRY_POST_PENDING | ENTRY_VOID_PENDING  # flag bits of a post or void
_POST = ENTRY_POST_PENDING
_SKIPPED = ENTRY_PENDING | _RESOLVING  # an entry whose own lines post nothing now
Conn = Connection  # what a store's methods take: a connection in a transaction (reader or writer)
log = logging.getLogger("ledger")
# The columns of period_balances, as period_rows names them.
PERIOD_NAMES = ("account", "period", "book", "dp", "cp", "dq", "cq")
ENTRY_NAMES = ("key", "book", "date", "flags", "pending", "extra", "fingerprint", "lines")
LINE_NAMES = ("entry", "line", "account", "amount", "dim1", "dim2", "dim3", "dim4")
# The columns of each catalog table a seal covers, in the order chain.table_hash takes them.
# The accounts table's columns as read into Arrow (Store.read_accounts).
ACCOUNT_TYPES = {
    "idx": pa.int32(),
    "key": pa.string(),
    "book": pa.int32(),
    "group": pa.int32(),
    "code": pa.string(),
    "normal": pa.string(),
    "subledger": pa.string(),
    "flags": pa.int64(),
    "name": pa.string(),
}

# The tables each schema version's migration to the next creates (Store.migrate).
MIGRATIONS: dict[int, tuple[str, ...]] = {4: ("nodes",)}

CATALOG_COLUMNS = {
    "groups": ("idx", "key", "scale"),
    "books": ("idx", "key", "name"),
    "accounts": ("idx", "key", "book", "group", "code", "normal", "subledger", "flags", "name"),
    "nodes": ("idx", "key", "parent", "book", "name", "layout"),
    "periods": ("book", "period", "closed", "closed_at"),
}


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """One row of the batches table."""

    id: int
    entries: int
    lines: int
    prev_hash: bytes
    hash: bytes
    parts: bytes  # chain.batch_parts of the batch's rows
    created_at: int

    def fields(self) -> tuple[int, int, int, bytes, bytes, bytes, int]:
        """What chain.records_hash takes of it."""
        return (self.id, self.entries, self.lines, self.prev_hash, self.hash, self.parts, self.created_at)


@dataclass(frozen=True, slots=True)
class Seal:
    """One row of the seals table (see tables.seals for what each kind covers)."""

    id: int
    kind: str  # groups, books, accounts, periods, checkpoint
    batch: int
    batch_hash: bytes
    row_start: int
    row_count: int
    digest: int
    content: bytes
    records: bytes
    created_at: int
    prev_hash: bytes
    hash: bytes

    def computed_hash(self) -> bytes:
        """The hash this seal's fields and prev_hash give (chain.seal_hash)."""
        return seal_hash(
            self.prev_hash,
            (self.id, self.kind, self.batch, self.batch_hash, self.row_start, self.row_count,
             self.digest, self.content, self.records, self.created_at),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class StateRow:
    """The ledger_state row."""

    commit_seq: int
    last_batch: int
    last_hash: bytes
    checkpoint_batch: int


@dataclass(slots=True)
class LoadedState:
    """What a process needs in memory, read in one transaction."""

    commit_seq: int
    last_batch: int
    last_hash: bytes
    groups: list[tuple[str, int]]  # (key, scale) by index
    books: list[tuple[str, str | None]]  # (key, name) by index
    accounts: pa.Table  # idx, key, book, group, code, normal, subledger, flags, name (by idx)
    balances: np.ndarray  # int64 [accounts, 4]
    entry_keys: np.ndarray  # int64
    entry_fingerprints: np.ndarray  # uint64
    pending_keys: np.ndarray  # int64, open and resolved pending entries
    pending_books: np.ndarray  # int32
    pending_states: np.ndarray  # int32 (columns.PENDING_*)
    pending_line_counts: np.ndarray  # int32
    pending_accounts: np.ndarray  # int32, the pending entries' lines, concatenated
    pending_amounts: np.ndarray  # int64
    closed_periods: set[tuple[int, int]]  # (book, yyyymm)


@dataclass(slots=True)
class Increment:
    """What other processes committed after a state this process holds (see Store.load_since)."""

    commit_seq: int
    last_batch: int
    groups: list[tuple[str, int]]  # new groups, by index from the count held
    books: list[tuple[str, str | None]]
    accounts: pa.Table  # new accounts, by index from the count held
    closed_periods: set[tuple[int, int]]  # all of them (a small table)
    balance_accounts: np.ndarray  # int64: accounts whose balances the new batches changed
    balance_changes: np.ndarray  # int64 [n, 4]: dp, cp, dq, cq added by the new batches
    entry_keys: np.ndarray  # int64, entries of the new batches
    entry_fingerprints: np.ndarray  # uint64
    pending_keys: np.ndarray  # int64, pending entries of the new batches
    pending_books: np.ndarray  # int32
    pending_line_counts: np.ndarray  # int32
    pending_accounts: np.ndarray  # int32
    pending_amounts: np.ndarray  # int64
    resolved_keys: np.ndarray  # int64, pending entries the new batches posted or voided
    resolved_flags: np.ndarray  # int32, the flags of the entry that resolved each


@dataclass(frozen=True, slots=True)
class BatchContents:
    """What one batch wrote, as verify reads it back (see Store.batch_contents)."""

    batch: int
    entries: dict[str, np.ndarray]  # ENTRY_NAMES, in seq order
    lines: dict[str, np.ndarray]  # LINE_NAMES, in no particular order
    texts: list[tuple[int, str | None, str | None]]
    pending_lines: dict[str, np.ndarray]  # entry, line, account, amount, by entry then line


class Store:
    """A ledger database. Subclasses: SQLiteStore, PostgresStore."""

    dialect = ""
    durable = True  # the in-memory store says False: nothing to checkpoint at close

    def __init__(self, url: str, engine: Engine) -> None:
        self.url = url
        self.engine = engine
        # Verdicts of this process on the monthly sums a checkpoint seal covers, by the
        # seal's (id, hash): checked once, before the first read that would serve them.
        self._sums_verdicts: dict[tuple[int, bytes], bool] = {}
        # What this process found edited in derived data and rebuilt or ignored: (table,
        # key, message), reported by verify even after the rebuild (see ledger.verify).
        self.detected: list[tuple[str, str, str]] = []
        # (commit_seq, last_batch, last_hash) as this store object last committed them or
        # read them under the writer lock; None when it cannot tell (see commit_small).
        self.known_head: tuple[int, int, bytes] | None = None
        self._small: Any = None  # commit_small's connection (a pooled one, kept)
        self._small_driver: Any = None  # and its driver connection
        self._small_lock = threading.Lock()

    # --- set-up ------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Create the schema on a new database; check the version of an existing one."""
        with store_errors(self.url), self.engine.begin() as conn:
            if not conn.dialect.has_table(conn, "ledger_state"):
                self._create(conn)
                return
            row = conn.execute(select(t.ledger_state.c.schema_version)).first()
        if row is None:
            raise StoreError(f"{self.url}: ledger_state has no row; the database is damaged")
        if row.schema_version != t.SCHEMA_VERSION:
            how = (
                f" (`ledger migrate --db URL` upgrades version {', '.join(map(str, MIGRATIONS))})"
                if row.schema_version in MIGRATIONS
                else ""
            )
            raise SchemaVersionError(
                f"{self.url}: database schema version {row.schema_version}, this ledger needs "
                f"{t.SCHEMA_VERSION}; migrate it first (it is never upgraded silently){how}"
            )

    def migrate(self) -> tuple[int, int]:
        """Upgrade the schema of an existing database to this version, step by step, in one
        transaction under the writer lock: (version before, version after)."""
        with store_errors(self.url), self.engine.begin() as conn:
            self.lock(conn)
            row = conn.execute(select(t.ledger_state.c.schema_version)).first()
            if row is None:
                raise StoreError(f"{self.url}: ledger_state has no row; the database is damaged")
            before = version = int(row.schema_version)
            while version != t.SCHEMA_VERSION:
                if version not in MIGRATIONS:
                    raise SchemaVersionError(
                        f"{self.url}: no migration from schema version {version} to {t.SCHEMA_VERSION}"
                    )
                for name in MIGRATIONS[version]:
                    for statement in self.table_ddl(t.metadata.tables[name]):
                        self.execute_ddl(conn, statement)
                version += 1
            conn.execute(update(t.ledger_state).values(schema_version=version))
        return before, version

    def _create(self, conn: Connection) -> None:
        self.lock(conn)
        if conn.dialect.has_table(conn, "ledger_state"):
            return  # another process created it while we waited for the lock
        for statement in self.schema_ddl():
            self.execute_ddl(conn, statement)
        conn.execute(
            insert(t.ledger_state).values(
                id=1,
                schema_version=t.SCHEMA_VERSION,
                commit_seq=0,
                last_batch=0,
                last_hash=GENESIS_HASH,
                checkpoint_batch=0,
            )
        )

    # Table names whose CREATE TABLE a dialect writes itself (see custom_table_ddl).
    custom_tables: tuple[str, ...] = ()

    @classmethod
    def schema_ddl(cls) -> list[str]:
        """Every statement that creates this dialect's schema, in order (also exported to
        schemas/sql/ by ledger.export)."""
        statements = []
        for table in t.metadata.sorted_tables:
            statements += cls.table_ddl(table)
        return statements + cls.trigger_ddl()

    @classmethod
    def table_ddl(cls, table: Any) -> list[str]:
        """The statements that create one table and its indexes."""
        if table.name in cls.custom_tables:
            return cls.custom_table_ddl(table.name)
        dialect = cls.sql_dialect()
        return [str(CreateTable(table).compile(dialect=dialect)).strip()] + [
            str(CreateIndex(index).compile(dialect=dialect)).strip() for index in table.indexes
        ]

    def execute_ddl(self, conn: Connection, statement: str) -> None:
        conn.exec_driver_sql(statement)

    @classmethod
    def sql_dialect(cls) -> Any:
        raise NotImplementedError

    @classmethod
    def custom_table_ddl(cls, name: str) -> list[str]:
        raise NotImplementedError

    @classmethod
    def trigger_ddl(cls) -> list[str]:
        raise NotImplementedError

    def lock(self, conn: Connection) -> None:
        """Take the ledger's writer lock for the rest of the transaction."""
        raise NotImplementedError

    def dispose(self) -> None:
        self._drop_small_connection()
        self.engine.dispose()

    # --- transactions ------------------------------------------------------------------------

    @contextlib.contextmanager
    def writer(self) -> Iterator[Connection]:
        """A transaction holding the writer lock; commits on success, rolls back otherwise.

        A failure before COMMIT is sent rolls back (a connection lost by then has been rolled
        back by the server): StoreError, nothing changed. A failure of the COMMIT itself
        raises CommitUnknown: the server may have committed before the connection or its
        reply was lost, and only a read after reconnecting can tell (Replica.writer reads
        back the batch it wrote).
        """
        self.known_head = None  # until this transaction commits
        with store_errors(self.url), self._connected(self._begin_writer) as conn:
            try:
                yield conn
            except BaseException:
                with contextlib.suppress(SQLAlchemyError):  # a lost connection rolled back already
                    conn.rollback()
                self.end_write(conn)
                raise
            finally:
                conn.info.pop("ledger_writer", None)
                head = conn.info.pop("ledger_head", None)
            try:
                self.commit_write(conn)
                self.known_head = head if self.small_commits else None
            except SQLAlchemyError as error:
                # A COMMIT that failed may leave the transaction open (SQLite keeps it on some
                # errors), and the pool does not roll back a connection whose transaction it
                # counts as ended: roll back here, or the next user meets it (and its lock).
                if not conn.invalidated:
                    with contextlib.suppress(Exception):  # a dead connection has nothing to undo
                        conn.connection.driver_connection.rollback()  # type: ignore[union-attr]
                raise commit_unknown(self.url, error) from error
            finally:
                self.end_write(conn)

    def _begin_writer(self, conn: Connection) -> None:
        self.begin_write(conn)
        conn.info.pop("ledger_fold", None)
        conn.info.pop("ledger_checkpoint", None)
        conn.info.pop("ledger_head", None)
        conn.info.pop("ledger_fold_more", None)
        conn.info["ledger_writer"] = True
        try:
            self.lock_writer(conn)
        except BaseException:
            with contextlib.suppress(SQLAlchemyError):
                conn.rollback()
            conn.info.pop("ledger_writer", None)
            conn.info.pop("ledger_head", None)
            self.end_write(conn)
            raise

    @contextlib.contextmanager
    def _connected(self, begin: Callable[[Connection], None]) -> Iterator[Connection]:
        """A pooled connection on which `begin` ran its first statements. The pool does not
        ping a connection it hands out (a round trip on every call): one found dead by those
        first statements, before anything was written, is dropped and replaced, once."""
        for attempt in (1, 2):
            conn = self.engine.connect()
            try:
                begin(conn)
            except BaseException as error:
                lost = isinstance(error, Exception) and connection_lost(conn, error)
                if lost and not conn.invalidated:
                    with contextlib.suppress(Exception):
                        conn.invalidate()
                with contextlib.suppress(Exception):
                    conn.close()
                if lost and attempt == 1:
                    log.info("ledger %s: a pooled connection was gone; reconnected", self.url)
                    continue
                raise
            with conn:
                yield conn
            return

    def commit_write(self, conn: Connection) -> None:
        """COMMIT the writer transaction."""
        conn.commit()

    def end_write(self, conn: Connection) -> None:
        """After a writer transaction ended (committed or not): release what the dialect
        kept for it."""

    def lock_writer(self, conn: Connection) -> None:
        """The first statements of a writer transaction: the lock (and whatever the dialect
        can read in the same round trip)."""
        self.lock(conn)

    def begin_write(self, conn: Connection) -> None:
        conn.begin()

    @contextlib.contextmanager
    def reader(self) -> Iterator[Connection]:
        """A read transaction that sees one snapshot of the database for all its queries."""
        with store_errors(self.url), self._connected(self._begin_reader) as conn:
            try:
                yield conn
            except BaseException:
                with contextlib.suppress(SQLAlchemyError):
                    conn.rollback()
                raise
            conn.commit()

    def _begin_reader(self, conn: Connection) -> None:
        conn.begin()
        self.begin_read(conn)

    def begin_read(self, conn: Connection) -> None:
        """First statement of a read transaction (SQLite's WAL readers see one snapshot already)."""

    # The hot statements of every write are plain SQL: compiling a Core statement costs more
    # than running one of these.
    def commit_seq(self, conn: Connection) -> int:
        return self._head(conn)[0]

    def chain_head(self, conn: Connection) -> tuple[int, bytes]:
        _, batch, hash = self._head(conn)
        return batch, hash

    def _head(self, conn: Connection) -> tuple[int, int, bytes]:
        """commit_seq, last_batch, last_hash. Under the writer lock they change only by this
        transaction's bump, so the writer reads them once and keeps them in conn.info."""
        head = conn.info.get("ledger_head")
        if head is None:
            row = driver_row(conn, "SELECT commit_seq, last_batch, last_hash FROM ledger_state")
            if row is None:
                raise StoreError(f"{self.url}: ledger_state has no row; the database is damaged")
            head = (int(row[0]), int(row[1]), bytes(row[2]))
            if conn.info.get("ledger_writer"):
                conn.info["ledger_head"] = head
        return cast(tuple[int, int, bytes], head)

    # The driver's parameter marker (exec_driver_sql passes parameters to the driver as is).
    mark = "?"

    def bump(self, conn: Connection, *, batch: int | None = None, hash: bytes | None = None) -> int:
        """Advance the commit sequence (and the chain head when a batch was written); the new
        sequence, returned by the same statement."""
        parameters: tuple[int, bytes] | tuple[()] = ()
        if batch is None:
            sql = "UPDATE ledger_state SET commit_seq = commit_seq + 1 RETURNING commit_seq"
        else:
            m = self.mark
            sql = (
                f"UPDATE ledger_state SET commit_seq = commit_seq + 1, last_batch = {m}, last_hash = {m}"
                " RETURNING commit_seq"
            )
            parameters = (int(batch), bytes(hash or b""))
        row = driver_row(conn, sql, parameters)
        if row is None:
            raise StoreError(f"{self.url}: ledger_state has no row; the database is damaged")
        seq = int(row[0])
        head = conn.info.get("ledger_head")
        if head is not None:
            conn.info["ledger_head"] = (seq, head[1], head[2]) if batch is None else (seq, *parameters)
        return seq

    # --- catalog writes ----------------------------------------------------------------------

    def insert_rows(self, conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
        """Insert rows; a catalog table's new rows are sealed (seal_catalog)."""
        if rows:
            conn.execute(insert(table), rows)
            if table.name in t.CATALOG_TABLES:
                names = CATALOG_COLUMNS[table.name]
                columns = {name: [_plain(row.get(name)) for row in rows] for name in names}
                self.seal_catalog(conn, table.name, catalog_table(table.name, columns))

    def insert_table(self, conn: Connection, table: str, data: pa.Table) -> None:
        """Insert an Arrow table whose columns are named like the table's (bulk path); a
        catalog table's new rows are sealed (seal_catalog)."""
        if data.num_rows:
            self.insert_arrow(conn, table, data)
            if table in t.CATALOG_TABLES:
                self.seal_catalog(conn, table, data.select(list(CATALOG_COLUMNS[table])))

    def insert_arrow(self, conn: Connection, table: str, data: pa.Table) -> None:
        """insert_table's write (the dialect's fastest path)."""
        if data.num_rows:
            names = ", ".join(f'"{name}"' for name in data.column_names)
            marks = ", ".join("?" for _ in data.column_names)
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:  # Python values for a slice at a time, not for the whole table
                for part in data.to_batches(max_chunksize=_INSERT_ROWS):
                    rows = zip(*(column.to_pylist() for column in part.columns), strict=True)
                    cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
            finally:
                cursor.close()

    # --- batch writes ------------------------------------------------------------------------

    def write_batch(self, conn: Connection, rows: BatchRows) -> None:
        """Write an accepted batch whose lines are written (write_lines): its entries,
        texts and the batch record."""
        self.bulk_insert(conn, "entries", t.ENTRY_COLUMNS, self.entry_columns(rows))
        self.write_texts_and_record(conn, rows)

    def entry_columns(self, rows: BatchRows) -> list[np.ndarray]:
        """A batch's columns of the entries table (tables.ENTRY_COLUMNS)."""
        return [
            rows.entry_keys,
            np.full(len(rows.entry_keys), rows.batch_id, np.int64),
            np.arange(len(rows.entry_keys), dtype=np.int32),
            rows.entry_books,
            rows.entry_dates,
            rows.entry_flags,
            rows.entry_pending,
            rows.entry_extra,
            rows.entry_fingerprints,
            rows.entry_line_counts,
        ]

    def write_small(self, conn: Connection, rows: SmallRows) -> None:
        """A few ordinary entries (journal.small_rows): their lines, entries, texts and batch
        record, a statement per table on the driver, in the writer transaction."""
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            self._insert_small(cursor, rows)
        finally:
            cursor.close()

    def _insert_small(self, cursor: Any, rows: SmallRows) -> None:
        """write_small's statements on a driver cursor, storing the rows as write_lines and
        write_batch store them: pending and extra NULL when both are 0, the dimension codes
        NULL when all are 0."""
        batch = rows.batch_id
        plain: list[tuple[int, ...]] = []  # rows without the nullable columns, and with them
        coded: list[tuple[int, ...]] = []
        for e, i, book, a, amount, d1, d2, d3, d4 in rows.lines:
            if d1 or d2 or d3 or d4:
                coded.append((batch, e, amount, i, book, a, d1, d2, d3, d4))
            else:
                plain.append((batch, e, amount, i, book, a))
        self._insert_values(cursor, _LINES_HEAD, plain)
        self._insert_values(cursor, _LINES_HEAD + _DIMS, coded)
        plain, coded = [], []
        for seq, (key, book, date, flags, pending, extra, fingerprint, count) in enumerate(rows.entries):
            if pending or extra:
                coded.append((key, batch, seq, book, date, flags, fingerprint, count, pending, extra))
            else:
                plain.append((key, batch, seq, book, date, flags, fingerprint, count))
        self._insert_values(cursor, _ENTRIES_HEAD, plain)
        self._insert_values(cursor, _ENTRIES_HEAD + _MARKS, coded)
        self._insert_values(cursor, "entry_texts (entry, kind, reference", rows.texts)
        cursor.execute(self.batch_insert_sql(), batch_record(rows))

    @property
    def small_commits(self) -> bool:
        """Whether commit_small commits here: not in memory, nor on an in-memory SQLite
        database (whose one connection is shared)."""
        return self.durable and self.separate_writer

    def _insert_values(self, cursor: Any, head: str, rows: list[Any]) -> None:
        """INSERT INTO `head`) rows of one width: one statement of many VALUES when they are
        few (a voucher's), else one execution per row."""
        if not rows:
            return
        width = len(rows[0])
        if len(rows) * width <= _VALUES_MAX:
            cursor.execute(_values_sql(head, self.mark, width, len(rows)), [v for row in rows for v in row])
        else:
            cursor.executemany(_values_sql(head, self.mark, width, 1), rows)

    def commit_small(self, rows: SmallRows, seq: int) -> int | None:
        """Commit a small batch of ordinary entries (journal.small_rows) derived from the head
        this store knew at commit sequence `seq` (known_head), in one transaction that reads
        nothing first: the writer lock, the head checked to be still at `seq`, the rows, the
        head advanced, COMMIT. Returns the new commit sequence, or None when this store
        offers no such commit or the head had moved (another process wrote meanwhile; nothing
        was written: the caller posts in Store.writer as usual). StoreError: nothing changed;
        CommitUnknown: as in Store.writer.

        The base class runs it on a connection of its own (SQLite: no round trips to save,
        but none of a pooled connection's checkout, events and bookkeeping either)."""
        head = bytes(rows.hash)
        if not self.small_commits or not self._small_lock.acquire(blocking=False):
            return None
        try:
            raw = self._small_connection()
            raw.execute("BEGIN IMMEDIATE")
            try:
                cursor = raw.cursor()
                cursor.execute(
                    "UPDATE ledger_state SET commit_seq = ?, last_batch = ?, last_hash = ?"
                    " WHERE commit_seq = ?",
                    (seq + 1, rows.batch_id, head, seq),
                )
                if cursor.rowcount != 1:
                    raw.rollback()
                    self.known_head = None
                    return None
                self._insert_small(cursor, rows)
            except BaseException:
                with contextlib.suppress(Exception):
                    raw.rollback()
                raise
            try:
                self.engine.dialect.do_commit(raw)
            except Exception as error:
                with contextlib.suppress(Exception):
                    raw.rollback()
                raise commit_unknown(self.url, error) from error
        except BaseException as error:
            self.known_head = None
            self._drop_small_connection()  # whatever state it was left in, the next one is new
            translated = as_store_error(self.url, error)
            if translated is error:
                raise
            raise translated from error
        finally:
            self._small_lock.release()
        self.known_head = (seq + 1, rows.batch_id, head)
        return seq + 1

    def _small_connection(self) -> Any:
        """The driver connection commit_small keeps checked out of the pool (set up by
        _prepare_small when new)."""
        driver = self._small_driver
        if driver is None:
            with store_errors(self.url):
                self._small = self.engine.raw_connection()
                driver = self._small_driver = self._small.driver_connection
                self._prepare_small(driver)
        return driver

    def _prepare_small(self, driver: Any) -> None:
        """Set up a new connection of commit_small's (nothing here; SQLite sizes its cache)."""

    def _drop_small_connection(self) -> None:
        """Close commit_small's connection for good (PostgreSQL's is left in autocommit mode:
        not one for the pool to hand out)."""
        small, self._small, self._small_driver = self._small, None, None
        if small is not None:
            with contextlib.suppress(Exception):
                small.invalidate()

    def write_texts_and_record(self, conn: Connection, rows: BatchRows) -> None:
        """The texts of a written batch's entries, and its batch record."""
        if rows.texts:
            self.insert_rows(
                conn,
                t.entry_texts,
                [{"entry": key, "kind": kind, "reference": ref} for key, kind, ref in rows.texts],
            )
        driver_row(conn, self.batch_insert_sql(), batch_record(rows))

    def batch_insert_sql(self) -> str:
        """The INSERT of a batch record (batch_record's values), in the driver's markers."""
        return _values_sql(_BATCHES_HEAD, self.mark, 7, 1)

    def write_lines(self, conn: Connection, lines: LineRows) -> None:
        """The batch's lines, and those of its pending entries into pending_lines too."""
        dims = lines.dims
        self.bulk_insert(
            conn,
            "lines",
            ("batch", "entry", "amount", "line", "book", "account", "dim1", "dim2", "dim3", "dim4"),
            [
                np.full(len(lines.entries), lines.batch_id, np.int64),
                lines.entries,
                lines.amounts,
                lines.numbers,
                lines.books,
                lines.accounts,
                dims[:, 0],
                dims[:, 1],
                dims[:, 2],
                dims[:, 3],
            ],
        )
        self.write_pending_lines(conn, lines)

    def write_pending_lines(self, conn: Connection, lines: LineRows) -> None:
        """The lines of the batch's pending entries, into pending_lines."""
        pending = lines.pending
        if pending.any():
            self.bulk_insert(
                conn,
                "pending_lines",
                ("entry", "line", "account", "amount"),
                [
                    lines.entries[pending],
                    lines.numbers[pending],
                    lines.accounts[pending],
                    lines.amounts[pending],
                ],
            )

    def range_lines_sql(self, first: int, last: int) -> str:
        """A query of the lines of the batches first..last: batch, entry, line, account, amount,
        dim1..dim4 (0 for none), in no particular order."""
        dims = ", ".join(f"coalesce(dim{i}, 0)" for i in range(1, 5))
        return (
            f"SELECT batch, entry, line, account, amount, {dims} FROM lines"
            f" WHERE batch BETWEEN {int(first)} AND {int(last)}"
        )

    def entry_lines_from(self, first: int, last: int | None = None) -> str:
        """FROM and WHERE of the lines (alias l: account, amount) of batches from `first` on
        (to `last`, when given), each with its entry (alias e)."""
        upto = f" AND l.batch <= {int(last)} AND e.batch <= {int(last)}" if last is not None else ""
        return (
            "lines l JOIN entries e ON e.batch = l.batch AND e.key = l.entry"
            f" WHERE l.batch >= {int(first)} AND e.batch >= {int(first)}{upto}"
        )

    def bulk_insert(
        self, conn: Connection, table: str, names: tuple[str, ...], columns: list[np.ndarray]
    ) -> None:
        """Insert equal-length numpy columns into `table` (dialect's fastest path)."""
        raise NotImplementedError

    # --- loads -------------------------------------------------------------------------------

    def load(self) -> LoadedState:
        """Read the whole in-memory state in one consistent snapshot."""
        with self.reader() as conn:
            return self._load(conn)

    def _load(self, conn: Connection) -> LoadedState:
        state = conn.execute(select(t.ledger_state)).one()
        groups = [(r.key, int(r.scale)) for r in conn.execute(select(t.groups).order_by(t.groups.c.idx))]
        books = [(r.key, r.name) for r in conn.execute(select(t.books).order_by(t.books.c.idx))]
        accounts = self.read_accounts(conn)
        count = accounts.num_rows
        balances = np.zeros((count, 4), np.int64)
        folded, rows, digest = AccountSums(), 0, 0
        for chunk in self.period_row_chunks(conn):  # the folded months, checked as they come
            rows += len(chunk["account"])
            digest += period_digest(chunk)
            folded.add(*account_totals(chunk))
        index, sums = folded.result()
        checkpoint = self.trusted_checkpoint(conn, (rows, signed64(digest)))
        if checkpoint is None or (len(index) and index[-1] >= count):
            checkpoint = 0  # the monthly sums failed their check: every line is summed
        else:
            balances[index] = sums
        del folded
        index, sums = self.unfolded_sums(conn, checkpoint)
        with np.errstate(over="ignore"):  # modulo 2**64, as account_sums: exact when the total fits
            balances[index] += sums
        ranges = self.batch_ranges(conn, 0)  # the whole history, once for the three reads
        keys, fingerprints = self.entry_keys(conn, ranges)
        pending = self._pending_rows(conn, ranges)
        resolved_keys, resolved_flags = self.resolutions(conn, ranges)
        return LoadedState(
            commit_seq=int(state.commit_seq),
            last_batch=int(state.last_batch),
            last_hash=bytes(state.last_hash),
            groups=groups,
            books=books,
            accounts=accounts,
            balances=balances,
            entry_keys=keys,
            entry_fingerprints=fingerprints,
            pending_keys=pending[0],
            pending_books=pending[1],
            pending_states=pending_states(pending[0], resolved_keys, resolved_flags),
            pending_line_counts=pending[2],
            pending_accounts=pending[3],
            pending_amounts=pending[4],
            closed_periods=self._closed_periods(conn),
        )

    def account_sums(self, conn: Connection, rows_sql: str) -> tuple[np.ndarray, np.ndarray]:
        """Per account, the sums of the dp, cp, dq, cq columns of `rows_sql`'s rows.

        Each value is summed as its high and low 32 bits, so no partial sum can overflow the
        database's integers (a pending amount and its release may meet in any order), and the
        halves are joined in int64 arithmetic, exact whenever the total fits, as a balance does.
        """
        parts = ", ".join(
            f"SUM({c} >> 32) AS {c}_hi, SUM({c} & 4294967295) AS {c}_lo" for c in ("dp", "cp", "dq", "cq")
        )
        names = ("account", *(f"{c}_{half}" for c in ("dp", "cp", "dq", "cq") for half in ("hi", "lo")))
        sql = f"SELECT account, {parts} FROM ({rows_sql}) AS b GROUP BY account"
        table = self.read_ints(conn, sql, names)
        sums = np.zeros((len(table["account"]), 4), np.int64)
        with np.errstate(over="ignore"):
            for position, c in enumerate(("dp", "cp", "dq", "cq")):
                sums[:, position] = (table[f"{c}_hi"] << np.int64(32)) + table[f"{c}_lo"]
        return table["account"], sums

    # Entries plus lines a bounded read takes per statement (see ledger.store.ranges).
    chunk_rows = CHUNK_ROWS

    def batch_ranges(self, conn: Connection, after: int, upto: int | None = None) -> list[tuple[int, int]]:
        """The ranges of batches after `after` up to `upto` (the chain head when None) that
        bounded reads go by: about chunk_rows entries and lines each."""
        if upto is None:
            upto = self.chain_head(conn)[0]
        return batch_ranges(conn, int(after), int(upto), self.chunk_rows)

    def unfolded_sums(
        self,
        conn: Connection,
        checkpoint: int,
        upto: int | None = None,
        ranges: list[tuple[int, int]] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per account (ascending), the balance changes of the batches after `checkpoint` (up
        to `upto`), read range by range (range_sums; `ranges`: batch_ranges' when the caller
        has them)."""
        total = AccountSums()
        for first, last in ranges if ranges is not None else self.batch_ranges(conn, checkpoint, upto):
            total.add(*self.range_sums(conn, first - 1, last))
        return total.result()

    def range_sums(self, conn: Connection, after: int, upto: int) -> tuple[np.ndarray, np.ndarray]:
        """Per account (unique), the balance changes of the batches after `after` up to
        `upto` (account_sums of unfolded_sql's rows)."""
        return self.account_sums(
            conn, f"SELECT account, dp, cp, dq, cq FROM ({self.unfolded_sql(after, upto=upto)}) AS n"
        )

    def lines_sums(
        self,
        conn: Connection,
        after: int,
        upto: int,
        accounts: np.ndarray,
        amounts: np.ndarray,
        pending: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """range_sums from the entries' own lines, given as columns (account, amount,
        whether its entry is pending) and summed here, and the posts and voids by SQL."""
        resolved, resolved_sums = self.account_sums(
            conn, f"SELECT account, dp, cp, dq, cq FROM ({self.resolved_lines_sql(after, upto=upto)}) AS n"
        )
        size = int(max(accounts.max(initial=-1), resolved.max(initial=-1))) + 1
        sums = np.zeros((size, 4), np.int64)
        column = 2 * pending.astype(np.int64) + (amounts < 0)
        with np.errstate(over="ignore"):  # modulo 2**64, as account_sums: exact when the total fits
            np.add.at(sums, (accounts, column), np.abs(amounts))
            sums[resolved] += resolved_sums
        touched = np.zeros(size, bool)
        touched[accounts] = touched[resolved] = True
        index = np.flatnonzero(touched)
        return index, sums[index]

    def entry_keys(self, conn: Connection, ranges: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """Keys (int64) and fingerprints (uint64) of the entries of the batch ranges."""
        keys, fingerprints = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        for first, last in ranges:
            rows = self.read_ints(
                conn,
                f"SELECT key, fingerprint FROM entries WHERE batch BETWEEN {first} AND {last}",
                ("key", "fingerprint"),
            )
            keys.append(rows["key"])
            fingerprints.append(rows["fingerprint"])
        return np.concatenate(keys), np.concatenate(fingerprints).view(np.uint64)

    def resolutions(self, conn: Connection, ranges: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """The pending entries (int64 keys) that the batch ranges posted or voided, and the
        flags (int32) of the entry that did."""
        keys, flags = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        for first, last in ranges:
            rows = self.read_ints(
                conn,
                f"SELECT pending, flags FROM entries WHERE batch BETWEEN {first} AND {last}"
                f" AND (flags & {_RESOLVING}) <> 0",
                ("pending", "flags"),
            )
            keys.append(rows["pending"])
            flags.append(rows["flags"])
        return np.concatenate(keys), np.concatenate(flags).astype(np.int32)

    def load_since(
        self, conn: Connection, last_batch: int, groups: int, books: int, accounts: int
    ) -> Increment:
        """What was committed after batch `last_batch` with that many groups, books and accounts.

        Catalog tables only ever gain rows and batches only append, so the difference is
        the new rows: the balance changes of the new batches (the same unfolded sums a load
        adds to a checkpoint), their entry keys, their pending entries and resolutions.
        """
        state = conn.execute(select(t.ledger_state)).one()
        new_groups = [
            (r.key, int(r.scale))
            for r in conn.execute(select(t.groups).where(t.groups.c.idx >= groups).order_by(t.groups.c.idx))
        ]
        new_books = [
            (r.key, r.name)
            for r in conn.execute(select(t.books).where(t.books.c.idx >= books).order_by(t.books.c.idx))
        ]
        new_accounts = self.read_accounts(conn, accounts)
        ranges = self.batch_ranges(conn, last_batch)  # once for the four reads
        balance_accounts, balance_changes = self.unfolded_sums(conn, last_batch, ranges=ranges)
        keys, fingerprints = self.entry_keys(conn, ranges)
        pending = self._pending_rows(conn, ranges)
        resolved_keys, resolved_flags = self.resolutions(conn, ranges)
        return Increment(
            commit_seq=int(state.commit_seq),
            last_batch=int(state.last_batch),
            groups=new_groups,
            books=new_books,
            accounts=new_accounts,
            closed_periods=self._closed_periods(conn),
            balance_accounts=balance_accounts,
            balance_changes=balance_changes,
            entry_keys=keys,
            entry_fingerprints=fingerprints,
            pending_keys=pending[0],
            pending_books=pending[1],
            pending_line_counts=pending[2],
            pending_accounts=pending[3],
            pending_amounts=pending[4],
            resolved_keys=resolved_keys,
            resolved_flags=resolved_flags,
        )

    def index_ranges(
        self, conn: Connection, table: str, start: int = 0, step: int | None = None
    ) -> list[tuple[int, int]]:
        """Ranges [first, end) of the idx of a catalog table from `start`, `step` (chunk_rows)
        each."""
        top = conn.exec_driver_sql(f"SELECT max(idx) FROM {table}").scalar()
        end = int(top) + 1 if top is not None else 0
        step = max(1, int(step or self.chunk_rows))
        return [(first, min(first + step, end)) for first in range(int(start), end, step)]

    def read_accounts(self, conn: Connection, start: int = 0, names: Sequence[str] | None = None) -> pa.Table:
        """The accounts from index `start` on, by index, range by range: every column, or
        idx and `names`."""
        types = {
            name: kind for name, kind in ACCOUNT_TYPES.items() if names is None or name in ("idx", *names)
        }
        columns = ", ".join(f'"{name}"' for name in types)
        parts = [
            self.read_table(
                conn,
                f"SELECT {columns} FROM accounts WHERE idx >= {first} AND idx < {end} ORDER BY idx",
                types,
            )
            # an eighth of a chunk: an account row carries texts, a few hundred bytes at most
            for first, end in self.index_ranges(conn, "accounts", start, max(1, self.chunk_rows // 8))
        ]
        if not parts:
            return pa.table({name: pa.array([], type=kind) for name, kind in types.items()})
        return pa.concat_tables(parts).combine_chunks()

    def _closed_periods(self, conn: Connection) -> set[tuple[int, int]]:
        query = select(t.periods.c.book, t.periods.c.period).where(t.periods.c.closed)
        return {(int(r.book), int(r.period)) for r in conn.execute(query)}

    def _pending_rows(self, conn: Connection, ranges: list[tuple[int, int]]) -> tuple[np.ndarray, ...]:
        """keys (ascending), books, line counts, then the lines (accounts, amounts) of the
        pending entries of the batch ranges."""
        names = ("key", "book", "lines", "account", "amount")
        parts: dict[str, list[np.ndarray]] = {name: [np.zeros(0, np.int64)] for name in names}
        for first, last in ranges:
            where = f"(flags & {ENTRY_PENDING}) <> 0 AND batch BETWEEN {first} AND {last}"
            sql = f"SELECT key, book, lines FROM entries WHERE {where} ORDER BY key"
            pendings = self.read_ints(conn, sql, ("key", "book", "lines"))
            lines = self.read_ints(
                conn,
                "SELECT l.account, l.amount FROM entries e JOIN pending_lines l ON l.entry = e.key"
                f" WHERE {where.replace('flags', 'e.flags').replace('batch', 'e.batch')}"
                " ORDER BY l.entry, l.line",
                ("account", "amount"),
            )
            for name, column in (*pendings.items(), *lines.items()):
                parts[name].append(column)
        data = {name: np.concatenate(columns) for name, columns in parts.items()}
        order, positions = segments_by_key(data["key"], data["lines"])
        return (
            data["key"][order],
            data["book"][order].astype(np.int32),
            data["lines"][order].astype(np.int32),
            data["account"][positions].astype(np.int32),
            data["amount"][positions],
        )

    def read_ints(self, conn: Connection, sql: str, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        """The columns of a query whose values are all integers (none NULL), as int64 arrays."""
        table = self.read_table(conn, sql, {name: pa.int64() for name in names})
        if any(column.null_count for column in table.columns):
            raise StoreError("read_ints: the query gave NULLs")
        return {name: table.column(name).to_numpy().astype(np.int64, copy=False) for name in names}

    def read_table(
        self, conn: Connection, sql: str, types: dict[str, pa.DataType], names: list[str] | None = None
    ) -> pa.Table:
        """Run a query and return its rows as an Arrow table with the given column types."""
        result = conn.exec_driver_sql(sql)
        rows = result.fetchall()
        columns = names or list(types)
        if not rows:
            return pa.table({name: pa.array([], type=types[name]) for name in columns})
        data = list(zip(*rows, strict=True))
        return pa.table({name: pa.array(data[i], type=types[name]) for i, name in enumerate(columns)})

    # --- reads -------------------------------------------------------------------------------

    def period_sql(self, day: str) -> str:
        """SQL for the yyyymm of an int day-number expression."""
        raise NotImplementedError

    def unfolded_sql(self, checkpoint: int, account: int | None = None, upto: int | None = None) -> str:
        """(account, period, dp, cp, dq, cq) rows of every batch after `checkpoint` (up to
        batch `upto`, when given).

        Ordinary and pending entries count their own lines in their own month; a post or
        void counts the pending entry's lines (pending_lines) in the month of the entry that
        resolved it.
        """
        own = self.own_lines_sql(checkpoint, account, upto)
        resolved = self.resolved_lines_sql(checkpoint, account, upto)
        return f"{own} UNION ALL {resolved}"

    def own_lines_sql(self, checkpoint: int, account: int | None = None, upto: int | None = None) -> str:
        """The rows of unfolded_sql from the lines of ordinary and pending entries."""
        only = f" AND l.account = {int(account)}" if account is not None else ""
        return (
            f"SELECT l.account AS account, {self.period_sql('e.date')} AS period,"
            f" CASE WHEN (e.flags & {ENTRY_PENDING}) = 0 AND l.amount > 0 THEN l.amount ELSE 0 END AS dp,"
            f" CASE WHEN (e.flags & {ENTRY_PENDING}) = 0 AND l.amount < 0 THEN -l.amount ELSE 0 END AS cp,"
            f" CASE WHEN (e.flags & {ENTRY_PENDING}) <> 0 AND l.amount > 0 THEN l.amount ELSE 0 END AS dq,"
            f" CASE WHEN (e.flags & {ENTRY_PENDING}) <> 0 AND l.amount < 0 THEN -l.amount ELSE 0 END AS cq"
            f" FROM {self.entry_lines_from(int(checkpoint) + 1, upto)}{only}"
        )

    def resolved_lines_sql(self, checkpoint: int, account: int | None = None, upto: int | None = None) -> str:
        """The rows of unfolded_sql from the posts and voids of pending entries."""
        only = f" AND pl.account = {int(account)}" if account is not None else ""
        if upto is not None:
            only += f" AND r.batch <= {int(upto)}"
        return (
            f"SELECT pl.account AS account, {self.period_sql('r.date')} AS period,"
            f" CASE WHEN (r.flags & {_POST}) <> 0 AND pl.amount > 0 THEN pl.amount ELSE 0 END AS dp,"
            f" CASE WHEN (r.flags & {_POST}) <> 0 AND pl.amount < 0 THEN -pl.amount ELSE 0 END AS cp,"
            " CASE WHEN pl.amount > 0 THEN -pl.amount ELSE 0 END AS dq,"
            " CASE WHEN pl.amount < 0 THEN pl.amount ELSE 0 END AS cq"
            " FROM entries r JOIN pending_lines pl ON pl.entry = r.pending"
            f" WHERE r.batch > {int(checkpoint)} AND (r.flags & {_RESOLVING}) <> 0{only}"
        )

    def write_snapshot(self, conn: Connection, header: str, blobs: dict[str, list[bytes]]) -> None:
        """Replace the saved snapshot (in the writer transaction)."""
        conn.execute(t.snapshots.delete())
        rows = [{"name": "header", "part": 0, "data": header.encode()}]
        rows += [
            {"name": name, "part": i, "data": part}
            for name, parts in blobs.items()
            for i, part in enumerate(parts)
        ]
        for row in rows:
            conn.execute(insert(t.snapshots).values(**row))

    def read_snapshot(self, conn: Connection) -> tuple[str, dict[str, bytes]] | None:
        """The saved snapshot's header and arrays; None when there is none, or when it is not
        the one the last checkpoint sealed (then a warning is logged: opening loads from
        the tables instead)."""
        seal = self.checkpoint_seal(conn)
        parts: dict[str, list[bytes]] = {}
        hasher = SnapshotHasher()
        with ThreadPoolExecutor(1) as pool:  # one part is hashed while the next is read
            for name, data in self.snapshot_rows(conn):
                parts.setdefault(name, []).append(data)
                pool.submit(hasher.update, name, data)
        stored = _joined_snapshot(parts)
        if stored is None and (seal is None or not seal.content):
            return None
        if (
            seal is None
            or seal.computed_hash() != seal.hash
            or stored is None
            or hasher.digest() != seal.content
        ):
            message = "the snapshot is not the one the last checkpoint sealed; loading from the tables"
            self._detect("snapshots", "", message)
            return None
        return stored

    def stored_snapshot(self, conn: Connection) -> tuple[str, dict[str, bytes]] | None:
        """The saved snapshot's header and arrays as stored (unchecked), or None."""
        parts: dict[str, list[bytes]] = {}
        for name, data in self.snapshot_rows(conn):
            parts.setdefault(name, []).append(data)
        return _joined_snapshot(parts)

    def snapshot_rows(self, conn: Connection) -> Iterator[tuple[str, bytes]]:
        """The snapshot's parts as stored, (name, data) by name and part, read as iterated."""
        query = select(t.snapshots.c.name, t.snapshots.c.data).order_by(
            t.snapshots.c.name, t.snapshots.c.part
        )
        for name, data in conn.execute(query):
            yield name, bytes(data)

    def account_row(self, conn: Connection, index: int) -> dict[str, Any]:
        """One account's stored fields (book and group as indices)."""
        row = conn.execute(select(t.accounts).where(t.accounts.c.idx == index)).one()
        return dict(row._mapping)

    def set_checkpoint(self, conn: Connection, batch: int) -> None:
        """Move the checkpoint to `batch` (in the writer transaction; seal_checkpoint seals it)."""
        conn.execute(update(t.ledger_state).values(checkpoint_batch=batch))
        conn.info["ledger_checkpoint"] = int(batch)

    def fold_rows(
        self, conn: Connection, accounts: np.ndarray, periods: np.ndarray, books: np.ndarray, sums: np.ndarray
    ) -> None:
        """Add monthly sums computed by the caller into period_balances (upsert); `books` is
        each account's book (period_balances carries it).

        The merge gives the rows it replaced and the rows it wrote (as many as it folds), so
        the digest of the table moves by the new rows' mixes minus the old ones' (kept for
        seal_checkpoint in the transaction's connection info).
        """
        columns = (
            "account",
            "period",
            "book",
            "debits_posted",
            "credits_posted",
            "debits_pending",
            "credits_pending",
        )
        staged = [
            np.asarray(accounts, np.int64),
            np.asarray(periods, np.int64),
            np.asarray(books, np.int64),
            *(np.asarray(sums[:, i], np.int64) for i in range(4)),
        ]
        self.stage_fold(conn, columns, staged)
        old, new = self.merge_fold(conn, dict(zip(PERIOD_NAMES, staged, strict=True)))
        conn.exec_driver_sql("DROP TABLE ledger_fold")
        delta, count = conn.info.get("ledger_fold", (0, 0))
        delta += period_digest(new) - period_digest(old)
        conn.info["ledger_fold"] = (signed64(delta), count + len(new["account"]) - len(old["account"]))

    def stage_fold(self, conn: Connection, names: tuple[str, ...], columns: list[np.ndarray]) -> None:
        """Create the temporary table ledger_fold and fill it with `columns`."""
        raise NotImplementedError

    def merge_fold(
        self, conn: Connection, staged: dict[str, np.ndarray]
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Add ledger_fold (`staged`, PERIOD_NAMES, unique keys) into period_balances, modulo
        2**64 per column. Returns the rows it replaced as they were and every row it wrote
        (PERIOD_NAMES columns)."""
        raise NotImplementedError

    def checkpoint_batch(self, conn: Connection) -> int:
        """The batch the monthly sums are folded up to: the last checkpoint seal's (the
        ledger_state column is kept equal to it, and verify checks that it is)."""
        seal = self.checkpoint_seal(conn)
        return seal.batch if seal is not None else 0

    def fold(self, conn: Connection, books: np.ndarray | None = None) -> int:
        """Fold the next step of batches after the checkpoint into period_balances, under the
        writer lock; the caller seals it (seal_fold, or seal_checkpoint with a new snapshot)
        and commits, so a fold of a long unfolded tail goes in steps that each keep their
        work. A step sums ranges of batches (batch_ranges) by month until its monthly rows
        reach half of chunk_rows, then writes them in one upsert: the upsert costs by the (account,
        month) rows it touches, which a day's lines and a month's share, so the fewer steps
        the better, and memory stays bounded by the rows of one step (half a chunk of rows).

        `books`: every account's book, when the caller holds them (else they are read).
        Returns the number of batches folded. Readers see the old or the new checkpoint,
        never a mix: both move in one transaction. Monthly sums are kept modulo 2**64 (see
        wrap64): a month's pending reservations may add up past int64 even though every
        balance fits, and any balance read back from them is still exact.
        """
        checkpoint = self.checkpoint_batch(conn)
        ranges = self.batch_ranges(conn, checkpoint)
        if not ranges:
            return 0
        total, last = PeriodSums(), checkpoint
        for first, end in ranges:
            self.range_period_sums(conn, first - 1, end, total)
            last = end
            if len(total.rows["account"]) >= self.chunk_rows // 2:  # 48 bytes a row
                break
        conn.info["ledger_fold_more"] = last < ranges[-1][1]  # statistics wait for the last step
        sums = total.result()
        if books is None or (len(sums["account"]) and int(sums["account"].max()) >= len(books)):
            books = self.account_books(conn)
        books = np.asarray(books, np.int64)[sums["account"]]
        matrix = np.stack([sums[name] for name in ("dp", "cp", "dq", "cq")], axis=1)
        self.fold_rows(conn, sums["account"], sums["period"], books, matrix)
        self.set_checkpoint(conn, last)
        return last - checkpoint

    def seal_fold(self, conn: Connection) -> None:
        """Seal a fold step that keeps the saved snapshot: the checkpoint seal names the
        snapshot the previous one named (a snapshot stays valid whatever the checkpoint: an
        open catches up from the batch it was saved at)."""
        last = self.checkpoint_seal(conn)
        self._seal_checkpoint(conn, last.content if last is not None else b"", fresh=False, snapshot=False)

    def period_sums(self, conn: Connection, after: int, upto: int) -> dict[str, np.ndarray]:
        """The monthly sums of the batches after `after` up to `upto`, from the lines:
        int64 columns account, period, dp, cp, dq, cq, one row per (account, month) in key
        order, each sum modulo 2**64 (see wrap64). Read range by range (batch_ranges)."""
        total = PeriodSums()
        for first, last in self.batch_ranges(conn, after, upto):
            self.range_period_sums(conn, first - 1, last, total)
        return total.result()

    def range_period_sums(self, conn: Connection, after: int, upto: int, total: PeriodSums) -> None:
        """Add the monthly sums of the batches after `after` up to `upto` into `total`."""
        rows = self.unfolded_sql(after, upto=upto)
        total.add(
            self.read_ints(
                conn, f"SELECT account, period, dp, cp, dq, cq FROM ({rows}) AS u", PeriodSums.NAMES
            )
        )

    def resolved_period_sums(self, conn: Connection, after: int, upto: int, total: PeriodSums) -> None:
        """Add the monthly sums of the posts and voids of the batches after `after` up to
        `upto` into `total` (range_period_sums' part that is not the entries' own lines)."""
        rows = self.resolved_lines_sql(after, upto=upto)
        total.add(
            self.read_ints(
                conn, f"SELECT account, period, dp, cp, dq, cq FROM ({rows}) AS u", PeriodSums.NAMES
            )
        )

    def account_books(self, conn: Connection) -> np.ndarray:
        """The book (int64) of every account, by index."""
        parts = [np.zeros(0, np.int64)]
        for first, end in self.index_ranges(conn, "accounts"):
            sql = f"SELECT book FROM accounts WHERE idx >= {first} AND idx < {end} ORDER BY idx"
            parts.append(self.read_ints(conn, sql, ("book",))["book"])
        return np.concatenate(parts)

    def period_turnover(self, conn: Connection, account: int) -> list[tuple[int, int, int]]:
        """(period, debit turnover, credit turnover) of posted amounts, by month (from the
        lines alone while the monthly sums fail their check)."""
        checkpoint = self.trusted_checkpoint(conn)
        folded = (
            "SELECT period, debits_posted, credits_posted FROM period_balances"
            f" WHERE account = {int(account)} UNION ALL "
            if checkpoint is not None
            else ""
        )
        rows = conn.exec_driver_sql(
            f"{folded}SELECT period, dp, cp FROM ({self.unfolded_sql(checkpoint or 0, account)}) AS n"
        ).all()
        totals: dict[int, list[int]] = {}
        for period, debit, credit in rows:  # Python ints: no partial sum can overflow
            total = totals.setdefault(int(period), [0, 0])
            total[0] += int(debit)
            total[1] += int(credit)
        return [(period, wrap64(dr), wrap64(cr)) for period, (dr, cr) in sorted(totals.items())]

    def balance_as_of(self, conn: Connection, account: int, period: int, first: int, last: int) -> list[int]:
        """[dp, cp, dq, cq] of one account at the end of day `last` (by accounting date).

        Whole months before `period` come from the folded and unfolded monthly sums; the
        month itself from the lines of entries dated `first`..`last` and the resolutions
        dated in that range. While the monthly sums fail their check, every month comes
        from the lines.
        """
        checkpoint = self.trusted_checkpoint(conn)
        a = int(account)
        folded = (
            "SELECT debits_posted, credits_posted, debits_pending, credits_pending FROM period_balances"
            f" WHERE account = {a} AND period < {int(period)} UNION ALL "
            if checkpoint is not None
            else ""
        )
        before = conn.exec_driver_sql(
            f"{folded}SELECT dp, cp, dq, cq FROM ({self.unfolded_sql(checkpoint or 0, a)}) AS n"
            f" WHERE n.period < {int(period)}"
        ).all()
        totals = [wrap64(sum(int(row[i]) for row in before)) for i in range(4)]
        own = conn.exec_driver_sql(
            "SELECT l.amount, e.flags FROM entries e JOIN lines l ON l.batch = e.batch AND l.entry = e.key"
            f" WHERE l.account = {a} AND e.date BETWEEN {int(first)} AND {int(last)}"
        ).all()
        for amount, flags in own:
            totals[2 * bool(flags & ENTRY_PENDING) + (amount < 0)] += abs(amount)
        resolved = conn.exec_driver_sql(
            "SELECT l.amount, r.flags FROM entries r JOIN pending_lines l ON l.entry = r.pending"
            f" WHERE (r.flags & {_RESOLVING}) <> 0 AND r.date BETWEEN {int(first)} AND {int(last)}"
            f" AND l.account = {a}"
        ).all()
        for amount, flags in resolved:
            side = int(amount < 0)
            totals[2 + side] -= abs(amount)
            if flags & ENTRY_POST_PENDING:
                totals[side] += abs(amount)
        return totals

    # --- seals: what binds the catalog and derived data to the chain -------------------------

    def last_seal(self, conn: Connection, kind: str | None = None) -> Seal | None:
        """The newest seal (of `kind`, when given), or None."""
        query = select(t.seals).order_by(t.seals.c.id.desc()).limit(1)
        if kind is not None:
            query = query.where(t.seals.c.kind == kind)
        row = conn.execute(query).first()
        return _seal(row) if row is not None else None

    def checkpoint_seal(self, conn: Connection) -> Seal | None:
        """The newest checkpoint seal, or None before the first checkpoint."""
        return self.last_seal(conn, "checkpoint")

    def append_seal(
        self,
        conn: Connection,
        kind: str,
        *,
        batch: int | None = None,
        row_start: int = 0,
        row_count: int = 0,
        digest: int = 0,
        content: bytes = b"",
        records: bytes = b"",
    ) -> Seal:
        """Append a seal chained to the newest one (in the writer transaction). `batch`
        defaults to the chain head; its hash is read from the batches table."""
        last = self.last_seal(conn)
        if batch is None:
            batch = self.chain_head(conn)[0]
        fields: dict[str, Any] = {
            "id": last.id + 1 if last is not None else 1,
            "kind": kind,
            "batch": int(batch),
            "batch_hash": self.batch_hash_of(conn, int(batch)),
            "row_start": int(row_start),
            "row_count": int(row_count),
            "digest": int(digest),
            "content": content,
            "records": records,
            "created_at": time.time_ns() // 1000,
            "prev_hash": last.hash if last is not None else GENESIS_HASH,
        }
        seal = Seal(**fields, hash=b"")
        seal = Seal(**fields, hash=seal.computed_hash())
        conn.execute(insert(t.seals).values(**fields, hash=seal.hash))
        return seal

    def batch_hash_of(self, conn: Connection, batch: int) -> bytes:
        """The stored hash of batch `batch` (GENESIS_HASH for 0)."""
        if batch == 0:
            return GENESIS_HASH
        row = conn.execute(select(t.batches.c.hash).where(t.batches.c.id == int(batch))).first()
        return bytes(row.hash) if row is not None else b""

    def seal_catalog(self, conn: Connection, table: str, rows: pa.Table) -> None:
        """Seal rows just added to a catalog table (CATALOG_COLUMNS): groups, books and
        accounts by their idx range and the SHA-256 of the rows; periods by the digest of the
        whole table, the last periods seal's plus the new rows'."""
        if table == "periods":
            last = self.last_seal(conn, "periods")
            count = (last.row_count if last is not None else 0) + rows.num_rows
            digest = (last.digest if last is not None else 0) + periods_digest(rows)
            self.append_seal(conn, "periods", row_count=count, digest=signed64(digest))
            return
        idx = rows.column("idx").to_numpy()
        if len(idx) > 1 and (np.diff(idx) < 0).any():  # new rows come in index order: no copy
            rows = rows.take(np.argsort(idx, kind="stable"))
        start = int(rows.column("idx")[0].as_py())
        self.append_seal(conn, table, row_start=start, row_count=rows.num_rows, content=table_hash(rows))

    def seal_checkpoint(self, conn: Connection, header: str, blobs: dict[str, list[bytes]]) -> None:
        """Seal a checkpoint (in its writer transaction, after write_snapshot): the batch it
        folded up to (set_checkpoint; else the previous seal's), the digest of the monthly
        sums (the previous seal's moved by what fold_rows merged), the snapshot's SHA-256,
        and the batch records since the previous checkpoint seal."""
        self._seal_checkpoint(conn, snapshot_hash(header, blobs), fresh=False)

    def _seal_checkpoint(
        self, conn: Connection, content: bytes, *, fresh: bool, snapshot: bool = True
    ) -> Seal:
        """seal_checkpoint; `fresh`: period_balances was emptied before the fold (a rebuild);
        `snapshot`: the snapshot was rewritten (not so in a fold step)."""
        last = self.checkpoint_seal(conn)
        base_batch = last.batch if last is not None else 0
        batch = int(conn.info.pop("ledger_checkpoint", base_batch))
        delta, count = conn.info.pop("ledger_fold", (0, 0))
        if not fresh and last is not None:
            delta, count = delta + last.digest, count + last.row_count
        first = base_batch + 1 if batch >= base_batch else 1
        records = records_hash(r.fields() for r in self.batch_records(conn, first, batch))
        seal = self.append_seal(
            conn, "checkpoint", batch=batch, row_start=first, row_count=count, digest=signed64(delta),
            content=content, records=records,
        )  # fmt: skip
        conn.execute(update(t.ledger_state).values(checkpoint_batch=batch))
        if not fresh and snapshot:
            self.detected.clear()  # a checkpoint rewrites the snapshot and seals the sums anew
        if fresh or (last is not None and self._sums_verdicts.get((last.id, last.hash))):
            self._sums_verdicts[(seal.id, seal.hash)] = True  # moved from a checked state
        return seal

    # --- checks on what a read would serve -----------------------------------------------------

    def trusted_checkpoint(self, conn: Connection, summary: tuple[int, int] | None = None) -> int | None:
        """The checkpoint batch when period_balances passes its check against the last
        checkpoint seal, None when it does not (then read the lines instead).

        Checked once per seal in this process, on the first read that needs it (`summary`:
        the table's row count and digest, when the caller has read it already): a failed
        check logs a warning and rebuilds period_balances from the lines under the writer
        lock (rebuild_period_sums), which appends a new seal; this seal stays refused.
        """
        seal = self.checkpoint_seal(conn)
        key = (seal.id, seal.hash) if seal is not None else (0, b"")
        verdict = self._sums_verdicts.get(key)
        if verdict is None:
            if summary is None:
                summary = self.period_summary(conn)
            verdict = summary_matches(seal, *summary)
            if verdict or self._repair_sums(conn, seal):
                self._sums_verdicts[key] = verdict  # a failed rebuild is tried again next time
        if not verdict:
            return None
        return seal.batch if seal is not None else 0

    def period_summary(self, conn: Connection) -> tuple[int, int]:
        """The row count and digest of period_balances, read range by range."""
        rows = digest = 0
        for chunk in self.period_row_chunks(conn):
            rows += len(chunk["account"])
            digest += period_digest(chunk)
        return rows, signed64(digest)

    def _repair_sums(self, conn: Connection, seal: Seal | None) -> bool:
        """Rebuild period_balances after a failed check: in `conn` when it is the writer's,
        else in a writer transaction of its own (this reader keeps reading the lines).
        False when it could not be rebuilt now."""
        upto = seal.batch if seal is not None and seal.computed_hash() == seal.hash else None
        stored = self.period_rows(conn) if upto is not None else None  # to name the first difference
        if conn.info.get("ledger_writer"):
            rebuilt = self.rebuild_period_sums(conn, upto)
        elif self.separate_writer:
            try:
                with self.writer() as writer:
                    rebuilt = self.rebuild_period_sums(writer, upto)
            except StoreError as error:  # the reads go on from the lines; a later one retries
                log.warning("ledger %s: rebuilding period_balances failed: %s", self.url, error)
                rebuilt = None
        else:
            rebuilt = None
        where = ""
        if rebuilt is not None and stored is not None:
            found = first_period_difference(stored, rebuilt)
            where = f"account {found[0]} period {found[1]}" if found is not None else ""
        action = "rebuilt from the lines" if rebuilt is not None else "read from the lines"
        message = f"the monthly sums do not match the last checkpoint seal; {action}"
        self._detect("period_balances", where, message)
        return rebuilt is not None or not self.separate_writer

    # A reader may open a writer transaction beside it (not so on one shared connection).
    separate_writer = True

    def rebuild_period_sums(self, conn: Connection, upto: int | None) -> dict[str, np.ndarray]:
        """Refold period_balances from the lines of batches 1..`upto` (the chain head when
        None), in the writer transaction `conn`, and seal it as a checkpoint; the snapshot is
        kept when it is the one the last checkpoint sealed, else deleted. Returns the rows
        written (PERIOD_NAMES)."""
        if upto is None:
            upto = self.chain_head(conn)[0]
        sums = self.period_sums(conn, 0, upto)
        keep = (np.stack([sums[name] for name in ("dp", "cp", "dq", "cq")], axis=1) != 0).any(axis=1)
        sums = {name: column[keep] for name, column in sums.items()}
        books = self.account_books(conn)[sums["account"]]
        conn.exec_driver_sql("DELETE FROM period_balances")
        conn.info.pop("ledger_fold", None)
        matrix = np.stack([sums[name] for name in ("dp", "cp", "dq", "cq")], axis=1)
        self.fold_rows(conn, sums["account"], sums["period"], books, matrix)
        self.set_checkpoint(conn, upto)
        stored, last = self.stored_snapshot(conn), self.checkpoint_seal(conn)
        content = snapshot_hash(*stored) if stored is not None else b""
        if last is None or last.computed_hash() != last.hash or content != last.content:
            conn.execute(t.snapshots.delete())
            content = b""
        self._seal_checkpoint(conn, content, fresh=True)
        return {"account": sums["account"], "period": sums["period"], "book": books,
                **{name: sums[name] for name in ("dp", "cp", "dq", "cq")}}  # fmt: skip

    def _detect(self, table: str, key: str, message: str) -> None:
        """Log what a read found edited, and keep it for verify."""
        log.warning("ledger %s: %s%s: %s", self.url, table, f" {key}" if key else "", message)
        self.detected.append((table, key, message))

    # --- reads for verify (ledger.verify): every value as stored ----------------------------

    def state_row(self, conn: Connection) -> StateRow:
        """The ledger_state row."""
        row = conn.execute(select(t.ledger_state)).one()
        return StateRow(
            int(row.commit_seq), int(row.last_batch), bytes(row.last_hash), int(row.checkpoint_batch)
        )

    def batch_records(self, conn: Connection, first: int = 1, last: int | None = None) -> list[BatchRecord]:
        """The batch records with ids first..last (all from `first` when last is None), by id."""
        query = select(t.batches).where(t.batches.c.id >= int(first)).order_by(t.batches.c.id)
        if last is not None:
            query = query.where(t.batches.c.id <= int(last))
        return [
            BatchRecord(int(r.id), int(r.entries), int(r.lines), bytes(r.prev_hash), bytes(r.hash),
                        bytes(r.parts), int(r.created_at))
            for r in conn.execute(query)
        ]  # fmt: skip

    def batch_contents(self, conn: Connection, first: int, last: int) -> Iterator[BatchContents]:
        """What each batch first..last wrote (BatchContents), in order, read a range of
        batches at a time (batch_ranges): a few statements per range, not per batch."""
        for start, end in self.batch_ranges(conn, first - 1, last):
            where = f"batch BETWEEN {start} AND {end}"
            names = ("batch", *ENTRY_NAMES)
            entries = self.read_ints(
                conn,
                f"SELECT batch, {', '.join(f'coalesce({name}, 0)' for name in ENTRY_NAMES)}"
                f" FROM entries WHERE {where} ORDER BY batch, seq",
                names,
            )
            lines = self.read_ints(conn, self.range_lines_sql(start, end), ("batch", *LINE_NAMES))
            pending = self.read_ints(
                conn,
                "SELECT e.batch, p.entry, p.line, p.account, p.amount FROM pending_lines p JOIN entries e"
                f" ON e.key = p.entry WHERE e.{where} AND (e.flags & {ENTRY_PENDING}) <> 0"
                " ORDER BY e.batch, p.entry, p.line",
                ("batch", "entry", "line", "account", "amount"),
            )
            texts: dict[int, list[tuple[int, str | None, str | None]]] = {}
            for row in conn.exec_driver_sql(
                "SELECT e.batch, x.entry, x.kind, x.reference FROM entry_texts x JOIN entries e"
                f" ON e.key = x.entry WHERE e.{where}"
            ):
                texts.setdefault(int(row[0]), []).append((int(row[1]), row[2], row[3]))
            order = np.argsort(lines["batch"], kind="stable")
            lines = {name: column[order] for name, column in lines.items()}
            ids = np.arange(start, end + 1)
            cuts = {
                key: np.searchsorted(table["batch"], np.append(ids, end + 1))
                for key, table in (("entries", entries), ("lines", lines), ("pending", pending))
            }
            tables: dict[str, tuple[dict[str, np.ndarray], tuple[str, ...]]] = {
                "entries": (entries, ENTRY_NAMES),
                "lines": (lines, LINE_NAMES),
                "pending": (pending, ("entry", "line", "account", "amount")),
            }
            for i, batch in enumerate(ids.tolist()):
                part = {
                    key: {name: table[name][cuts[key][i] : cuts[key][i + 1]] for name in names}
                    for key, (table, names) in tables.items()
                }
                yield BatchContents(
                    batch, part["entries"], part["lines"], texts.get(batch, []), part["pending"]
                )

    def pending_lines_count(self, conn: Connection) -> int:
        """The rows of pending_lines."""
        return int(conn.execute(select(func.count()).select_from(t.pending_lines)).scalar_one())

    def seal_records(self, conn: Connection) -> list[Seal]:
        """Every seal, by id."""
        return [_seal(row) for row in conn.execute(select(t.seals).order_by(t.seals.c.id))]

    def catalog_rows(self, conn: Connection, table: str) -> pa.Table:
        """A catalog table's rows as stored, columns CATALOG_COLUMNS[table]: by idx (periods:
        by book and period; closed as 0/1)."""
        if table == "accounts":
            return self.read_accounts(conn)
        source = t.metadata.tables[table]
        names = CATALOG_COLUMNS[table]
        order = [source.c.book, source.c.period] if table == "periods" else [source.c.idx]
        rows = conn.execute(select(*(source.c[name] for name in names)).order_by(*order)).all()
        return catalog_table(table, {name: [_plain(row[i]) for row in rows] for i, name in enumerate(names)})

    def month_sums(self, conn: Connection) -> dict[str, np.ndarray]:
        """The sums per (account, month) of every committed batch, as int64 columns account,
        period, dp, cp, dq, cq: the folded rows, when they pass their check against the last
        checkpoint seal, and the batches after the checkpoint (else every batch from its
        lines). An (account, month) may come more than once: its sums add up."""
        last = self.chain_head(conn)[0]
        chunks, rows, digest = [], 0, 0
        for chunk in self.period_row_chunks(conn):
            rows += len(chunk["account"])
            digest += period_digest(chunk)
            chunk.pop("book")
            chunks.append(chunk)
        checkpoint = self.trusted_checkpoint(conn, (rows, signed64(digest)))
        if checkpoint is None:
            return self.period_sums(conn, 0, last)
        chunks.append(self.period_sums(conn, checkpoint, last))
        return {name: np.concatenate([chunk[name] for chunk in chunks]) for name in PeriodSums.NAMES}

    def node_rows(self, conn: Connection) -> pa.Table:
        """The organisation tree's nodes by idx: idx, key, parent, book, name, layout."""
        return self.catalog_rows(conn, "nodes")

    def dimension_lines(
        self, conn: Connection, dim: int, first_day: int, last_day: int
    ) -> dict[str, np.ndarray]:
        """The posted lines of the entries dated first_day..last_day: int64 columns account,
        code (of dimension `dim`, 1..4; 0 for none) and amount (signed); a post_pending's
        lines are its pending entry's, with their codes, at the post's date."""
        code = f"coalesce(l.dim{int(dim)}, 0)"
        days = f"BETWEEN {int(first_day)} AND {int(last_day)}"
        own = (
            f"SELECT l.account, {code} AS code, l.amount FROM lines l JOIN entries e"
            f" ON e.batch = l.batch AND e.key = l.entry WHERE e.date {days} AND (e.flags & {_SKIPPED}) = 0"
        )
        posted = (
            f"SELECT l.account, {code} AS code, l.amount FROM entries r JOIN entries p ON p.key = r.pending"
            f" JOIN lines l ON l.batch = p.batch AND l.entry = p.key"
            f" WHERE r.date {days} AND (r.flags & {ENTRY_POST_PENDING}) <> 0"
        )
        return self.read_ints(conn, f"{own} UNION ALL {posted}", ("account", "code", "amount"))

    # --- tables of a domain built on the ledger (ledger.fiscal) --------------------------------

    def ensure_tables(self, conn: Connection, tables: Sequence[Any]) -> None:
        """Create those of a domain's tables (SQLAlchemy Core, its own MetaData) that are not
        there yet, in the writer transaction `conn` (so a failed write takes them back too)."""
        ready = self.__dict__.setdefault("_domain_ready", set())
        for table in tables:
            if table.name in ready:
                continue
            if conn.dialect.has_table(conn, table.name):
                # a table of an earlier version lacks the (nullable) columns added since
                dialect = self.sql_dialect()
                for column in table.columns:
                    if column.name not in self._domain_columns(conn, table.name) and column.nullable:
                        kind = column.type.compile(dialect=dialect)
                        self.execute_ddl(conn, f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}')
                self.__dict__.get("_domain_seen", {}).pop(table.name, None)
                ready.add(table.name)  # only a table seen committed: a creation may be rolled back
                continue
            for statement in self.table_ddl(table):
                self.execute_ddl(conn, statement)

    def _domain_columns(self, conn: Connection, name: str) -> set[str]:
        """The columns a domain table has in the database (read once per process)."""
        seen = self.__dict__.setdefault("_domain_seen", {})
        if name not in seen:
            seen[name] = {column["name"] for column in inspect(conn).get_columns(name)}
        return cast(set[str], seen[name])

    def domain_count(self, conn: Connection, table: Any) -> int:
        """How many rows a domain table has (its idx runs 0, 1, 2…: one look at the key)."""
        if not conn.dialect.has_table(conn, table.name):
            return 0
        sql = f'SELECT coalesce(max("{table.columns[0].name}") + 1, 0) FROM {table.name}'
        return int(conn.exec_driver_sql(sql).scalar_one())

    def insert_domain(self, conn: Connection, table: str, data: pa.Table) -> None:
        """Append rows (an Arrow table whose columns are named like the table's) to a domain table."""
        self.insert_arrow(conn, table, data)

    def read_domain(self, conn: Connection, table: Any, where: str = "", start: int = 0) -> pa.Table:
        """A domain table's rows (those `where` keeps, a SQL condition on its columns), by its
        first column (an int idx) from `start` on, range by range: Arrow types of the table's
        schema (integers as int64, -1 for NULL; text as string)."""
        names = [column.name for column in table.columns]
        types = {name: pa.int64() if _is_integer(table.c[name]) else pa.string() for name in names}
        idx = names[0]
        condition = f" AND ({where})" if where else ""
        parts = []
        if conn.dialect.has_table(conn, table.name):
            top = conn.exec_driver_sql(f'SELECT max("{idx}") FROM {table.name}').scalar()
            size = max(1, self.chunk_rows // 8)
            for first in range(start, (int(top) + 1) if top is not None else start, size):
                there = self._domain_columns(conn, table.name)  # an earlier version's: NULL for the rest
                parts.append(
                    self.read_table(
                        conn,
                        "SELECT "
                        + ", ".join(
                            _domain_column(table.c[n]) if n in there else _absent_column(table.c[n])
                            for n in names
                        )
                        + f" FROM {table.name}"
                        f' WHERE "{idx}" >= {first} AND "{idx}" < {first + size}{condition} ORDER BY "{idx}"',
                        types,
                    )
                )
        if not parts:
            return pa.table({name: pa.array([], kind) for name, kind in types.items()})
        return pa.concat_tables(parts).combine_chunks()

    def nodes_count(self, conn: Connection) -> int:
        """How many nodes there are (idx runs 0, 1, 2…: one look at the primary key)."""
        return int(conn.exec_driver_sql("SELECT coalesce(max(idx) + 1, 0) FROM nodes").scalar_one())

    def period_rows(self, conn: Connection) -> dict[str, np.ndarray]:
        """Every row of period_balances, in key order: int64 columns PERIOD_NAMES."""
        chunks = [{name: np.zeros(0, np.int64) for name in PERIOD_NAMES}, *self.period_row_chunks(conn)]
        return {name: np.concatenate([chunk[name] for chunk in chunks]) for name in PERIOD_NAMES}

    def period_row_chunks(self, conn: Connection) -> Iterator[dict[str, np.ndarray]]:
        """The rows of period_balances in key order, chunk_rows per statement (keyset on the
        primary key)."""
        after, size = "", max(1, int(self.chunk_rows))  # the first page: every row, any account
        while True:
            rows = self.read_ints(
                conn,
                "SELECT account, period, book, debits_posted, credits_posted, debits_pending, credits_pending"
                f" FROM period_balances{after} ORDER BY account, period LIMIT {size}",
                PERIOD_NAMES,
            )
            if len(rows["account"]):
                yield rows
            if len(rows["account"]) < size:
                return
            after = f" WHERE (account, period) > ({int(rows['account'][-1])}, {int(rows['period'][-1])})"

    def recomputed_period_sums(self, conn: Connection, upto: int) -> dict[str, np.ndarray]:
        """What period_balances holds when folded up to batch `upto`, recomputed from the
        lines: int64 columns account, period, dp, cp, dq, cq in key order (rows whose four
        sums are zero may be missing; a fold may or may not keep them)."""
        return self.period_sums(conn, 0, upto)

    # --- entries -----------------------------------------------------------------------------

    def find_entry(self, conn: Connection, key: int) -> dict[str, int] | None:
        """The stored fields of entry `key` (key, batch, book, flags, pending), or None."""
        row = conn.execute(
            select(t.entries.c.batch, t.entries.c.book, t.entries.c.flags, t.entries.c.pending).where(
                t.entries.c.key == int(key)
            )
        ).first()
        if row is None:
            return None
        return {
            "key": int(key),
            "batch": int(row.batch),
            "book": int(row.book),
            "flags": int(row.flags),
            "pending": int(row.pending or 0),
        }

    def entry_lines(self, conn: Connection, batch: int, key: int) -> list[tuple[int, int, tuple[int, ...]]]:
        """(account, amount, dims) of the lines of entry `key` of batch `batch`, in order."""
        rows = conn.exec_driver_sql(
            "SELECT account, amount, dim1, dim2, dim3, dim4 FROM lines"
            f" WHERE batch = {int(batch)} AND entry = {int(key)} ORDER BY line"
        ).all()
        return [(int(r[0]), int(r[1]), tuple(int(d or 0) for d in r[2:])) for r in rows]

    def append_batch(
        self,
        conn: Connection,
        batch: Any,
        codes: np.ndarray,
        books: Any,
        texts: list[tuple[int, str | None, str | None]],
    ) -> int | None:
        """Keep a batch as columns (the in-memory store); durable stores write rows instead."""
        raise NotImplementedError


def _domain_column(column: Any) -> str:
    """A domain column as read_domain selects it: a nullable integer as -1 for NULL."""
    name = f'"{column.name}"'
    return f"coalesce({name}, -1)" if column.nullable and _is_integer(column) else name


def _absent_column(column: Any) -> str:
    """A column an earlier version's table lacks, as read_domain reads it: NULL (-1)."""
    return f'-1 AS "{column.name}"' if _is_integer(column) else f'NULL AS "{column.name}"'


def _is_integer(column: Any) -> bool:
    try:
        return column.type.python_type is int and not isinstance(column.type, Boolean)
    except NotImplementedError:
        return False


def connection_lost(conn: Connection, error: BaseException) -> bool:
    """Whether `error` on `conn` means the connection is gone (not that a statement failed)."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if conn.invalidated:
        return True
    psycopg = sys.modules.get("psycopg")  # its errors on the driver connection itself
    if psycopg is not None and isinstance(error, psycopg.OperationalError):
        # the socket (no SQLSTATE), connection exceptions (class 08) or the server ending the
        # session (57P01-57P03); not a statement's own failure (a timeout, a deadlock, ...)
        state = getattr(error, "sqlstate", None)
        if state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03"):
            return True
    raw = conn.connection.driver_connection
    return bool(getattr(raw, "broken", False) or getattr(raw, "closed", False) is True)


def driver_row(conn: Connection, sql: str, parameters: Sequence[Any] = ()) -> Any:
    """Run one statement on the driver connection of `conn` (in its transaction) and return
    its first row, or None. The hot statements of a write go this way: SQLAlchemy's own
    execution costs more than a small statement itself. Driver errors become StoreError
    (store_errors), a lost connection is told apart as for any other (connection_lost)."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, parameters)
        return cursor.fetchone() if cursor.description is not None else None
    finally:
        cursor.close()


def commit_unknown(url: str, error: BaseException) -> CommitUnknown:
    """The error of a COMMIT whose outcome the client could not learn."""
    return CommitUnknown(
        f"{url}: the connection failed during COMMIT ({error}); the write may or may not have been"
        " committed. Retry the same call with the same keys: entries already committed come back"
        " as `exists`, the rest is written once."
    )


BATCH_RECORD_COLUMNS = "id, entries, lines, prev_hash, hash, parts, created_at"  # batch_record's

# _insert_small's tables and columns (what follows "INSERT INTO", up to the closing parenthesis)
_LINES_HEAD = "lines (batch, entry, amount, line, book, account"
_DIMS = ", dim1, dim2, dim3, dim4"
_ENTRIES_HEAD = 'entries ("key", batch, seq, book, date, flags, fingerprint, lines'
_MARKS = ", pending, extra"
_BATCHES_HEAD = f"batches ({BATCH_RECORD_COLUMNS}"
_VALUES_MAX = 999  # values bound in one statement (SQLite's historical limit)


@functools.lru_cache(maxsize=512)
def _values_sql(head: str, mark: str, width: int, count: int) -> str:
    """INSERT INTO `head`) VALUES with `count` rows of `width` markers."""
    row = "(" + ", ".join([mark] * width) + ")"
    return f"INSERT INTO {head}) VALUES " + ", ".join([row] * count)


def batch_record(rows: BatchRows | SmallRows) -> tuple[int, int, int, bytes, bytes, bytes, int]:
    """The batches row of a written batch: id, entries, lines, prev_hash, hash, parts,
    created_at."""
    return (
        int(rows.batch_id),
        rows.entries_count,
        rows.lines_count,
        bytes(rows.prev_hash),
        bytes(rows.hash),
        bytes(getattr(rows.hash, "parts", b"")),  # chain.batch_hash's result carries its parts' digests
        time.time_ns() // 1000,
    )


@contextlib.contextmanager
def store_errors(url: str) -> Iterator[None]:
    """Database errors surface as StoreError (the one exception tree), the cause attached:
    SQLAlchemy's, and the driver's own from what runs on the driver connection directly
    (PostgreSQL's COPY, SQLite's executemany), e.g. a connection lost in the middle of a COPY."""
    try:
        yield
    except Exception as error:
        translated = as_store_error(url, error)
        if translated is error:
            raise
        raise translated from error


def as_store_error(url: str, error: BaseException) -> BaseException:
    """`error` as store_errors raises it: a StoreError for a database error (SQLAlchemy's or
    the driver's), the error itself otherwise."""
    if isinstance(error, SQLAlchemyError):
        return StoreError(f"{url}: {error}")
    psycopg = sys.modules.get("psycopg")
    if isinstance(error, (sqlite3.Error, *((psycopg.Error,) if psycopg is not None else ()))):
        return StoreError(f"{url}: {error}")
    return error


def _seal(row: Any) -> Seal:
    return Seal(
        id=int(row.id), kind=str(row.kind), batch=int(row.batch), batch_hash=bytes(row.batch_hash),
        row_start=int(row.row_start), row_count=int(row.row_count), digest=int(row.digest),
        content=bytes(row.content), records=bytes(row.records), created_at=int(row.created_at),
        prev_hash=bytes(row.prev_hash), hash=bytes(row.hash),
    )  # fmt: skip


def _joined_snapshot(parts: dict[str, list[bytes]]) -> tuple[str, dict[str, bytes]] | None:
    """A snapshot's header and arrays from its parts by name (None without a header)."""
    if "header" not in parts:
        return None
    header = parts.pop("header")[0].decode()
    return header, {name: b"".join(chunks) for name, chunks in parts.items()}


def _plain(value: Any) -> Any:
    """A catalog value as the seals hash it: booleans as 0/1."""
    return int(value) if isinstance(value, bool) else value


_STRING_COLUMNS = frozenset({"key", "name", "code", "normal", "subledger", "layout"})


def catalog_table(table: str, columns: dict[str, list[Any]]) -> pa.Table:
    """Catalog rows given as Python values per column (CATALOG_COLUMNS order) as a table."""
    return pa.table(
        {
            name: pa.array(columns[name], pa.string() if name in _STRING_COLUMNS else pa.int64())
            for name in CATALOG_COLUMNS[table]
        }
    )


def periods_digest(rows: pa.Table) -> int:
    """chain.rows_digest of periods rows (book, period, closed, closed_at; NULL apart from 0)."""
    closed_at = rows.column("closed_at")
    return rows_digest(
        [
            pc.fill_null(rows.column(name), 0).to_numpy().astype(np.int64)
            for name in ("book", "period", "closed", "closed_at")
        ]
        + [closed_at.is_null().to_numpy(zero_copy_only=False).astype(np.int64)]
    )


def period_digest(rows: dict[str, np.ndarray]) -> int:
    """chain.rows_digest of period_balances rows (PERIOD_NAMES)."""
    return rows_digest([rows[name] for name in PERIOD_NAMES])


def sums_match(seal: Seal | None, rows: dict[str, np.ndarray]) -> bool:
    """True when period_balances' rows are what the checkpoint seal covers (no seal: none)."""
    return summary_matches(seal, len(rows["account"]), period_digest(rows))


def summary_matches(seal: Seal | None, count: int, digest: int) -> bool:
    """sums_match from the rows' count and digest (period_summary)."""
    if seal is None:
        return not count
    if seal.computed_hash() != seal.hash:
        return False
    return count == seal.row_count and digest == seal.digest


def merged_rows(staged: dict[str, np.ndarray], old: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The period_balances rows a fold writes: the staged rows (unique keys), plus the sums
    of the rows they replace (`old`, a subset of their keys), modulo 2**64."""
    new = {name: np.array(staged[name], np.int64) for name in PERIOD_NAMES}
    if len(old["account"]):
        keys = (new["account"] << 20) | new["period"]
        order = np.argsort(keys)
        at = order[np.searchsorted(keys[order], (old["account"] << 20) | old["period"])]
        for name in PERIOD_NAMES[3:]:  # int64 arrays wrap modulo 2**64
            new[name][at] += old[name]
    return new


def account_totals(rows: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per account, the sums (modulo 2**64) of the dp, cp, dq, cq of period_balances rows:
    accounts, sums [n, 4]."""
    accounts = rows["account"]
    if not len(accounts):
        return accounts, np.zeros((0, 4), np.int64)
    order, starts = key_runs(accounts)
    sums = np.stack([np.add.reduceat(rows[name][order], starts) for name in PERIOD_NAMES[3:]], axis=1)
    return accounts[order[starts]], sums


def first_period_difference(
    stored: dict[str, np.ndarray], recomputed: dict[str, np.ndarray]
) -> tuple[int, int] | None:
    """The first (account, period), in key order, whose four sums differ between two sets of
    monthly sums (columns account, period, dp, cp, dq, cq; a missing row counts as zeros)."""
    names = ("dp", "cp", "dq", "cq")

    def nonzero(rows: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        values = np.stack([np.asarray(rows[name], np.int64) for name in names], axis=1)
        keep = (values != 0).any(axis=1)
        accounts, periods = np.asarray(rows["account"], np.int64), np.asarray(rows["period"], np.int64)
        keys = (accounts[keep] << 20) | periods[keep]
        order = np.argsort(keys, kind="stable")
        return keys[order], values[keep][order]

    stored_keys, stored_values = nonzero(stored)
    new_keys, new_values = nonzero(recomputed)
    if np.array_equal(stored_keys, new_keys):  # the same rows: compare them in place
        differ = np.flatnonzero((stored_values != new_values).any(axis=1))
        if not len(differ):
            return None
        key = int(stored_keys[differ[0]])
        return key >> 20, key & 0xFFFFF
    keys = np.union1d(stored_keys, new_keys)
    left, right = np.zeros((len(keys), 4), np.int64), np.zeros((len(keys), 4), np.int64)
    left[np.searchsorted(keys, stored_keys)] = stored_values
    right[np.searchsorted(keys, new_keys)] = new_values
    differ = np.flatnonzero((left != right).any(axis=1))
    if not len(differ):
        return None
    key = int(keys[differ[0]])
    return key >> 20, key & 0xFFFFF


def wrap64(value: int) -> int:
    """`value` modulo 2**64 as a signed int64: the exact sum of parts stored modulo 2**64,
    whenever that sum fits int64 (as every balance does)."""
    return (value + 2**63) % 2**64 - 2**63


def pending_states(
    pending_keys: np.ndarray, resolved_keys: np.ndarray, resolved_flags: np.ndarray
) -> np.ndarray:
    """Each pending entry's state, from the flags of the entry that resolved it (if any).

    `pending_keys` is sorted; a pending entry is resolved at most once (the kernel refuses a
    second resolution), so each resolved key matches one position.
    """
    states = np.full(len(pending_keys), PENDING_OPEN, np.int32)
    if len(resolved_keys):
        position = np.searchsorted(pending_keys, resolved_keys)
        states[position[(resolved_flags & ENTRY_POST_PENDING) != 0]] = PENDING_POSTED
        states[position[(resolved_flags & ENTRY_VOID_PENDING) != 0]] = PENDING_VOIDED
    return states


__all__ = [
    "BATCH_RECORD_COLUMNS",
    "CATALOG_COLUMNS",
    "Conn",
    "ENTRY_NAMES",
    "GENESIS_HASH",
    "LINE_NAMES",
    "PERIOD_NAMES",
    "BatchRecord",
    "BatchRows",
    "Increment",
    "LineRows",
    "LoadedState",
    "Seal",
    "StateRow",
    "Store",
    "batch_record",
    "commit_unknown",
    "driver_row",
    "first_period_difference",
    "key_runs",
    "merged_rows",
    "periods_digest",
    "period_digest",
    "store_errors",
    "wrap64",
]
