"""Tamper evidence: the batch hash chain, and the digests that bind derived data to it.

A batch's hash is SHA-256 over the previous batch's hash, the batch id and the digests of
its three parts: its entry rows, its line rows and its texts, each over canonical bytes (a
fixed order and layout: little-endian fixed-width integers, texts as length-prefixed UTF-8),
so `verify` can rebuild them from the stored rows alone and, by comparing the parts, tell
which table an edit is in. The digest is computed from the batch's own columns; only the
previous hash links it to the chain, so hashing adds no ordering beyond the writer lock's.

Everything else a ledger stores is bound to the chain by seals (store.tables.seals): each
catalog write (groups, books, accounts, periods) and each checkpoint appends a seal whose
hash covers the previous seal's hash and the chain head. A catalog seal carries the SHA-256
of the rows it added (`table_hash`); the periods seal the digest of the whole table; a
checkpoint seal the SHA-256 of the snapshot it wrote (`snapshot_hash`), the digest of the
monthly sums it leaves (`rows_digest`) and the SHA-256 of the batch records it covers
(`records_hash`).

`rows_digest` is order-independent and additive: the sum modulo 2**64 of a 64-bit mix of
each row, so a fold updates it from the rows it changes (minus their old mixes, plus their
new ones) without reading the table. It shows edits; it is not a signature: someone who
knows the mix can forge rows that keep it, as someone who knows SHA-256 can rehash a chain.
"""

from __future__ import annotations

import functools
import hashlib
import json
import struct
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_ENTRY_LAYOUT = ("<i8", "<i4", "<i4", "<i2", "<i8", "<i8", "<i8", "<i4")
_LINE_LAYOUT = ("<i8", "<i4", "<i4", "<i8", "<i4", "<i4", "<i4", "<i4")
_STRUCT_CODES = {"<i8": "q", "<i4": "i", "<i2": "h"}
_NO_TEXTS = hashlib.sha256().digest()  # the texts part of a batch without texts
PART_NAMES = ("entries", "lines", "texts")  # the parts of a batch, in BatchHash.parts order
_MIX_SEED = 0x243F6A8885A308D3
_MIX_STEP = 0x9E3779B97F4A7C15


class BatchHash(bytes):
    """A batch's chain hash (32 bytes) that also carries `parts`: the SHA-256 of its entries,
    lines and texts (96 bytes), which the store keeps beside it."""

    parts: bytes


