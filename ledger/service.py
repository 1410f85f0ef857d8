"""The service layer: `Ledger`, what callers embed.

A Ledger maps caller keys (strings for groups, books and accounts; int64 ids for entries)
onto the engine's dense indices, converts Decimals to int64 minor units at each group's
scale, and returns one result per item. Every call checks all of its input before it changes
anything, so a call that raises has changed nothing — except CommitUnknown (see ledger.errors).

Every ledger has a store (`ledger.open()` without a URL: SQLite in memory). A write is one
transaction under the ledger's writer lock: make the in-memory state current with the
store (another process may have committed), run the kernel, write what it accepted, commit,
and only then count the new state as published. A post of a few entries, when this process
knows the store's head, runs the kernel first and commits in one transaction that checks
the head under the lock instead of reading it (Replica.post_small); when the head has moved,
it writes nothing and the post goes the ordinary way. If anything fails before the commit, the
in-memory state is taken back to the last commit (see ledger.replica); if the COMMIT itself
fails, its outcome is read back after reconnecting: committed, the call returns its results;
not committed, StoreError; impossible to tell, CommitUnknown (retry with the same keys).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import ValidationError
from sqlalchemy import Connection

from ledger import limits
from ledger.catalog import Catalog
from ledger.chain import entry_extra_hash
from ledger.codes import Code
from ledger.columns import (
    ACCOUNT_NORMAL_CREDIT,
    ENTRY_PENDING,
    ENTRY_POST_PENDING,
    ENTRY_VOID_PENDING,
)
from ledger.errors import CommitUnknown, InvalidInput, LimitExceeded, NotFound
from ledger.journal import SMALL_ENTRIES, batch_rows, entry_books, fold_parts, line_rows, small_rows
from ledger.money import to_decimal_amount
from ledger.periods import days, period_keys, period_number, periods_of
from ledger.posting import Batch, Engine, make_batch
from ledger.records import (
    BOOK_UNKNOWN,
    Text,
    account_columns,
    entry_texts,
    existing_code,
    index_in,
    record_batch,
    repeated,
    results,
    row_values,
    validated,
)
from ledger.replica import Replica
from ledger.rollups import (
    Names,
    Rollups,
    TrialBalance,
    dimension_rollup,
    month_days,
    month_label,
    months_between,
    period_range,
    require_node,
    rollup_by,
    scope_of,
    trial_balance,
)
from ledger.schemas import Account, Balance, Book, Entry, Group, Line, Node, Result, account_flags, flag_bits
from ledger.store import Store, open_store
from ledger.store import tables as t
from ledger.verify import Finding, first_finding

log = logging.getLogger("ledger")


class Ledger:
    """A double-entry ledger. Use `ledger.open()`; close it (or use `with`) when done."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._closed = False
        self._rollup_data: Rollups | None = None
        self._replica = Replica(store)
        with store.reader() as conn:
            self._replica.sync(conn)

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self._store.url

    def close(self) -> None:
        """Checkpoint what this ledger changed (so the next open is a read), then release the store.

        A checkpoint whose COMMIT outcome is unknown is logged, not raised: committed or not,
        every read stays exact and the next checkpoint folds whatever this one did not.
        """
        if not self._closed:
            try:
                if self._replica.dirty and self._store.durable:
                    self.checkpoint()
            except CommitUnknown as error:
                log.warning("ledger %s: the checkpoint at close may not have been saved: %s", self.url, error)
            finally:
                self._closed = True
                self._store.dispose()

    def checkpoint(self) -> int:
        """Fold the batches posted since the last checkpoint into the monthly balances and
        save the engine's state, so that the next open reads it instead of recomputing it.

        Reads are exact either way; a checkpoint only makes them (and opening) cheaper.
        Returns the number of batches folded.
        """
        self._check_open()
        return self._replica.checkpoint()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise InvalidInput("this ledger is closed")

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        """The writer transaction of a use case (see Replica.writer)."""
        self._check_open()
        with self._replica.writer() as conn:
            yield conn

    def _read(self) -> None:
        """Make the memory current before a read (cheap when nothing changed)."""
        self._check_open()
        self._replica.refresh()

    @property
    def _catalog(self) -> Catalog:
        return self._replica.catalog

    @property
    def _engine(self) -> Engine:
        return self._replica.engine

    # --- groups, books, accounts -------------------------------------------------------------

    def create_groups(self, groups: Iterable[Group | Mapping[str, Any]]) -> list[Result]:
        """Create balance groups; one result per item (ok, exists, exists_with_different_fields)."""
        models = validated(Group, groups, "groups")
        with self._write() as conn:
            catalog = self._catalog
            if len(catalog.group_keys) + len(models) > limits.groups_max:
                raise LimitExceeded(f"more than {limits.groups_max} balance groups")
            results, rows = [], []
            for group in models:
                index = catalog.groups.get(group.key)
                if index is not None:
                    results.append(Result(group.key, existing_code(catalog.group_model(index), group)))
                    continue
                index = catalog.add_group(group)
                rows.append({"idx": index, "key": group.key, "scale": group.scale})
                results.append(Result(group.key, Code.ok))
            self._commit_catalog(conn, t.groups, rows)
            self._engine.groups_count = max(1, len(catalog.group_keys))
        return results

    def create_books(self, books: Iterable[Book | Mapping[str, Any]]) -> list[Result]:
        """Create books; one result per item (ok, exists, exists_with_different_fields)."""
        models = validated(Book, books, "books")
        with self._write() as conn:
            catalog = self._catalog
            results, rows = [], []
            for book in models:
                index = catalog.books.get(book.key)
                if index is not None:
                    results.append(Result(book.key, existing_code(catalog.book_model(index), book)))
                    continue
                index = catalog.add_book(book)
                rows.append({"idx": index, "key": book.key, "name": book.name})
                results.append(Result(book.key, Code.ok))
            self._commit_catalog(conn, t.books, rows)
        return results

    def create_nodes(self, nodes: Iterable[Node | Mapping[str, Any]]) -> list[Result]:
        """Create organisation nodes in order (a parent before its children, in the same call
        or an earlier one); a node with `book` places that book. One result per node: ok,
        exists, exists_with_different_fields, parent_not_found, book_not_found, book_placed."""
        models = validated(Node, nodes, "nodes")
        with self._write() as conn:
            stored = self._store.node_rows(conn).to_pylist()
            index = {row["key"]: row["idx"] for row in stored}
            placed = {row["book"] for row in stored if row["book"] is not None}
            books = self._catalog.books
            results, rows = [], []
            offered: dict[str, Node] = {}  # the nodes this call created, as given
            for node in models:
                if node.key in index:
                    known = stored[index[node.key]] if index[node.key] < len(stored) else None
                    earlier = offered.get(node.key) or (self._node_model(known, stored) if known else None)
                    same = earlier is not None and node == earlier
                    results.append(
                        Result(node.key, Code.exists if same else Code.exists_with_different_fields)
                    )
                    continue
                parent = index.get(node.parent) if node.parent is not None else None
                book = books.get(node.book) if node.book is not None else None
                if node.parent is not None and parent is None:
                    code = Code.parent_not_found
                elif node.book is not None and book is None:
                    code = Code.book_not_found
                elif book is not None and book in placed:
                    code = Code.book_placed
                else:
                    code = Code.ok
                    row = {"idx": len(index), "key": node.key, "parent": parent, "book": book}
                    rows.append({**row, "name": node.name, "layout": node.layout})
                    index[node.key] = row["idx"]
                    offered[node.key] = node
                    if book is not None:
                        placed.add(book)
                results.append(Result(node.key, code))
            self._commit_catalog(conn, t.nodes, rows)
        return results

    def nodes_table(self) -> pa.Table:
        """The organisation tree's nodes by index: idx, key, parent (idx), book (key), name, layout."""
        self._check_open()
        with self._store.reader() as conn:
            rows = self._store.node_rows(conn)
        book_keys = self._catalog.book_keys
        books = [None if b is None else book_keys[b] for b in rows.column("book").to_pylist()]
        return rows.set_column(rows.schema.get_field_index("book"), "book", pa.array(books, pa.string()))

    def _node_model(self, row: Mapping[str, Any], stored: list[dict[str, Any]]) -> Node:
        parent = stored[row["parent"]]["key"] if row["parent"] is not None else None
        book = self._catalog.book_keys[row["book"]] if row["book"] is not None else None
        return Node(key=row["key"], parent=parent, book=book, name=row["name"], layout=row["layout"])

    def create_accounts(self, accounts: Iterable[Account | Mapping[str, Any]]) -> list[Result]:
        """Create accounts with zero balances; one result per item.

        Codes: ok, exists, exists_with_different_fields, book_not_found, group_not_found (in
        that order of precedence, as on the bulk path, which does the work).
        """
        models = validated(Account, accounts, "accounts")
        table = account_columns(
            [a.key for a in models],
            [a.book for a in models],
            [a.group for a in models],
            [a.code for a in models],
            [a.normal for a in models],
            np.fromiter((flag_bits(a.flags) for a in models), np.int64, len(models)),
            [a.subledger for a in models],
            [a.name for a in models],
        )
        codes = self._create_account_table(table)
        return results([a.key for a in models], codes)

    def create_accounts_columns(
        self,
        keys: object,
        books: object,
        groups: object,
        codes: object,
        *,
        normals: object = None,
        flags: object = None,
        subledgers: object = None,
        names: object = None,
    ) -> np.ndarray:
        """The bulk path of create_accounts: columns of strings in, one uint8 code per row out.

        `books` and `groups` are keys; `normals` "debit"/"credit" (default debit); `flags` the
        constraint/closed bits of ledger.columns.ACCOUNT_* (default 0). Codes: exists and
        exists_with_different_fields for a key that is taken (also by an earlier row of the
        same call that was created), then invalid for a malformed key or code, an unknown
        normal side, unknown flag bits or both constraints, then book_not_found, then
        group_not_found.
        """
        return self._create_account_table(
            account_columns(keys, books, groups, codes, normals, flags, subledgers, names)
        )

    def _create_account_table(self, table: pa.Table) -> np.ndarray:
        """Create the accounts of account_columns' table: vectorised checks; only keys taken
        already (or repeated within the call) are looked at one by one."""
        n = table.num_rows
        with self._write() as conn:
            catalog = self._catalog
            if len(catalog.account_keys) + n > limits.accounts_max:
                raise LimitExceeded(f"more than {limits.accounts_max} accounts")
            result = np.zeros(n, np.uint8)
            result[~table.column("valid").to_numpy(zero_copy_only=False)] = Code.invalid
            book_index = index_in(table.column("book"), catalog.book_keys)
            group_index = index_in(table.column("group"), catalog.group_keys)
            result[(result == 0) & (book_index < 0)] = Code.book_not_found
            result[(result == 0) & (group_index < 0)] = Code.group_not_found
            existing = index_in(table.column("key"), catalog.account_keys.array())
            again = repeated(table.column("key"))
            for row in np.flatnonzero(existing >= 0).tolist():
                result[row] = self._bulk_exists(table, row, int(existing[row]))
            later = np.flatnonzero(again & (existing < 0))
            fresh = (result == 0) & ~again
            created: dict[str, int] = {}  # key -> row, of the rows created in this call
            if len(later):
                first_rows = np.flatnonzero(fresh)
                keys = table.column("key").take(pa.array(first_rows)).to_pylist()
                created = dict(zip(keys, first_rows.tolist(), strict=True))
            for row in later.tolist():
                key = table.column("key")[row].as_py()
                if key in created:
                    result[row] = existing_code(row_values(table, created[key]), row_values(table, row))
                elif result[row] == 0:
                    created[key] = row
                    fresh[row] = True
            fresh_rows = np.flatnonzero(fresh)
            if len(fresh_rows):
                self._insert_accounts(conn, table, fresh_rows, book_index, group_index)
        return result

    def _insert_accounts(
        self,
        conn: Connection,
        table: pa.Table,
        rows: np.ndarray,
        book_index: np.ndarray,
        group_index: np.ndarray,
    ) -> None:
        catalog = self._catalog
        bits = table.column("flags").to_numpy()[rows].astype(np.uint32)
        credit = pc.equal(table.column("normal"), "credit").to_numpy(zero_copy_only=False)[rows]
        bits |= np.where(credit, ACCOUNT_NORMAL_CREDIT, 0).astype(np.uint32)
        self._engine.add_accounts(book_index[rows], group_index[rows], bits)
        start = len(catalog.account_keys)
        if len(rows) < table.num_rows:
            table = table.take(pa.array(rows))
        new = pa.table(
            {
                "idx": pa.array(np.arange(start, start + len(rows), dtype=np.int32)),
                "key": table.column("key"),
                "book": pa.array(book_index[rows].astype(np.int32)),
                "group": pa.array(group_index[rows].astype(np.int32)),
                "code": table.column("code"),
                "normal": table.column("normal"),
                "subledger": table.column("subledger"),
                "flags": pa.array(bits.astype(np.int64)),
                "name": table.column("name"),
            }
        )
        catalog.add_account_table(new)
        self._store.insert_table(conn, "accounts", new)
        self._replica.committed(self._store.bump(conn))

    def _bulk_exists(self, table: pa.Table, row: int, existing: int) -> Code:
        """exists / exists_with_different_fields of one row whose key an account has."""
        values = row_values(table, row)
        try:
            candidate = Account(
                key=values["key"],
                book=values["book"],
                group=values["group"],
                code=values["code"],
                normal=values["normal"],
                subledger=values["subledger"],
                flags=account_flags(values["flags"]),
                name=values["name"],
            )
        except ValidationError:
            return Code.exists_with_different_fields
        return existing_code(self._catalog.account_model(existing), candidate)

    def _commit_catalog(self, conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
        if rows:
            self._store.insert_rows(conn, table, rows)
            self._replica.committed(self._store.bump(conn))

    # --- posting -----------------------------------------------------------------------------

    def account_index(self, keys: Iterable[str]) -> np.ndarray:
        """Dense int64 indices of account keys (-1 for a key that does not exist)."""
        if isinstance(keys, str):
            raise InvalidInput("account_index takes an iterable of account keys, not one string")
        self._read()
        return self._catalog.accounts.lookup(keys)

    def book_index(self, keys: Iterable[str]) -> np.ndarray:
        """Dense int32 indices of book keys (-2, read as book_not_found, for unknown keys)."""
        if isinstance(keys, str):
            raise InvalidInput("book_index takes an iterable of book keys, not one string")
        self._read()
        books = self._catalog.books
        return np.fromiter((books.get(key, BOOK_UNKNOWN) for key in keys), np.int32)

    def account_scales(self, indices: object) -> np.ndarray:
        """The decimal scale (int8) of each account index's balance group; -1 where unknown."""
        self._read()
        index = np.asarray(indices, dtype=np.int64)
        known = (index >= 0) & (index < self._engine.accounts_count)
        out = np.full(index.shape, -1, np.int8)
        out[known] = self._catalog.scales()[self._engine.rows["group"][index[known]]]
        return out

    def reserve(self, entries: int) -> None:
        """Make room for `entries` more entries now, so that posting them never stops to grow
        the entry-key table (a bulk loader that knows its volume calls this first)."""
        if isinstance(entries, bool) or not isinstance(entries, int) or entries < 0:
            raise InvalidInput(f"reserve: expected a count of entries, got {entries!r}")
        if entries > limits.entries_reserve_max:
            raise LimitExceeded(f"reserve: at most {limits.entries_reserve_max} entries at a time")
        self._read()
        self._engine.reserve(entries)

    def post(self, entries: Iterable[Entry | Mapping[str, Any]]) -> list[Result]:
        """Post entries in order; one result per entry (see ledger.Code)."""
        models = validated(Entry, entries, "entries")
        if len(models) > limits.batch_entries_max:
            raise LimitExceeded(
                f"{len(models)} entries in one batch; the limit is {limits.batch_entries_max}"
            )
        if not models:
            return []
        texts = {
            position: (e.key, e.kind, e.reference)
            for position, e in enumerate(models)
            if e.kind is not None or e.reference is not None
        }
        if self._small_way(len(models)):
            batch = record_batch(models, self._catalog, self._engine.rows["group"])
            codes = self._post_small(batch, texts)
            if codes is not None:
                return results([entry.key for entry in models], codes)
        with self._write() as conn:
            batch = record_batch(models, self._catalog, self._engine.rows["group"])
            codes = self._post(conn, batch, texts)
        return results([entry.key for entry in models], codes)

    def post_columns(
        self,
        keys: object,
        offsets: object,
        accounts: object,
        amounts: object,
        *,
        flags: object = None,
        dates: object = None,
        pending: object = None,
        books: object = None,
        dims: object = None,
        extra: object = None,
        kinds: object = None,
        references: object = None,
    ) -> np.ndarray:
        """The bulk path: columns in, one uint8 code per entry out (values of ledger.Code).

        `offsets` (n + 1) delimit each entry's lines in `accounts` (indices from
        account_index) and `amounts` (int64 minor units, debit > 0). `flags` are entry flag
        bits (ledger.columns.ENTRY_*), `dates` days since 1970-01-01 or datetime64 (default
        today), `pending` the key of the pending entry a post/void resolves (0 for none).
        Optional: `books` (int32 from book_index; default each entry's first line's book),
        `dims` (int32, lines x 4), and `kinds` / `references` (one str or None per entry; the
        store keeps them) or only their hash `extra` (uint64, entry_extra_hash(kind, reference)).
        """
        self._check_open()
        texts = entry_texts(keys, kinds, references)
        if texts and extra is None:
            hashes = np.zeros(len(np.asarray(keys)), np.uint64)
            for position, (_, kind, reference) in texts.items():
                hashes[position] = entry_extra_hash(kind, reference)
            extra = hashes
        batch = make_batch(
            keys, offsets, accounts, amounts,
            flags=flags, dates=dates, pending=pending, books=books, dims=dims, extra=extra,
        )  # fmt: skip
        if self._small_way(batch.entries_count):
            codes = self._post_small(batch, texts)
            if codes is not None:
                return codes
        with self._write() as conn:
            return self._post(conn, batch, texts)

    def _small_way(self, entries: int) -> bool:
        """Whether a post of `entries` entries tries one transaction that reads nothing first:
        a few entries, and a store whose head this process knows, as its memory does."""
        self._check_open()
        head = self._store.known_head
        return entries <= SMALL_ENTRIES and head is not None and head[0] == self._replica.seq

    def _post_small(self, batch: Batch, texts: dict[int, Text]) -> np.ndarray | None:
        """A few ordinary entries in one transaction that reads nothing first, when this
        process knows the head of the store (Replica.post_small); None when the call takes
        the ordinary way instead (nothing changed)."""
        if self._replica.closed_periods:
            batch = self._with_closed_periods(batch)
        return self._replica.post_small(batch, list(texts.values()))

    def _post(
        self, conn: Connection, batch: Batch, texts: dict[int, tuple[int, str | None, str | None]]
    ) -> np.ndarray:
        """Kernel, then the accepted rows and the chain link, in the writer transaction.

        `texts` maps an entry's position in the batch to its (key, kind, reference).
        """
        if self._replica.closed_periods:
            batch = self._with_closed_periods(batch)
        codes = self._replica.post(batch)
        if not self._store.durable:
            return self._keep(conn, batch, codes, texts)
        last_batch, last_hash = self._store.chain_head(conn)
        accepted_texts = [text for position, text in texts.items() if codes[position] == 0]
        small = small_rows(self._engine, batch, codes, last_batch + 1, last_hash, accepted_texts)
        if small is not None:  # a voucher at a time: Python rows, one statement per table
            self._store.write_small(conn, small)
            seq = self._store.bump(conn, batch=small.batch_id, hash=small.hash)
            self._replica.wrote(seq, small.batch_id, small.hash, small.fold)
            return codes
        books = entry_books(self._engine, batch)
        lines = line_rows(batch, codes, books, last_batch + 1)
        if lines is None:
            return codes
        self._store.write_lines(conn, lines)
        rows = batch_rows(self._engine, batch, codes, books, lines, last_hash, accepted_texts)
        fold = fold_parts(self._engine, batch, codes)
        self._store.write_batch(conn, rows)
        seq = self._store.bump(conn, batch=rows.batch_id, hash=rows.hash)
        self._replica.wrote(seq, rows.batch_id, rows.hash, fold)
        return codes

    def _keep(self, conn: Connection, batch: Batch, codes: np.ndarray, texts: dict[int, Text]) -> np.ndarray:
        """The in-memory store keeps the accepted columns; it derives the rest when asked."""
        accepted_texts = [text for position, text in texts.items() if codes[position] == 0] if texts else []
        engine = self._engine
        batch_id = self._store.append_batch(
            conn, batch, codes, lambda: entry_books(engine, batch), accepted_texts
        )
        if batch_id is not None:
            self._replica.committed(self._store.bump(conn), batch_id)
            self._replica.fold_complete = False  # the store folds its own chunks at a checkpoint
        return codes

    def _with_closed_periods(self, batch: Batch) -> Batch:
        books = entry_books(self._engine, batch).astype(np.int64)
        keys = period_keys(books, periods_of(batch.dates))
        closed = period_keys(*np.array(sorted(self._replica.closed_periods), np.int64).reshape(-1, 2).T)
        flags = np.isin(keys, closed) & (books >= 0)
        return Batch(
            **{
                **{f: getattr(batch, f) for f in batch.__dataclass_fields__},
                "period_closed": flags.astype(np.uint8),
            }
        )

    def reverse(self, entry: int, new_key: int, date: dt.date) -> Result:
        """Post the reversal of a posted entry: the same lines with debit and credit swapped.

        Reverses an ordinary entry or the posting of a pending one (post_pending); a pending
        entry is voided instead, and a void has nothing to reverse.
        """
        self._check_open()
        store = self._store
        with store.reader() as conn:
            row = store.find_entry(conn, entry)
            if row is None:
                raise NotFound(f"entry {entry} was not posted")
            flags = row["flags"]
            if flags & ENTRY_PENDING:
                raise InvalidInput(
                    f"entry {entry} is pending: void it (void_pending) instead of reversing it"
                )
            if flags & ENTRY_VOID_PENDING:
                raise InvalidInput(f"entry {entry} voids a pending entry; there is nothing to reverse")
            source = row
            if flags & ENTRY_POST_PENDING:
                found = store.find_entry(conn, row["pending"])
                if found is None:
                    raise NotFound(f"entry {entry} posts pending entry {row['pending']}, which is missing")
                source = found
            lines = store.entry_lines(conn, source["batch"], source["key"])
        self._read()
        catalog = self._catalog
        scales = catalog.scales()
        groups = self._engine.rows["group"]
        reversal = Entry(
            key=new_key,
            book=catalog.book_keys[row["book"]],
            date=date,
            kind="reversal",
            reference=f"reverses {entry}",
            lines=tuple(
                Line(
                    account=catalog.account_keys[account],
                    **{
                        "credit" if amount > 0 else "debit": to_decimal_amount(
                            abs(amount), int(scales[groups[account]])
                        )
                    },
                    dims=dims,
                )
                for account, amount, dims in lines
            ),
        )
        return self.post([reversal])[0]

    # --- periods -----------------------------------------------------------------------------

    def close_period(self, book: str, period: str | dt.date | int) -> None:
        """Close a book's month: entries dated in it are refused with period_closed."""
        number = period_number(period)
        with self._write() as conn:
            index = self._catalog.books.get(book)
            if index is None:
                raise NotFound(f"book {book!r} does not exist")
            if (index, number) in self._replica.closed_periods:
                return
            self._store.insert_rows(conn, t.periods, [{"book": index, "period": number, "closed": True}])
            self._replica.closed_periods = self._replica.closed_periods | {(index, number)}
            self._replica.seq = self._store.bump(conn)

    def closed_periods(self, book: str) -> list[str]:
        """The closed months of a book, as YYYY-MM."""
        self._read()
        index = self._catalog.books.get(book)
        if index is None:
            raise NotFound(f"book {book!r} does not exist")
        return [
            f"{p // 100:04d}-{p % 100:02d}" for b, p in sorted(self._replica.closed_periods) if b == index
        ]

    # --- reading -----------------------------------------------------------------------------

    def balance(self, account: str, as_of: dt.date | None = None) -> Balance:
        """One account's balance as Decimals at its group's scale.

        With `as_of`, the balance at the end of that day by accounting date: entries dated on
        or before it, a pending entry counted as posted from the date of the entry that
        posted it (and released from the date of the one that voided it).
        """
        self._read()
        index = self._catalog.accounts.get(account)
        if index is None:
            raise NotFound(f"account {account!r} does not exist")
        if as_of is None:
            row = self._engine.rows[index]
            values = [
                int(row[f]) for f in ("debits_posted", "credits_posted", "debits_pending", "credits_pending")
            ]
        else:
            values = self._balance_as_of(index, as_of)
        scale = int(self._catalog.scales()[self._engine.rows["group"][index]])
        model = self._catalog.account_model(index)
        dp, cp, dq, cq = values
        net = cp - dp if model.normal == "credit" else dp - cp
        return Balance(
            account=account,
            debits_posted=to_decimal_amount(dp, scale),
            credits_posted=to_decimal_amount(cp, scale),
            debits_pending=to_decimal_amount(dq, scale),
            credits_pending=to_decimal_amount(cq, scale),
            net=to_decimal_amount(net, scale),
        )

    def _balance_as_of(self, index: int, as_of: dt.date) -> list[int]:
        if not isinstance(as_of, dt.date) or isinstance(as_of, dt.datetime):
            raise InvalidInput(f"as_of {as_of!r}: expected a date")
        period = as_of.year * 100 + as_of.month
        first = days(as_of.replace(day=1))
        last = days(as_of)
        with self._store.reader() as conn:
            return self._store.balance_as_of(conn, index, period, first, last)

    def accounts_table(self) -> pa.Table:
        """Every account by index: its key, its book's and group's keys, and its normal side."""
        self._read()
        catalog, rows = self._catalog, self._engine.rows
        return pa.table(
            {
                "key": catalog.account_keys.array(),
                "book": pa.array(catalog.book_keys, pa.string()).take(pa.array(rows["book"])),
                "group": pa.array(catalog.group_keys, pa.string()).take(pa.array(rows["group"])),
                "normal": pa.array(np.where(rows["flags"] & ACCOUNT_NORMAL_CREDIT, "credit", "debit")),
            }
        )

    def balances(self) -> dict[str, np.ndarray]:
        """All balances as int64 minor-unit columns: account index and the four balances."""
        self._read()
        return self._engine.balances()

    def period_balances(self, account: str) -> list[tuple[str, Any, Any]]:
        """(YYYY-MM, debit turnover, credit turnover) of an account's posted amounts, by month."""
        self._read()
        index = self._catalog.accounts.get(account)
        if index is None:
            raise NotFound(f"account {account!r} does not exist")
        scale = int(self._catalog.scales()[self._engine.rows["group"][index]])
        with self._store.reader() as conn:
            turnover = self._store.period_turnover(conn, index)
        return [
            (f"{p // 100:04d}-{p % 100:02d}", to_decimal_amount(dr, scale), to_decimal_amount(cr, scale))
            for p, dr, cr in turnover
        ]

    # --- tables of a domain built on the ledger ------------------------------------------------

    def insert_rows(self, table: Any, rows: pa.Table) -> None:
        """Append rows to a table of a domain built on the ledger (a SQLAlchemy Core table of
        its own MetaData, e.g. ledger.fiscal.tables), created on first use, in one writer
        transaction. Columns are named like the table's; the first is a dense idx."""
        with self._write() as conn:
            self._store.ensure_tables(conn, [table])
            self._store.insert_domain(conn, table.name, rows)

    def count_rows(self, table: Any) -> int:
        """How many rows a domain table has."""
        self._check_open()
        with self._store.reader() as conn:
            return self._store.domain_count(conn, table)

    def read_rows(self, table: Any, start: int = 0) -> pa.Table:
        """A domain table's rows from idx `start` on, in idx order (empty before its first row)."""
        self._check_open()
        with self._store.reader() as conn:
            return self._store.read_domain(conn, table, start=start)

    # --- rollups and trial balances -----------------------------------------------------------

    def trial_balance(
        self,
        *,
        book: str | None = None,
        node: str | None = None,
        period: str | int,
        to: str | int | None = None,
        depth: int | None = None,
        levels: str | None = None,
    ) -> TrialBalance:
        """The trial balance (试算平衡表) of one book, or of the books at and below an
        organisation node taken together, for a month or a year ("2026-03", "2026") or a
        range up to `to`: one row per chart node down to `depth` and balance group, with
        opening balance, debit and credit turnover and closing balance (int64 minor units at
        the group's `scale`), and the totals per group with the check that debits equal
        credits. The chart comes from the account codes under `levels` (default: the book's
        layout, see Node; 4-2-2-2-2)."""
        if (book is None) == (node is None):
            raise InvalidInput("trial_balance: name a book or an organisation node (one of them)")
        first, last = period_range(period, to)
        with self._rollups() as (rollups, rows, names, _):
            if book is not None:
                index = self._catalog.books.get(book)
                if index is None:
                    raise NotFound(f"book {book!r} does not exist")
                books = np.array([index], np.int64)
            else:
                assert node is not None
                books = scope_of(rollups, None, require_node(rollups, node), len(names.books))
            return trial_balance(rollups, rows, names, books, first, last, depth, levels)

    def trial_balances(
        self,
        *,
        period: str | int,
        to: str | int | None = None,
        depth: int | None = None,
        levels: str | None = None,
    ) -> TrialBalance:
        """The trial balance of every book at once (as trial_balance, with a `book` column
        first): what the nightly job reads."""
        first, last = period_range(period, to)
        with self._rollups() as (rollups, rows, names, _):
            return trial_balance(rollups, rows, names, None, first, last, depth, levels)

    def balances_at(self, period: str | int) -> dict[str, np.ndarray]:
        """Every account's posted debits and credits up to the end of a month ("2026-12") or
        a year ("2026": its December), as int64 minor-unit columns account, debits_posted,
        credits_posted, from the monthly sums (as the trial balances)."""
        _, last = period_range(period)
        with self._rollups() as (rollups, rows, _, _):
            accounts, figures = rollups.account_figures(rows, None, last, last)
        return {"account": accounts, "debits_posted": figures[:, 0], "credits_posted": figures[:, 1]}

    def rollup(
        self,
        by: str,
        *,
        period: str | int,
        to: str | int | None = None,
        code: str | None = None,
        levels: str | None = None,
        each_month: bool = False,
    ) -> pa.Table:
        """Totals per `by` and balance group for a period range: `book`, `node` (every node
        of the organisation tree, each with the books below it), `subledger` (book and
        sub-ledger key: the project sub-ledgers), `code:N` (chart nodes of levels 1..N
        across all books, under `levels`) or `dim:K` (the code tree of line dimension K by
        its digits under `levels`, default 3-2-2: debit and credit turnover only, read from
        the lines of the range); of the accounts whose code starts with `code` (None: all).
        Columns: the key(s), group, level, the six FIGURES (int64 minor units) and scale;
        with `each_month`, one set of rows per month of the range, with a
        `period` column first."""
        first, last = period_range(period, to)
        dim = None
        if by.startswith("dim:"):
            dim = by.partition(":")[2]
            if not dim.isdigit() or not 1 <= int(dim) <= limits.dims_count:
                raise InvalidInput(f"rollup by {by!r}: expected dim:K with K in 1..{limits.dims_count}")
        with self._rollups() as (rollups, rows, names, conn):

            def one(first: int, last: int) -> pa.Table:
                if dim is None:
                    return rollup_by(rollups, rows, names, by, first, last, code, levels)
                lines = self._store.dimension_lines(conn, int(dim), *month_days(first, last))
                return dimension_rollup(rollups, rows, names, lines, code, levels)

            if not each_month:
                return one(first, last)
            parts = []
            for month in months_between(first, last):
                table = one(month, month)
                label = pa.array([month_label(month)] * table.num_rows, pa.string())
                parts.append(table.add_column(0, "period", label))
            return pa.concat_tables(parts)

    @contextlib.contextmanager
    def _rollups(self) -> Iterator[tuple[Rollups, np.ndarray, Names, Connection]]:
        """The rollups' sums and fields, current as of the engine's state, and the reader
        transaction they were read in (for anything else a rollup reads: one snapshot)."""
        self._check_open()
        if self._rollup_data is None:
            self._rollup_data = Rollups()
        with self._store.reader() as conn:
            self._replica.sync(conn)
            catalog = self._catalog
            self._rollup_data.refresh(
                self._store,
                conn,
                self._replica.last_batch,
                self._engine.accounts_count,
                len(catalog.book_keys),
            )
            names = Names(list(catalog.group_keys), catalog.scales(), list(catalog.book_keys))
            yield self._rollup_data, self._engine.rows, names, conn

    def verify(self) -> Finding | None:
        """Check every table against the hash chain and its seals (see ledger.verify): the
        first Finding (table, key, batch, message), or None when everything is intact."""
        self._check_open()
        with self._store.reader() as conn:
            return first_finding(self._store, conn)

    @property
    def accounts_count(self) -> int:
        self._read()
        return self._engine.accounts_count


def open(url: str | None = None) -> Ledger:
    """Open a ledger: `sqlite:///path.db` (embedded, WAL), `postgresql+psycopg://...`, or no
    URL for a new ledger in memory. A new database gets the schema; an existing one must
    have this version's schema (SchemaVersionError otherwise)."""
    return Ledger(open_store(url))


__all__ = ["Ledger", "open"]
