"""The compiled COPY row packer gives the very bytes of its numpy twin."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.store import postgres
from ledger.store.postgres import ListColumns, copy_chunks

TYPES = [">i8", ">i4", ">i2", ">i4", ">i4"]
LIMITS = {">i8": 2**63, ">i4": 2**31, ">i2": 2**15}


def columns_of(seed: int, n: int, zero_share: float) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    columns = []
    for kind in TYPES:
        limit = LIMITS[kind]
        values = rng.integers(-limit, limit, n, dtype=np.int64)
        values[rng.random(n) < zero_share] = 0
        columns.append(values.astype(np.dtype(kind).newbyteorder("=")))
    return columns


@pytest.mark.skipif(postgres.copyfmt is None, reason="the compiled packer is not in use")
@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 40),
    zero_share=st.sampled_from([0.0, 0.5, 0.9, 1.0]),
    nullable=st.sampled_from([(), (3, 4), (1, 3, 4)]),
    zero_is_null=st.booleans(),
    rows_per_chunk=st.sampled_from([1, 3, 8192]),
)
def test_compiled_rows_equal_numpy_rows(
    seed: int, n: int, zero_share: float, nullable: tuple[int, ...], zero_is_null: bool,
    rows_per_chunk: int,
) -> None:  # fmt: skip
    columns = columns_of(seed, n, zero_share)
    compiled = b"".join(copy_chunks(columns, TYPES, nullable, zero_is_null, rows_per_chunk))
    compiled_module, postgres.copyfmt = postgres.copyfmt, None
    try:
        reference = b"".join(copy_chunks(columns, TYPES, nullable, zero_is_null, rows_per_chunk))
    finally:
        postgres.copyfmt = compiled_module
    assert compiled == reference


@pytest.mark.skipif(postgres.copyfmt is None, reason="the compiled packer is not in use")
def test_compiled_packer_refuses_mismatched_layouts() -> None:
    columns = np.zeros((2, 3), np.int64)
    with pytest.raises(ValueError, match="one value per column"):
        postgres.copyfmt.copy_rows(columns, np.array([8], np.uint8), np.zeros(2, np.uint8), False)
    with pytest.raises(ValueError, match="width 3"):
        postgres.copyfmt.copy_rows(columns, np.array([8, 3], np.uint8), np.zeros(2, np.uint8), False)


@pytest.mark.skipif(postgres.copyfmt is None, reason="the compiled packer is not in use")
@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 30),
    most=st.integers(0, 6),
    zero_share=st.sampled_from([0.0, 0.5, 1.0]),
    zero_is_null=st.booleans(),
    rows_per_chunk=st.sampled_from([1, 3, 8192]),
)
def test_compiled_rows_with_arrays_equal_numpy_rows(
    seed: int, n: int, most: int, zero_share: float, zero_is_null: bool, rows_per_chunk: int
) -> None:
    """Array columns (1-D and 2-D, every width, rows without items, lists of zeros sent as
    NULL or not) come out of both packers byte for byte the same."""
    rng = np.random.default_rng(seed)
    columns = columns_of(seed, n, zero_share)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(rng.integers(0, most + 1, n), out=offsets[1:])
    items = columns_of(seed + 1, int(offsets[-1]), zero_share)
    lists = ListColumns(
        offsets,
        (
            ((items[0],), ">i8", False),
            ((items[2],), ">i2", True),
            ((items[1], items[3], items[4]), ">i4", zero_is_null),
        ),
    )

    def packed() -> bytes:
        return b"".join(copy_chunks(columns, TYPES, (3, 4), zero_is_null, rows_per_chunk, lists))

    compiled = packed()
    compiled_module, postgres.copyfmt = postgres.copyfmt, None
    try:
        reference = packed()
    finally:
        postgres.copyfmt = compiled_module
    assert compiled == reference


@pytest.mark.skipif(postgres.copyfmt is None, reason="the compiled packer is not in use")
def test_compiled_array_packer_refuses_mismatched_layouts() -> None:
    pack = postgres.copyfmt.copy_rows_lists
    columns = np.zeros((1, 2), np.int64)
    one = np.array([8], np.uint8)
    flat = np.zeros(1, np.uint8)
    items = np.zeros((1, 3), np.int64)
    offsets = np.array([0, 1, 3], np.int64)
    with pytest.raises(ValueError, match=r"rows \+ 1"):
        pack(columns, one, flat, False, offsets[:2], items, one, np.ones(1, np.uint8), flat)
    with pytest.raises(ValueError, match=r"row 1 takes items 1\.\.4"):
        pack(columns, one, flat, False, np.array([0, 1, 4]), items, one, np.ones(1, np.uint8), flat)
    with pytest.raises(ValueError, match=r"row 0 takes items 2\.\.1"):
        pack(columns, one, flat, False, np.array([2, 1, 3]), items, one, np.ones(1, np.uint8), flat)
    with pytest.raises(ValueError, match="take 2 item columns"):
        pack(columns, one, flat, False, offsets, items, one, np.array([2], np.uint8), flat)
    with pytest.raises(ValueError, match="list 0: width 3"):
        pack(columns, one, flat, False, offsets, items, np.array([3], np.uint8), np.ones(1, np.uint8), flat)
    with pytest.raises(ValueError, match="one value per list"):
        pack(columns, one, flat, False, offsets, items, one, np.ones(2, np.uint8), flat)
    with pytest.raises(ValueError, match="list offsets: 2 values for 2 rows"):
        list(copy_chunks([np.zeros(2, np.int64)], [">i8"], lists=ListColumns(offsets[:2], ())))


def entry_stream(counts: np.ndarray, flags: np.ndarray, amounts: np.ndarray, accounts: np.ndarray) -> bytes:
    """A COPY stream of (lines int4, flags int2, amounts int8[], accounts int4[]) rows, as
    the server sends the entries' own lines."""
    offsets = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    lists = ListColumns(offsets, (((amounts,), ">i8", False), ((accounts,), ">i4", False)))
    return b"".join(copy_chunks([counts, flags], [">i4", ">i2"], lists=lists))


