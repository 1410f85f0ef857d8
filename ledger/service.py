"""The service layer: `Ledger`, what callers embed.

A Ledger maps caller keys (strings for groups, books and accounts; int64 ids for entries)
onto the engine's dense indices, converts Decimals to int64 minor units at each group's
scale, and returns one result per item. Every call checks all of its input before it changes
anything, so a call that raises has changed nothing.

Every ledger has a store (`ledger.open()` without a URL: SQLite in memory). A write is one
transaction under the ledger's writer lock: make the in-memory state current with the
store (another process may have committed), run the kernel, write what it accepted, commit,
and only then count the new state as published. If anything fails before the commit, the
in-memory state is dropped and reloaded from the store, which is still at the last commit.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, select

from ledger import limits, snapshot
from ledger.catalog import Catalog
from ledger.chain import entry_extra_hash
from ledger.codes import Code
from ledger.columns import (
    ACCOUNT_CLOSED,
    ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS,
    ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS,
    ACCOUNT_NORMAL_CREDIT,
    ENTRY_PENDING,
    ENTRY_POST_PENDING,
    ENTRY_VOID_PENDING,
    PENDING_POSTED,
    PENDING_VOIDED,
)
from ledger.errors import AmountError, InvalidInput, LimitExceeded, NotFound
from ledger.journal import aggregate_folds, batch_rows, entry_books, fold_parts, line_rows
from ledger.money import to_decimal_amount, to_minor
from ledger.periods import days, period_keys, period_number, periods_of
from ledger.posting import Batch, Engine, make_batch
from ledger.schemas import Account, Balance, Book, Entry, Group, Line, Result, account_flags, flag_bits
from ledger.store import Store, open_store
from ledger.store import tables as t
from ledger.verify import Finding, first_finding

# Book index the kernel reads as "this entry names a book that does not exist".
_BOOK_UNKNOWN = -2

M = TypeVar("M", bound=BaseModel)
Text = tuple[int, str | None, str | None]  # an entry's (key, kind, reference)


def _validated(model: type[M], items: Iterable[M | Mapping[str, Any]], what: str) -> list[M]:
    """Every item as a `model`, or InvalidInput naming the first bad one (nothing applied)."""
    if isinstance(items, (str, bytes, BaseModel, Mapping)) or not isinstance(items, Iterable):
        raise InvalidInput(f"{what}: expected an iterable of {model.__name__}, got {type(items).__name__}")
    out: list[M] = []
    for position, item in enumerate(items):
        if isinstance(item, model):
            out.append(item)
        elif isinstance(item, Mapping):
            try:
                out.append(model.model_validate(item))
            except ValidationError as error:
                raise InvalidInput(f"{what}[{position}]: {error}") from None
        else:
            raise InvalidInput(
                f"{what}[{position}]: expected {model.__name__} or a mapping, got {type(item).__name__}"
            )
    return out


class Ledger:
    """A double-entry ledger. Use `ledger.open()`; close it (or use `with`) when done."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._closed = False
        self._catalog = Catalog()
        self._engine = Engine()
        self._seq = -1  # commit sequence the memory reflects; -1: nothing loaded
        self._last_batch = 0
        self._closed_periods: set[tuple[int, int]] = set()
        self._dirty = False  # this process changed the store since its last checkpoint
        # Monthly changes of this process's batches since the checkpoint `_fold_base`; a
        # checkpoint folds them when no other process posted in between (`_fold_complete`).
        self._fold_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._fold_base = 0
        self._fold_complete = False
        with store.reader() as conn:
            self._sync(conn)

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self._store.url

    def close(self) -> None:
        """Checkpoint what this ledger changed (so the next open is a read), then release the store."""
        if not self._closed:
            try:
                if self._dirty and self._store.durable:
                    self.checkpoint()
            finally:
                self._closed = True
                self._store.dispose()

    def checkpoint(self) -> int:
        """Fold the batches posted since the last checkpoint into the monthly balances and
        save the engine's state, so that the next open reads it instead of recomputing it.

        Reads are exact either way; a checkpoint only makes them (and opening) cheaper.
        Returns the number of batches folded.
        """
        with self._write() as conn:
            store = self._store
            checkpoint = store.checkpoint_batch(conn)
            folded = self._last_batch - checkpoint
            if folded > 0 and self._fold_complete and self._fold_base == checkpoint:
                accounts, periods, sums = aggregate_folds(self._fold_parts)
                books = self._engine.rows["book"][accounts]
                store.fold_rows(conn, accounts, periods, books, sums)
                store.set_checkpoint(conn, self._last_batch)
            elif folded > 0:
                store.fold(conn)
            if store.durable:  # the in-memory store has nothing to save: its memory is the state
                header, blobs = snapshot.dump(
                    self._engine,
                    self._catalog.account_keys,
                    {"last_batch": self._last_batch, "commit_seq": self._seq},
                )
                store.write_snapshot(conn, header, blobs)
                store.seal_checkpoint(conn, header, blobs)
        self._fold_parts, self._fold_base, self._fold_complete = [], self._last_batch, True
        self._dirty = False
        return max(folded, 0)

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise InvalidInput("this ledger is closed")

    def _sync(self, conn: Connection) -> None:
        """Make the in-memory state current: nothing to do when the store's commit sequence
        is the one this process last saw; catch up on what others committed otherwise (a
        full load the first time, or after a failed write dropped the memory)."""
        seq = self._store.commit_seq(conn)
        if seq == self._seq:
            return
        if self._seq < 0:
            self._load(conn)
        else:
            self._catch_up(conn)

    def _load(self, conn: Connection) -> None:
        """Load the whole state: from the saved snapshot and what came after it when there is
        one, from the tables otherwise."""
        checkpoint = self._store.checkpoint_batch(conn)
        if not self._restore(conn):
            self._load_tables(conn)
        self._fold_parts, self._fold_base = [], checkpoint
        self._fold_complete = self._last_batch == checkpoint

    def _restore(self, conn: Connection) -> bool:
        saved = self._store.read_snapshot(conn)
        restored = snapshot.restore(*saved) if saved is not None else None
        if restored is None:
            return False
        meta, engine, keys = restored
        state = self._store.chain_head(conn)[0]
        if int(meta["last_batch"]) > state:
            return False  # a snapshot from a future this database does not have
        groups = [(r.key, int(r.scale)) for r in conn.execute(select(t.groups).order_by(t.groups.c.idx))]
        books = [(r.key, r.name) for r in conn.execute(select(t.books).order_by(t.books.c.idx))]
        catalog = Catalog.from_rows(groups, books, pa.table({"key": pa.array([], pa.string())}))
        catalog.set_account_keys(keys)
        catalog.fetch_account = self._fetch_account
        engine.groups_count = max(1, len(groups))
        self._catalog, self._engine = catalog, engine
        self._last_batch = int(meta["last_batch"])
        self._catch_up(conn)
        return True

    def _fetch_account(self, index: int) -> dict[str, Any]:
        with self._store.reader() as conn:
            return self._store.account_row(conn, index)

    def _load_tables(self, conn: Connection) -> None:
        state = self._store._load(conn)
        catalog = Catalog.from_rows(state.groups, state.books, state.accounts)
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
        self._catalog, self._engine = catalog, engine
        self._closed_periods = state.closed_periods
        self._last_batch = state.last_batch
        self._seq = state.commit_seq

    def _catch_up(self, conn: Connection) -> None:
        """Apply what other processes committed since this one's last look: new groups,
        books and accounts, closed periods, and the effects of the new batches."""
        catalog, engine = self._catalog, self._engine
        new = self._store.load_since(
            conn, self._last_batch, len(catalog.group_keys), len(catalog.book_keys), len(catalog.account_keys)
        )
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
        if new.last_batch != self._last_batch:
            self._fold_complete = False  # batches of other processes: a checkpoint folds from the tables
        self._closed_periods = new.closed_periods
        self._last_batch = new.last_batch
        self._seq = new.commit_seq

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        """The writer transaction; on failure the memory is dropped (reloaded next time)."""
        self._check_open()
        try:
            with self._store.writer() as conn:
                self._sync(conn)
                yield conn
        except BaseException:
            self._seq = -1
            raise

    def _read(self) -> None:
        """Make the memory current before a read (cheap when nothing changed)."""
        self._check_open()
        with self._store.reader() as conn:
            self._sync(conn)

    # --- groups, books, accounts -------------------------------------------------------------

    def create_groups(self, groups: Iterable[Group | Mapping[str, Any]]) -> list[Result]:
        """Create balance groups; one result per item (ok, exists, exists_with_different_fields)."""
        models = _validated(Group, groups, "groups")
        with self._write() as conn:
            catalog = self._catalog
            if len(catalog.group_keys) + len(models) > limits.groups_max:
                raise LimitExceeded(f"more than {limits.groups_max} balance groups")
            results, rows = [], []
            for group in models:
                index = catalog.groups.get(group.key)
                if index is not None:
                    results.append(Result(group.key, _existing(catalog.group_model(index), group)))
                    continue
                index = catalog.add_group(group)
                rows.append({"idx": index, "key": group.key, "scale": group.scale})
                results.append(Result(group.key, Code.ok))
            self._commit_catalog(conn, t.groups, rows)
            self._engine.groups_count = max(1, len(catalog.group_keys))
        return results

    def create_books(self, books: Iterable[Book | Mapping[str, Any]]) -> list[Result]:
        """Create books; one result per item (ok, exists, exists_with_different_fields)."""
        models = _validated(Book, books, "books")
        with self._write() as conn:
            catalog = self._catalog
            results, rows = [], []
            for book in models:
                index = catalog.books.get(book.key)
                if index is not None:
                    results.append(Result(book.key, _existing(catalog.book_model(index), book)))
                    continue
                index = catalog.add_book(book)
                rows.append({"idx": index, "key": book.key, "name": book.name})
                results.append(Result(book.key, Code.ok))
            self._commit_catalog(conn, t.books, rows)
        return results

    def create_accounts(self, accounts: Iterable[Account | Mapping[str, Any]]) -> list[Result]:
        """Create accounts with zero balances; one result per item.

        Codes: ok, exists, exists_with_different_fields, book_not_found, group_not_found (in
        that order of precedence, as on the bulk path, which does the work).
        """
        models = _validated(Account, accounts, "accounts")
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
        return _results([a.key for a in models], codes)

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
            book_index = _index_in(table.column("book"), catalog.book_keys)
            group_index = _index_in(table.column("group"), catalog.group_keys)
            result[(result == 0) & (book_index < 0)] = Code.book_not_found
            result[(result == 0) & (group_index < 0)] = Code.group_not_found
            existing = _index_in(table.column("key"), catalog.account_keys)
            repeated = _repeated(table.column("key"))
            for row in np.flatnonzero(existing >= 0).tolist():
                result[row] = self._bulk_exists(table, row, int(existing[row]))
            later = np.flatnonzero(repeated & (existing < 0))
            fresh = (result == 0) & ~repeated
            created: dict[str, int] = {}  # key -> row, of the rows created in this call
            if len(later):
                first_rows = np.flatnonzero(fresh)
                keys = table.column("key").take(pa.array(first_rows)).to_pylist()
                created = dict(zip(keys, first_rows.tolist(), strict=True))
            for row in later.tolist():
                key = table.column("key")[row].as_py()
                if key in created:
                    result[row] = _existing(_row_values(table, created[key]), _row_values(table, row))
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
                "book": pa.array(book_index[rows]),
                "group": pa.array(group_index[rows]),
                "code": table.column("code"),
                "normal": table.column("normal"),
                "subledger": table.column("subledger"),
                "flags": pa.array(bits.astype(np.int64)),
                "name": table.column("name"),
            }
        )
        catalog.add_account_table(new)
        self._store.insert_table(conn, "accounts", new)
        self._seq = self._store.bump(conn)
        self._dirty = True

    def _bulk_exists(self, table: pa.Table, row: int, existing: int) -> Code:
        """exists / exists_with_different_fields of one row whose key an account has."""
        values = _row_values(table, row)
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
        return _existing(self._catalog.account_model(existing), candidate)

    def _commit_catalog(self, conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
        if rows:
            self._store.insert_rows(conn, table, rows)
            self._seq = self._store.bump(conn)
            self._dirty = True

    # --- posting -----------------------------------------------------------------------------

    def account_index(self, keys: Iterable[str]) -> np.ndarray:
        """Dense int64 indices of account keys (-1 for a key that does not exist)."""
        if isinstance(keys, str):
            raise InvalidInput("account_index takes an iterable of account keys, not one string")
        self._read()
        accounts = self._catalog.accounts
        return np.fromiter((accounts.get(key, -1) for key in keys), np.int64)

    def book_index(self, keys: Iterable[str]) -> np.ndarray:
        """Dense int32 indices of book keys (-2, read as book_not_found, for unknown keys)."""
        if isinstance(keys, str):
            raise InvalidInput("book_index takes an iterable of book keys, not one string")
        self._read()
        books = self._catalog.books
        return np.fromiter((books.get(key, _BOOK_UNKNOWN) for key in keys), np.int32)

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
        models = _validated(Entry, entries, "entries")
        if len(models) > limits.batch_entries_max:
            raise LimitExceeded(
                f"{len(models)} entries in one batch; the limit is {limits.batch_entries_max}"
            )
        if not models:
            return []
        with self._write() as conn:
            batch = self._record_batch(models)
            texts = {
                position: (e.key, e.kind, e.reference)
                for position, e in enumerate(models)
                if e.kind is not None or e.reference is not None
            }
            codes = self._post(conn, batch, texts)
        return _results([entry.key for entry in models], codes)

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
        texts = _texts(keys, kinds, references)
        if texts and extra is None:
            hashes = np.zeros(len(np.asarray(keys)), np.uint64)
            for position, (_, kind, reference) in texts.items():
                hashes[position] = entry_extra_hash(kind, reference)
            extra = hashes
        batch = make_batch(
            keys, offsets, accounts, amounts,
            flags=flags, dates=dates, pending=pending, books=books, dims=dims, extra=extra,
        )  # fmt: skip
        with self._write() as conn:
            return self._post(conn, batch, texts)

    def _post(
        self, conn: Connection, batch: Batch, texts: dict[int, tuple[int, str | None, str | None]]
    ) -> np.ndarray:
        """Kernel, then the accepted rows and the chain link, in the writer transaction.

        `texts` maps an entry's position in the batch to its (key, kind, reference).
        """
        if self._closed_periods:
            batch = self._with_closed_periods(batch)
        codes = self._engine.post(batch)
        if not self._store.durable:
            return self._keep(conn, batch, codes, texts)
        last_batch, last_hash = self._store.chain_head(conn)
        books = entry_books(self._engine, batch)
        lines = line_rows(batch, codes, books, last_batch + 1)
        if lines is None:
            return codes
        accepted_texts = [text for position, text in texts.items() if codes[position] == 0]
        self._store.write_lines(conn, lines)
        rows = batch_rows(self._engine, batch, codes, books, lines, last_hash, accepted_texts)
        fold = fold_parts(self._engine, batch, codes)
        self._store.write_batch(conn, rows)
        self._seq = self._store.bump(conn, batch=rows.batch_id, hash=rows.hash)
        self._last_batch = rows.batch_id
        self._fold_parts.append(fold)
        self._dirty = True
        return codes

    def _keep(self, conn: Connection, batch: Batch, codes: np.ndarray, texts: dict[int, Text]) -> np.ndarray:
        """The in-memory store keeps the accepted columns; it derives the rest when asked."""
        accepted_texts = [text for position, text in texts.items() if codes[position] == 0] if texts else []
        engine = self._engine
        batch_id = self._store.append_batch(
            conn, batch, codes, lambda: entry_books(engine, batch), accepted_texts
        )
        if batch_id is not None:
            self._seq = self._store.bump(conn)
            self._last_batch = batch_id
            self._fold_complete = False  # the store folds its own chunks at a checkpoint
            self._dirty = True
        return codes

    def _with_closed_periods(self, batch: Batch) -> Batch:
        books = entry_books(self._engine, batch).astype(np.int64)
        keys = period_keys(books, periods_of(batch.dates))
        closed = period_keys(*np.array(sorted(self._closed_periods), np.int64).reshape(-1, 2).T)
        flags = np.isin(keys, closed) & (books >= 0)
        return Batch(
            **{
                **{f: getattr(batch, f) for f in batch.__dataclass_fields__},
                "period_closed": flags.astype(np.uint8),
            }
        )

    def _record_batch(self, models: list[Entry]) -> Batch:
        catalog = self._catalog
        n = len(models)
        offsets = np.zeros(n + 1, np.int64)
        accounts: list[int] = []
        amounts: list[int] = []
        dims: list[tuple[int, ...]] = []
        any_dims = False
        scales = catalog.scales()
        groups = self._engine.rows["group"]
        for position, entry in enumerate(models):
            for line in entry.lines:
                index = catalog.accounts.get(line.account, -1)
                accounts.append(index)
                amounts.append(_line_minor(line, int(scales[groups[index]]) if index >= 0 else -1))
                padded = tuple(line.dims) + (0,) * (limits.dims_count - len(line.dims))
                any_dims = any_dims or any(padded)
                dims.append(padded)
            offsets[position + 1] = len(accounts)
        return make_batch(
            np.fromiter((entry.key for entry in models), np.int64, n),
            offsets,
            np.asarray(accounts, np.int64),
            np.asarray(amounts, np.int64),
            flags=np.fromiter((flag_bits(e.flags) for e in models), np.uint16, n),
            dates=np.fromiter((days(e.date) for e in models), np.int32, n),
            pending=np.fromiter((e.pending or 0 for e in models), np.int64, n),
            books=np.fromiter((catalog.books.get(e.book, _BOOK_UNKNOWN) for e in models), np.int32, n),
            dims=np.asarray(dims, np.int32).reshape(-1, limits.dims_count) if any_dims else None,
            extra=np.fromiter((entry_extra_hash(e.kind, e.reference) for e in models), np.uint64, n),
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
            if (index, number) in self._closed_periods:
                return
            self._store.insert_rows(conn, t.periods, [{"book": index, "period": number, "closed": True}])
            self._closed_periods.add((index, number))
            self._seq = self._store.bump(conn)

    def closed_periods(self, book: str) -> list[str]:
        """The closed months of a book, as YYYY-MM."""
        self._read()
        index = self._catalog.books.get(book)
        if index is None:
            raise NotFound(f"book {book!r} does not exist")
        return [f"{p // 100:04d}-{p % 100:02d}" for b, p in sorted(self._closed_periods) if b == index]

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
                "key": pa.array(catalog.account_keys, pa.string()),
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


def _texts(keys: object, kinds: object, references: object) -> dict[int, tuple[int, str | None, str | None]]:
    """position -> (key, kind, reference) of the entries that carry a kind or a reference."""
    if kinds is None and references is None:
        return {}
    key_list = np.asarray(keys).tolist()
    n = len(key_list)
    columns = []
    for name, values in (("kinds", kinds), ("references", references)):
        texts = [None] * n if values is None else list(values)  # type: ignore[call-overload]
        if len(texts) != n or any(v is not None and not isinstance(v, str) for v in texts):
            raise InvalidInput(f"{name}: expected {n} strings or None, one per entry")
        columns.append(texts)
    too_long = next((k for k in columns[1] if k is not None and len(k) > limits.reference_length_max), None)
    if too_long is not None or any(k is not None and len(k) > 64 for k in columns[0]):
        raise InvalidInput("kinds are at most 64 characters, references at most 256")
    return {
        position: (int(key_list[position]), kind, reference)
        for position, (kind, reference) in enumerate(zip(columns[0], columns[1], strict=True))
        if kind is not None or reference is not None
    }


_CODES = {int(code): code for code in Code}


def _results(keys: list[Any], codes: np.ndarray) -> list[Result]:
    """One Result per key (Code looked up, not called: an enum call costs microseconds)."""
    members = _CODES
    return [Result(key, members[code]) for key, code in zip(keys, codes.tolist(), strict=True)]


def _index_in(values: pa.ChunkedArray, keys: list[str]) -> np.ndarray:
    """int64 position of each value among `keys` (-1 where absent or null)."""
    if not keys or not len(values):
        return np.full(len(values), -1, np.int64)
    found = pc.index_in(values, value_set=pa.array(keys, pa.string()))
    return pc.fill_null(found, -1).to_numpy().astype(np.int64)


def _repeated(keys: pa.ChunkedArray) -> np.ndarray:
    """True for each row whose (non-null) key an earlier row has: after a stable sort, a
    key equal to the one before it is a later row's."""
    out = np.zeros(len(keys), bool)
    if len(keys) < 2:
        return out
    order = pc.sort_indices(keys)
    ordered = keys.take(order).combine_chunks()
    same = pc.fill_null(pc.equal(ordered.slice(1), ordered.slice(0, len(ordered) - 1)), False)
    out[order.to_numpy()[1:][same.to_numpy(zero_copy_only=False)]] = True
    return out


def _row_values(table: pa.Table, row: int) -> dict[str, Any]:
    """One row of account_columns' table, without its `valid` column."""
    values = table.slice(row, 1).to_pylist()[0]
    values.pop("valid")
    return cast(dict[str, Any], values)


def account_columns(keys: object, books: object, groups: object, codes: object, normals: object,
                    flags: object, subledgers: object, names: object) -> pa.Table:  # fmt: skip
    """Bulk account columns as one Arrow table, with a `valid` column for row-level checks."""
    try:
        table = pa.table({"key": pa.array(keys, pa.string())})
        n = table.num_rows

        def strings(value: object, name: str, default: str | None) -> pa.Array:
            if value is None:
                return pa.array([default] * n, pa.string())
            array = pa.array(value, pa.string())
            if len(array) != n:
                raise InvalidInput(f"{name}: expected {n} values, got {len(array)}")
            return array

        table = table.append_column("book", strings(books, "books", None))
        table = table.append_column("group", strings(groups, "groups", None))
        table = table.append_column("code", strings(codes, "codes", None))
        table = table.append_column("normal", strings(normals, "normals", "debit"))
        table = table.append_column("subledger", strings(subledgers, "subledgers", None))
        table = table.append_column("name", strings(names, "names", None))
        bits = np.zeros(n, np.int64) if flags is None else np.asarray(flags)
        if bits.shape != (n,) or (len(bits) and bits.dtype.kind not in "iu"):
            raise InvalidInput(f"flags: expected {n} integer flag bit sets")
        table = table.append_column("flags", pa.array(bits.astype(np.int64)))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise InvalidInput(f"account columns: {error}") from None
    key_ok = pc.and_(
        pc.match_substring_regex(table.column("key"), r"^[^\x00-\x1f\x7f]{1,128}$"),
        pc.is_valid(table.column("key")),
    )
    code = table.column("code")
    code_ok = pc.and_(
        pc.and_(pc.string_is_ascii(code), pc.utf8_is_alnum(code)), pc.less_equal(pc.utf8_length(code), 32)
    )
    normal_ok = pc.is_in(table.column("normal"), pa.array(["debit", "credit"]))
    sub_ok = pc.or_kleene(
        pc.is_null(table.column("subledger")),
        pc.match_substring_regex(table.column("subledger"), r"^[^\x00-\x1f\x7f]{1,128}$"),
    )
    both = ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS | ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS
    flag_values = table.column("flags").to_numpy()
    flags_ok = (
        ((flag_values & ~(both | ACCOUNT_CLOSED)) == 0) & ((flag_values & both) != both) & (flag_values >= 0)
    )
    valid = pc.and_(
        pc.and_(pc.fill_null(key_ok, False), pc.fill_null(code_ok, False)), pc.fill_null(normal_ok, False)
    )
    valid = pc.and_(pc.and_(valid, pc.fill_null(sub_ok, False)), pa.array(flags_ok))
    return table.append_column("valid", valid)


def _existing(stored: object, offered: object) -> Code:
    """The code of an item whose key exists: exists if it is the same, else the other one."""
    return Code.exists if stored == offered else Code.exists_with_different_fields


def _line_minor(line: Line, scale: int) -> int:
    """A line's signed minor units; 0 (amount_invalid) when it does not fit the scale."""
    if scale < 0:
        return 1  # unknown account: the entry gets account_not_found; the amount is never used
    try:
        return to_minor(line.debit, scale) if line.debit is not None else -to_minor(line.credit, scale)
    except AmountError:
        return 0


def open(url: str | None = None) -> Ledger:
    """Open a ledger: `sqlite:///path.db` (embedded, WAL), `postgresql+psycopg://...`, or no
    URL for a new ledger in memory. A new database gets the schema; an existing one must
    have this version's schema (SchemaVersionError otherwise)."""
    return Ledger(open_store(url))


__all__ = ["Ledger", "open"]
