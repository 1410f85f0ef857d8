"""The database schema: one SQLAlchemy Core MetaData for SQLite and PostgreSQL.

Entries and lines are append-only (the stores' triggers refuse UPDATE and DELETE). A batch
writes only its entries, lines and batch record. Balances are a checkpoint plus deltas, and
the lines are the deltas: ``period_balances`` holds every account's turnover per month for
the batches up to ``ledger_state.checkpoint_batch`` (folded in by a checkpoint), and a read
adds what the later batches' lines say, so every read is exact. What is not in the batch
chain (the catalog, the monthly sums, the snapshot, the batch records' times) is bound to it
by ``seals``, also append-only; ``ledger_state`` is checked against both. Every large table carries
the book, so it can be partitioned by book (or region) later. Dates are int32 day numbers
since 1970-01-01, as in the columns.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

# Bumped whenever a table changes; a database of another version is refused (no silent upgrade).
SCHEMA_VERSION = 5

metadata = MetaData()

ledger_state = Table(
    "ledger_state",
    metadata,
    Column("id", Integer, primary_key=True),  # always 1
    Column("schema_version", Integer, nullable=False),
    # Bumped by every committed change; a process whose cached value differs reloads.
    Column("commit_seq", BigInteger, nullable=False),
    Column("last_batch", BigInteger, nullable=False),
    Column("last_hash", LargeBinary, nullable=False),
    Column("checkpoint_batch", BigInteger, nullable=False),
)

groups = Table(
    "groups",
    metadata,
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("key", String(128), nullable=False, unique=True),
    Column("scale", SmallInteger, nullable=False),
)

books = Table(
    "books",
    metadata,
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("key", String(128), nullable=False, unique=True),
    Column("name", Text),
)

accounts = Table(
    "accounts",
    metadata,
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("key", String(128), nullable=False, unique=True),
    Column("book", Integer, nullable=False),
    Column("group", Integer, nullable=False),
    Column("code", String(32), nullable=False),
    Column("normal", String(6), nullable=False),
    Column("subledger", String(128)),
    Column("flags", Integer, nullable=False),
    Column("name", Text),
)

period_balances = Table(
    "period_balances",
    metadata,
    Column("account", Integer, primary_key=True, autoincrement=False),
    Column("period", Integer, primary_key=True, autoincrement=False),  # year * 100 + month
    Column("book", Integer, nullable=False),
    Column("debits_posted", BigInteger, nullable=False),
    Column("credits_posted", BigInteger, nullable=False),
    Column("debits_pending", BigInteger, nullable=False),
    Column("credits_pending", BigInteger, nullable=False),
)

entries = Table(
    "entries",
    metadata,
    Column("key", BigInteger, primary_key=True, autoincrement=False),
    Column("batch", BigInteger, nullable=False),
    Column("seq", Integer, nullable=False),  # position among the batch's accepted entries
    Column("book", Integer, nullable=False),
    Column("date", Integer, nullable=False),
    Column("flags", SmallInteger, nullable=False),
    # The pending entry a post/void resolves, and the uint64 hash of kind/reference (as
    # int64); NULL stands for 0, which is what nearly every entry has.
    Column("pending", BigInteger),
    Column("extra", BigInteger),
    Column("fingerprint", BigInteger, nullable=False),  # uint64, as int64
    Column("lines", Integer, nullable=False),
    Index("entries_batch", "batch", postgresql_using="brin"),
    sqlite_with_rowid=False,
)

entry_texts = Table(
    "entry_texts",
    metadata,
    Column("entry", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", Text),
    Column("reference", Text),
)

# Append-only in batch order. On SQLite the rows are clustered by (batch, entry, line)
# (SQLiteStore.custom_table_ddl). On PostgreSQL this is a view of the same rows and columns:
# each entry row carries its lines as arrays (PostgresStore.custom_table_ddl).
lines = Table(
    "lines",
    metadata,
    Column("batch", BigInteger, nullable=False),
    Column("entry", BigInteger, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("line", Integer, nullable=False),
    Column("book", Integer, nullable=False),
    Column("account", Integer, nullable=False),
    # Dimension codes; NULL stands for 0 (a line without codes stores no bytes for them).
    Column("dim1", Integer),
    Column("dim2", Integer),
    Column("dim3", Integer),
    Column("dim4", Integer),
)

# The lines of pending entries once more, keyed by entry: what a post or void resolves is
# read from here, never by searching the lines table. Written in the same transaction as the
# lines themselves; verify checks that both agree.
pending_lines = Table(
    "pending_lines",
    metadata,
    Column("entry", BigInteger, primary_key=True, autoincrement=False),
    Column("line", Integer, primary_key=True, autoincrement=False),
    Column("account", Integer, nullable=False),
    Column("amount", BigInteger, nullable=False),
)

batches = Table(
    "batches",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("entries", Integer, nullable=False),
    Column("lines", BigInteger, nullable=False),
    Column("prev_hash", LargeBinary, nullable=False),
    Column("hash", LargeBinary, nullable=False),
    # The SHA-256 of the batch's entries, lines and texts (ledger.chain.batch_parts): the
    # hash covers them, and verify compares them to name the table an edit is in.
    Column("parts", LargeBinary, nullable=False),
    Column("created_at", BigInteger, nullable=False),  # unix microseconds
)

# The organisation tree (region → department → unit → book, or any other): each node has at
# most one parent (an earlier node) and may place one book (a book is placed at most once).
# A node's chart code layout ("4-2-2-2-2") holds for the books at and below it, down to a
# node that sets another (ledger.trees; NULL: the parent's, at the root the default).
nodes = Table(
    "nodes",
    metadata,
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("key", String(128), nullable=False, unique=True),
    Column("parent", Integer),
    Column("book", Integer, unique=True),
    Column("name", Text),
    Column("layout", String(64)),
)

periods = Table(
    "periods",
    metadata,
    Column("book", Integer, primary_key=True, autoincrement=False),
    Column("period", Integer, primary_key=True, autoincrement=False),  # year * 100 + month
    Column("closed", Boolean, nullable=False),
    Column("closed_at", BigInteger),
)

# The engine's arrays as of a checkpoint (see ledger.snapshot): a cache that makes opening a
# read; the tables above stay the truth. Part 0 of "header" is the JSON header.
snapshots = Table(
    "snapshots",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("part", Integer, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
)

# What binds everything outside the batch chain to it (see ledger.chain): one seal per catalog
# write (kind groups, books, accounts, nodes, periods) and per checkpoint (kind checkpoint), each
# chained to the previous seal and naming the chain head (batch, batch_hash) it was made at.
# A catalog seal covers the rows it added: idx row_start .. row_start + row_count - 1,
# content = their SHA-256 (chain.table_hash); periods, which have no idx, are covered whole:
# row_count = the table's rows, digest = chain.rows_digest of them. A checkpoint seal covers
# what the checkpoint left: batch = the checkpoint batch, row_count and digest =
# period_balances' rows and digest, content = the SHA-256 of the snapshot (empty: none),
# records = the SHA-256 of the batch records row_start .. batch (chain.records_hash).
seals = Table(
    "seals",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(16), nullable=False),
    Column("batch", BigInteger, nullable=False),
    Column("batch_hash", LargeBinary, nullable=False),
    Column("row_start", BigInteger, nullable=False),
    Column("row_count", BigInteger, nullable=False),
    Column("digest", BigInteger, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("records", LargeBinary, nullable=False),
    Column("created_at", BigInteger, nullable=False),  # unix microseconds
    Column("prev_hash", LargeBinary, nullable=False),
    Column("hash", LargeBinary, nullable=False),
    Index("seals_kind", "kind", "id"),
)

# The entries columns every store writes (PostgreSQL adds its lines' arrays).
ENTRY_COLUMNS = ("key", "batch", "seq", "book", "date", "flags", "pending", "extra", "fingerprint", "lines")

IMMUTABLE_TABLES = ("entries", "lines", "pending_lines", "entry_texts", "batches", "seals")
CATALOG_TABLES = ("groups", "books", "accounts", "nodes", "periods")

__all__ = [
    "CATALOG_TABLES",
    "IMMUTABLE_TABLES",
    "ENTRY_COLUMNS",
    "SCHEMA_VERSION",
    "accounts",
    "batches",
    "books",
    "entries",
    "entry_texts",
    "groups",
    "ledger_state",
    "lines",
    "metadata",
    "nodes",
    "pending_lines",
    "period_balances",
    "periods",
    "seals",
    "snapshots",
]
