# cython: language_level=3
"""PostgreSQL binary COPY rows, packed from integer columns (and arrays of integers)
without the GIL.

The twins in numpy are ledger.store.postgres._copy_rows and _copy_rows_lists (same bytes).
"""

from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcmp, memcpy

import numpy as np

cdef extern from *:
    """
    #define LEDGER_BE16(x) __builtin_bswap16(x)
    #define LEDGER_BE32(x) __builtin_bswap32(x)
    #define LEDGER_BE64(x) __builtin_bswap64(x)
    """
    uint16_t LEDGER_BE16(uint16_t x) nogil
    uint32_t LEDGER_BE32(uint32_t x) nogil
    uint64_t LEDGER_BE64(uint64_t x) nogil


cdef inline void put16(uint8_t* out, uint16_t value) noexcept nogil:
    value = LEDGER_BE16(value)
    memcpy(out, &value, 2)


cdef inline void put32(uint8_t* out, uint32_t value) noexcept nogil:
    value = LEDGER_BE32(value)
    memcpy(out, &value, 4)


cdef inline void put64(uint8_t* out, uint64_t value) noexcept nogil:
    value = LEDGER_BE64(value)
    memcpy(out, &value, 8)


cdef inline bint nulls_row(const int64_t[:, ::1] columns, const uint8_t[::1] nullable, Py_ssize_t r,
                           bint zero_is_null) noexcept nogil:
    """True when row r sends its nullable columns as NULL (all of them zero)."""
    cdef Py_ssize_t c
    if not zero_is_null:
        return False
    for c in range(columns.shape[0]):
        if nullable[c] and columns[c, r] != 0:
            return False
    return True


cdef inline uint8_t* put_int(uint8_t* out, uint8_t width, uint64_t value) noexcept nogil:
    """One integer field: its size, then its big-endian value of `width` bytes."""
    put32(out, width)
    if width == 8:
        put64(out + 4, value)
    elif width == 4:
        put32(out + 4, <uint32_t>value)
    else:
        put16(out + 4, <uint16_t>value)
    return out + 4 + width


cdef inline uint8_t* put_scalars(uint8_t* out, const int64_t[:, ::1] columns, const uint8_t[::1] widths,
                                 const uint8_t[::1] nullable, Py_ssize_t r, bint empty,
                                 uint16_t fields) noexcept nogil:
    """The start of row r: its field count, then its integer columns (the nullable ones as
    NULL when `empty`)."""
    cdef Py_ssize_t c
    put16(out, fields)
    out += 2
    for c in range(columns.shape[0]):
        if empty and nullable[c]:
            put32(out, <uint32_t>0xFFFFFFFF)
            out += 4
        else:
            out = put_int(out, widths[c], <uint64_t>columns[c, r])
    return out


cdef int scalar_sizes(const int64_t[:, ::1] columns, const uint8_t[::1] widths, const uint8_t[::1] nullable,
                      Py_ssize_t* full_row, Py_ssize_t* null_row) except -1:
    """Checks the layout; the bytes of a row's count and integer columns, with values and
    with the nullable ones NULL."""
    cdef Py_ssize_t c, count = columns.shape[0]
    if widths.shape[0] != count or nullable.shape[0] != count:
        raise ValueError("widths and nullable need one value per column")
    full_row[0] = 2
    null_row[0] = 2
    for c in range(count):
        if widths[c] not in (2, 4, 8):
            raise ValueError(f"column {c}: width {widths[c]} (2, 4 or 8 bytes)")
        full_row[0] += 4 + widths[c]
        null_row[0] += 4 if nullable[c] else 4 + widths[c]
    return 0


def copy_rows(const int64_t[:, ::1] columns, const uint8_t[::1] widths, const uint8_t[::1] nullable,
              bint zero_is_null):
    """Binary COPY rows (no header or trailer) of `columns` (one row of the 2-D array per
    column), each column sent as a big-endian integer of its width (2, 4 or 8 bytes).

    With `zero_is_null`, a row whose nullable columns are all zero sends them as NULL.
    """
    cdef Py_ssize_t n = columns.shape[1]
    cdef Py_ssize_t r, size = 0
    cdef Py_ssize_t full_row, null_row
    cdef uint8_t* out
    scalar_sizes(columns, widths, nullable, &full_row, &null_row)
    with nogil:
        for r in range(n):
            size += null_row if nulls_row(columns, nullable, r, zero_is_null) else full_row
    data = bytearray(size)
    out = data
    with nogil:
        for r in range(n):
            out = put_scalars(out, columns, widths, nullable, r, nulls_row(columns, nullable, r, zero_is_null),
                              <uint16_t>columns.shape[0])
    return data


