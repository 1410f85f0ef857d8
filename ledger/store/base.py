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
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.schema import CreateIndex, CreateTable

from ledger.columns import (
    ENTRY_PENDING,
    ENTRY_POST_PENDING,
    ENTRY_VOID_PENDING,
    PENDING_OPEN,
    PENDING_POSTED,
    PENDING_VOIDED,
)
from ledger.errors import SchemaVersionError, StoreError
from ledger.store import tables as t

GENESIS_HASH = bytes(32)


@dataclass(frozen=True, slots=True)
class LineRows:
    """The lines one accepted batch stores (those of its ordinary and pending entries), in
    entry order, then line order."""

    batch_id: int
    entries: np.ndarray  # int64, the entry key of each line
    numbers: np.ndarray  # int32, the line's position in its entry
    books: np.ndarray  # int32
    accounts: np.ndarray  # int32
    amounts: np.ndarray  # int64
    dims: np.ndarray  # int32 [lines, 4]
    pending: np.ndarray  # bool: the line belongs to a pending entry (also goes to pending_lines)


@dataclass(frozen=True, slots=True)
class BatchRows:
    """Everything one accepted batch adds to the database, as columns."""

    batch_id: int
    prev_hash: bytes
    hash: bytes
    # entries (accepted, in batch order)
    entry_keys: np.ndarray  # int64
    entry_books: np.ndarray  # int32
    entry_dates: np.ndarray  # int32
    entry_flags: np.ndarray  # int16
    entry_pending: np.ndarray  # int64
    entry_extra: np.ndarray  # int64 (uint64 bits)
    entry_fingerprints: np.ndarray  # int64 (uint64 bits)
    entry_line_counts: np.ndarray  # int32, lines stored for each entry
    texts: list[tuple[int, str | None, str | None]]  # (entry, kind, reference) where present
    lines: LineRows


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


