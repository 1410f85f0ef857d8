# cython: language_level=3
"""PostgreSQL binary COPY rows, packed from integer columns without the GIL.

The twin in pure Python is ledger.store.postgres._copy_rows_numpy (same bytes).
"""

from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy

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


def copy_rows(const int64_t[:, ::1] columns, const uint8_t[::1] widths, const uint8_t[::1] nullable,
              bint zero_is_null):
    """Binary COPY rows (no header or trailer) of `columns` (one row of the 2-D array per
    column), each column sent as a big-endian integer of its width (2, 4 or 8 bytes).

    With `zero_is_null`, a row whose nullable columns are all zero sends them as NULL.
    """
    cdef Py_ssize_t count = columns.shape[0]
    cdef Py_ssize_t n = columns.shape[1]
    cdef Py_ssize_t r, c, size = 0
    cdef Py_ssize_t full_row = 2, null_row = 2
    cdef bint empty
    cdef uint8_t* out
    cdef uint64_t value
    if widths.shape[0] != count or nullable.shape[0] != count:
        raise ValueError("widths and nullable need one value per column")
    for c in range(count):
        if widths[c] not in (2, 4, 8):
            raise ValueError(f"column {c}: width {widths[c]} (2, 4 or 8 bytes)")
        full_row += 4 + widths[c]
        null_row += 4 if nullable[c] else 4 + widths[c]
    with nogil:
        for r in range(n):
            size += null_row if nulls_row(columns, nullable, r, zero_is_null) else full_row
    data = bytearray(size)
    out = data
    with nogil:
        for r in range(n):
            empty = nulls_row(columns, nullable, r, zero_is_null)
            put16(out, <uint16_t>count)
            out += 2
            for c in range(count):
                if empty and nullable[c]:
                    put32(out, <uint32_t>0xFFFFFFFF)
                    out += 4
                    continue
                put32(out, widths[c])
                out += 4
                value = <uint64_t>columns[c, r]
                if widths[c] == 8:
                    put64(out, value)
                elif widths[c] == 4:
                    put32(out, <uint32_t>value)
                else:
                    put16(out, <uint16_t>value)
                out += widths[c]
    return data
