"""Tamper evidence: each batch's SHA-256 over its canonical bytes, chained to the previous.

The canonical bytes of a batch are its stored rows, in a fixed order and byte layout
(little-endian fixed-width integers; texts as length-prefixed UTF-8), so `verify` can
rebuild them from the database alone. The digest is computed from the batch's own columns;
only the previous hash links it to the chain, so hashing adds no ordering beyond the
writer lock's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

_ENTRY_LAYOUT = ("<i8", "<i4", "<i4", "<i2", "<i8", "<i8", "<i8", "<i4")
_LINE_LAYOUT = ("<i8", "<i4", "<i4", "<i8", "<i4", "<i4", "<i4", "<i4")


def _feed(hasher: hashlib._Hash, columns: Iterable[np.ndarray], layout: tuple[str, ...]) -> None:
    for column, dtype in zip(columns, layout, strict=True):
        data = np.ascontiguousarray(column, dtype=dtype)
        hasher.update(len(data).to_bytes(8, "little"))
        hasher.update(data.tobytes())


def batch_hash(
    prev_hash: bytes,
    batch_id: int,
    entries: list[np.ndarray],
    lines: list[np.ndarray],
    texts: list[tuple[int, str | None, str | None]],
) -> bytes:
    """SHA-256 of (previous hash, batch id, entries, lines, texts).

    entries: key, book, date, flags, pending, extra, fingerprint, lines (in batch order).
    lines: entry, line, account, amount, dim1..dim4 (in entry order, then line order).
    texts: (entry, kind, reference) sorted by entry.
    """
    hasher = hashlib.sha256()
    hasher.update(prev_hash)
    hasher.update(int(batch_id).to_bytes(8, "little"))
    _feed(hasher, entries, _ENTRY_LAYOUT)
    _feed(hasher, lines, _LINE_LAYOUT)
    for entry, kind, reference in sorted(texts, key=lambda item: item[0]):
        hasher.update(int(entry).to_bytes(8, "little", signed=True))
        for value in (kind, reference):
            if value is None:
                hasher.update(b"\xff" * 4)
            else:
                encoded = value.encode()
                hasher.update(len(encoded).to_bytes(4, "little"))
                hasher.update(encoded)
    return hasher.digest()


__all__ = ["batch_hash"]