cdef inline uint32_t element_oid(uint8_t width) noexcept nogil:
    """PostgreSQL's type oid of an integer of `width` bytes (int2, int4, int8)."""
    return 20 if width == 8 else (23 if width == 4 else 21)


cdef inline bint null_list(const int64_t[::1] offsets, const int64_t[:, ::1] items, Py_ssize_t first,
                           Py_ssize_t inner, bint zero_null, Py_ssize_t r) noexcept nogil:
    """True when row r sends list column (items first..first+inner) as NULL: it has no
    elements, or `zero_null` and all of them are zero."""
    cdef Py_ssize_t i, d
    if offsets[r + 1] == offsets[r]:
        return True
    if not zero_null:
        return False
    for d in range(first, first + inner):
        for i in range(offsets[r], offsets[r + 1]):
            if items[d, i] != 0:
                return False
    return True


def copy_rows_lists(const int64_t[:, ::1] columns, const uint8_t[::1] widths, const uint8_t[::1] nullable,
                    bint zero_is_null, const int64_t[::1] offsets, const int64_t[:, ::1] items,
                    const uint8_t[::1] list_widths, const uint8_t[::1] list_inner,
                    const uint8_t[::1] list_zero_null):
    """As copy_rows, each row followed by one array column per list.

    Row r owns the items offsets[r]..offsets[r+1] (absolute positions in `items`, one row of
    the 2-D array per item column). List column j is made of the next list_inner[j] item
    columns: a 1-D array of the row's items when that is 1, else a 2-D array [items][inner].
    Its elements are integers of list_widths[j] bytes. A row without items sends its lists
    as NULL, and so does a row whose list j is all zeros when list_zero_null[j].
    """
    cdef Py_ssize_t n = columns.shape[1]
    cdef Py_ssize_t lists = list_widths.shape[0]
    cdef Py_ssize_t r, j, i, d, k, first, size = 0
    cdef Py_ssize_t full_row, null_row, array_bytes
    cdef uint8_t* out
    cdef uint8_t w
    scalar_sizes(columns, widths, nullable, &full_row, &null_row)
    if list_inner.shape[0] != lists or list_zero_null.shape[0] != lists:
        raise ValueError("list_inner and list_zero_null need one value per list")
    if offsets.shape[0] != n + 1:
        raise ValueError(f"offsets: {offsets.shape[0]} values for {n} rows (rows + 1)")
    first = 0
    for j in range(lists):
        if list_widths[j] not in (2, 4, 8):
            raise ValueError(f"list {j}: width {list_widths[j]} (2, 4 or 8 bytes)")
        if list_inner[j] < 1:
            raise ValueError(f"list {j}: needs at least one item column")
        first += list_inner[j]
    if first != items.shape[0]:
        raise ValueError(f"the lists take {first} item columns, items has {items.shape[0]}")
    for r in range(n):
        if offsets[r + 1] < offsets[r] or offsets[r] < 0 or offsets[r + 1] > items.shape[1]:
            raise ValueError(f"offsets: row {r} takes items {offsets[r]}..{offsets[r + 1]} of {items.shape[1]}")
    with nogil:
        for r in range(n):
            size += null_row if nulls_row(columns, nullable, r, zero_is_null) else full_row
            k = offsets[r + 1] - offsets[r]
            first = 0
            for j in range(lists):
                size += 4
                if not null_list(offsets, items, first, list_inner[j], list_zero_null[j], r):
                    size += 12 + (8 if list_inner[j] == 1 else 16) + k * list_inner[j] * (4 + list_widths[j])
                first += list_inner[j]
    data = bytearray(size)
    out = data
    with nogil:
        for r in range(n):
            out = put_scalars(out, columns, widths, nullable, r, nulls_row(columns, nullable, r, zero_is_null),
                              <uint16_t>(columns.shape[0] + lists))
            k = offsets[r + 1] - offsets[r]
            first = 0
            for j in range(lists):
                w = list_widths[j]
                if null_list(offsets, items, first, list_inner[j], list_zero_null[j], r):
                    put32(out, <uint32_t>0xFFFFFFFF)
                    out += 4
                    first += list_inner[j]
                    continue
                array_bytes = 12 + (8 if list_inner[j] == 1 else 16) + k * list_inner[j] * (4 + w)
                put32(out, <uint32_t>array_bytes)
                put32(out + 4, 1 if list_inner[j] == 1 else 2)  # dimensions
                put32(out + 8, 0)  # no NULL elements
                put32(out + 12, element_oid(w))
                put32(out + 16, <uint32_t>k)  # items, lower bound 1
                put32(out + 20, 1)
                out += 24
                if list_inner[j] != 1:
                    put32(out, list_inner[j])
                    put32(out + 4, 1)
                    out += 8
                for i in range(offsets[r], offsets[r + 1]):
                    for d in range(first, first + list_inner[j]):
                        out = put_int(out, w, <uint64_t>items[d, i])
                first += list_inner[j]
    return data