@pytest.mark.skipif(postgres.copyfmt is None, reason="the compiled reader is not in use")
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 30))
def test_entry_lines_read_back_what_was_packed(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 7, n)
    flags = rng.integers(-(2**15), 2**15, n)
    lines = int(counts.sum())
    amounts = rng.integers(-(2**63), 2**63 - 1, lines, dtype=np.int64)
    accounts = rng.integers(-(2**31), 2**31, lines)
    stream = np.frombuffer(entry_stream(counts, flags, amounts, accounts), np.uint8)
    got = postgres.copyfmt.read_entry_lines(stream)
    for value, expected in zip(got, (counts, flags, amounts, accounts), strict=True):
        assert value.dtype == np.int64
        assert value.tolist() == expected.tolist()


@pytest.mark.skipif(postgres.copyfmt is None, reason="the compiled reader is not in use")
def test_entry_lines_reader_refuses_other_streams() -> None:
    read = postgres.copyfmt.read_entry_lines
    good = entry_stream(np.array([2, 3]), np.array([0, 2]), np.arange(1, 6), np.arange(5))
    assert read(np.frombuffer(good, np.uint8))[0].tolist() == [2, 3]
    wrong_count = entry_stream(np.array([2, 4]), np.array([0, 2]), np.arange(1, 7), np.arange(6))
    wrong_count = wrong_count.replace(
        b"\x00\x00\x00\x04\x00\x00\x00\x04", b"\x00\x00\x00\x04\x00\x00\x00\x03", 1
    )
    no_lines = entry_stream(np.array([0]), np.array([0]), np.zeros(0, np.int64), np.zeros(0, np.int64))
    for bad, why in (
        (good[:-1], "truncated"),
        (good + b"\x00", "trailing byte"),
        (b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 4 + b"\x00\x00\x00\x01" + good[19:], "header extension"),
        (good[:25] + b"\x00\x03" + good[27:], "a line count past the end"),
        (wrong_count, "line count says 3, arrays hold 4"),
        (no_lines, "an entry without lines (NULL arrays)"),
    ):
        with pytest.raises(ValueError):
            read(np.frombuffer(bad, np.uint8))
            pytest.fail(why)
