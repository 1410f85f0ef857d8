"""Engine snapshots: the in-memory state saved with a checkpoint, so opening is a read.

A checkpoint (under the writer lock, with the memory current) stores the engine's arrays —
account rows, entry-key table, pending table and store, counters — and the account keys,
tagged with the batch and commit sequence they reflect. Opening reads them back and then
catches up on whatever was committed after (Ledger._catch_up), so a snapshot is only ever a
shortcut: a ledger without one, with one of another layout, or with one that is not the one
its last checkpoint sealed (Store.read_snapshot checks its SHA-256), loads from the tables.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa

from ledger.columns import (
    ACCOUNT_DTYPE,
    COUNTER_ENTRY_TOMBSTONES,
    COUNTER_PENDING_LINES,
    ENTRY_SLOT_DTYPE,
    PENDING_SLOT_DTYPE,
    aligned_zeros,
)
from ledger.posting import Engine, kernel

# Bumped whenever the layout of a saved array changes; other snapshots are ignored.
SNAPSHOT_LAYOUT = 2
PART_BYTES = 64 * 2**20


def dump(engine: Engine, account_keys: pa.Array, meta: dict[str, Any]) -> tuple[str, dict[str, list[bytes]]]:
    """The snapshot of `engine` and the account keys: a JSON header and named byte parts."""
    used = int(engine.counters[COUNTER_PENDING_LINES])
    arrays = {
        "rows": engine.rows,
        # Live keys only (the table is at most half full): rehashed on restore.
        "entry_table": engine.entry_table[engine.entry_table["key"] > 0],
        "pending_table": engine.pending_table,
        "pending_accounts": engine.pending_accounts[:used],
        "pending_amounts": engine.pending_amounts[:used],
        "counters": engine.counters,
    }
    blobs = {name: _parts(np.ascontiguousarray(array).tobytes()) for name, array in arrays.items()}
    sink = pa.BufferOutputStream()
    keys = pa.table({"key": pa.array(account_keys, pa.string())})
    with pa.ipc.new_stream(sink, keys.schema) as writer:
        writer.write_table(keys)
    blobs["account_keys"] = _parts(sink.getvalue().to_pybytes())
    header = dict(
        meta, layout=SNAPSHOT_LAYOUT, accounts=engine.accounts_count, groups_count=engine.groups_count
    )
    return json.dumps(header, sort_keys=True), blobs


def restore(header: str, blobs: dict[str, bytes]) -> tuple[dict[str, Any], Engine, pa.Array] | None:
    """The engine and account keys of a snapshot, or None if it is of another layout or its
    parts do not fit its header (the store has checked its digest; this is a second line)."""
    try:
        meta = json.loads(header)
        if not isinstance(meta, dict) or meta.get("layout") != SNAPSHOT_LAYOUT:
            return None
        return _restored(meta, blobs)
    except (ValueError, KeyError, TypeError, pa.ArrowException):
        return None


def _restored(
    meta: dict[str, Any], blobs: dict[str, bytes]
) -> tuple[dict[str, Any], Engine, pa.Array] | None:
    engine = Engine(groups_count=int(meta["groups_count"]))
    count = int(meta["accounts"])
    rows = np.frombuffer(blobs["rows"], ACCOUNT_DTYPE)
    if len(rows) != count:
        return None  # a snapshot's rows are its accounts
    engine._rows = aligned_zeros(max(count, 1024), ACCOUNT_DTYPE)
    engine._rows[:count] = rows
    engine.accounts_count = count
    live = np.frombuffer(blobs["entry_table"], ENTRY_SLOT_DTYPE).copy()
    engine.entry_table = engine._rehashed(live, len(live), kernel.rehash_entries)
    engine.pending_table = np.frombuffer(blobs["pending_table"], PENDING_SLOT_DTYPE).copy()
    accounts = np.frombuffer(blobs["pending_accounts"], np.int32)
    amounts = np.frombuffer(blobs["pending_amounts"], np.int64)
    if len(accounts) != len(amounts):
        return None
    size = max(1024, 2 * len(accounts))
    engine.pending_accounts = np.zeros(size, np.int32)
    engine.pending_amounts = np.zeros(size, np.int64)
    engine.pending_accounts[: len(accounts)] = accounts
    engine.pending_amounts[: len(amounts)] = amounts
    engine.counters = np.frombuffer(blobs["counters"], np.int64).copy()
    engine.counters[COUNTER_ENTRY_TOMBSTONES] = 0
    with pa.ipc.open_stream(blobs["account_keys"]) as reader:
        keys = reader.read_all().column("key").combine_chunks()
    if len(keys) != count:
        return None  # a snapshot's keys are its accounts
    return meta, engine, keys


def _parts(data: bytes) -> list[bytes]:
    return [data[i : i + PART_BYTES] for i in range(0, max(len(data), 1), PART_BYTES)]


__all__ = ["SNAPSHOT_LAYOUT", "dump", "restore"]