class Store:
    """A ledger database. Subclasses: SQLiteStore, PostgresStore."""

    dialect = ""
    durable = True  # the in-memory store says False: nothing to checkpoint at close

    def __init__(self, url: str, engine: Engine) -> None:
        self.url = url
        self.engine = engine

    # --- set-up ------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Create the schema on a new database; check the version of an existing one."""
        with _store_errors(self.url), self.engine.begin() as conn:
            if not conn.dialect.has_table(conn, "ledger_state"):
                self._create(conn)
                return
            row = conn.execute(select(t.ledger_state.c.schema_version)).first()
        if row is None:
            raise StoreError(f"{self.url}: ledger_state has no row; the database is damaged")
        if row.schema_version != t.SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{self.url}: database schema version {row.schema_version}, this ledger needs "
                f"{t.SCHEMA_VERSION}; migrate it first (it is never upgraded silently)"
            )

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
        dialect = cls.sql_dialect()
        statements = []
        for table in t.metadata.sorted_tables:
            if table.name in cls.custom_tables:
                statements += cls.custom_table_ddl(table.name)
                continue
            statements.append(str(CreateTable(table).compile(dialect=dialect)).strip())
            statements += [
                str(CreateIndex(index).compile(dialect=dialect)).strip() for index in table.indexes
            ]
        return statements + cls.trigger_ddl()

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
        self.engine.dispose()

    # --- transactions ------------------------------------------------------------------------

    @contextlib.contextmanager
    def writer(self) -> Iterator[Connection]:
        """A transaction holding the writer lock; commits on success, rolls back otherwise."""
        with _store_errors(self.url), self.engine.connect() as conn:
            self.begin_write(conn)
            try:
                self.lock(conn)
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def begin_write(self, conn: Connection) -> None:
        conn.begin()

    @contextlib.contextmanager
    def reader(self) -> Iterator[Connection]:
        """A read transaction that sees one snapshot of the database for all its queries."""
        with _store_errors(self.url), self.engine.connect() as conn, conn.begin():
            self.begin_read(conn)
            yield conn

    def begin_read(self, conn: Connection) -> None:
        """First statement of a read transaction (SQLite's WAL readers see one snapshot already)."""

    def commit_seq(self, conn: Connection) -> int:
        return int(conn.execute(select(t.ledger_state.c.commit_seq)).scalar_one())

    def chain_head(self, conn: Connection) -> tuple[int, bytes]:
        row = conn.execute(select(t.ledger_state.c.last_batch, t.ledger_state.c.last_hash)).one()
        return int(row.last_batch), bytes(row.last_hash)

    def bump(self, conn: Connection, *, batch: int | None = None, hash: bytes | None = None) -> int:
        """Advance the commit sequence (and the chain head when a batch was written)."""
        values: dict[str, Any] = {"commit_seq": t.ledger_state.c.commit_seq + 1}
        if batch is not None:
            values["last_batch"] = batch
            values["last_hash"] = hash
        conn.execute(update(t.ledger_state).values(**values))
        return self.commit_seq(conn)

    # --- catalog writes ----------------------------------------------------------------------

    def insert_rows(self, conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
        if rows:
            conn.execute(insert(table), rows)

    def insert_table(self, conn: Connection, table: str, data: pa.Table) -> None:
        """Insert an Arrow table whose columns are named like the table's (bulk path)."""
        if data.num_rows:
            names = ", ".join(f'"{name}"' for name in data.column_names)
            marks = ", ".join("?" for _ in data.column_names)
            rows = zip(*(column.to_pylist() for column in data.columns), strict=True)
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
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

    def write_texts_and_record(self, conn: Connection, rows: BatchRows) -> None:
        """The texts of a written batch's entries, and its batch record."""
        if rows.texts:
            self.insert_rows(
                conn,
                t.entry_texts,
                [{"entry": key, "kind": kind, "reference": ref} for key, kind, ref in rows.texts],
            )
        conn.execute(
            insert(t.batches).values(
                id=rows.batch_id,
                entries=len(rows.entry_keys),
                lines=len(rows.lines.entries),
                prev_hash=rows.prev_hash,
                hash=rows.hash,
                created_at=time.time_ns() // 1000,
            )
        )

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

    def batch_lines_sql(self, batch: int) -> str:
        """A query of the lines of one batch: entry, line, account, amount, dim1..dim4 (0 for
        none), in no particular order."""
        dims = ", ".join(f"coalesce(dim{i}, 0)" for i in range(1, 5))
        return f"SELECT entry, line, account, amount, {dims} FROM lines WHERE batch = {int(batch)}"

    def entry_lines_from(self, first: int) -> str:
        """FROM and WHERE of the lines (alias l: account, amount) of batches from `first` on,
        each with its entry (alias e)."""
        return (
            "lines l JOIN entries e ON e.batch = l.batch AND e.key = l.entry"
            f" WHERE l.batch >= {int(first)} AND e.batch >= {int(first)}"
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
        checkpoint = int(state.checkpoint_batch)
        index, sums = self.account_sums(
            conn,
            "SELECT account, debits_posted AS dp, credits_posted AS cp, debits_pending AS dq,"
            " credits_pending AS cq FROM period_balances",
        )
        balances[index] = sums
        index, sums = self.unfolded_sums(conn, checkpoint)
        with np.errstate(over="ignore"):  # modulo 2**64, as account_sums: exact when the total fits
            balances[index] += sums
        keys = self.read_table(
            conn,
            "SELECT key, fingerprint FROM entries",
            {"key": pa.int64(), "fingerprint": pa.int64()},
        )
        pending = self._pending_rows(conn, "1 = 1")
        resolutions = self.read_table(
            conn,
            "SELECT pending, flags FROM entries WHERE (flags & 12) <> 0",
            {"pending": pa.int64(), "flags": pa.int32()},
        )
        return LoadedState(
            commit_seq=int(state.commit_seq),
            last_batch=int(state.last_batch),
            last_hash=bytes(state.last_hash),
            groups=groups,
            books=books,
            accounts=accounts,
            balances=balances,
            entry_keys=keys.column("key").to_numpy(),
            entry_fingerprints=keys.column("fingerprint").to_numpy().view(np.uint64),
            pending_keys=pending[0],
            pending_books=pending[1],
            pending_states=pending_states(
                pending[0], resolutions.column("pending").to_numpy(), resolutions.column("flags").to_numpy()
            ),
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
        names = ["account"] + [f"{c}_{half}" for c in ("dp", "cp", "dq", "cq") for half in ("hi", "lo")]
        table = self.read_table(
            conn,
            f"SELECT account, {parts} FROM ({rows_sql}) AS b GROUP BY account",
            {name: pa.int64() for name in names},
        )
        sums = np.zeros((table.num_rows, 4), np.int64)
        with np.errstate(over="ignore"):
            for position, c in enumerate(("dp", "cp", "dq", "cq")):
                high = table.column(f"{c}_hi").to_numpy().astype(np.int64)
                low = table.column(f"{c}_lo").to_numpy().astype(np.int64)
                sums[:, position] = (high << np.int64(32)) + low
        return table.column("account").to_numpy().astype(np.int64), sums

    def unfolded_sums(self, conn: Connection, checkpoint: int) -> tuple[np.ndarray, np.ndarray]:
        """Per account, the balance changes of the batches after `checkpoint` (account_sums of
        unfolded_sql's rows)."""
        return self.account_sums(
            conn, f"SELECT account, dp, cp, dq, cq FROM ({self.unfolded_sql(checkpoint)}) AS n"
        )

    def lines_sums(
        self,
        conn: Connection,
        checkpoint: int,
        accounts: np.ndarray,
        amounts: np.ndarray,
        pending: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """unfolded_sums from the unfolded entries' own lines, given as columns (account,
        amount, whether its entry is pending) and summed here, and the posts and voids by SQL."""
        resolved, resolved_sums = self.account_sums(
            conn, f"SELECT account, dp, cp, dq, cq FROM ({self.resolved_lines_sql(checkpoint)}) AS n"
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
        new_accounts = self.read_accounts(conn, f"WHERE idx >= {int(accounts)}")
        balance_accounts, balance_changes = self.unfolded_sums(conn, last_batch)
        keys = self.read_table(
            conn,
            f"SELECT key, fingerprint FROM entries WHERE batch > {int(last_batch)}",
            {"key": pa.int64(), "fingerprint": pa.int64()},
        )
        pending = self._pending_rows(conn, f"batch > {int(last_batch)}")
        resolutions = self.read_table(
            conn,
            f"SELECT pending, flags FROM entries WHERE batch > {int(last_batch)} AND (flags & 12) <> 0",
            {"pending": pa.int64(), "flags": pa.int32()},
        )
        return Increment(
            commit_seq=int(state.commit_seq),
            last_batch=int(state.last_batch),
            groups=new_groups,
            books=new_books,
            accounts=new_accounts,
            closed_periods=self._closed_periods(conn),
            balance_accounts=balance_accounts,
            balance_changes=balance_changes,
            entry_keys=keys.column("key").to_numpy(),
            entry_fingerprints=keys.column("fingerprint").to_numpy().view(np.uint64),
            pending_keys=pending[0],
            pending_books=pending[1],
            pending_line_counts=pending[2],
            pending_accounts=pending[3],
            pending_amounts=pending[4],
            resolved_keys=resolutions.column("pending").to_numpy(),
            resolved_flags=resolutions.column("flags").to_numpy(),
        )

    def read_accounts(self, conn: Connection, where: str = "") -> pa.Table:
        return self.read_table(
            conn,
            'SELECT idx, key, book, "group", code, normal, subledger, flags, name'
            f" FROM accounts {where} ORDER BY idx",
            {
                "idx": pa.int32(),
                "key": pa.string(),
                "book": pa.int32(),
                "group": pa.int32(),
                "code": pa.string(),
                "normal": pa.string(),
                "subledger": pa.string(),
                "flags": pa.int64(),
                "name": pa.string(),
            },
        )

    def _closed_periods(self, conn: Connection) -> set[tuple[int, int]]:
        query = select(t.periods.c.book, t.periods.c.period).where(t.periods.c.closed)
        return {(int(r.book), int(r.period)) for r in conn.execute(query)}

    def _pending_rows(self, conn: Connection, where: str) -> tuple[np.ndarray, ...]:
        """keys, books, line counts, then the lines (accounts, amounts) of pending entries."""
        pendings = self.read_table(
            conn,
            f"SELECT key, book, lines FROM entries WHERE (flags & 2) <> 0 AND {where} ORDER BY key",
            {"key": pa.int64(), "book": pa.int32(), "lines": pa.int32()},
        )
        lines = self.read_table(
            conn,
            "SELECT l.account, l.amount FROM entries e JOIN pending_lines l ON l.entry = e.key"
            f" WHERE (e.flags & 2) <> 0 AND {where.replace('batch', 'e.batch')} ORDER BY l.entry, l.line",
            {"account": pa.int32(), "amount": pa.int64()},
        )
        return (
            pendings.column("key").to_numpy(),
            pendings.column("book").to_numpy(),
            pendings.column("lines").to_numpy(),
            lines.column("account").to_numpy(),
            lines.column("amount").to_numpy(),
        )

    def read_ints(self, conn: Connection, sql: str, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        """The columns of a query whose values are all integers (none NULL), as int64 arrays."""
        table = self.read_table(conn, sql, {name: pa.int64() for name in names})
        if any(column.null_count for column in table.columns):
            raise ValueError("read_ints: the query gave NULLs")
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

    def unfolded_sql(self, checkpoint: int, account: int | None = None) -> str:
        """(account, period, dp, cp, dq, cq) rows of every batch after `checkpoint`.

        Ordinary and pending entries count their own lines in their own month; a post or
        void counts the pending entry's lines (pending_lines) in the month of the entry that
        resolved it.
        """
        own, resolved = self.own_lines_sql(checkpoint, account), self.resolved_lines_sql(checkpoint, account)
        return f"{own} UNION ALL {resolved}"

    def own_lines_sql(self, checkpoint: int, account: int | None = None) -> str:
        """The rows of unfolded_sql from the lines of ordinary and pending entries."""
        only = f" AND l.account = {int(account)}" if account is not None else ""
        return (
            f"SELECT l.account AS account, {self.period_sql('e.date')} AS period,"
            " CASE WHEN (e.flags & 2) = 0 AND l.amount > 0 THEN l.amount ELSE 0 END AS dp,"
            " CASE WHEN (e.flags & 2) = 0 AND l.amount < 0 THEN -l.amount ELSE 0 END AS cp,"
            " CASE WHEN (e.flags & 2) <> 0 AND l.amount > 0 THEN l.amount ELSE 0 END AS dq,"
            " CASE WHEN (e.flags & 2) <> 0 AND l.amount < 0 THEN -l.amount ELSE 0 END AS cq"
            f" FROM {self.entry_lines_from(int(checkpoint) + 1)}{only}"
        )

    def resolved_lines_sql(self, checkpoint: int, account: int | None = None) -> str:
        """The rows of unfolded_sql from the posts and voids of pending entries."""
        only = f" AND pl.account = {int(account)}" if account is not None else ""
        return (
            f"SELECT pl.account AS account, {self.period_sql('r.date')} AS period,"
            " CASE WHEN (r.flags & 4) <> 0 AND pl.amount > 0 THEN pl.amount ELSE 0 END AS dp,"
            " CASE WHEN (r.flags & 4) <> 0 AND pl.amount < 0 THEN -pl.amount ELSE 0 END AS cp,"
            " CASE WHEN pl.amount > 0 THEN -pl.amount ELSE 0 END AS dq,"
            " CASE WHEN pl.amount < 0 THEN pl.amount ELSE 0 END AS cq"
            " FROM entries r JOIN pending_lines pl ON pl.entry = r.pending"
            f" WHERE r.batch > {int(checkpoint)} AND (r.flags & 12) <> 0{only}"
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
        """The saved snapshot's header and arrays, or None when there is none."""
        parts: dict[str, list[bytes]] = {}
        query = select(t.snapshots.c.name, t.snapshots.c.data).order_by(
            t.snapshots.c.name, t.snapshots.c.part
        )
        for name, data in conn.execute(query):
            parts.setdefault(name, []).append(bytes(data))
        if "header" not in parts:
            return None
        header = parts.pop("header")[0].decode()
        return header, {name: b"".join(chunks) for name, chunks in parts.items()}

    def account_row(self, conn: Connection, index: int) -> dict[str, Any]:
        """One account's stored fields (book and group as indices)."""
        row = conn.execute(select(t.accounts).where(t.accounts.c.idx == index)).one()
        return dict(row._mapping)

    def set_checkpoint(self, conn: Connection, batch: int) -> None:
        conn.execute(update(t.ledger_state).values(checkpoint_batch=batch))

    def fold_rows(
        self, conn: Connection, accounts: np.ndarray, periods: np.ndarray, books: np.ndarray, sums: np.ndarray
    ) -> None:
        """Add monthly sums computed by the caller into period_balances (upsert); `books` is
        each account's book (period_balances carries it)."""
        columns = (
            "account",
            "period",
            "book",
            "debits_posted",
            "credits_posted",
            "debits_pending",
            "credits_pending",
        )
        self.stage_fold(conn, columns, [accounts, periods, books, *(sums[:, i] for i in range(4))])
        self.merge_fold(conn)
        conn.exec_driver_sql("DROP TABLE ledger_fold")

    def stage_fold(self, conn: Connection, names: tuple[str, ...], columns: list[np.ndarray]) -> None:
        """Create the temporary table ledger_fold and fill it with `columns`."""
        raise NotImplementedError

    def merge_fold(self, conn: Connection) -> None:
        """Add ledger_fold into period_balances, modulo 2**64 per column."""
        raise NotImplementedError

    def checkpoint_batch(self, conn: Connection) -> int:
        return int(conn.execute(select(t.ledger_state.c.checkpoint_batch)).scalar_one())

    def fold(self, conn: Connection) -> int:
        """Fold the batches after the checkpoint into period_balances (under the writer lock).

        Returns the number of batches folded. Readers see the old or the new checkpoint,
        never a mix: both move in this one transaction. Monthly sums are kept modulo 2**64
        (see wrap64): a month's pending reservations may add up past int64 even though every
        balance fits, and any balance read back from them is still exact.
        """
        checkpoint = self.checkpoint_batch(conn)
        last, _ = self.chain_head(conn)
        if last <= checkpoint:
            return 0
        rows = self.read_table(
            conn,
            f"SELECT account, period, dp, cp, dq, cq FROM ({self.unfolded_sql(checkpoint)}) AS u",
            {name: pa.int64() for name in ("account", "period", "dp", "cp", "dq", "cq")},
        )
        keys = (rows.column("account").to_numpy() << 20) | rows.column("period").to_numpy()
        order, starts = key_runs(keys)
        unique = keys[order[starts]]
        sums = np.empty((len(unique), 4), np.int64)
        for position, name in enumerate(("dp", "cp", "dq", "cq")):  # int64 sums wrap modulo 2**64
            sums[:, position] = np.add.reduceat(rows.column(name).to_numpy()[order], starts)
        accounts = (unique >> 20).astype(np.int32)
        books = self.read_ints(conn, "SELECT book FROM accounts ORDER BY idx", ("book",))["book"]
        self.fold_rows(conn, accounts, (unique & 0xFFFFF).astype(np.int32), books[accounts], sums)
        self.set_checkpoint(conn, last)
        return last - checkpoint

    def period_turnover(self, conn: Connection, account: int) -> list[tuple[int, int, int]]:
        """(period, debit turnover, credit turnover) of posted amounts, by month."""
        checkpoint = self.checkpoint_batch(conn)
        rows = conn.exec_driver_sql(
            "SELECT period, debits_posted, credits_posted FROM period_balances"
            f" WHERE account = {int(account)}"
            f" UNION ALL SELECT period, dp, cp FROM ({self.unfolded_sql(checkpoint, account)}) AS n"
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
        dated in that range.
        """
        checkpoint = self.checkpoint_batch(conn)
        a = int(account)
        before = conn.exec_driver_sql(
            "SELECT debits_posted, credits_posted, debits_pending, credits_pending FROM period_balances"
            f" WHERE account = {a} AND period < {int(period)}"
            f" UNION ALL SELECT dp, cp, dq, cq FROM ({self.unfolded_sql(checkpoint, a)}) AS n"
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
            f" WHERE (r.flags & 12) <> 0 AND r.date BETWEEN {int(first)} AND {int(last)} AND l.account = {a}"
        ).all()
        for amount, flags in resolved:
            side = int(amount < 0)
            totals[2 + side] -= abs(amount)
            if flags & ENTRY_POST_PENDING:
                totals[side] += abs(amount)
        return totals

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


@contextlib.contextmanager
def _store_errors(url: str) -> Iterator[None]:
    """Database errors surface as StoreError (the one exception tree), the cause attached."""
    try:
        yield
    except SQLAlchemyError as error:
        raise StoreError(f"{url}: {error}") from error


def key_runs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The order that sorts `keys`, and where each run of equal keys starts in that order:
    what np.add.reduceat needs to sum values per key (one sort, no scatter)."""
    order = np.argsort(keys)
    ordered = keys[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1]))) if len(keys) else order
    return order, starts


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


__all__ = ["GENESIS_HASH", "BatchRows", "Increment", "LineRows", "LoadedState", "Store", "wrap64"]
