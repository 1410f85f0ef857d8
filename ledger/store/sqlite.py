"""SQLite, the embedded default: WAL journal, `BEGIN IMMEDIATE` as the writer lock, and
executemany inside the one transaction of a batch."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from sqlalchemy import Connection, create_engine, event
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.pool import StaticPool

from ledger.columns import ENTRY_PENDING
from ledger.errors import StoreError
from ledger.periods import periods_of
from ledger.store import tables as t
from ledger.store.base import PERIOD_NAMES, Store, driver_row, merged_rows
from ledger.store.ranges import PeriodSums, own_line_sums
from ledger.store.tables import IMMUTABLE_TABLES

_BUSY_TIMEOUT_MS = 600_000
_SMALL_CACHE_KIB = 8192  # commit_small's connection: 8 MiB of page cache
_ROWS_PER_INSERT = 50
_FETCH_ROWS = 1 << 20  # rows per fetch of a bulk read: a bounded list of tuples at a time


class SQLiteStore(Store):
    dialect = "sqlite"

    @classmethod
    def from_url(cls, url: str) -> SQLiteStore:
        memory = url in ("sqlite://", "sqlite:///:memory:")
        kwargs: dict[str, Any] = {"poolclass": StaticPool} if memory else {}
        engine = create_engine(url, connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000}, **kwargs)

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            # Let us issue BEGIN ourselves (pysqlite would defer it and pick its own kind).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA cache_size=-262144")
            cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # on the driver: SQLAlchemy's execution costs more than BEGIN (see driver_row)
            driver_row(conn, "BEGIN IMMEDIATE" if conn.info.get("ledger_write") else "BEGIN")

        store = cls(url, engine)
        store.separate_writer = not memory  # one shared connection: no writer beside a reader
        return store

    def _prepare_small(self, driver: Any) -> None:
        """commit_small's connection has a page cache of its own size: it touches a few pages
        per commit, and a bulk-sized cache would fill with them over a day of posts."""
        driver.execute(f"PRAGMA cache_size=-{_SMALL_CACHE_KIB}")

    def begin_write(self, conn: Connection) -> None:
        conn.info["ledger_write"] = True
        try:
            conn.begin()
        finally:
            conn.info["ledger_write"] = False

    def lock(self, conn: Connection) -> None:
        # BEGIN IMMEDIATE already holds SQLite's single writer lock for the transaction.
        pass

    custom_tables = ("lines",)

    @classmethod
    def sql_dialect(cls) -> Any:
        return sqlite_dialect.dialect()

    @classmethod
    def custom_table_ddl(cls, name: str) -> list[str]:
        # lines: clustered by (batch, entry, line) in a WITHOUT ROWID table, so appending a
        # batch appends to one B-tree and reading a batch or an entry is a range scan.
        assert name == "lines"
        return [
            "CREATE TABLE lines (batch BIGINT NOT NULL, entry BIGINT NOT NULL, amount BIGINT NOT NULL,"
            " line INTEGER NOT NULL, book INTEGER NOT NULL, account INTEGER NOT NULL,"
            " dim1 INTEGER, dim2 INTEGER, dim3 INTEGER, dim4 INTEGER,"
            " PRIMARY KEY (batch, entry, line)) WITHOUT ROWID"
        ]

    def period_sql(self, day: str) -> str:
        return f"CAST(strftime('%Y%m', {day} * 86400, 'unixepoch') AS INTEGER)"

    @classmethod
    def trigger_ddl(cls) -> list[str]:
        statements = []
        for table in IMMUTABLE_TABLES:
            for action in ("UPDATE", "DELETE"):
                statements.append(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'ledger: {table} is append-only'); END"
                )
        return statements

    def bulk_insert(
        self, conn: Connection, table: str, names: tuple[str, ...], columns: list[np.ndarray]
    ) -> None:
        """executemany in the open transaction. Rows whose nullable columns are all zero
        leave them out (NULL stands for 0): binding fewer values is most of the cost."""
        if not len(columns[0]):
            return
        columns = _in_key_order(table, names, columns)
        nullable = _nullable(table, names)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            if not nullable:
                self._executemany(cursor, table, names, columns)
                return
            empty = np.logical_and.reduce([columns[i] == 0 for i in nullable])
            kept = [i for i in range(len(names)) if i not in nullable]
            if empty.all():  # the common case (no dimension codes): no copies of the columns
                self._executemany(cursor, table, tuple(names[i] for i in kept), [columns[i] for i in kept])
                return
            if empty.any():
                self._executemany(
                    cursor, table, tuple(names[i] for i in kept), [columns[i][empty] for i in kept]
                )
            self._executemany(cursor, table, names, [column[~empty] for column in columns])
        finally:
            cursor.close()

    def read_ints(self, conn: Connection, sql: str, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        """As Store.read_ints, from the driver's tuples, a bounded number of rows at a time."""
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        parts = []
        try:
            cursor.execute(sql)
            while rows := cursor.fetchmany(_FETCH_ROWS):
                try:
                    parts.append(np.array(rows, np.int64).reshape(-1, len(names)))
                except TypeError as error:  # a None among the values
                    raise StoreError("read_ints: the query gave NULLs") from error
        finally:
            cursor.close()
        data = np.concatenate(parts) if parts else np.zeros((0, len(names)), np.int64)
        return {name: np.ascontiguousarray(data[:, i]) for i, name in enumerate(names)}

    def range_sums(self, conn: Connection, after: int, upto: int) -> tuple[np.ndarray, np.ndarray]:
        """As Store.range_sums, the lines read in order of the table (no join with entries:
        the few pending entries' keys mark their lines) and summed here."""
        where = f"batch > {int(after)} AND batch <= {int(upto)}"
        pending = f"SELECT key FROM entries WHERE {where} AND (flags & {ENTRY_PENDING}) <> 0"
        keys = self.read_ints(conn, pending, ("key",))["key"]
        lines = self.read_ints(
            conn, f"SELECT entry, account, amount FROM lines WHERE {where}", ("entry", "account", "amount")
        )
        marked = np.isin(lines["entry"], keys)
        return self.lines_sums(conn, after, upto, lines["account"], lines["amount"], marked)

    def range_period_sums(self, conn: Connection, after: int, upto: int, total: PeriodSums) -> None:
        """As Store.range_period_sums, the entries (key, date, flags) and their lines read
        apart, in table order (no join, no date arithmetic per line in SQL), and summed by
        month here."""
        where = f"batch > {int(after)} AND batch <= {int(upto)}"
        entries = self.read_ints(
            conn, f"SELECT key, date, flags FROM entries WHERE {where}", ("key", "date", "flags")
        )
        lines = self.read_ints(
            conn, f"SELECT entry, account, amount FROM lines WHERE {where}", ("entry", "account", "amount")
        )
        order = np.argsort(entries["key"])
        at = order[np.searchsorted(entries["key"], lines["entry"], sorter=order)] if len(order) else order
        months = periods_of(entries["date"].astype(np.int32))[at]
        pending = (entries["flags"][at] & ENTRY_PENDING) != 0
        total.add(own_line_sums(lines["account"], lines["amount"], months, pending))
        self.resolved_period_sums(conn, after, upto, total)

    def stage_fold(self, conn: Connection, names: tuple[str, ...], columns: list[np.ndarray]) -> None:
        conn.exec_driver_sql(
            "CREATE TEMP TABLE ledger_fold (account INTEGER, period INTEGER, book INTEGER,"
            " debits_posted BIGINT, credits_posted BIGINT, debits_pending BIGINT, credits_pending BIGINT)"
        )
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            self._executemany(cursor, "ledger_fold", names, columns)
        finally:
            cursor.close()

    def merge_fold(
        self, conn: Connection, staged: dict[str, np.ndarray]
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """As Store.merge_fold: the rows it replaces are read by a join with the staged ones,
        added to them in numpy (SQLite turns an integer overflow into a float; numpy adds
        modulo 2**64), and the rows written whole."""
        old = self.read_ints(
            conn,
            "SELECT p.account, p.period, p.book, p.debits_posted, p.credits_posted, p.debits_pending,"
            " p.credits_pending FROM ledger_fold f JOIN period_balances p"
            " ON p.account = f.account AND p.period = f.period",
            PERIOD_NAMES,
        )
        new = merged_rows(staged, old)
        if len(new["account"]):
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                self._executemany(
                    cursor,
                    "period_balances",
                    ("account", "period", "book", "debits_posted", "credits_posted", "debits_pending",
                     "credits_pending"),
                    [new[name] for name in PERIOD_NAMES],
                    verb="INSERT OR REPLACE",
                )  # fmt: skip
            finally:
                cursor.close()
        return old, new

    @staticmethod
    def _executemany(
        cursor: Any, table: str, names: tuple[str, ...], columns: list[np.ndarray], verb: str = "INSERT"
    ) -> None:
        """Insert integer columns, _ROWS_PER_INSERT rows per statement (binding and stepping
        one statement per row is most of SQLite's cost), the remainder row by row."""
        quoted = ", ".join(f'"{name}"' for name in names)
        row = "(" + ", ".join("?" for _ in names) + ")"
        count = len(columns[0])
        if count < _ROWS_PER_INSERT:  # one voucher's rows: Python values straight from the columns
            rows = zip(*(column.tolist() for column in columns), strict=True)
            cursor.executemany(f"{verb} INTO {table} ({quoted}) VALUES {row}", rows)
            return
        table_rows = np.stack([np.asarray(column, np.int64) for column in columns], axis=1)
        full = len(table_rows) - len(table_rows) % _ROWS_PER_INSERT
        if full:
            groups = table_rows[:full].reshape(full // _ROWS_PER_INSERT, -1).tolist()
            values = ", ".join([row] * _ROWS_PER_INSERT)
            cursor.executemany(f"{verb} INTO {table} ({quoted}) VALUES {values}", groups)
        if full < len(table_rows):
            cursor.executemany(f"{verb} INTO {table} ({quoted}) VALUES {row}", table_rows[full:].tolist())


# The primary key of each table a batch fills (lines and entries are clustered by it, WITHOUT
# ROWID; pending_lines' is its index): rows inserted in its order go
# to the B-tree's pages one after the other instead of at random (entry keys are anyone's:
# hashes of source events), which about doubles what SQLite stores per second.
_CLUSTERED = {"lines": ("batch", "entry", "line"), "entries": ("key",), "pending_lines": ("entry", "line")}
_SORTED_ROWS_MIN = 256


def _in_key_order(table: str, names: tuple[str, ...], columns: list[np.ndarray]) -> list[np.ndarray]:
    """The columns with their rows in the table's key order (as they are when few or sorted)."""
    key = _CLUSTERED.get(table)
    if key is None or len(columns[0]) < _SORTED_ROWS_MIN or not set(key) <= set(names):
        return columns
    parts = [np.asarray(columns[names.index(name)]) for name in key]
    if len(parts) == 1 and bool((parts[0][1:] >= parts[0][:-1]).all()):
        return columns  # sequential keys: in order already
    order = np.lexsort(parts[::-1])
    return [np.asarray(column)[order] for column in columns]


@functools.cache
def _nullable(table: str, names: tuple[str, ...]) -> tuple[int, ...]:
    """Positions of the nullable columns among `names` of `table`."""
    columns = t.metadata.tables[table].c
    return tuple(i for i, name in enumerate(names) if columns[name].nullable)


__all__ = ["SQLiteStore"]
