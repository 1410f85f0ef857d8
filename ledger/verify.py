"""Verification of the batch hash chain against what the database holds now.

Each batch's hash is recomputed from its stored rows (see ledger.chain) and must equal the
stored hash; each batch's prev_hash must equal the previous batch's hash; ids run 1, 2, 3…
without gaps; the chain head in ledger_state must be the last batch; and each entry's
stored `extra` must be the hash of its stored kind and reference (where it has them); and
pending_lines must hold exactly the lines of the pending entries. The first batch where any
of this fails is reported: everything before it is intact.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import Connection, func, select

from ledger.chain import batch_hash
from ledger.columns import ENTRY_PENDING
from ledger.store import Store
from ledger.store import tables as t
from ledger.store.base import GENESIS_HASH

ENTRY_NAMES = ("key", "book", "date", "flags", "pending", "extra", "fingerprint", "lines")
LINE_NAMES = ("entry", "line", "account", "amount", "dim1", "dim2", "dim3", "dim4")


def first_bad_batch(store: Store, conn: Connection) -> int | None:
    """The id of the first batch that does not verify, or None when the chain is intact.

    A batch's rows are read as columns (store.read_ints), so a batch costs a few queries
    and its hashing, not a Python object per line.
    """
    batches = conn.execute(select(t.batches).order_by(t.batches.c.id)).all()
    prev = GENESIS_HASH
    pending_lines_count = 0
    for expected_id, batch in enumerate(batches, start=1):
        if batch.id != expected_id or bytes(batch.prev_hash) != prev:
            return expected_id
        entries = store.read_ints(
            conn,
            f"SELECT {', '.join(f'coalesce({name}, 0)' for name in ENTRY_NAMES)}"
            f" FROM entries WHERE batch = {int(batch.id)} ORDER BY seq",
            ENTRY_NAMES,
        )
        lines = in_entry_order(
            store.read_ints(conn, store.batch_lines_sql(int(batch.id)), LINE_NAMES), entries["key"]
        )
        if lines is None:
            return int(batch.id)
        pending = (entries["flags"] & ENTRY_PENDING) != 0
        if pending_lines_differ(store, conn, int(batch.id), entries["key"][pending], lines):
            return int(batch.id)
        pending_lines_count += int(entries["lines"][pending].sum())
        texts = [
            (int(r.entry), r.kind, r.reference)
            for r in conn.exec_driver_sql(
                "SELECT x.entry, x.kind, x.reference FROM entry_texts x JOIN entries e ON e.key = x.entry"
                f" WHERE e.batch = {int(batch.id)}"
            )
        ]
        if texts_differ(texts, entries):
            return int(batch.id)
        entry_columns = [entries[name] for name in ENTRY_NAMES]
        line_columns = [lines[name] for name in LINE_NAMES]
        digest = batch_hash(prev, int(batch.id), entry_columns, line_columns, texts)
        if (
            digest != bytes(batch.hash)
            or len(entries["key"]) != batch.entries
            or len(lines["entry"]) != batch.lines
        ):
            return int(batch.id)
        prev = digest
    last_batch, last_hash = store.chain_head(conn)
    if conn.execute(select(func.count()).select_from(t.pending_lines)).scalar_one() != pending_lines_count:
        return max(len(batches), 1)  # pending_lines holds rows no batch wrote
    if last_batch != len(batches) or last_hash != prev:
        return len(batches) + 1 if last_batch > len(batches) else max(last_batch, 1)
    return None


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
    from ledger.service import entry_extra_hash

    if not texts:
        return False
    extra = dict(zip(entries["key"].tolist(), entries["extra"].view(np.uint64).tolist(), strict=True))
    return any(extra.get(entry) != entry_extra_hash(kind, reference) for entry, kind, reference in texts)


def pending_lines_differ(
    store: Store, conn: Connection, batch: int, keys: np.ndarray, lines: dict[str, np.ndarray]
) -> bool:
    """True when pending_lines does not hold exactly the lines of the batch's pending entries
    (`keys`)."""
    if not len(keys):
        return False
    names = ("entry", "line", "account", "amount")
    stored = store.read_ints(
        conn,
        "SELECT p.entry, p.line, p.account, p.amount FROM pending_lines p JOIN entries e ON e.key = p.entry"
        f" WHERE e.batch = {batch} AND (e.flags & {ENTRY_PENDING}) <> 0 ORDER BY p.entry, p.line",
        names,
    )
    mine = np.isin(lines["entry"], keys)
    order = np.lexsort((lines["line"][mine], lines["entry"][mine]))
    return any(not np.array_equal(stored[name], lines[name][mine][order]) for name in names)


__all__ = ["first_bad_batch"]