cdef inline uint16_t get16(const uint8_t* at) noexcept nogil:
    cdef uint16_t value
    memcpy(&value, at, 2)
    return LEDGER_BE16(value)


cdef inline uint32_t get32(const uint8_t* at) noexcept nogil:
    cdef uint32_t value
    memcpy(&value, at, 4)
    return LEDGER_BE32(value)


cdef inline uint64_t get64(const uint8_t* at) noexcept nogil:
    cdef uint64_t value
    memcpy(&value, at, 8)
    return LEDGER_BE64(value)


cdef Py_ssize_t read_array(const uint8_t* at, Py_ssize_t left, int64_t k, uint8_t width,
                           int64_t* out) noexcept nogil:
    """Reads one array field of k integers of `width` bytes (1-D, no NULLs) into out (NULL:
    only checks it); the bytes it took, or -1 when the field is anything else."""
    cdef Py_ssize_t size = 24 + k * (4 + width)
    cdef int64_t i
    if left < size or get32(at) != <uint32_t>(size - 4) or get32(at + 4) != 1 or get32(at + 8) != 0:
        return -1
    if get32(at + 12) != element_oid(width) or get32(at + 16) != <uint32_t>k or get32(at + 20) != 1:
        return -1
    at += 24
    for i in range(k):
        if get32(at) != width:
            return -1
        if out != NULL:
            out[i] = <int64_t>get64(at + 4) if width == 8 else <int32_t>get32(at + 4)
        at += 4 + width
    return size


cdef Py_ssize_t read_entry(const uint8_t* row, Py_ssize_t left, int64_t* k, int64_t* flags,
                           int64_t* amounts, int64_t* accounts) noexcept nogil:
    """Reads the row starting at `row` (field count, lines int4, flags int2, amounts int8[],
    accounts int4[]): its line count and flags, and (unless NULL) its amounts and accounts;
    the bytes it took, or -1 when it is anything else."""
    cdef Py_ssize_t took, size = 16
    if left < size or get16(row) != 4 or get32(row + 2) != 4 or get32(row + 10) != 2:
        return -1
    k[0] = <int32_t>get32(row + 6)
    flags[0] = <int16_t>get16(row + 14)
    if k[0] < 1:
        return -1
    took = read_array(row + size, left - size, k[0], 8, amounts)
    if took < 0:
        return -1
    size += took
    took = read_array(row + size, left - size, k[0], 4, accounts)
    return -1 if took < 0 else size + took


def read_entry_lines(const uint8_t[::1] data):
    """The rows of a binary COPY stream (header and trailer included) of (lines int4, flags
    int2, amounts int8[], accounts int4[]), each with at least one line: per row its line
    count and flags, and every row's amounts and accounts in order, as int64 arrays. A
    stream of any other shape raises ValueError."""
    cdef Py_ssize_t end = data.shape[0], at, took
    cdef int64_t rows = 0, items = 0, r, done, k, f
    cdef bint bad = False
    if end < 21 or memcmp(&data[0], b"PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00", 19) != 0:
        raise ValueError("not a binary COPY stream with an empty header")
    at = 19
    with nogil:  # first pass: the shape of every row, and how many rows and lines
        while end - at > 2:
            took = read_entry(&data[at], end - at, &k, &f, NULL, NULL)
            if took < 0:
                bad = True
                break
            at += took
            rows += 1
            items += k
    if bad or end - at != 2 or data[at] != 0xFF or data[at + 1] != 0xFF:
        raise ValueError(f"row {rows}: not (lines, flags, int8[], int4[] of that many lines) at byte {at}")
    counts = np.empty(rows, np.int64)
    flags = np.empty(rows, np.int64)
    amounts = np.empty(items, np.int64)
    accounts = np.empty(items, np.int64)
    cdef int64_t[::1] count_view = counts
    cdef int64_t[::1] flag_view = flags
    cdef int64_t[::1] amount_view = amounts
    cdef int64_t[::1] account_view = accounts
    at = 19
    done = 0
    with nogil:
        for r in range(rows):
            took = read_entry(&data[at], end - at, &count_view[r], &flag_view[r],
                              &amount_view[done], &account_view[done])
            at += took
            done += count_view[r]
    return counts, flags, amounts, accounts
