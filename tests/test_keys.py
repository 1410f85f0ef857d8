"""KeyIndex answers as a dict of its keys would, however the keys were appended."""

from __future__ import annotations

import itertools

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from ledger.keys import KeyIndex

texts = st.text(min_size=0, max_size=12)


@given(
    keys=st.lists(texts, unique=True, max_size=300),
    cuts=st.lists(st.integers(0, 300), max_size=4),
    probes=st.lists(st.one_of(texts, st.integers(), st.none()), max_size=40),
    look_between=st.booleans(),
)
def test_a_key_index_is_a_dict_of_its_keys(keys, cuts, probes, look_between) -> None:
    index = KeyIndex()
    bounds = sorted({0, len(keys), *(min(c, len(keys)) for c in cuts)})
    for start, end in itertools.pairwise(bounds):
        part = keys[start:end]
        index.extend(pa.array(part, pa.string()) if start % 2 else part)
        if look_between:  # the table grows by the keys appended since the last lookup
            assert index.get(part[0]) == start
    expected = {key: position for position, key in enumerate(keys)}
    wanted = [*keys, *probes]
    assert index.lookup(wanted).tolist() == [
        expected.get(key, -1) if isinstance(key, str) else -1 for key in wanted
    ]
    assert [index.get(key) for key in keys] == list(range(len(keys)))
    assert all(index.get(p) == expected.get(p) for p in probes if isinstance(p, str))
    assert len(index) == len(keys) and list(index) == keys
    assert [index[i] for i in range(len(keys))] == keys


def test_a_full_table_keeps_finding_every_key() -> None:
    keys = [f"A{i:09d}" for i in range(50_000)]
    index = KeyIndex(keys[:1])
    assert index.get(keys[0]) == 0
    index.extend(keys[1:])
    assert (index.lookup(keys) == range(len(keys))).all()
    assert index.get("missing") is None and "missing" not in index and keys[-1] in index
