"""Verification of the batch hash chain against what the database holds now.

Each batch's hash is recomputed from its stored rows (see ledger.chain) and must equal the
stored hash; each batch's prev_hash must equal the previous batch's hash; ids run 1, 2, 3…
without gaps; the chain head in ledger_state must be the last batch; and each entry's
stored `extra` must be the hash of its stored kind and reference (where it has them); and
pending_lines must hold exactly the lines of the pending entries. The first batch where any
of this fails is reported: everything before it is intact.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import Connection, func, select

from ledger.chain import batch_hash
from ledger.columns import ENTRY_PENDING
from ledger.store import Store
from ledger.store import tables as t
from ledger.store.base import GENESIS_HASH


def first_bad_batch(store: Store, conn: Connection) -> int | None:
    """The id of the first batch that does not verify, or None when the chain is intact."""
    from ledger.service import entry_extra_hash

    batches = conn.execute(select(t.batches).order_by(t.batches.c.id)).all()
    prev = GENESIS_HASH
    pending_lines_count = 0
    for expected_id, batch in enumerate(batches, start=1):
        if batch.id != expected_id or bytes(batch.prev_hash) != prev:
            return expected_id
        entries = conn.execute(
            select(t.entries).where(t.entries.c.batch == batch.id).order_by(t.entries.c.seq)
        ).all()
        lines = conn.exec_driver_sql(
            "SELECT l.entry, l.line, l.account, l.amount, l.dim1, l.dim2, l.dim3, l.dim4"
            " FROM lines l JOIN entries e ON e.key = l.entry AND e.batch = l.batch"
            f" WHERE {store.lines_where(conn, batch.id, batch.id, 'l')} ORDER BY e.seq, l.line"
        ).all()
        if pending_lines_differ(conn, entries, lines):
            return int(batch.id)
        pending_lines_count += sum(e.lines for e in entries if e.flags & ENTRY_PENDING)
        keys = [e.key for e in entries]
        texts_rows = (
            conn.execute(select(t.entry_texts).where(t.entry_texts.c.entry.in_(keys))).all() if keys else []
        )
        texts = [(int(r.entry), r.kind, r.reference) for r in texts_rows]
        by_entry = {entry: (kind, reference) for entry, kind, reference in texts}
        for e in entries:
            # An entry posted with only the hash of its texts has no texts row: its extra is
            # covered by the batch hash alone (as are the texts rows themselves).
            if e.key in by_entry:
                kind, reference = by_entry[e.key]
                if np.int64(e.extra or 0).view(np.uint64) != np.uint64(entry_extra_hash(kind, reference)):
                    return int(batch.id)
        entry_columns = [
            np.array([getattr(e, name) or 0 for e in entries], np.int64)
            for name in ("key", "book", "date", "flags", "pending", "extra", "fingerprint", "lines")
        ]
        line_columns = [
            np.array([getattr(line, name) or 0 for line in lines], np.int64)
            for name in ("entry", "line", "account", "amount", "dim1", "dim2", "dim3", "dim4")
        ]
        digest = batch_hash(prev, int(batch.id), entry_columns, line_columns, texts)
        if digest != bytes(batch.hash) or len(entries) != batch.entries or len(lines) != batch.lines:
            return int(batch.id)
        prev = digest
    last_batch, last_hash = store.chain_head(conn)
    if conn.execute(select(func.count()).select_from(t.pending_lines)).scalar_one() != pending_lines_count:
        return max(len(batches), 1)  # pending_lines holds rows no batch wrote
    if last_batch != len(batches) or last_hash != prev:
        return len(batches) + 1 if last_batch > len(batches) else max(last_batch, 1)
    return None


def pending_lines_differ(conn: Connection, entries: Sequence[Any], lines: Sequence[Any]) -> bool:
    """True when pending_lines does not hold exactly the lines of the batch's pending entries."""
    keys = {int(e.key) for e in entries if e.flags & ENTRY_PENDING}
    if not keys:
        return False
    stored = conn.execute(
        select(
            t.pending_lines.c.entry,
            t.pending_lines.c.line,
            t.pending_lines.c.account,
            t.pending_lines.c.amount,
        )
        .where(t.pending_lines.c.entry.in_(sorted(keys)))
        .order_by(t.pending_lines.c.entry, t.pending_lines.c.line)
    ).all()
    expected = sorted(
        (int(line.entry), int(line.line), int(line.account), int(line.amount))
        for line in lines
        if int(line.entry) in keys
    )
    return [tuple(int(v) for v in row) for row in stored] != expected


__all__ = ["first_bad_batch"]
