"""Verification of everything a ledger stores, against the hash chain and the seals.

What holds on an untouched ledger, checked in this order; the first thing that does not
hold is returned as a Finding naming the table and the row (everything checked before it
is intact):

1. What this process already found edited at a read and rebuilt or ignored (Store.detected):
   the edit is reported even though the derived table has been rebuilt since.
2. The batch chain: ids run 1, 2, 3… without gaps; each batch's entries, lines and texts,
   re-read, hash to the parts it stores (an edit names the table whose part differs) and,
   linked to the previous batch's hash, to its hash; its counts are its rows'; each entry's
   `extra` is the hash of its stored kind and reference; pending_lines holds exactly the
   lines of the pending entries.
3. The seals: ids run 1, 2, 3…, each hash is its fields' and chains to the previous one,
   and each names a batch hash the chain has.
4. ledger_state: its chain head is the last batch, its checkpoint batch the last checkpoint
   seal's, and its commit sequence counts one commit per batch and per catalog seal.
5. The catalog: groups, books and accounts have idx 0, 1, 2… and every row is in the range
   of one seal whose SHA-256 it matches; periods match the digest of the last periods seal.
6. The batch records' other fields (their times) match the checkpoint seals' records hash.
7. period_balances: recomputed from the lines up to the checkpoint batch, row by row, with
   each row's book the account's; its row count and digest are the checkpoint seal's.
8. snapshots: the stored snapshot is the one the last checkpoint sealed (or none).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ledger.chain import (
    PART_NAMES,
    batch_parts,
    entry_extra_hash,
    link_hash,
    records_hash,
    snapshot_hash,
    table_hash,
)
from ledger.columns import ENTRY_PENDING
from ledger.journal import fold_parts
from ledger.periods import split_period_keys
from ledger.posting import NO_DIMS, NO_PERIODS, Batch
from ledger.store.base import (
    ENTRY_NAMES,
    GENESIS_HASH,
    LINE_NAMES,
    BatchRecord,
    Conn,
    Seal,
    Store,
    first_period_difference,
    key_runs,
    periods_digest,
    sums_match,
)

# The table each part of a batch's hash covers (chain.PART_NAMES order).
_PART_TABLES = dict(zip(PART_NAMES, ("entries", "lines", "entry_texts"), strict=True))
_ID_TABLES = ("groups", "books", "accounts", "nodes")


@dataclass(frozen=True, slots=True)
class Finding:
    """What verify found: the table, the row in it (`key`, e.g. "id 3", "batch 4",
    "account 17 period 202603"; empty when the check covers the table as a whole), the
    batch it concerns (when one does), and what is wrong."""

    table: str
    key: str
    batch: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.table} {self.key}" if self.key else self.table
        return f"{where}: {self.message}"


def first_finding(store: Store, conn: Conn) -> Finding | None:
    """The first thing that does not verify (see the module docstring), or None."""
    if not store.durable:
        return check_batches(store, conn, store.batch_records(conn)) or check_memory_sums(store, conn)
    if store.detected:
        table, key, message = store.detected[0]
        return Finding(table, key, None, f"{message} (found when read in this process)")
    records = store.batch_records(conn)
    seals = store.seal_records(conn)
    checkpoints = [seal for seal in seals if seal.kind == "checkpoint"]
    sums = MonthlySums(checkpoints[-1].batch if checkpoints else 0)
    accounts: list[Any] = []  # the accounts table, read once by check_catalog
    for check in (
        lambda: check_batches(store, conn, records, sums),
        lambda: check_seals(seals, records),
        lambda: check_state(store, conn, seals, records),
        lambda: check_catalog(store, conn, seals, accounts),
        lambda: check_records(seals, records),
        lambda: check_period_sums(store, conn, seals, sums, accounts[0]),
        lambda: check_snapshot(store, conn, seals),
    ):
        found = check()
        if found is not None:
            return found
    return None


def first_bad_batch(store: Store, conn: Conn) -> int | None:
    """The id of the first batch that does not verify, or None when the chain is intact."""
    found = check_batches(store, conn, store.batch_records(conn))
    return None if found is None else found.batch


# --- the batch chain -------------------------------------------------------------------------


def check_batches(
    store: Store, conn: Conn, records: list[BatchRecord], sums: MonthlySums | None = None
) -> Finding | None:
    """The batch chain (2. of the module docstring), batch by batch, as columns read a range
    of batches at a time (Store.batch_contents): a batch costs its hashing, not a Python
    object per line nor queries of its own. Each verified batch's monthly sums are added to
    `sums` (up to its batch)."""
    prev = GENESIS_HASH
    pending_total = 0
    for expected_id, record in enumerate(records, start=1):
        if record.id != expected_id:
            return Finding("batches", f"id {expected_id}", expected_id, "missing: ids run 1, 2, 3…")
    contents = store.batch_contents(conn, 1, len(records))
    for record, content in zip(records, contents, strict=True):
        batch = record.id
        entries = content.entries
        lines = in_entry_order(content.lines, entries["key"])
        if lines is None:
            return Finding("lines", f"batch {batch}", batch, "a line names an entry that is not in its batch")
        texts = content.texts
        parts = batch_parts([entries[n] for n in ENTRY_NAMES], [lines[n] for n in LINE_NAMES], texts)
        digest = link_hash(prev, batch, parts)
        if digest != record.hash or record.prev_hash != prev or record.parts != parts:
            table = edited_part(record, parts) if digest != record.hash else "batches"
            key = f"id {batch}" if table == "batches" else f"batch {batch}"
            return Finding(table, key, batch, "the stored rows do not hash to the chain")
        if len(entries["key"]) != record.entries or len(lines["entry"]) != record.lines:
            return Finding("batches", f"id {batch}", batch, "the counts are not the batch's rows'")
        if texts_differ(texts, entries):
            return Finding("entry_texts", f"batch {batch}", batch, "a text is not its entry's extra hash")
        pending = (entries["flags"] & ENTRY_PENDING) != 0
        differs = pending_lines_differ(content.pending_lines, entries["key"][pending], lines)
        if differs is not None:
            return Finding("pending_lines", f"entry {differs}", batch, "not the pending entry's lines")
        pending_total += int(entries["lines"][pending].sum())
        if sums is not None:
            sums.add(batch, entries, lines)
        prev = digest
    if store.pending_lines_count(conn) != pending_total:
        return Finding("pending_lines", "", None, "rows that no pending entry's batch wrote")
    return None


def edited_part(record: BatchRecord, parts: bytes) -> str:
    """The table of the first part of a batch whose stored digest differs from its rows'
    (the batch record itself when none does)."""
    for position, name in enumerate(PART_NAMES):
        span = slice(32 * position, 32 * (position + 1))
        if record.parts[span] != parts[span]:
            return _PART_TABLES[name]
    return "batches"


def in_entry_order(lines: dict[str, np.ndarray], keys: np.ndarray) -> dict[str, np.ndarray] | None:
    """A batch's lines in the order the hash takes them: their entry's position among `keys`
    (the batch's entries in seq order), then line number. None when a line names an entry
    that is not in the batch."""
    if not len(lines["entry"]):
        return lines
    if not len(keys):
        return None
    by_key = np.argsort(keys, kind="stable")
    sorted_keys = keys[by_key]
    at = np.minimum(np.searchsorted(sorted_keys, lines["entry"]), len(keys) - 1)
    if not np.array_equal(sorted_keys[at], lines["entry"]):
        return None
    order = np.lexsort((lines["line"], by_key[at]))
    return {name: column[order] for name, column in lines.items()}


def texts_differ(texts: list[tuple[int, str | None, str | None]], entries: dict[str, np.ndarray]) -> bool:
    """True when an entry's stored `extra` is not the hash of its stored kind and reference.

    An entry posted with only the hash of its texts has no texts row: its extra is covered by
    the batch hash alone (as are the texts rows themselves)."""
    if not texts:
        return False
    extra = dict(zip(entries["key"].tolist(), entries["extra"].view(np.uint64).tolist(), strict=True))
    return any(extra.get(entry) != entry_extra_hash(kind, reference) for entry, kind, reference in texts)


def pending_lines_differ(
    stored: dict[str, np.ndarray], keys: np.ndarray, lines: dict[str, np.ndarray]
) -> int | None:
    """The first pending entry (of `keys`, the batch's) whose pending_lines rows (`stored`,
    by entry and line) are not its lines, or None."""
    names = ("entry", "line", "account", "amount")
    mine = np.isin(lines["entry"], keys)
    order = np.lexsort((lines["line"][mine], lines["entry"][mine]))
    expected = {name: lines[name][mine][order] for name in names}
    if all(np.array_equal(stored[name], expected[name]) for name in names):
        return None
    for entry in np.unique(np.concatenate([stored["entry"], expected["entry"]])).tolist():
        a, b = stored["entry"] == entry, expected["entry"] == entry
        if any(not np.array_equal(stored[name][a], expected[name][b]) for name in names):
            return int(entry)
    return int(keys[0]) if len(keys) else 0


# --- seals, ledger_state, catalog --------------------------------------------------------------


def check_seals(seals: list[Seal], records: list[BatchRecord]) -> Finding | None:
    """Each seal's id, hash, link to the previous one, and the batch hash it names."""
    hashes = {record.id: record.hash for record in records}
    prev = GENESIS_HASH
    for expected_id, seal in enumerate(seals, start=1):
        if seal.id != expected_id:
            return Finding("seals", f"id {expected_id}", None, "missing: ids run 1, 2, 3…")
        if seal.prev_hash != prev or seal.computed_hash() != seal.hash:
            return Finding("seals", f"id {seal.id}", None, "the seal does not hash to its chain")
        if seal.batch_hash != (GENESIS_HASH if seal.batch == 0 else hashes.get(seal.batch)):
            return Finding("seals", f"id {seal.id}", seal.batch, "names a batch hash the chain does not have")
        prev = seal.hash
    return None


def check_state(store: Store, conn: Conn, seals: list[Seal], records: list[BatchRecord]) -> Finding | None:
    """ledger_state against the batch chain and the seals."""
    state = store.state_row(conn)
    checkpoints = [seal for seal in seals if seal.kind == "checkpoint"]
    expected = {
        "last_batch": (state.last_batch, len(records)),
        "last_hash": (state.last_hash, records[-1].hash if records else GENESIS_HASH),
        "checkpoint_batch": (state.checkpoint_batch, checkpoints[-1].batch if checkpoints else 0),
        "commit_seq": (state.commit_seq, len(records) + len(seals) - len(checkpoints)),
    }
    for column, (stored, chained) in expected.items():
        if stored != chained:
            return Finding(
                "ledger_state", column, None, f"is {stored!r}; the chain and seals say {chained!r}"
            )
    return None


def check_catalog(store: Store, conn: Conn, seals: list[Seal], read: list[Any]) -> Finding | None:
    """Groups, books and accounts by their seals' idx ranges; periods by their digest. The
    accounts table is appended to `read`."""
    for table in _ID_TABLES:
        rows = store.catalog_rows(conn, table)
        if table == "accounts":
            read.append(rows)
        idx = rows.column("idx").to_numpy()
        wrong = np.flatnonzero(idx != np.arange(len(idx)))
        if len(wrong):
            return Finding(table, f"idx {int(wrong[0])}", None, "idx does not run 0, 1, 2…")
        covered = 0
        for seal in (seal for seal in seals if seal.kind == table):
            part = rows.slice(seal.row_start, seal.row_count)
            if part.num_rows != seal.row_count:
                missing = seal.row_start + part.num_rows
                return Finding(table, f"idx {missing}", None, f"missing: seal {seal.id} covers it")
            if seal.row_start != covered or table_hash(part) != seal.content:
                return Finding(
                    table, _idx_key(seal), None, f"the rows are not the ones seal {seal.id} covers"
                )
            covered += seal.row_count
        if covered != rows.num_rows:
            return Finding(table, f"idx {covered}", None, "rows that no seal covers")
    periods = [seal for seal in seals if seal.kind == "periods"]
    rows = store.catalog_rows(conn, "periods")
    count, digest = (periods[-1].row_count, periods[-1].digest) if periods else (0, 0)
    if rows.num_rows != count or periods_digest(rows) != digest:
        return Finding(
            "periods", "", None, "the closed periods are not the ones the last periods seal covers"
        )
    return None


def _idx_key(seal: Seal) -> str:
    last = seal.row_start + seal.row_count - 1
    return f"idx {seal.row_start}" if last == seal.row_start else f"idx {seal.row_start}-{last}"


def check_records(seals: list[Seal], records: list[BatchRecord]) -> Finding | None:
    """The batch records each checkpoint seal covers (their fields beyond the chain)."""
    for seal in (seal for seal in seals if seal.kind == "checkpoint"):
        covered = records[max(seal.row_start, 1) - 1 : seal.batch]
        if records_hash(record.fields() for record in covered) != seal.records:
            key = (
                f"id {seal.row_start}"
                if seal.row_start == seal.batch
                else f"id {seal.row_start}-{seal.batch}"
            )
            return Finding("batches", key, seal.batch, f"the records are not the ones seal {seal.id} covers")
    return None


# --- derived data -----------------------------------------------------------------------------


class MonthlySums:
    """The monthly sums of the batches up to `upto`, added up from each verified batch's
    entries and lines as verify reads them: what a fold of those batches leaves in
    period_balances (see store.base.Store.unfolded_sql for the rules)."""

    def __init__(self, upto: int) -> None:
        self.upto = upto
        self.parts: list[tuple[np.ndarray, np.ndarray]] = []  # (account << 20 | period, sums [n, 4])
        self.pending: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # key -> accounts, amounts

    def add(self, batch: int, entries: dict[str, np.ndarray], lines: dict[str, np.ndarray]) -> None:
        """Add a batch whose lines are in entry order (its hash verified)."""
        if batch > self.upto:
            return
        flags, counts = entries["flags"], entries["lines"]
        offsets = np.zeros(len(counts) + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        for e in np.flatnonzero((flags & ENTRY_PENDING) != 0).tolist():
            span = slice(int(offsets[e]), int(offsets[e + 1]))
            self.pending[int(entries["key"][e])] = (lines["account"][span], lines["amount"][span])
        stored = Batch(
            keys=entries["key"],
            offsets=offsets,
            accounts=lines["account"],
            amounts=lines["amount"],
            dims=NO_DIMS,
            flags=flags,
            dates=entries["date"],
            pending=entries["pending"],
            books=entries["book"],
            extra=entries["extra"],
            period_closed=NO_PERIODS,
        )
        keys, columns, values = fold_parts(self._pending_lines, stored, np.zeros(len(counts), np.uint8))
        self.parts.append(_summed(keys, columns.astype(np.int64), values))

    def _pending_lines(self, key: int) -> tuple[np.ndarray, np.ndarray]:
        """A pending entry's lines as verified (none for a key no verified batch reserved)."""
        return self.pending.get(key, (np.zeros(0, np.int64), np.zeros(0, np.int64)))

    def result(self) -> dict[str, np.ndarray]:
        """int64 columns account, period, dp, cp, dq, cq (sums modulo 2**64)."""
        keys = np.concatenate([np.zeros(0, np.int64), *(part[0] for part in self.parts)])
        sums = np.concatenate([np.zeros((0, 4), np.int64), *(part[1] for part in self.parts)])
        order, starts = key_runs(keys)
        if len(keys):
            sums = np.add.reduceat(sums[order], starts, axis=0)
        keys = keys[order[starts]] if len(keys) else keys
        names = ("dp", "cp", "dq", "cq")
        accounts, periods = split_period_keys(keys)
        return {
            "account": accounts,
            "period": periods,
            **{n: sums[:, i] for i, n in enumerate(names)},
        }


def _summed(keys: np.ndarray, columns: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per key, the sums [n, 4] of `values` into their columns (int64, modulo 2**64)."""
    spread = np.zeros((len(keys), 4), np.int64)
    spread[np.arange(len(keys)), columns] = values
    if not len(keys):
        return keys, spread
    order, starts = key_runs(keys)
    return keys[order[starts]], np.add.reduceat(spread[order], starts, axis=0)


def check_period_sums(
    store: Store, conn: Conn, seals: list[Seal], sums: MonthlySums, accounts: Any
) -> Finding | None:
    """period_balances against the lines (`sums`, added up by check_batches) and against the
    last checkpoint seal; each row's book against the account's (`accounts`, the table)."""
    checkpoints = [seal for seal in seals if seal.kind == "checkpoint"]
    seal = checkpoints[-1] if checkpoints else None
    upto = sums.upto
    rows = store.period_rows(conn)
    found = first_period_difference(rows, sums.result())
    if found is not None:
        message = f"the sums are not those of the lines up to batch {upto}"
        return Finding("period_balances", f"account {found[0]} period {found[1]}", upto, message)
    books = accounts.column("book").to_numpy().astype(np.int64)
    known = (rows["account"] >= 0) & (rows["account"] < len(books))
    wrong = ~known
    wrong[known] = books[rows["account"][known]] != rows["book"][known]
    if wrong.any():
        at = int(np.flatnonzero(wrong)[0])
        key = f"account {int(rows['account'][at])} period {int(rows['period'][at])}"
        return Finding("period_balances", key, upto, "the book is not the account's")
    if not sums_match(seal, rows):
        return Finding("period_balances", "", upto, "the rows are not the ones the last checkpoint sealed")
    return None


def check_memory_sums(store: Store, conn: Conn) -> Finding | None:
    """The in-memory store's folded monthly sums against its batches (it has no catalog
    tables, seals or snapshot that anyone could edit behind the ledger's back)."""
    upto = store.checkpoint_batch(conn)
    found = first_period_difference(store.period_rows(conn), store.recomputed_period_sums(conn, upto))
    if found is None:
        return None
    message = f"the sums are not those of the lines up to batch {upto}"
    return Finding("period_balances", f"account {found[0]} period {found[1]}", upto, message)


def check_snapshot(store: Store, conn: Conn, seals: list[Seal]) -> Finding | None:
    """The stored snapshot against the last checkpoint seal."""
    checkpoints = [seal for seal in seals if seal.kind == "checkpoint"]
    stored = store.stored_snapshot(conn)
    content = snapshot_hash(*stored) if stored is not None else b""
    if content != (checkpoints[-1].content if checkpoints else b""):
        return Finding("snapshots", "", None, "not the snapshot the last checkpoint sealed")
    return None


__all__ = ["Finding", "first_bad_batch", "first_finding", "in_entry_order"]
