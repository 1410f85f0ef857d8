"""PostgreSQL: `pg_advisory_xact_lock` as the writer lock, binary COPY for every bulk write
(built with numpy, no per-row Python) and COPY TO for bulk reads."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import struct
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.dialects import postgresql as postgresql_dialect

from ledger.store import tables as t
from ledger.store.base import LineRows, Store

# The writer lock is (this int32, hash of the schema): one lock per ledger, where a ledger is
# a schema of a database, so ledgers in other schemas never wait for each other.
_LOCK_CLASS = 0x6C656467  # "ledg"
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


def copy_chunks(
    columns: list[np.ndarray],
    types: list[str],
    nullable: tuple[int, ...] = (),
    zero_is_null: bool = False,
    rows_per_chunk: int = _COPY_CHUNK_ROWS,
) -> Iterator[bytes]:
    """The binary COPY stream of equal-length integer columns (big-endian), in pieces of at
    most `rows_per_chunk` rows: the server parses a piece while the next is being built.

    With `zero_is_null`, rows whose `nullable` columns are all zero send those columns as
    NULL (no data bytes): lines without dimension codes then cost what a narrower table would.
    Rows keep their order.
    """
    n = len(columns[0])
    yield _COPY_HEADER
    widths = np.array([np.dtype(kind).itemsize for kind in types], np.uint8)
    null_mask = np.zeros(len(types), np.uint8)
    null_mask[list(nullable)] = 1
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


def copy_payload(
    columns: list[np.ndarray], types: list[str], nullable: tuple[int, ...] = (), zero_is_null: bool = False
) -> bytes:
    """The whole binary COPY stream of `columns` at once (see copy_chunks)."""
    return b"".join(copy_chunks(columns, types, nullable, zero_is_null))


def _driver(conn: Connection) -> Any:
    """The psycopg connection under a SQLAlchemy connection (same transaction)."""
    raw = conn.connection.driver_connection
    assert raw is not None, "an open SQLAlchemy connection has a driver connection"
    return raw


class PostgresStore(Store):
    dialect = "postgresql"

    @classmethod
    def from_url(cls, url: str) -> PostgresStore:
        return cls(url, create_engine(url, pool_pre_ping=True))

    def begin_read(self, conn: Connection) -> None:
        # READ COMMITTED would let a checkpoint or a batch commit between two queries of one
        # load and count it twice; REPEATABLE READ reads everything from one snapshot.
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")

    def lock(self, conn: Connection) -> None:
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_CLASS}, hashtext(current_schema()))")

    custom_tables = ("entries",)

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
        assert name == "entries"
        return [
            "CREATE TABLE entries (key BIGINT NOT NULL, batch BIGINT NOT NULL, seq INTEGER NOT NULL,"
            " book INTEGER NOT NULL, date INTEGER NOT NULL, flags SMALLINT NOT NULL,"
            " pending BIGINT, extra BIGINT, fingerprint BIGINT NOT NULL, lines INTEGER NOT NULL)",
            "CREATE INDEX entries_batch ON entries USING brin (batch)",
            "CREATE INDEX entries_key ON entries USING brin (key)",
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
        self, conn: Connection, table: str, names: tuple[str, ...], columns: list[np.ndarray]
    ) -> None:
        if not len(columns[0]):
            return
        sql_table = t.metadata.tables[table]
        types = [_BINARY_TYPES[str(sql_table.c[name].type)] for name in names]
        nullable = tuple(i for i, name in enumerate(names) if sql_table.c[name].nullable)
        quoted = ", ".join(f'"{name}"' for name in names)
        raw = _driver(conn)
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY {table} ({quoted}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            for chunk in copy_chunks(columns, types, nullable, zero_is_null=True):
                copy.write(chunk)

    @contextlib.contextmanager
    def writing_lines(self, conn: Connection, lines: LineRows) -> Iterator[None]:
        """As Store.writing_lines, the COPY running in a thread while the body runs.

        The server parses and stores the lines (most of a batch's time) while the caller
        derives the entry rows and the hash; the thread is always joined before this returns
        or raises, so the connection is never used by two threads at once.
        """
        failure: list[BaseException] = []

        def send() -> None:
            try:
                self.write_lines(conn, lines)
            except BaseException as error:  # re-raised in the caller's thread
                failure.append(error)

        sender = threading.Thread(target=send, name="ledger-lines-copy")
        sender.start()
        try:
            yield
        finally:
            sender.join()
        if failure:
            raise failure[0]

    def insert_table(self, conn: Connection, table: str, data: pa.Table) -> None:
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

    def read_snapshot(self, conn: Connection) -> tuple[str, dict[str, bytes]] | None:
        """As Store.read_snapshot, fetching the parts in binary format."""
        parts: dict[str, list[bytes]] = {}
        with _driver(conn).cursor(binary=True) as cursor:
            cursor.execute("SELECT name, data FROM snapshots ORDER BY name, part")
            for name, data in cursor:
                parts.setdefault(name, []).append(bytes(data))
        if "header" not in parts:
            return None
        header = parts.pop("header")[0].decode()
        return header, {name: b"".join(chunks) for name, chunks in parts.items()}

    def set_checkpoint(self, conn: Connection, batch: int) -> None:
        super().set_checkpoint(conn, batch)
        self.summarize(conn)

    def summarize(self, conn: Connection) -> None:
        """Summarize the BRIN ranges filled since the last checkpoint, so that reads of the
        batches after a checkpoint skip everything before it."""
        for index in ("entries_batch", "entries_key"):
            conn.exec_driver_sql(f"SELECT brin_summarize_new_values('{index}')")
        # Fresh statistics: without them the planner expects many rows after the checkpoint
        # and the catch-up of the next open scans whole tables.
        conn.exec_driver_sql("ANALYZE lines, entries")

    def lines_blocks_sql(self) -> Any:
        return text("pg_relation_size('lines') / current_setting('block_size')::bigint")

    def lines_where(self, conn: Connection, first: int, last: int | None = None, alias: str = "lines") -> str:
        """As Store.lines_where, bounded to the heap blocks those batches were written to.

        The lines table has no index. Every line of batches up to `last` lies below the
        table's size recorded after `last` was written; a later batch starts on the last
        block of the one before it, unless the server put some rows into free space further
        back (or the table was rewritten). So the block range is checked by counting: when
        it holds as many lines of those batches as the batch records say, it holds all of
        them, and a TID range scan reads only that part of the table; otherwise the whole
        table is searched.
        """
        upper = None
        if last is not None:
            upper = conn.exec_driver_sql(f"SELECT lines_blocks FROM batches WHERE id = {int(last)}").scalar()
        lower = 0
        if first > 1:
            before = conn.exec_driver_sql(
                f"SELECT lines_blocks FROM batches WHERE id = {int(first) - 1}"
            ).scalar()
            lower = max(int(before) - 1, 0) if before is not None else 0

        def bounded(name: str) -> str:
            terms = [super(PostgresStore, self).lines_where(conn, first, last, name)]
            if lower:
                terms.append(f"{name}.ctid >= '({lower},0)'::tid")
            if upper is not None:
                terms.append(f"{name}.ctid < '({int(upper)},0)'::tid")
            return " AND ".join(terms)

        if not lower and upper is None:
            return bounded(alias)  # every batch from the first: nothing to bound
        only = f" AND id <= {int(last)}" if last is not None else ""
        expected = conn.exec_driver_sql(
            f"SELECT coalesce(sum(lines), 0) FROM batches WHERE id >= {int(first)}{only}"
        ).scalar_one()
        found = conn.exec_driver_sql(f"SELECT count(*) FROM lines WHERE {bounded('lines')}").scalar_one()
        return bounded(alias) if found == expected else super().lines_where(conn, first, last, alias)

    def stage_fold(self, conn: Connection, names: tuple[str, ...], columns: list[np.ndarray]) -> None:
        conn.exec_driver_sql(
            "CREATE TEMP TABLE ledger_fold (account INTEGER, period INTEGER, debits_posted BIGINT,"
            " credits_posted BIGINT, debits_pending BIGINT, credits_pending BIGINT) ON COMMIT DROP"
        )
        payload = copy_payload(columns, [">i4", ">i4", ">i8", ">i8", ">i8", ">i8"])
        quoted = ", ".join(names)
        with (
            _driver(conn).cursor() as cursor,
            cursor.copy(f"COPY ledger_fold ({quoted}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.write(payload)

    def merge_fold(self, conn: Connection) -> None:
        names = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")
        wrapped = ", ".join(
            f"{n} = ((period_balances.{n}::numeric + excluded.{n} + 9223372036854775808)"
            f" %% 18446744073709551616 - 9223372036854775808)::bigint"
            for n in names
        )
        conn.exec_driver_sql(
            "INSERT INTO period_balances (account, period, book, " + ", ".join(names) + ")"
            " SELECT f.account, f.period, a.book, "
            + ", ".join(f"f.{n}" for n in names)
            + " FROM ledger_fold f JOIN accounts a ON a.idx = f.account"
            f" ON CONFLICT (account, period) DO UPDATE SET {wrapped}"
        )

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
            assert len(data[name]) == count
        return pa.table(data)


__all__ = ["PostgresStore", "copy_chunks", "copy_payload"]
