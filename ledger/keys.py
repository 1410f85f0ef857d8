"""String keys by dense index, and the index back from a key, in about 16 bytes a key.

A ledger holds millions of account keys. A Python list of str and a dict back cost ~150
bytes a key; here the keys stay in Arrow string arrays (appended in index order) and the
way back is an open-addressing table of int32 indices over each key's hash (the process's
own str hash, so the table is rebuilt in every process and never stored), with the hashes
kept to skip most string comparisons. The table is built on the first lookup, not on every
append: a bulk load that never looks a key up never pays for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_EMPTY = -1
_CAPACITY_MIN = 1024
# Up to this many keys, lookup probes them one by one (numpy's per-call overhead is higher).
_ONE_BY_ONE_MAX = 32
# Keys found one by one are remembered, up to this many (then forgotten all at once): a
# service posting vouchers names the same accounts again and again, and reading a key back
# from Arrow costs more than the probe. A key's index never changes, so nothing goes stale.
_RECENT_MAX = 4096


class KeyIndex:
    """Keys 0..n-1 as Arrow strings, and key -> index (see the module docstring)."""

    def __init__(self, keys: Iterable[str] | pa.Array | pa.ChunkedArray = ()) -> None:
        self._chunks: list[pa.Array] = []
        self._count = 0
        self._combined: pa.Array | None = None
        self._hashes = np.zeros(0, np.int64)  # by index; valid up to _indexed
        self._slots = np.full(0, _EMPTY, np.int32)
        self._indexed = 0  # keys 0.._indexed-1 are in the table
        self._recent: dict[str, int] = {}
        self.extend(keys)

    # --- keys by index -----------------------------------------------------------------------

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int) -> str:
        if not -self._count <= index < self._count:
            raise IndexError(f"key index {index} out of range ({self._count} keys)")
        return str(self.array()[index % self._count].as_py())

    def __iter__(self) -> Iterator[str]:
        return iter(self.array().to_pylist())

    def array(self) -> pa.Array:
        """Every key, by index, as one Arrow string array."""
        if self._combined is None or len(self._combined) != self._count:
            combined = pa.concat_arrays(self._chunks) if self._chunks else pa.array([], pa.string())
            self._chunks = [combined] if len(combined) else []
            self._combined = combined
        return self._combined

    def take(self, indices: np.ndarray) -> pa.Array:
        return self.array().take(pa.array(np.asarray(indices, np.int64)))

    def extend(self, keys: Iterable[str] | pa.Array | pa.ChunkedArray) -> None:
        """Append keys (the caller makes sure none is present yet)."""
        if isinstance(keys, pa.ChunkedArray):
            array = keys.combine_chunks() if keys.num_chunks else pa.array([], pa.string())
        elif isinstance(keys, pa.Array):
            array = keys
        else:
            array = pa.array(list(keys), pa.string())
        if array.type != pa.string():
            array = array.cast(pa.string())
        if len(array):
            self._chunks.append(array)
            self._count += len(array)
            self._combined = None

    def append(self, key: str) -> int:
        self.extend(pa.array([key], pa.string()))
        return self._count - 1

    # --- index by key ------------------------------------------------------------------------

    def get(self, key: str, default: int | None = None) -> int | None:
        """The index of `key`, or `default` (as dict.get)."""
        recent = self._recent.get(key)
        if recent is not None:
            return recent
        self._index()
        mask = len(self._slots) - 1
        h = hash(key)
        slot = h & mask
        hashes, slots, keys = self._hashes, self._slots, None
        while True:
            found = int(slots[slot])
            if found == _EMPTY:
                return default
            if int(hashes[found]) == h:
                keys = self.array() if keys is None else keys
                if keys[found].as_py() == key:
                    if len(self._recent) >= _RECENT_MAX:
                        self._recent.clear()
                    self._recent[key] = found
                    return found
            slot = (slot + 1) & mask

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def lookup(self, keys: Iterable[str]) -> np.ndarray:
        """int64 index of each key (-1 where absent, or not a str), probing all at once."""
        wanted = list(keys)
        out = np.full(len(wanted), -1, np.int64)
        if not wanted or not self._count:
            return out
        if len(wanted) <= _ONE_BY_ONE_MAX:  # a voucher's lines: the vectorised probe costs more
            for position, key in enumerate(wanted):
                found = self.get(key) if isinstance(key, str) else None
                out[position] = -1 if found is None else found
            return out
        self._index()
        strings = np.fromiter((isinstance(key, str) for key in wanted), bool, len(wanted))
        if not strings.all():
            wanted = [key if isinstance(key, str) else "" for key in wanted]
        hashes = np.fromiter(map(hash, wanted), np.int64, len(wanted))
        mask = len(self._slots) - 1
        pending = np.flatnonzero(strings)
        probe = 0
        stored = self.array()
        while len(pending):
            found = self._slots[(hashes[pending] + probe) & mask].astype(np.int64)
            absent = found == _EMPTY
            candidate = ~absent & (self._hashes[np.where(absent, 0, found)] == hashes[pending])
            if candidate.any():
                rows = pending[candidate]
                same = pc.equal(stored.take(pa.array(found[candidate])), pa.array([wanted[i] for i in rows]))
                hit = same.to_numpy(zero_copy_only=False)
                out[rows[hit]] = found[candidate][hit]
                resolved = np.zeros(len(pending), bool)
                resolved[np.flatnonzero(candidate)[hit]] = True
                absent |= resolved
            pending = pending[~absent]
            probe += 1
        return out

    def _index(self) -> None:
        """Put the keys not yet in the table into it (growing it to at most half full)."""
        if self._indexed == self._count and len(self._slots):
            return
        capacity = max(_CAPACITY_MIN, len(self._slots))
        while capacity < 2 * self._count:
            capacity *= 2
        fresh = self.array().slice(self._indexed).to_pylist()
        self._hashes = np.concatenate(
            [self._hashes[: self._indexed], np.fromiter(map(hash, fresh), np.int64, len(fresh))]
        )
        if capacity != len(self._slots):
            self._slots = np.full(capacity, _EMPTY, np.int32)
            self._place(np.arange(self._count))
        else:
            self._place(np.arange(self._indexed, self._count))
        self._indexed = self._count

    def _place(self, indices: np.ndarray) -> None:
        """Linear probing, one probe step for all keys at a time: a key takes the first empty
        slot of its sequence; of several keys that meet at one, the lowest index wins and the
        others go on (so every slot before a key's own is taken when anyone looks it up)."""
        mask = len(self._slots) - 1
        pending = indices.astype(np.int64)
        probe = 0
        while len(pending):
            slots = (self._hashes[pending] + probe) & mask
            free = self._slots[slots] == _EMPTY
            candidates, places = pending[free], slots[free]
            _, first = np.unique(places, return_index=True)
            self._slots[places[first]] = candidates[first]
            placed = np.zeros(len(pending), bool)
            placed[np.flatnonzero(free)[first]] = True
            pending = pending[~placed]
            probe += 1

    def nbytes(self) -> int:
        """Bytes held: the keys' Arrow buffers, the hashes and the table."""
        return sum(chunk.nbytes for chunk in self._chunks) + self._hashes.nbytes + self._slots.nbytes


__all__ = ["KeyIndex"]
