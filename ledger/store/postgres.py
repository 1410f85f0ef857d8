"""PostgreSQL: `pg_advisory_xact_lock` as the writer lock, binary COPY for every bulk write
(built with numpy, no per-row Python) and COPY TO for bulk reads."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import select
import struct
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import Connection, create_engine, make_url
from sqlalchemy.dialects import postgresql as postgresql_dialect

from ledger.columns import ENTRY_PENDING
from ledger.errors import CommitUnknown, StoreError
from ledger.journal import SmallRows
from ledger.periods import periods_of
from ledger.store import tables as t
from ledger.store.base import (
    BATCH_RECORD_COLUMNS,
    PERIOD_NAMES,
    BatchRows,
    LineRows,
    Store,
    batch_record,
    commit_unknown,
    store_errors,
)
from ledger.store.ranges import PeriodSums, own_line_sums

# The writer lock is (this int32, hash of the schema): one lock per ledger, where a ledger is
# a schema of a database, so ledgers in other schemas never wait for each other.
_LOCK_CLASS = 0x6C656467  # "ledg"
_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE: no transaction open on the connection
_LOCK_SQL = f"SELECT pg_advisory_xact_lock({_LOCK_CLASS}, hashtext(current_schema()))"
# Batches of up to this many entries (without pending entries, whose lines go to
# pending_lines by COPY) are written by INSERTs sent with the COMMIT (commit_write).
_SMALL_BATCH_ENTRIES = 64
# A batch of this many entries summarizes the new BRIN ranges of entries_batch as it is
# written (about 0.1 s per million lines).
_SUMMARIZED_ENTRIES = 100_000
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
_COPY_CHUNK_ROWS = 8192
_BINARY_TYPES = {"BIGINT": ">i8", "INTEGER": ">i4", "SMALLINT": ">i2"}


def _load_copyfmt() -> Any:
    if os.environ.get("LEDGER_NO_EXTENSIONS") == "1":
        return None
    from ledger._native import copyfmt

    return copyfmt


copyfmt = _load_copyfmt()


def _copy_rows(columns: list[np.ndarray], types: list[str], null: frozenset[int]) -> bytes:
    """Binary COPY rows (no header): columns in `null` are sent as NULL (numpy; the
    compiled ledger._native.copyfmt.copy_rows gives the same bytes)."""
    n = len(columns[0])
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for i, kind in enumerate(types):
        fields.append((f"size{i}", ">i4"))
        if i not in null:
            fields.append((f"value{i}", kind))
    rows = np.empty(n, np.dtype(fields))
    rows["count"] = len(columns)
    for i, (column, kind) in enumerate(zip(columns, types, strict=True)):
        if i in null:
            rows[f"size{i}"] = -1
        else:
            rows[f"size{i}"] = np.dtype(kind).itemsize
            rows[f"value{i}"] = column
    return rows.tobytes()


@dataclass(frozen=True)
class ListColumns:
    """Array columns sent after the scalar columns of copy_chunks: row r owns the items
    offsets[r]..offsets[r+1] of every item column. Each list is (its item columns, the
    element type, NULL when all zero): one item column makes a 1-D array, several a 2-D
    array [items][columns]. A row without items sends every list as NULL."""

    offsets: np.ndarray  # int64 [rows + 1], absolute positions in the item columns
    lists: tuple[tuple[tuple[np.ndarray, ...], str, bool], ...]

    def items(self) -> np.ndarray:
        """Every item column, stacked as int64 rows (the compiled packer's input)."""
        columns = [column for items, _, _ in self.lists for column in items]
        stacked = np.empty((len(columns), len(columns[0]) if columns else 0), np.int64)
        for row, column in zip(stacked, columns, strict=True):
            row[:] = column
        return stacked


_ELEMENT_OIDS = {8: 20, 4: 23, 2: 21}


def _copy_rows_lists(
    columns: list[np.ndarray], types: list[str], nullable: tuple[int, ...], zero_is_null: bool,
    offsets: np.ndarray, lists: ListColumns,
) -> bytes:  # fmt: skip
    """Binary COPY rows of scalar columns followed by array columns (numpy; the compiled
    ledger._native.copyfmt.copy_rows_lists gives the same bytes). `offsets` are the
    rows' item positions (rows + 1 values)."""
    n = len(columns[0])
    empty = np.zeros(n, bool)
    if zero_is_null and nullable:
        empty = np.logical_and.reduce([columns[i] == 0 for i in nullable])
    # Each row's scalar part, as _copy_rows packs it (with the row's full field count).
    scalars = []  # (rows, their bytes [rows, width])
    for mask, null in ((~empty, frozenset[int]()), (empty, frozenset(nullable))):
        width = 2 + sum(4 + (0 if i in null else np.dtype(kind).itemsize) for i, kind in enumerate(types))
        body = _copy_rows([c[mask] for c in columns], types, null)
        matrix = np.frombuffer(body, np.uint8).reshape(-1, width).copy()
        matrix[:, :2] = np.frombuffer(struct.pack(">h", len(columns) + len(lists.lists)), np.uint8)
        scalars.append((mask, matrix))
    sizes = np.where(empty, scalars[1][1].shape[1], scalars[0][1].shape[1]).astype(np.int64)
    # Where each list starts in its row, and whether it is NULL.
    counts = np.diff(offsets).astype(np.int64)
    plans = []
    for items, kind, zero_null in lists.lists:
        null = counts == 0
        if zero_null:
            nonzero = np.zeros(len(items[0]) + 1, np.int64)
            nonzero[1:] = np.cumsum(np.logical_or.reduce([c != 0 for c in items]))
            null |= nonzero[offsets[1:]] == nonzero[offsets[:-1]]
        header = 20 if len(items) == 1 else 28  # dimensions, flags, oid; (size, lower bound) per dimension
        cell = len(items) * (4 + np.dtype(kind).itemsize)  # one item: its elements, each sized
        plans.append((items, kind, null, header, cell, sizes.copy()))
        sizes += np.where(null, 4, 4 + header + counts * cell)
    starts = np.zeros(n + 1, np.int64)
    np.cumsum(sizes, out=starts[1:])
    out = np.zeros(int(starts[-1]), np.uint8)
    for mask, matrix in scalars:
        out[starts[:-1][mask, None] + np.arange(matrix.shape[1])] = matrix
    for items, kind, null, header, cell, before in plans:
        at = starts[:-1] + before
        out[at[null, None] + np.arange(4)] = 0xFF  # size -1: NULL
        full = np.flatnonzero(~null)
        head = np.zeros((len(full), 1 + header // 4), ">i4")
        head[:, 0] = header + counts[full] * cell
        head[:, 1] = 1 if len(items) == 1 else 2
        head[:, 3] = _ELEMENT_OIDS[np.dtype(kind).itemsize]
        head[:, 4:6] = np.stack([counts[full], np.ones(len(full), np.int64)], axis=1)
        if len(items) > 1:
            head[:, 6:8] = (len(items), 1)
        out[at[full, None] + np.arange(4 + header)] = head.view(np.uint8).reshape(-1, 4 + header)
        positions = np.arange(offsets[0], offsets[-1])
        rows_of = np.repeat(np.arange(n), counts)
        taken = np.repeat(~null, counts)
        positions, rows_of = positions[taken], rows_of[taken]
        cells = np.zeros((len(positions), len(items)), np.dtype([("size", ">i4"), ("value", kind)]))
        cells["size"] = np.dtype(kind).itemsize
        for d, column in enumerate(items):
            cells["value"][:, d] = column[positions]
        where = at[rows_of] + 4 + header + (positions - offsets[rows_of]) * cell
        out[where[:, None] + np.arange(cell)] = cells.view(np.uint8).reshape(-1, cell)
    return out.tobytes()


def copy_chunks(
    columns: list[np.ndarray],
    types: list[str],
    nullable: tuple[int, ...] = (),
    zero_is_null: bool = False,
    rows_per_chunk: int = _COPY_CHUNK_ROWS,
    lists: ListColumns | None = None,
) -> Iterator[bytes]:
    """The binary COPY stream of equal-length integer columns (big-endian), in pieces of at
    most `rows_per_chunk` rows: the server parses a piece while the next is being built.

    With `zero_is_null`, rows whose `nullable` columns are all zero send those columns as
    NULL (no data bytes): lines without dimension codes then cost what a narrower table would.
    Rows keep their order. `lists` adds array columns after these (see ListColumns).
    """
    n = len(columns[0])
    yield _COPY_HEADER
    widths = np.array([np.dtype(kind).itemsize for kind in types], np.uint8)
    null_mask = np.zeros(len(types), np.uint8)
    null_mask[list(nullable)] = 1
    if lists is not None:
        zero = zero_is_null and bool(nullable)
        yield from _list_chunks(columns, types, null_mask, zero, rows_per_chunk, lists)
        yield _COPY_TRAILER
        return
    for start in range(0, n, rows_per_chunk):
        part = [column[start : start + rows_per_chunk] for column in columns]
        if copyfmt is not None:
            stacked = np.empty((len(part), len(part[0])), np.int64)
            for row, column in zip(stacked, part, strict=True):
                row[:] = column
            yield copyfmt.copy_rows(stacked, widths, null_mask, zero_is_null and bool(nullable))
            continue
        if not (zero_is_null and nullable):
            yield _copy_rows(part, types, frozenset())
            continue
        empty = np.logical_and.reduce([part[i] == 0 for i in nullable])
        if empty.all():
            yield _copy_rows(part, types, frozenset(nullable))
        elif not empty.any():
            yield _copy_rows(part, types, frozenset())
        else:  # runs of rows with and without values, in order
            edges = np.flatnonzero(np.diff(empty.view(np.int8))) + 1
            bounds = [0, *edges.tolist(), len(empty)]
            for low, high in itertools.pairwise(bounds):
                null = frozenset(nullable) if empty[low] else frozenset()
                yield _copy_rows([c[low:high] for c in part], types, null)
    yield _COPY_TRAILER


def _list_chunks(
    columns: list[np.ndarray], types: list[str], null_mask: np.ndarray, zero_is_null: bool,
    rows_per_chunk: int, lists: ListColumns,
) -> Iterator[bytes]:  # fmt: skip
    """copy_chunks' rows with array columns, without header or trailer."""
    n = len(columns[0])
    offsets = np.ascontiguousarray(lists.offsets, np.int64)
    if len(offsets) != n + 1:
        raise ValueError(f"list offsets: {len(offsets)} values for {n} rows (rows + 1)")
    nullable = tuple(np.flatnonzero(null_mask).tolist())
    if copyfmt is not None:
        items = lists.items()
        widths = np.array([np.dtype(kind).itemsize for kind in types], np.uint8)
        list_widths = np.array([np.dtype(kind).itemsize for _, kind, _ in lists.lists], np.uint8)
        list_inner = np.array([len(parts) for parts, _, _ in lists.lists], np.uint8)
        list_zero_null = np.array([zero for _, _, zero in lists.lists], np.uint8)
    for start in range(0, n, rows_per_chunk):
        end = min(start + rows_per_chunk, n)
        part = [column[start:end] for column in columns]
        if copyfmt is None:
            yield _copy_rows_lists(part, types, nullable, zero_is_null, offsets[start : end + 1], lists)
            continue
        stacked = np.empty((len(part), end - start), np.int64)
        for row, column in zip(stacked, part, strict=True):
            row[:] = column
        yield copyfmt.copy_rows_lists(
            stacked, widths, null_mask, zero_is_null, offsets[start : end + 1], items, list_widths,
            list_inner, list_zero_null,
        )  # fmt: skip


def copy_payload(
    columns: list[np.ndarray], types: list[str], nullable: tuple[int, ...] = (), zero_is_null: bool = False
) -> bytes:
    """The whole binary COPY stream of `columns` at once (see copy_chunks)."""
    return b"".join(copy_chunks(columns, types, nullable, zero_is_null))


def _copy_out(conn: Connection, query: str) -> bytes:
    """The whole output of a COPY ... TO STDOUT statement."""
    with _driver(conn).cursor() as cursor, cursor.copy(query) as copy:  # no params: sent as it is
        return b"".join(bytes(chunk) for chunk in copy)


def _int8_rows(data: bytes, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The columns of a binary COPY of rows of non-NULL int8s (fixed-width rows that numpy
    reads in place), as int64 arrays."""
    fields = [("count", ">i2")]
    for i in range(len(names)):
        fields += [(f"size{i}", ">i4"), (f"value{i}", ">i8")]
    row = np.dtype(fields)
    body = data[len(_COPY_HEADER) : len(data) - len(_COPY_TRAILER)]
    framed = data.startswith(_COPY_HEADER) and data.endswith(_COPY_TRAILER)
    if not framed or len(body) % row.itemsize:
        raise StoreError(f"read_ints: {len(data)} bytes of COPY are not rows of {len(names)} non-NULL int8s")
    rows = np.frombuffer(body, row)
    sizes_ok = all((rows[f"size{i}"] == 8).all() for i in range(len(names)))
    if not ((rows["count"] == len(names)).all() and sizes_ok):
        raise StoreError("read_ints: the query gave NULLs or fields that are not int8")
    return {name: rows[f"value{i}"].astype(np.int64) for i, name in enumerate(names)}


def _bytea(value: bytes) -> str:
    """A bytea literal that reads the same whatever standard_conforming_strings says."""
    return f"decode('{value.hex()}', 'hex')"


def _text(value: str | None, raw: Any) -> str:
    """A text literal quoted by the driver (NULL for None)."""
    if value is None:
        return "NULL"
    from psycopg import sql

    return sql.Literal(value).as_string(raw)


def psycopg_errors() -> type[Exception]:
    import psycopg

    return psycopg.Error


def _spoke(raw: Any) -> bool:
    """Whether the server sent something to an idle connection (its last words when it
    ends the session), or closed it: a look at the socket, no round trip."""
    if raw.closed or raw.broken:
        return True
    poller = select.poll()
    poller.register(raw.fileno(), select.POLLIN)
    return bool(poller.poll(0))


def _execute(raw: Any, sql: str) -> None:
    with raw.cursor() as cursor:
        cursor.execute(sql)


def _driver(conn: Connection) -> Any:
    """The psycopg connection under a SQLAlchemy connection (same transaction)."""
    raw = conn.connection.driver_connection
    assert raw is not None, "an open SQLAlchemy connection has a driver connection"
    return raw


class PostgresStore(Store):
    dialect = "postgresql"
    mark = "%s"

    def __init__(self, url: str, engine: Any) -> None:
        super().__init__(url, engine)
        # statements for commit_write, by writer connection (gone with it)
        self._queued: weakref.WeakKeyDictionary[Connection, list[str]] = weakref.WeakKeyDictionary()
        # writer connections in autocommit mode for their transaction (lock_writer)
        self._autocommit: weakref.WeakKeyDictionary[Connection, Any] = weakref.WeakKeyDictionary()

    @classmethod
    def from_url(cls, url: str) -> PostgresStore:
        """A store on `url` whose sessions notice a dead peer: a writer that dies releases
        the writer lock (held by its transaction) within about a second.

        A killed client's kernel closes its socket: a backend waiting for the next statement
        sees that at once, one running a statement within `client_connection_check_interval`
        (1 s; without it, only when the statement ends). Measured on this machine, from the
        SIGKILL to another process holding the lock: 15 ms for a writer between statements,
        0.5 s for one killed 0.5 s into a 20 s statement (19.5 s without the setting; at most
        the 1 s interval with it), 20 ms median and 0.26 s at most for one killed at a random
        moment of posting 50,000-line batches; after `pg_terminate_backend`, 20 ms. A client
        whose host or network vanished sends nothing: the server's TCP keepalives (10 s idle,
        3 probes 5 s apart) and `tcp_user_timeout` end the session after about 25 s (not
        measured).
        `idle_in_transaction_session_timeout` is the last resort, for a client alive but stuck
        in a transaction; at 10 minutes it cannot cut a legitimate write short: a statement
        (a COPY of any size included) is not idle, and the gaps between a write's statements
        are the numpy work on one batch, seconds at most. The client's libpq keepalives and
        `tcp_user_timeout` (60 s without an acknowledgement, which a live server gives even
        while it reads slowly) spare the client from waiting for ever on a server that is
        gone. What the URL sets itself (its `options` included) is kept.
        """
        client = {
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
            "tcp_user_timeout": 60_000,
        }
        server = {
            "tcp_keepalives_idle": 10,
            "tcp_keepalives_interval": 5,
            "tcp_keepalives_count": 3,
            "tcp_user_timeout": 60_000,
            "client_connection_check_interval": 1_000,
            "idle_in_transaction_session_timeout": 600_000,
        }
        query = make_url(url).query
        given = query.get("options", "")
        given = " ".join(given) if isinstance(given, tuple) else given
        options = [given] if given else []
        options += [f"-c {name}={value}" for name, value in server.items() if name not in given]
        args: dict[str, Any] = {name: value for name, value in client.items() if name not in query}
        args["options"] = " ".join(options)
        return cls(url, create_engine(url, connect_args=args))

    def begin_read(self, conn: Connection) -> None:
        # READ COMMITTED would let a checkpoint or a batch commit between two queries of one
        # load and count it twice; REPEATABLE READ reads everything from one snapshot.
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")

    def lock(self, conn: Connection) -> None:
        conn.exec_driver_sql(_LOCK_SQL)

    def lock_writer(self, conn: Connection) -> None:
        """BEGIN, the writer lock and the state row, which only this transaction changes from
        then on (see Store._head), in one message: three statements in the simple protocol.
        The driver would send its own BEGIN first, a round trip of its own: the connection
        is in autocommit mode until end_write, so the transaction is the one BEGIN opens
        (the driver's commit and rollback end it as any other: they go by the server's
        transaction status)."""
        raw = _driver(conn)
        begin = ""
        if raw.info.transaction_status == _IDLE:
            raw.autocommit = True
            self._autocommit[conn] = raw
            begin = "BEGIN; "
        with raw.cursor() as cursor:
            cursor.execute(f"{begin}{_LOCK_SQL}; SELECT commit_seq, last_batch, last_hash FROM ledger_state")
            while cursor.nextset():
                pass  # the last result is the state row
            row = cursor.fetchone()
        if row is None:
            raise StoreError(f"{self.url}: ledger_state has no row; the database is damaged")
        conn.info["ledger_head"] = (int(row[0]), int(row[1]), bytes(row[2]))

    def end_write(self, conn: Connection) -> None:
        self._queued.pop(conn, None)
        raw = self._autocommit.pop(conn, None)
        if raw is not None and not raw.closed:
            try:
                if raw.info.transaction_status != _IDLE:
                    raw.rollback()
                raw.autocommit = False
            except Exception:
                # left in autocommit, a reader's REPEATABLE READ would not hold: never reuse it
                with contextlib.suppress(Exception):
                    conn.invalidate()

    def commit_write(self, conn: Connection) -> None:
        """COMMIT, sent with the statements a small batch queued (one message, one round
        trip). A statement the server refuses skips the rest, COMMIT included: StoreError,
        nothing committed. A connection lost meanwhile: CommitUnknown."""
        queued = self._queued.pop(conn, None)
        if queued:
            # invalidated when lost, so that closing it does not try to roll back
            self._send_commit(_driver(conn), ";".join([*queued, "COMMIT"]), _execute, conn.invalidate)
        super().commit_write(conn)

    def _send_commit(
        self, raw: Any, message: str, send: Callable[[Any, str], None], lost: Callable[[], None]
    ) -> None:
        """Send `message`, statements ending in COMMIT, by `send`. A statement the server
        refuses skips the rest, COMMIT included: rolled back, StoreError (the server's error
        its cause), nothing committed. The connection lost, or any other failure: `lost()`,
        then CommitUnknown."""
        try:
            send(raw, message)
        except Exception as error:
            if not isinstance(error, psycopg_errors()) or raw.broken or raw.closed:
                lost()
                raise commit_unknown(self.url, error) from error
            with contextlib.suppress(Exception):
                raw.rollback()
            raise StoreError(f"{self.url}: {error}") from error

    custom_tables = ("entries", "lines")

    def execute_ddl(self, conn: Connection, statement: str) -> None:
        conn.exec_driver_sql(statement.replace("%", "%%"))  # psycopg reads % as a placeholder

    @classmethod
    def sql_dialect(cls) -> Any:
        return postgresql_dialect.dialect()

    @classmethod
    def custom_table_ddl(cls, name: str) -> list[str]:
        # entries: no B-tree primary key here. Keys are unique because the engine admits
        # each key once under the writer lock (and reloads what other writers committed);
        # a B-tree on the key would cost more than the rest of the entry row. BRIN indexes
        # on key and batch serve lookups, which follow posting order for sequential keys.
        #
        # An entry row also carries its lines, as arrays: amounts and accounts, and the
        # dimension codes as a 2-D array [lines][4] (NULL when every code is zero). Lines
        # are numbered from 0 in array order, and take the entry's batch and book. One row
        # per entry instead of one per line halves what the server does to store a batch;
        # the view `lines` gives the rows and columns of SQLite's lines table.
        if name == "lines":
            return []  # the view comes with entries, which it reads
        assert name == "entries"
        return [
            "CREATE TABLE entries (key BIGINT NOT NULL, batch BIGINT NOT NULL, seq INTEGER NOT NULL,"
            " book INTEGER NOT NULL, date INTEGER NOT NULL, flags SMALLINT NOT NULL,"
            " pending BIGINT, extra BIGINT, fingerprint BIGINT NOT NULL, lines INTEGER NOT NULL,"
            " amounts BIGINT[], accounts INTEGER[], dims INTEGER[])",
            "CREATE INDEX entries_batch ON entries USING brin (batch)",
            "CREATE INDEX entries_key ON entries USING brin (key)",
            "CREATE VIEW lines AS SELECT e.batch, e.key AS entry, l.amount, (l.n - 1)::integer AS line,"
            " e.book, l.account, e.dims[l.n][1] AS dim1, e.dims[l.n][2] AS dim2,"
            " e.dims[l.n][3] AS dim3, e.dims[l.n][4] AS dim4"
            " FROM entries e CROSS JOIN LATERAL unnest(e.amounts, e.accounts) WITH ORDINALITY"
            " AS l (amount, account, n)",
        ]

    def period_sql(self, day: str) -> str:
        return f"to_char(DATE '1970-01-01' + {day}, 'YYYYMM')::int"

    @classmethod
    def schema_ddl(cls) -> list[str]:
        # Snapshot parts are already dense binary: store them as they are, uncompressed.
        return [*super().schema_ddl(), "ALTER TABLE snapshots ALTER COLUMN data SET STORAGE EXTERNAL"]

    @classmethod
    def trigger_ddl(cls) -> list[str]:
        statements = [
            "CREATE OR REPLACE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'ledger: % is append-only', TG_TABLE_NAME; END $$"
        ]
        for table in t.IMMUTABLE_TABLES:
            if table == "lines":  # a view of entries: refused the same way, instead of rewritten
                statements.append(
                    "CREATE TRIGGER lines_append_only INSTEAD OF UPDATE OR DELETE ON lines "
                    "FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
                )
                continue
            statements.append(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
            )
            statements.append(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only()"
            )
        return statements

    def bulk_insert(
        self,
        conn: Connection,
        table: str,
        names: tuple[str, ...],
        columns: list[np.ndarray],
        targets: tuple[str, ...] | None = None,
        lists: ListColumns | None = None,
    ) -> None:
        """As Store.bulk_insert, by binary COPY; `lists` adds array columns, named after
        `names` in `targets`."""
        if not len(columns[0]):
            return
        sql_table = t.metadata.tables[table]
        types = [_BINARY_TYPES[str(sql_table.c[name].type)] for name in names]
        nullable = tuple(i for i, name in enumerate(names) if sql_table.c[name].nullable)
        quoted = ", ".join(f'"{name}"' for name in targets or names)
        raw = _driver(conn)
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY {table} ({quoted}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            for chunk in copy_chunks(columns, types, nullable, zero_is_null=True, lists=lists):
                copy.write(chunk)

    def write_lines(self, conn: Connection, lines: LineRows) -> None:
        """Only the lines of pending entries (into pending_lines): every line travels in its
        entry's row (write_batch)."""
        self.write_pending_lines(conn, lines)

    def write_batch(self, conn: Connection, rows: BatchRows) -> None:
        """The entries, each with its lines as arrays (one binary COPY), then texts and the
        batch record; a small batch's rows are queued to travel with the COMMIT instead."""
        if len(rows.entry_keys) <= _SMALL_BATCH_ENTRIES and not rows.lines.pending.any():
            self.write_small(conn, rows.as_small())
            return
        lines = rows.lines
        counts = rows.entry_line_counts.astype(np.int64)
        offsets = np.zeros(len(counts) + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        if offsets[-1] != len(lines.entries):
            raise ValueError(f"{len(lines.entries)} lines for entries that count {int(offsets[-1])}")
        dims = lines.dims
        names = t.ENTRY_COLUMNS
        arrays = ListColumns(
            offsets,
            (
                ((lines.amounts,), ">i8", False),
                ((lines.accounts,), ">i4", False),
                ((dims[:, 0], dims[:, 1], dims[:, 2], dims[:, 3]), ">i4", True),
            ),
        )
        self.bulk_insert(
            conn, "entries", names, self.entry_columns(rows), (*names, "amounts", "accounts", "dims"), arrays
        )
        if len(rows.entry_keys) >= _SUMMARIZED_ENTRIES:
            # Its BRIN ranges now, not at the next checkpoint: after a crash, the catch-up's
            # reads by batch range then skip every other batch instead of scanning the tail.
            conn.exec_driver_sql("SELECT brin_summarize_new_values('entries_batch')")
        self.write_texts_and_record(conn, rows)

    def write_small(self, conn: Connection, rows: SmallRows) -> None:
        """A few entries' rows as INSERT statements queued for commit_write."""
        self._queued.setdefault(conn, []).extend(self._small_statements(rows, _driver(conn)))

    def commit_small(self, rows: SmallRows, seq: int) -> int | None:
        """As Store.commit_small, in one message, one round trip: BEGIN, the writer lock, the
        guard, the rows, the head advanced, COMMIT. The guard divides by the number of state
        rows still at `seq`: when the head has moved it fails (division by zero), and the
        server skips the rest of the message, COMMIT included.

        The connection is dropped after any failure but the guard's (a new one comes next
        time): an interrupted message may leave a transaction open on it, holding the lock."""
        if not self._small_lock.acquire(blocking=False):
            return None
        try:
            with store_errors(self.url):
                raw = self._small_connection()
                if _spoke(raw) or raw.info.transaction_status != _IDLE:
                    # ended by the server while idle, or left mid-transaction: the ordinary
                    # way takes a pooled connection (and replaces it when it is dead)
                    self._drop_small_connection()
                    self.known_head = None
                    return None
                if not raw.autocommit:
                    raw.autocommit = True  # the message's BEGIN opens the one transaction
                message = "; ".join(
                    [
                        f"BEGIN; {_LOCK_SQL}",
                        f"SELECT 1 / count(*) FROM ledger_state WHERE commit_seq = {int(seq)}",
                        *self._small_statements(rows, raw),
                        f"UPDATE ledger_state SET commit_seq = {int(seq) + 1},"
                        f" last_batch = {int(rows.batch_id)}, last_hash = {_bytea(bytes(rows.hash))}",
                        "COMMIT",
                    ]
                )
                try:
                    self._send_commit(raw, message, self._send_small, self._drop_small_connection)
                except StoreError as error:
                    moved = getattr(error.__cause__, "sqlstate", None) == "22012"  # division by zero
                    if isinstance(error, CommitUnknown) or not moved or raw.info.transaction_status != _IDLE:
                        raise
                    self.known_head = None
                    return None  # the guard: the head moved, nothing was written
        except BaseException:
            self.known_head = None
            self._drop_small_connection()
            raise
        finally:
            self._small_lock.release()
        self.known_head = (seq + 1, rows.batch_id, bytes(rows.hash))
        return seq + 1

    def _send_small(self, raw: Any, message: str) -> None:
        """Send commit_small's message and wait for its outcome (a hook of its own, so that
        tests can lose the connection around it)."""
        _execute(raw, message)

    def _small_statements(self, rows: SmallRows, raw: Any) -> list[str]:
        """INSERT statements of a few entries' rows, stored as the COPY stores them: pending
        and extra both NULL when both are 0, the arrays NULL for an entry without lines, dims
        NULL when all its lines' codes are 0. Values are integers and bytes written as
        literals; texts are quoted by the driver."""
        lines = rows.lines
        values = []
        at = 0
        for seq, (key, book, date, flags, pending, extra, fingerprint, count) in enumerate(rows.entries):
            own = lines[at : at + count]
            blank = pending == 0 and extra == 0
            arrays = (
                f"'{{{','.join(str(line[4]) for line in own)}}}'::bigint[],"
                f" '{{{','.join(str(line[3]) for line in own)}}}'::integer[]"
                if count
                else "NULL, NULL"
            )
            matrix = ",".join("{" + ",".join(map(str, line[5:])) + "}" for line in own)
            coded = f"'{{{matrix}}}'::integer[]" if any(any(line[5:]) for line in own) else "NULL"
            values.append(
                f"({int(key)}, {int(rows.batch_id)}, {seq}, {int(book)}, {int(date)}, {int(flags)},"
                f" {'NULL' if blank else int(pending)}, {'NULL' if blank else int(extra)},"
                f" {int(fingerprint)}, {int(count)}, {arrays}, {coded})"
            )
            at += count
        statements = [
            "INSERT INTO entries (key, batch, seq, book, date, flags, pending, extra, fingerprint, lines,"
            " amounts, accounts, dims) VALUES " + ", ".join(values)
        ]
        if rows.texts:
            texts = ", ".join(
                f"({int(key)}, {_text(kind, raw)}, {_text(reference, raw)})"
                for key, kind, reference in rows.texts
            )
            statements.append(f"INSERT INTO entry_texts (entry, kind, reference) VALUES {texts}")
        record = batch_record(rows)
        statements.append(
            f"INSERT INTO batches ({BATCH_RECORD_COLUMNS}) VALUES"
            f" ({record[0]}, {record[1]}, {record[2]}, {_bytea(record[3])}, {_bytea(record[4])},"
            f" {_bytea(record[5])}, {record[6]})"
        )
        return statements

    def bump(self, conn: Connection, *, batch: int | None = None, hash: bytes | None = None) -> int:
        """As Store.bump; after a small batch queued its rows, queued too (the new sequence
        is the one read under the lock plus one), to travel with the COMMIT."""
        head = conn.info.get("ledger_head")
        if conn not in self._queued or head is None or batch is None:
            return super().bump(conn, batch=batch, hash=hash)
        self._queued[conn].append(
            f"UPDATE ledger_state SET commit_seq = commit_seq + 1, last_batch = {int(batch)},"
            f" last_hash = {_bytea(bytes(hash or b''))}"
        )
        conn.info["ledger_head"] = (head[0] + 1, int(batch), bytes(hash or b""))
        return head[0] + 1

    def insert_arrow(self, conn: Connection, table: str, data: pa.Table) -> None:
        if not data.num_rows:
            return
        sink = io.BytesIO()
        pacsv.write_csv(
            data, sink, write_options=pacsv.WriteOptions(include_header=False, quoting_style="needed")
        )
        names = ", ".join(f'"{name}"' for name in data.column_names)
        raw = _driver(conn)
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT CSV)") as copy:
            copy.write(sink.getvalue())

    def write_snapshot(self, conn: Connection, header: str, blobs: dict[str, list[bytes]]) -> None:
        """As Store.write_snapshot, sending the parts as binary parameters (not hex text)."""
        conn.exec_driver_sql("DELETE FROM snapshots")
        rows = [("header", 0, header.encode())]
        rows += [(name, i, part) for name, parts in blobs.items() for i, part in enumerate(parts)]
        with _driver(conn).cursor(binary=True) as cursor:
            for row in rows:
                cursor.execute("INSERT INTO snapshots (name, part, data) VALUES (%s, %s, %b)", row)

    def snapshot_rows(self, conn: Connection) -> Iterator[tuple[str, bytes]]:
        """As Store.snapshot_rows, in binary format, a part per fetch (a server-side cursor):
        the caller hashes one part while the next travels."""
        with _driver(conn).cursor(name="ledger_snapshot", binary=True) as cursor:
            cursor.itersize = 1
            cursor.execute("SELECT name, data FROM snapshots ORDER BY name, part")
            for name, data in cursor:
                yield name, bytes(data)

    def set_checkpoint(self, conn: Connection, batch: int) -> None:
        super().set_checkpoint(conn, batch)
        if not conn.info.pop("ledger_fold_more", False):  # a fold step with more to come: the last does
            self.summarize(conn)

    def summarize(self, conn: Connection) -> None:
        """Summarize the BRIN ranges filled since the last checkpoint, so that reads of the
        batches after a checkpoint skip everything before it."""
        for index in ("entries_batch", "entries_key"):
            conn.exec_driver_sql(f"SELECT brin_summarize_new_values('{index}')")
        # Fresh statistics: without them the planner expects many rows after the checkpoint
        # and the catch-up of the next open scans whole tables.
        conn.exec_driver_sql("ANALYZE entries")

    def range_lines_sql(self, first: int, last: int) -> str:
        dims = ", ".join(f"coalesce(e.dims[l.n][{i}], 0)" for i in range(1, 5))
        return (
            f"SELECT e.batch, e.key, (l.n - 1)::integer, l.account, l.amount, {dims} FROM entries e"
            " CROSS JOIN LATERAL unnest(e.amounts, e.accounts) WITH ORDINALITY AS l (amount, account, n)"
            f" WHERE e.batch BETWEEN {int(first)} AND {int(last)}"
        )

    def range_sums(self, conn: Connection, after: int, upto: int) -> tuple[np.ndarray, np.ndarray]:
        """As Store.range_sums, the entries' own lines read as their arrays (one binary COPY
        of a row per entry, parsed by the compiled reader) and summed here, instead of the
        server making a row of each line; the posts and voids by SQL as before. Without the
        compiled module, Store's query."""
        if copyfmt is None:
            return super().range_sums(conn, after, upto)
        query = (
            "COPY (SELECT lines, flags, amounts, accounts FROM entries"
            f" WHERE batch > {int(after)} AND batch <= {int(upto)} AND lines > 0) TO STDOUT (FORMAT BINARY)"
        )
        data = _copy_out(conn, query)
        counts, flags, amounts, accounts = copyfmt.read_entry_lines(np.frombuffer(data, np.uint8))
        del data
        pending = np.repeat((flags & ENTRY_PENDING) != 0, counts)
        return self.lines_sums(conn, after, upto, accounts, amounts, pending)

    def range_period_sums(self, conn: Connection, after: int, upto: int, total: PeriodSums) -> None:
        """As Store.range_period_sums, the entries' own lines read as their arrays (the
        entry's day appended to its amounts: one binary COPY, parsed by the compiled reader)
        and summed by month here, instead of the server making a row of each line."""
        if copyfmt is None:
            super().range_period_sums(conn, after, upto, total)
            return
        query = (
            "COPY (SELECT lines + 1, flags, array_append(amounts, date::int8), array_append(accounts, 0)"
            f" FROM entries WHERE batch > {int(after)} AND batch <= {int(upto)} AND lines > 0)"
            " TO STDOUT (FORMAT BINARY)"
        )
        data = _copy_out(conn, query)
        counts, flags, amounts, accounts = copyfmt.read_entry_lines(np.frombuffer(data, np.uint8))
        del data
        ends = np.cumsum(counts) - 1  # each entry's appended day
        own = np.ones(len(amounts), bool)
        own[ends] = False
        months = np.repeat(periods_of(amounts[ends].astype(np.int32)), counts - 1)
        pending = np.repeat((flags & ENTRY_PENDING) != 0, counts - 1)
        total.add(own_line_sums(accounts[own], amounts[own], months, pending))
        self.resolved_period_sums(conn, after, upto, total)

    def entry_lines_from(self, first: int, last: int | None = None) -> str:
        # The arrays of the entry rows themselves: no join back to entries as the view needs.
        upto = f" AND e.batch <= {int(last)}" if last is not None else ""
        return (
            "entries e CROSS JOIN LATERAL unnest(e.amounts, e.accounts) AS l (amount, account)"
            f" WHERE e.batch >= {int(first)}{upto}"
        )

    def stage_fold(self, conn: Connection, names: tuple[str, ...], columns: list[np.ndarray]) -> None:
        conn.exec_driver_sql(
            "CREATE TEMP TABLE ledger_fold (account INTEGER, period INTEGER, book INTEGER,"
            " debits_posted BIGINT, credits_posted BIGINT, debits_pending BIGINT, credits_pending BIGINT)"
            " ON COMMIT DROP"
        )
        payload = copy_payload(columns, [">i4", ">i4", ">i4", ">i8", ">i8", ">i8", ">i8"])
        quoted = ", ".join(names)
        with (
            _driver(conn).cursor() as cursor,
            cursor.copy(f"COPY ledger_fold ({quoted}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.write(payload)

    def merge_fold(
        self, conn: Connection, staged: dict[str, np.ndarray]
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """As Store.merge_fold, by an upsert from ledger_fold (the server adds) that returns
        the rows it updated, with their new sums, in one binary COPY: the replaced rows are
        those less the staged sums (modulo 2**64). An updated row keeps its book."""
        names = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")
        # numeric arithmetic (modulo 2**64) only where a bigint sum could overflow
        small = "BETWEEN -4611686018427387904 AND 4611686018427387903"
        wrapped = ", ".join(
            f"{n} = CASE WHEN period_balances.{n} {small} AND excluded.{n} {small}"
            f" THEN period_balances.{n} + excluded.{n}"
            f" ELSE ((period_balances.{n}::numeric + excluded.{n} + 9223372036854775808)"
            f" % 18446744073709551616 - 9223372036854775808)::bigint END"
            for n in names
        )
        # xmax is 0 in a row this statement inserted, the updating transaction's id otherwise
        upsert = (
            "INSERT INTO period_balances (account, period, book, " + ", ".join(names) + ")"
            " SELECT f.account, f.period, f.book, "
            + ", ".join(f"f.{n}" for n in names)
            + " FROM ledger_fold f"
            f" ON CONFLICT (account, period) DO UPDATE SET {wrapped}"
            " RETURNING account::int8, period::int8, book::int8, "
            + ", ".join(names)
            + ", xmax <> 0 AS updated"
        )
        columns = "account, period, book, " + ", ".join(names)
        data = _copy_out(
            conn,
            f"COPY (WITH up AS ({upsert}) SELECT {columns} FROM up WHERE updated) TO STDOUT (FORMAT BINARY)",
        )
        updated = _int8_rows(data, PERIOD_NAMES)
        keys = (staged["account"] << 20) | staged["period"]
        order = np.argsort(keys)
        at = order[np.searchsorted(keys[order], (updated["account"] << 20) | updated["period"])]
        old = dict(updated)
        new = {name: np.array(staged[name], np.int64) for name in PERIOD_NAMES}
        for name in PERIOD_NAMES[2:]:
            new[name][at] = updated[name]
        for name in PERIOD_NAMES[3:]:  # int64 arrays wrap modulo 2**64
            old[name] = updated[name] - staged[name][at]
        return old, new

    def read_ints(self, conn: Connection, sql: str, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        """As Store.read_ints, by a binary COPY of the query's rows as int8s: fixed-width rows
        that numpy reads in place."""
        aliases = ", ".join(f"c{i}" for i in range(len(names)))
        values = ", ".join(f"q.c{i}::int8" for i in range(len(names)))
        query = f"COPY (SELECT {values} FROM ({sql}) AS q ({aliases})) TO STDOUT (FORMAT BINARY)"
        return _int8_rows(_copy_out(conn, query), names)

    def read_table(
        self, conn: Connection, sql: str, types: dict[str, pa.DataType], names: list[str] | None = None
    ) -> pa.Table:
        """Run a query; its rows come back as one row of per-column aggregates.

        Integer columns travel as one bytea of big-endian int8s, text columns as one JSON
        array: a few values instead of a protocol message per row, which is what makes
        loading millions of accounts take seconds.
        """
        columns = names or list(types)
        parts = []
        for position in range(len(columns)):
            source = f"q.c{position}"
            if pa.types.is_integer(types[list(types)[position]]):
                parts.append(f"string_agg(int8send({source}::int8), ''::bytea)")
            else:
                parts.append(f"array_to_json(array_agg({source}))::text")
        aliases = ", ".join(f"c{i}" for i in range(len(columns)))
        # One plain (non-parallel) aggregate pass feeds every aggregate the rows in the same
        # order, the subquery's: the columns stay aligned without sorting again.
        conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
        query = f"SELECT count(*), {', '.join(parts)} FROM ({sql}) AS q ({aliases})"
        row = conn.exec_driver_sql(query.replace("%", "%%")).one()
        count = int(row[0])
        data = {}
        for position, name in enumerate(columns):
            kind = types[list(types)[position]]
            value = row[position + 1]
            if pa.types.is_integer(kind):
                numbers = np.frombuffer(value, ">i8").astype(np.int64) if value else np.zeros(0, np.int64)
                data[name] = pa.array(numbers.astype(kind.to_pandas_dtype()), type=kind)
            else:
                data[name] = pa.array(json.loads(value) if value else [], type=kind)
            if len(data[name]) != count:  # string_agg skips NULLs: a NULL in an integer column
                raise StoreError(f"{self.url}: column {name} read {len(data[name])} values for {count} rows")
        return pa.table(data)


__all__ = ["ListColumns", "PostgresStore", "copy_chunks", "copy_payload"]