def entry_extra_hash(kind: str | None, reference: str | None) -> int:
    """The 64-bit hash of the entry fields the kernel does not see (0 when there are none)."""
    if kind is None and reference is None:
        return 0
    digest = hashlib.blake2b(json.dumps([kind, reference]).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") or 1


def _feed(
    hasher: hashlib._Hash, columns: Iterable[np.ndarray | Sequence[int]], layout: tuple[str, ...]
) -> None:
    """Each column's length, then its values in the layout's dtype. Columns may be lists of
    Python ints (a voucher's few rows): packed by one struct call, the same bytes as arrays'."""
    columns = list(columns)
    if len(columns) != len(layout):
        raise ValueError(f"{len(columns)} columns for a layout of {len(layout)}")
    if columns and isinstance(columns[0], list):  # the others alike, of the same length
        count = len(columns[0])
        values: list[int] = []
        for column in columns:
            values.append(count)
            values.extend(column)
        hasher.update(_packer(layout, count).pack(*values))
        return
    for column, dtype in zip(columns, layout, strict=True):
        hasher.update(len(column).to_bytes(8, "little"))
        hasher.update(np.ascontiguousarray(column, dtype=dtype).tobytes())


@functools.lru_cache(maxsize=256)
def _packer(layout: tuple[str, ...], count: int) -> struct.Struct:
    """_feed's layout of `count` rows of columns: each column's length, then its values."""
    return struct.Struct("<" + "".join(f"Q{count}{_STRUCT_CODES[dtype]}" for dtype in layout))


def batch_parts(
    entries: Sequence[np.ndarray | Sequence[int]],
    lines: Sequence[np.ndarray | Sequence[int]],
    texts: list[tuple[int, str | None, str | None]],
) -> bytes:
    """The SHA-256 of a batch's entries, lines and texts, concatenated (96 bytes).

    entries: key, book, date, flags, pending, extra, fingerprint, lines (in batch order).
    lines: entry, line, account, amount, dim1..dim4 (in entry order, then line order).
    texts: (entry, kind, reference), in any order (hashed sorted by entry).
    """
    entry_hasher, line_hasher = hashlib.sha256(), hashlib.sha256()
    _feed(entry_hasher, entries, _ENTRY_LAYOUT)
    _feed(line_hasher, lines, _LINE_LAYOUT)
    return entry_hasher.digest() + line_hasher.digest() + texts_digest(texts)


def texts_digest(texts: list[tuple[int, str | None, str | None]]) -> bytes:
    """The SHA-256 of a batch's texts, sorted by entry: each text's entry, then its kind and
    reference as length-prefixed UTF-8 (four 0xff bytes for None)."""
    if not texts:
        return _NO_TEXTS
    text_hasher = hashlib.sha256()
    for entry, kind, reference in sorted(texts, key=lambda item: item[0]):
        text_hasher.update(int(entry).to_bytes(8, "little", signed=True))
        for value in (kind, reference):
            if value is None:
                text_hasher.update(b"\xff" * 4)
            else:
                encoded = value.encode()
                text_hasher.update(len(encoded).to_bytes(4, "little"))
                text_hasher.update(encoded)
    return text_hasher.digest()


def link_hash(prev_hash: bytes, batch_id: int, parts: bytes) -> BatchHash:
    """SHA-256 of (previous hash, batch id, parts), carrying `parts`."""
    hasher = hashlib.sha256()
    hasher.update(prev_hash)
    hasher.update(int(batch_id).to_bytes(8, "little"))
    hasher.update(parts)
    digest = BatchHash(hasher.digest())
    digest.parts = parts
    return digest


def batch_hash(
    prev_hash: bytes,
    batch_id: int,
    entries: Sequence[np.ndarray | Sequence[int]],
    lines: Sequence[np.ndarray | Sequence[int]],
    texts: list[tuple[int, str | None, str | None]],
) -> BatchHash:
    """The chain hash of a batch: link_hash over its batch_parts."""
    return link_hash(prev_hash, batch_id, batch_parts(entries, lines, texts))


# --- digests of derived data and of the catalog -------------------------------------------------


def _mix(h: np.ndarray) -> None:
    """splitmix64's finaliser, in place on uint64 (arrays wrap modulo 2**64)."""
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)


def row_mixes(columns: Sequence[np.ndarray]) -> np.ndarray:
    """A 64-bit mix (uint64) of each row of equal-length integer columns."""
    n = len(columns[0]) if columns else 0
    h = np.full(n, _MIX_SEED, np.uint64)
    for position, column in enumerate(columns):
        h ^= np.asarray(column).astype(np.int64).view(np.uint64)
        h += np.uint64((_MIX_STEP * (position + 1)) % 2**64)
        _mix(h)
    return h


def rows_digest(columns: Sequence[np.ndarray]) -> int:
    """The order-independent digest of the rows of integer columns: the sum of their mixes
    modulo 2**64, as a signed int64 (what the seals store)."""
    total = int(row_mixes(columns).sum(dtype=np.uint64)) if len(columns) and len(columns[0]) else 0
    return signed64(total)


def signed64(value: int) -> int:
    """`value` modulo 2**64 as a signed int64."""
    return (value + 2**63) % 2**64 - 2**63


def _string_bytes(column: pa.Array) -> tuple[np.ndarray, memoryview | bytes]:
    """Lengths (int64, 0 for NULL) and the concatenated UTF-8 of a string column."""
    wide = pa.types.is_large_string(column.type)
    offsets = np.frombuffer(column.buffers()[1], np.int64 if wide else np.int32)
    offsets = offsets[column.offset : column.offset + len(column) + 1].astype(np.int64)
    lengths = np.diff(offsets)
    if column.null_count and lengths[column.is_null().to_numpy(zero_copy_only=False)].any():
        return _string_bytes(pc.fill_null(column, ""))  # NULL slots that hold bytes: drop them
    data = column.buffers()[2]
    if data is None or not len(column) or offsets[-1] == offsets[0]:
        return lengths, b""
    return lengths, memoryview(data)[int(offsets[0]) : int(offsets[-1])]


def table_hash(table: pa.Table) -> bytes:
    """SHA-256 of a table's rows in their order: for each column its name, its NULLs (their
    count, and where they are unless none or all are), and its values (integers and booleans
    as int64 with NULL as 0, strings as lengths then UTF-8 bytes; nothing for a column of
    NULLs only)."""
    hasher = hashlib.sha256()
    rows = int(table.num_rows)
    hasher.update(rows.to_bytes(8, "little"))
    for name in table.column_names:
        column = table.column(name).combine_chunks()
        nulls = int(column.null_count)
        hasher.update(name.encode() + b"\x00" + nulls.to_bytes(8, "little"))
        if nulls == rows:
            continue
        if nulls:
            hasher.update(np.packbits(column.is_null().to_numpy(zero_copy_only=False)).tobytes())
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            lengths, data = _string_bytes(column)
            hasher.update(lengths.astype("<i8").data)
            hasher.update(data)
        elif pa.types.is_boolean(column.type):
            values = pc.fill_null(column, False).to_numpy(zero_copy_only=False)
            hasher.update(values.astype("<i8").data)
        else:
            values = pc.fill_null(column, 0) if nulls else column
            hasher.update(values.to_numpy().astype("<i8").data)
    return hasher.digest()


class SnapshotHasher:
    """snapshot_hash fed one stored part at a time, named arrays in any order (each array's
    parts in order): SHA-256 over each array's name and the SHA-256 of its bytes, by name.
    `update` releases the GIL on large parts, so a thread can hash while the next is read."""

    def __init__(self) -> None:
        self._arrays: dict[str, hashlib._Hash] = {}

    def update(self, name: str, data: bytes) -> None:
        self._arrays.setdefault(name, hashlib.sha256()).update(data)

    def digest(self) -> bytes:
        hasher = hashlib.sha256()
        for name in sorted(self._arrays):
            hasher.update(name.encode() + b"\x00" + self._arrays[name].digest())
        return hasher.digest()


def snapshot_hash(header: str, blobs: Mapping[str, Sequence[bytes] | bytes]) -> bytes:
    """SHA-256 of a snapshot: its header (the array named "header") and its named arrays,
    whether each is given whole or in parts (see SnapshotHasher)."""
    hasher = SnapshotHasher()
    hasher.update("header", header.encode())
    for name, value in blobs.items():
        for part in [value] if isinstance(value, bytes) else value:
            hasher.update(name, part)
    return hasher.digest()


def records_hash(records: Iterable[tuple[int, int, int, bytes, bytes, bytes, int]]) -> bytes:
    """SHA-256 of batch records (id, entries, lines, prev_hash, hash, parts, created_at) in
    order: what a checkpoint seal covers of the batches table beyond the chain itself."""
    hasher = hashlib.sha256()
    for record_id, entries, lines, prev_hash, digest, parts, created_at in records:
        for number in (record_id, entries, lines, created_at):
            hasher.update(int(number).to_bytes(8, "little", signed=True))
        for value in (prev_hash, digest, parts):
            hasher.update(len(value).to_bytes(4, "little"))
            hasher.update(value)
    return hasher.digest()


def seal_hash(prev_hash: bytes, fields: Sequence[int | str | bytes]) -> bytes:
    """SHA-256 of a seal: the previous seal's hash and its fields in a fixed order
    (integers as int64, strings and bytes length-prefixed)."""
    hasher = hashlib.sha256()
    hasher.update(prev_hash)
    for value in fields:
        if isinstance(value, int):
            hasher.update(b"i" + int(value).to_bytes(8, "little", signed=True))
        else:
            data = value.encode() if isinstance(value, str) else bytes(value)
            hasher.update(b"b" + len(data).to_bytes(4, "little") + data)
    return hasher.digest()


__all__ = [
    "PART_NAMES",
    "BatchHash",
    "SnapshotHasher",
    "batch_hash",
    "batch_parts",
    "entry_extra_hash",
    "link_hash",
    "records_hash",
    "row_mixes",
    "rows_digest",
    "seal_hash",
    "signed64",
    "snapshot_hash",
    "table_hash",
    "texts_digest",
]
