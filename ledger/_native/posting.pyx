# cython: language_level=3
"""Batch posting kernel: validates and applies a columnar batch of entries in order.

Every entry gets exactly one result code (ledger.Code); an accepted entry's lines change the
account balances, its key enters the entry-key table, and a pending entry's lines enter the
pending store. A rejected entry changes nothing; a failed linked chain is rolled back whole.
The loop holds no Python object and runs without the GIL. ``ledger/_reference.py`` is the
pure-Python twin of this module: same arguments, same codes, same state afterwards. This
module also checks the arrays it is given (dtype, layout, lengths, offsets) before it reads or
writes through them; the twin, which indexes Python lists, trusts them.

Invariants kept on every account row (``dp`` debits posted, ``dq`` debits pending, likewise
``cp``/``cq``): ``dp + dq <= INT64_MAX`` and ``cp + cq <= INT64_MAX`` (so posting a pending
entry can never overflow), and the account's constraint flag holds on posted + pending.
"""

from libc.stdint cimport INT64_MAX, INT64_MIN, int32_t, int64_t, uint16_t, uint32_t, uint64_t, uint8_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize

cimport numpy as cnp

from ledger._native._types cimport (
    ACCOUNT_CLOSED,
    ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS,
    ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS,
    AccountRow,
    CODE_ACCOUNT_CLOSED,
    CODE_ACCOUNT_NOT_FOUND,
    CODE_AMOUNT_INVALID,
    CODE_BOOK_NOT_FOUND,
    CODE_CROSS_BOOK,
    CODE_EXCEEDS_CREDITS,
    CODE_EXCEEDS_DEBITS,
    CODE_EXISTS,
    CODE_EXISTS_WITH_DIFFERENT_FIELDS,
    CODE_FLAGS_INVALID,
    CODE_KEY_INVALID,
    CODE_LINKED_CHAIN_OPEN,
    CODE_LINKED_EVENT_FAILED,
    CODE_NO_LINES,
    CODE_OK,
    CODE_OVERFLOW,
    CODE_PENDING_ALREADY_RESOLVED,
    CODE_PENDING_LINES_DIFFER,
    CODE_PENDING_NOT_FOUND,
    CODE_PERIOD_CLOSED,
    CODE_TOO_MANY_LINES,
    CODE_UNBALANCED,
    COUNTER_ENTRIES,
    COUNTER_ENTRY_TOMBSTONES,
    COUNTER_PENDING_LINES,
    COUNTER_PENDING_TOMBSTONES,
    COUNTER_PENDINGS,
    ENTRY_FLAGS_ALL,
    ENTRY_LINKED,
    ENTRY_PENDING,
    ENTRY_POST_PENDING,
    ENTRY_VOID_PENDING,
    EntrySlot,
    PENDING_OPEN,
    PENDING_POSTED,
    PENDING_VOIDED,
    PendingSlot,
    ledger_int128,
)

cdef extern from *:
    """
    /* A volatile asm, not __builtin_prefetch: GCC marks a helper that only prefetches as
       pure and deletes its calls. */
    #if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    #define LEDGER_PREFETCH(p) __asm__ volatile("prefetcht0 %0" : : "m"(*(const char *)(p)))
    #elif defined(__GNUC__)
    #define LEDGER_PREFETCH(p) __builtin_prefetch((const void *)(p), 0, 3)
    #else
    #define LEDGER_PREFETCH(p) ((void)(p))
    #endif
    /* Branch hint: x is expected to be false (a refusal, flags, a chain, pending). */
    #if defined(__GNUC__)
    #define LEDGER_UNLIKELY(x) __builtin_expect(!!(x), 0)
    #else
    #define LEDGER_UNLIKELY(x) (x)
    #endif
    """
    void LEDGER_PREFETCH(const void* p) nogil
    bint unlikely "LEDGER_UNLIKELY"(bint x) nogil
    bint __builtin_add_overflow(int64_t a, int64_t b, int64_t* r) nogil

cnp.import_array()

import numpy as np

from ledger.columns import ACCOUNT_DTYPE, COUNTERS_COUNT, ENTRY_SLOT_DTYPE, PENDING_SLOT_DTYPE

cdef cnp.dtype INT64 = np.dtype(np.int64)
cdef cnp.dtype INT32 = np.dtype(np.int32)
cdef cnp.dtype UINT64 = np.dtype(np.uint64)
cdef cnp.dtype UINT16 = np.dtype(np.uint16)
cdef cnp.dtype UINT8 = np.dtype(np.uint8)
cdef cnp.dtype ACCOUNT_ROW = ACCOUNT_DTYPE
cdef cnp.dtype ENTRY_SLOT = ENTRY_SLOT_DTYPE
cdef cnp.dtype PENDING_SLOT = PENDING_SLOT_DTYPE
cdef int64_t COUNTERS = COUNTERS_COUNT


# --- the arrays a call receives ---------------------------------------------------------------
# Columns arrive as numpy arrays, checked here for dtype, layout and writability and then read
# through their data pointers: a typed memoryview per argument costs more than posting a
# voucher (the calls of a one-entry post take over thirty of them).

cdef inline char* data_of(cnp.ndarray array, cnp.dtype dtype, bint writable, str name,
                          int ndim=1) except? NULL:
    """The data of `array` (NULL when it is empty), after checking that it is C-contiguous,
    of `ndim` dimensions, of `dtype` (or one equivalent to it: same kind, size and byte
    order) and, if `writable`, writable."""
    if (array.descr is not dtype and not cnp.PyArray_EquivTypes(array.descr, dtype)) \
            or not cnp.PyArray_IS_C_CONTIGUOUS(array) or cnp.PyArray_NDIM(array) != ndim:
        raise ValueError(f"{name}: expected a C-contiguous {ndim}-d array of {dtype}, "
                         f"got {array.dtype} of shape {(<object>array).shape}")
    if writable and not cnp.PyArray_ISWRITEABLE(array):
        raise ValueError(f"{name}: expected a writable array")
    return <char*>cnp.PyArray_DATA(array) if cnp.PyArray_SIZE(array) > 0 else NULL


cdef inline int64_t length(cnp.ndarray array) noexcept:
    """The number of rows of an array (0 for an empty one)."""
    return cnp.PyArray_DIMS(array)[0] if cnp.PyArray_NDIM(array) > 0 else 0


cdef enum:
    # How many entries ahead the loop prefetches account rows and key slots.
    PREFETCH_ENTRIES = 12
    # Size of the ring of prefetched home slots: a power of two above PREFETCH_ENTRIES.
    PREFETCH_RING = 16

# Fingerprint constants as C constants, which the compiler folds into the code (a module-level
# cdef variable is read from memory on every use).
cdef extern from *:
    """
    /* Each constant xored into a multiplier keeps it nonzero: K2 and K5 have the top bit
       set (a pending key or a fourth dimension code would have to be negative), and K4's
       high half is nonzero (an account is 32 bits). */
    #define LEDGER_FP_K1 0xC2B2AE3D27D4EB4FULL
    #define LEDGER_FP_K2 0x85EBCA77C2B2AE63ULL
    #define LEDGER_FP_K3 0x27D4EB2F165667C5ULL
    #define LEDGER_FP_K4 0x165667B19E3779F9ULL
    #define LEDGER_FP_K5 0x9FB21C651E98DF25ULL
    /* ledger_mum(LEDGER_FP_K1, LEDGER_FP_K5): what dims_hash of four zero codes cancels. */
    #define LEDGER_FP_DIMS0 0x6E34F8BEA6B2418DULL

    /* The 128-bit product of a and b, folded: low half xor high half. On x86-64 one mulq
       (GCC spills an unsigned __int128 product in a loop to the stack). */
    static inline uint64_t ledger_mum(uint64_t a, uint64_t b) {
    #if defined(__GNUC__) && defined(__x86_64__)
        uint64_t lo, hi;
        __asm__("mulq %3" : "=a"(lo), "=d"(hi) : "%0"(a), "rm"(b) : "cc");
        return lo ^ hi;
    #else
        unsigned __int128 p = (unsigned __int128)a * b;
        return (uint64_t)p ^ (uint64_t)(p >> 64);
    #endif
    }
    """
    const uint64_t FP_K1 "LEDGER_FP_K1"
    const uint64_t FP_K2 "LEDGER_FP_K2"
    const uint64_t FP_K3 "LEDGER_FP_K3"
    const uint64_t FP_K4 "LEDGER_FP_K4"
    const uint64_t FP_K5 "LEDGER_FP_K5"
    const uint64_t FP_DIMS0 "LEDGER_FP_DIMS0"
    uint64_t mum "ledger_mum"(uint64_t a, uint64_t b) nogil


cdef inline uint64_t mix64(uint64_t z) noexcept nogil:
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef inline uint64_t home_slot(int64_t key, uint64_t mask) noexcept nogil:
    """Where a key's probe starts: runs of 8 consecutive keys share a random 8-slot block.

    Callers usually take keys from a sequence; keeping 8 of them in two cache lines saves
    most of the table's cache misses, and the block's base is still a full hash.
    """
    return ((mix64(<uint64_t>key >> 3) << 3) | (<uint64_t>key & 7)) & mask


cdef struct Batch:
    const int64_t* keys
    const int64_t* offsets
    const int32_t* accounts
    const int64_t* amounts
    const int32_t* dims          # n_lines x 4, or NULL
    const uint16_t* flags        # or NULL: all 0
    const int32_t* dates
    const int64_t* pending_keys  # or NULL: all 0 (resolving nothing)
    const int32_t* books         # the entry's book, -1 for the first line's, -2 unknown; NULL: all -1
    const uint64_t* extra        # hash of fields the kernel does not see (kind, reference); NULL: 0
    const uint8_t* period_closed # per entry, 1 when its date falls in a closed period, or NULL
    int64_t entries_count


cdef inline uint16_t entry_flags(const Batch* b, int64_t e) noexcept nogil:
    return b.flags[e] if b.flags != NULL else 0


cdef inline int64_t pending_key(const Batch* b, int64_t e) noexcept nogil:
    return b.pending_keys[e] if b.pending_keys != NULL else 0


cdef inline int32_t given_book(const Batch* b, int64_t e) noexcept nogil:
    return b.books[e] if b.books != NULL else -1


cdef inline uint64_t extra_hash(const Batch* b, int64_t e) noexcept nogil:
    return b.extra[e] if b.extra != NULL else 0


cdef struct State:
    AccountRow* accounts
    int64_t accounts_count
    EntrySlot* entry_table
    uint64_t entry_mask
    PendingSlot* pending_table
    uint64_t pending_mask
    int32_t* pending_accounts
    int64_t* pending_amounts
    int64_t* counters
    ledger_int128* group_sums
    int32_t groups_count
    int64_t lines_max


cdef inline int32_t entry_book(const Batch* b, const AccountRow* rows, int64_t rows_count,
                               int64_t e) noexcept nogil:
    """The entry's book: its own, else its first line's account's, else -1.

    An unknown book (< -1) is the entry's own too: the entry is refused with book_not_found,
    and its fingerprint must differ from that of the same lines in a book that exists.
    """
    cdef int64_t a
    if given_book(b, e) != -1 or b.offsets[e + 1] == b.offsets[e]:
        return given_book(b, e)
    a = b.accounts[b.offsets[e]]
    if 0 <= a < rows_count:
        return rows[a].book
    return -1


cdef inline uint64_t dims_hash(const int32_t* dims, int64_t i) noexcept nogil:
    """Line i's dimension codes hashed to 64 bits; 0 when all four are 0, so that zero dims
    in a dims column fingerprint the same as no dims column."""
    return mum(
        (<uint64_t><uint32_t>dims[4 * i] | (<uint64_t><uint32_t>dims[4 * i + 1] << 32)) ^ FP_K1,
        (<uint64_t><uint32_t>dims[4 * i + 2] | (<uint64_t><uint32_t>dims[4 * i + 3] << 32)) ^ FP_K5,
    ) ^ FP_DIMS0


cdef inline uint64_t fingerprint_fields(const Batch* b, int64_t e, int32_t book, uint16_t f,
                                        int64_t pk) noexcept nogil:
    """A 64-bit hash of everything that makes up entry e except its key; `book` is its
    resolved book (entry_book).

    The book is the resolved one, so an entry posted through the record path (which names
    its book) and the same entry through the bulk path (book of the first line) agree.
    The header (book and date in one word, the pending key, extra) and then each line go
    through a chain of folded 128-bit multiplies (mum): one per line, two with dimensions.
    Flags and the line count enter the last word, and the result goes through mix64.
    `f` and `pk` are the entry's flags and pending key (entry_flags, pending_key).
    """
    cdef int64_t i
    cdef int64_t start = b.offsets[e]
    cdef int64_t end = b.offsets[e + 1]
    cdef const int32_t* accounts = b.accounts
    cdef const int64_t* amounts = b.amounts
    cdef const int32_t* dims = b.dims
    cdef uint64_t h = mum(
        ((<uint64_t><uint32_t>b.dates[e] << 32) | <uint64_t><uint32_t>book) ^ FP_K1,
        <uint64_t>pk ^ FP_K2,
    )
    h = mum(h ^ extra_hash(b, e), FP_K3)
    # Two loops, so that the common case (no dimensions) tests for them once per entry.
    if dims == NULL:
        for i in range(start, end):
            h = mum(h ^ <uint64_t>amounts[i], <uint64_t><uint32_t>accounts[i] ^ FP_K4)
    else:
        for i in range(start, end):
            h = mum(h ^ <uint64_t>amounts[i] ^ dims_hash(dims, i), <uint64_t><uint32_t>accounts[i] ^ FP_K4)
    return mix64(h ^ (<uint64_t>(end - start) | (<uint64_t>f << 32)))


cdef inline uint64_t fingerprint_of(const Batch* b, int64_t e, int32_t book) noexcept nogil:
    """fingerprint_fields of entry e with its own flags and pending key."""
    return fingerprint_fields(b, e, book, entry_flags(b, e), pending_key(b, e))


cdef inline uint64_t fingerprint(const Batch* b, const AccountRow* rows, int64_t rows_count,
                                 int64_t e) noexcept nogil:
    """The fingerprint of entry e (see fingerprint_of)."""
    return fingerprint_of(b, e, entry_book(b, rows, rows_count, e))


# --- open-addressing tables (key 0 empty, -1 tombstone, linear probing) ---------------------

cdef inline int64_t entry_find(const State* s, int64_t key) noexcept nogil:
    cdef uint64_t i = home_slot(key, s.entry_mask)
    while True:
        if s.entry_table[i].key == key:
            return <int64_t>i
        if s.entry_table[i].key == 0:
            return -1
        i = (i + 1) & s.entry_mask


cdef inline void put_key(State* s, int64_t i, int64_t key, uint64_t fp) noexcept nogil:
    """Stores a new key at slot i (the first free slot of its probe sequence)."""
    if s.entry_table[i].key == -1:
        s.counters[COUNTER_ENTRY_TOMBSTONES] -= 1
    s.entry_table[i].key = key
    s.entry_table[i].fingerprint = fp
    s.counters[COUNTER_ENTRIES] += 1


cdef inline void entry_remove(State* s, int64_t key) noexcept nogil:
    cdef int64_t i = entry_find(s, key)
    s.entry_table[i].key = -1
    s.entry_table[i].fingerprint = 0
    s.counters[COUNTER_ENTRIES] -= 1
    s.counters[COUNTER_ENTRY_TOMBSTONES] += 1


cdef inline int64_t pending_find(const State* s, int64_t key) noexcept nogil:
    cdef uint64_t i = home_slot(key, s.pending_mask)
    while True:
        if s.pending_table[i].key == key:
            return <int64_t>i
        if s.pending_table[i].key == 0:
            return -1
        i = (i + 1) & s.pending_mask


cdef inline int64_t pending_insert(State* s, int64_t key) noexcept nogil:
    cdef uint64_t i = home_slot(key, s.pending_mask)
    while s.pending_table[i].key > 0:
        i = (i + 1) & s.pending_mask
    if s.pending_table[i].key == -1:
        s.counters[COUNTER_PENDING_TOMBSTONES] -= 1
    s.pending_table[i].key = key
    s.counters[COUNTER_PENDINGS] += 1
    return <int64_t>i


# --- one entry ----------------------------------------------------------------------------------

cdef inline void apply_line(AccountRow* row, int64_t amount, bint pending, int sign) noexcept nogil:
    """Add one line to its account's posted or pending column; sign -1 takes it off again."""
    if amount > 0:
        if pending:
            row.debits_pending += sign * amount
        else:
            row.debits_posted += sign * amount
    else:
        if pending:
            row.credits_pending -= sign * amount
        else:
            row.credits_posted -= sign * amount


cdef inline void resolve_line(AccountRow* row, int64_t amount, bint post, int sign) noexcept nogil:
    """Move a pending line's amount out of pending (and into posted when post); sign -1 undoes."""
    if amount > 0:
        row.debits_pending -= sign * amount
        if post:
            row.debits_posted += sign * amount
    else:
        row.credits_pending += sign * amount
        if post:
            row.credits_posted -= sign * amount


cdef struct Scan:
    int32_t book             # the entry's book (see entry_book)
    bint multi_group         # lines of more than one balance group
    bint constrained         # some line's account has a constraint flag
    ledger_int128 total      # sum of all amounts (the group's, when there is one group)


# Failure bits of scan_lines, lowest = highest precedence.
cdef enum:
    FAIL_AMOUNT = 1
    FAIL_ACCOUNT_NOT_FOUND = 2
    FAIL_ACCOUNT_CLOSED = 4
    FAIL_BOOK_NOT_FOUND = 8
    FAIL_CROSS_BOOK = 16


cdef inline int scan_lines(const Batch* b, State* s, int64_t e, Scan* scan) noexcept nogil:
    """All checks of each line on its own, in one pass; returns the first code by precedence.

    The pass records every failure as a bit and picks the highest-precedence one at the end,
    so the result is the same as checking rule by rule over all lines. Over the lines whose
    account exists it folds the account fields without a branch: the or of their flags
    (closed, constrained), and the or of (book, group) xor (the entry's book, the first
    line's group), read as one 64-bit word (book and group are adjacent int32s): its book
    half is nonzero on cross_book, its group half when the lines span several groups.
    """
    # Columns, rows and results live in locals: a store through `scan` could alias the
    # batch's arrays as far as the compiler knows, and would force reloads on every line.
    cdef int64_t i, a, amount
    cdef int64_t start = b.offsets[e]
    cdef int64_t end = b.offsets[e + 1]
    cdef const int32_t* accounts = b.accounts
    cdef const int64_t* amounts = b.amounts
    cdef const AccountRow* rows = s.accounts
    cdef uint64_t rows_count = <uint64_t>s.accounts_count
    cdef int fail = 0
    cdef int32_t book = given_book(b, e)
    cdef int32_t pair[2]
    cdef uint64_t reference = 0
    cdef uint64_t word
    cdef uint64_t differ = 0
    cdef uint32_t flags_or = 0
    cdef ledger_int128 total = 0
    cdef const AccountRow* row
    if book < -1:
        fail |= FAIL_BOOK_NOT_FOUND
    # The entry's book as entry_book, and the first line's group (when its account does not
    # exist the entry fails anyway), from one read of the first line's row.
    pair[0] = book
    pair[1] = 0
    if start < end and <uint64_t>accounts[start] < rows_count:
        memcpy(pair, &rows[accounts[start]].book, 8)
        if book == -1:
            book = pair[0]
        else:
            pair[0] = book
    memcpy(&reference, pair, 8)
    for i in range(start, end):
        amount = amounts[i]
        a = accounts[i]
        fail |= FAIL_AMOUNT * ((amount & INT64_MAX) == 0)  # 0 or INT64_MIN
        total += amount
        if <uint64_t>a >= rows_count:
            fail |= FAIL_ACCOUNT_NOT_FOUND
            continue
        row = &rows[a]
        flags_or |= row.flags
        memcpy(&word, &row.book, 8)
        differ |= word ^ reference
    memcpy(pair, &differ, 8)
    if (flags_or & ACCOUNT_CLOSED) and not (entry_flags(b, e) & ENTRY_VOID_PENDING):
        fail |= FAIL_ACCOUNT_CLOSED
    if pair[0] != 0:
        fail |= FAIL_CROSS_BOOK
    scan.book = book
    scan.multi_group = pair[1] != 0
    scan.constrained = (flags_or & (ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS | ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS)) != 0
    scan.total = total
    if fail == 0:
        return CODE_OK
    if fail & FAIL_AMOUNT:
        return CODE_AMOUNT_INVALID
    if fail & FAIL_ACCOUNT_NOT_FOUND:
        return CODE_ACCOUNT_NOT_FOUND
    if fail & FAIL_ACCOUNT_CLOSED:
        return CODE_ACCOUNT_CLOSED
    if fail & FAIL_BOOK_NOT_FOUND:
        return CODE_BOOK_NOT_FOUND
    return CODE_CROSS_BOOK


cdef inline bint balanced(const Batch* b, State* s, int64_t e, const Scan* scan) noexcept nogil:
    """True when the entry nets to zero in every balance group it touches."""
    cdef int64_t i
    cdef int64_t start = b.offsets[e]
    cdef int64_t end = b.offsets[e + 1]
    if not scan.multi_group:
        return scan.total == 0
    for i in range(start, end):
        s.group_sums[s.accounts[b.accounts[i]].group] = 0
    for i in range(start, end):
        s.group_sums[s.accounts[b.accounts[i]].group] += b.amounts[i]
    for i in range(start, end):
        if s.group_sums[s.accounts[b.accounts[i]].group] != 0:
            return False
    return True


cdef inline bint add_checked(int64_t* field, int64_t amount) noexcept nogil:
    """field += amount (amount > 0), wrapping; True when it wrapped. Undo with sub_wrapping."""
    return __builtin_add_overflow(field[0], amount, field)


cdef inline void sub_wrapping(int64_t* field, int64_t amount) noexcept nogil:
    field[0] = <int64_t>(<uint64_t>field[0] - <uint64_t>amount)


cdef inline int64_t* line_column(AccountRow* row, int64_t amount, bint pending) noexcept nogil:
    """The balance column a line adds to, chosen without a branch on the (random) sign.

    The four columns are adjacent int64s: debits_posted, credits_posted, debits_pending,
    credits_pending.
    """
    return &row.debits_posted + 2 * <int>pending + <int>(amount < 0)


cdef inline bint apply_lines(const Batch* b, State* s, int64_t e, bint pending) noexcept nogil:
    """Adds every line to its account; True on overflow (the caller undoes the entry).

    Overflow is a column that wrapped or a side whose posted + pending no longer fits
    int64. Columns only grow here, so checking after each line is the same as checking
    the entry's whole effect.
    """
    cdef int64_t i, amount, total
    cdef int64_t start = b.offsets[e]
    cdef int64_t end = b.offsets[e + 1]
    cdef const int32_t* accounts = b.accounts
    cdef const int64_t* amounts = b.amounts
    cdef AccountRow* rows = s.accounts
    cdef bint overflow = False
    cdef int64_t* side
    # Pointers in locals: stores into rows need not reload them (see scan_lines).
    # A line changes one side only (debits: columns 0 and 2, credits: 1 and 3), and the
    # other side was checked when it last changed, so checking this side is enough.
    for i in range(start, end):
        amount = amounts[i]
        side = line_column(&rows[accounts[i]], amount, False)
        overflow |= add_checked(side + 2 * <int>pending, amount if amount > 0 else -amount)
        overflow |= __builtin_add_overflow(side[0], side[2], &total)
    return overflow


cdef inline void unapply_lines(const Batch* b, State* s, int64_t e, bint pending) noexcept nogil:
    """Exactly reverses apply_lines, wrapped columns included (modular arithmetic)."""
    cdef int64_t i, amount
    for i in range(b.offsets[e], b.offsets[e + 1]):
        amount = b.amounts[i]
        sub_wrapping(line_column(&s.accounts[b.accounts[i]], amount, pending),
                     amount if amount > 0 else -amount)


cdef inline int check_constraints(const Batch* b, State* s, int64_t e) noexcept nogil:
    """After apply_lines: each account's constraint on the entry's whole effect.

    An account's constraint compares the side it limits (posted + pending) with the other
    side's posted amount; exceeds_credits is checked on every line before exceeds_debits.
    """
    cdef int64_t i
    cdef const int32_t* accounts = b.accounts
    cdef const AccountRow* rows = s.accounts
    cdef const AccountRow* row
    cdef bint over_credits = False
    cdef bint over_debits = False
    # One pass, no branch on the (unpredictable) flags: both violations are collected, and
    # exceeds_credits wins over exceeds_debits as if the lines were checked rule by rule.
    for i in range(b.offsets[e], b.offsets[e + 1]):
        row = &rows[accounts[i]]
        over_credits |= ((row.flags & ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS) != 0) & (
            row.debits_posted + row.debits_pending > row.credits_posted
        )
        over_debits |= ((row.flags & ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS) != 0) & (
            row.credits_posted + row.credits_pending > row.debits_posted
        )
    if over_credits:
        return CODE_EXCEEDS_CREDITS
    if over_debits:
        return CODE_EXCEEDS_DEBITS
    return CODE_OK


cdef int resolve_pending(const Batch* b, State* s, int64_t e, int32_t book, bint apply) noexcept nogil:
    """Checks (and, when apply, carries out) a post_pending / void_pending entry."""
    cdef int64_t i, k, start, count
    cdef int64_t n_lines = b.offsets[e + 1] - b.offsets[e]
    cdef int64_t p = pending_find(s, pending_key(b, e))
    cdef bint post = (entry_flags(b, e) & ENTRY_POST_PENDING) != 0
    if p < 0:
        return CODE_PENDING_NOT_FOUND
    if s.pending_table[p].state != PENDING_OPEN:
        return CODE_PENDING_ALREADY_RESOLVED
    start = s.pending_table[p].lines_start
    count = s.pending_table[p].lines_count
    if book >= 0 and book != s.pending_table[p].book:
        return CODE_CROSS_BOOK
    if n_lines > 0:
        if n_lines != count:
            return CODE_PENDING_LINES_DIFFER
        for k in range(count):
            i = b.offsets[e] + k
            if b.accounts[i] != s.pending_accounts[start + k] or b.amounts[i] != s.pending_amounts[start + k]:
                return CODE_PENDING_LINES_DIFFER
    if post:
        for k in range(count):
            if s.accounts[s.pending_accounts[start + k]].flags & ACCOUNT_CLOSED:
                return CODE_ACCOUNT_CLOSED
    if b.period_closed != NULL and b.period_closed[e]:
        return CODE_PERIOD_CLOSED
    if apply:
        for k in range(count):
            resolve_line(&s.accounts[s.pending_accounts[start + k]], s.pending_amounts[start + k], post, 1)
        s.pending_table[p].state = PENDING_POSTED if post else PENDING_VOIDED
    return CODE_OK


cdef int existing_code(const Batch* b, State* s, int64_t e, uint64_t slot) noexcept nogil:
    """The code of an entry whose key is already at `slot`: exists when the fingerprints match.

    An entry without lines or a book of its own is fingerprinted in the book of the pending
    entry it names (as process_entry stores a post or void), so that it replays as `exists`
    whether it came through the record path (which names the book) or the bulk path.
    """
    cdef int32_t book = entry_book(b, s.accounts, s.accounts_count, e)
    cdef int64_t p
    if book == -1 and b.offsets[e + 1] == b.offsets[e] and pending_key(b, e) > 0:
        p = pending_find(s, pending_key(b, e))
        if p >= 0:
            book = s.pending_table[p].book
    if s.entry_table[slot].fingerprint == fingerprint_of(b, e, book):
        return CODE_EXISTS
    return CODE_EXISTS_WITH_DIFFERENT_FIELDS


cdef bint flags_invalid(uint16_t f, int64_t pending) noexcept nogil:
    """True when flags f with pending key `pending` are refused with flags_invalid."""
    cdef bint resolving = (f & (ENTRY_POST_PENDING | ENTRY_VOID_PENDING)) != 0
    cdef int kinds = ((f & ENTRY_PENDING) != 0) + ((f & ENTRY_POST_PENDING) != 0) + ((f & ENTRY_VOID_PENDING) != 0)
    if (f & ~ENTRY_FLAGS_ALL) or kinds > 1:
        return True
    return resolving != (pending != 0) or pending < 0


cdef void store_pending(const Batch* b, State* s, int64_t e, int32_t book) noexcept nogil:
    """Enters a pending entry's key and lines into the pending store."""
    cdef int64_t i
    cdef int64_t start = b.offsets[e]
    cdef int64_t end = b.offsets[e + 1]
    cdef int64_t p = pending_insert(s, b.keys[e])
    s.pending_table[p].lines_start = s.counters[COUNTER_PENDING_LINES]
    s.pending_table[p].lines_count = <int32_t>(end - start)
    s.pending_table[p].book = book
    s.pending_table[p].state = PENDING_OPEN
    for i in range(start, end):
        s.pending_accounts[s.counters[COUNTER_PENDING_LINES]] = b.accounts[i]
        s.pending_amounts[s.counters[COUNTER_PENDING_LINES]] = b.amounts[i]
        s.counters[COUNTER_PENDING_LINES] += 1


cdef int refuse_applied(const Batch* b, State* s, int64_t e, bint pending, int code) noexcept nogil:
    """Takes an applied entry's lines off again; returns code."""
    unapply_lines(b, s, e, pending)
    return code


cdef int process_entry(const Batch* b, State* s, int64_t e, uint16_t f, bint last,
                       uint64_t home) noexcept nogil:
    """Validates entry e and applies it when every check passes; returns its code.

    `f` is entry_flags(b, e); `home` is home_slot(key, entry_mask), computed when the entry
    was prefetched. The rare paths (a known key, flags or a pending key, resolving, pending,
    a refused application) are separate functions; the compiler decides what to inline (out
    of line hints measured no faster).
    """
    cdef int64_t start, end, n_lines
    cdef int64_t pk = pending_key(b, e)
    cdef int64_t key = b.keys[e]
    cdef int64_t slot_key
    cdef uint64_t slot
    cdef int64_t free_slot = -1
    cdef Scan scan
    cdef int code
    cdef bint pending = (f & ENTRY_PENDING) != 0
    cdef bint resolving = (f & (ENTRY_POST_PENDING | ENTRY_VOID_PENDING)) != 0
    start = b.offsets[e]
    end = b.offsets[e + 1]
    n_lines = end - start

    if unlikely((f & ENTRY_LINKED) and last):
        return CODE_LINKED_CHAIN_OPEN
    if unlikely(key <= 0):
        return CODE_KEY_INVALID
    # One probe both finds the key and remembers where it would go.
    slot = home
    slot_key = s.entry_table[slot].key
    while slot_key != 0:
        if unlikely(slot_key == key):
            return existing_code(b, s, e, slot)
        if slot_key == -1 and free_slot < 0:
            free_slot = <int64_t>slot
        slot = (slot + 1) & s.entry_mask
        slot_key = s.entry_table[slot].key
    if free_slot < 0:
        free_slot = <int64_t>slot
    if unlikely((f | <uint64_t>pk) != 0) and flags_invalid(f, pk):
        return CODE_FLAGS_INVALID
    if unlikely(n_lines < 2) and not (resolving and n_lines == 0):
        return CODE_NO_LINES
    if unlikely(n_lines > s.lines_max):
        return CODE_TOO_MANY_LINES
    code = scan_lines(b, s, e, &scan)
    if unlikely(code != CODE_OK):
        return code
    if unlikely(resolving):
        code = resolve_pending(b, s, e, scan.book if n_lines > 0 else given_book(b, e), True)
        if code != CODE_OK:
            return code
        if n_lines == 0 and scan.book == -1:  # no book given: the pending entry's (its fingerprint)
            scan.book = s.pending_table[pending_find(s, pk)].book
    else:
        if unlikely(b.period_closed != NULL and b.period_closed[e]):
            return CODE_PERIOD_CLOSED
        if unlikely(not balanced(b, s, e, &scan)):
            return CODE_UNBALANCED
        if unlikely(apply_lines(b, s, e, pending)):
            return refuse_applied(b, s, e, pending, CODE_OVERFLOW)
        if unlikely(scan.constrained):
            code = check_constraints(b, s, e)
            if code != CODE_OK:
                return refuse_applied(b, s, e, pending, code)
        if unlikely(pending):
            store_pending(b, s, e, scan.book)
    put_key(s, free_slot, key, fingerprint_fields(b, e, scan.book, f, pk))
    return CODE_OK


cdef void undo_entry(const Batch* b, State* s, int64_t e) noexcept nogil:
    """Reverses an applied entry exactly (entries of a failed chain, newest first)."""
    cdef int64_t i, k, p, start, count
    cdef uint16_t f = entry_flags(b, e)
    entry_remove(s, b.keys[e])
    if f & (ENTRY_POST_PENDING | ENTRY_VOID_PENDING):
        p = pending_find(s, pending_key(b, e))
        start = s.pending_table[p].lines_start
        count = s.pending_table[p].lines_count
        for k in range(count):
            resolve_line(&s.accounts[s.pending_accounts[start + k]], s.pending_amounts[start + k],
                         (f & ENTRY_POST_PENDING) != 0, -1)
        s.pending_table[p].state = PENDING_OPEN
        return
    for i in range(b.offsets[e], b.offsets[e + 1]):
        apply_line(&s.accounts[b.accounts[i]], b.amounts[i], (f & ENTRY_PENDING) != 0, -1)
    if f & ENTRY_PENDING:
        p = pending_find(s, b.keys[e])
        s.pending_table[p].key = -1
        s.counters[COUNTER_PENDINGS] -= 1
        s.counters[COUNTER_PENDING_TOMBSTONES] += 1
        s.counters[COUNTER_PENDING_LINES] -= b.offsets[e + 1] - b.offsets[e]


cdef inline uint64_t prefetch_entry(const Batch* b, const State* s, int64_t e) noexcept nogil:
    """Prefetches entry e's key slot and account rows; returns the key's home slot."""
    cdef int64_t i, a
    cdef const int32_t* accounts = b.accounts
    cdef const AccountRow* rows = s.accounts
    cdef uint64_t rows_count = <uint64_t>s.accounts_count
    cdef uint64_t home = home_slot(b.keys[e], s.entry_mask)
    LEDGER_PREFETCH(&s.entry_table[home])
    for i in range(b.offsets[e], b.offsets[e + 1]):
        a = accounts[i]
        if <uint64_t>a < rows_count:
            LEDGER_PREFETCH(&rows[a])
    return home


cdef void fail_chain(const Batch* b, State* s, uint8_t* codes, int64_t chain_start,
                     int64_t e) noexcept nogil:
    """Undoes the applied entries chain_start .. e - 1 of a failed chain, newest first."""
    cdef int64_t j = e - 1
    while j >= chain_start:
        undo_entry(b, s, j)
        codes[j] = CODE_LINKED_EVENT_FAILED
        j -= 1


cdef void run_batch(const Batch* b, State* s, uint8_t* codes) noexcept nogil:
    cdef int64_t e
    cdef int64_t n = b.entries_count
    cdef int64_t chain_start = -1
    cdef bint chain_failed = False
    cdef bint linked
    cdef uint16_t f
    cdef int code
    # Home slots of the prefetched entries, kept until they are processed.
    cdef uint64_t homes[PREFETCH_RING]
    for e in range(min(PREFETCH_ENTRIES, n)):
        homes[e & (PREFETCH_RING - 1)] = prefetch_entry(b, s, e)
    for e in range(n):
        if e + PREFETCH_ENTRIES < n:
            homes[(e + PREFETCH_ENTRIES) & (PREFETCH_RING - 1)] = prefetch_entry(b, s, e + PREFETCH_ENTRIES)
        f = entry_flags(b, e)
        if chain_failed:
            code = CODE_LINKED_EVENT_FAILED
        else:
            code = process_entry(b, s, e, f, e == n - 1, homes[e & (PREFETCH_RING - 1)])
        # Chain bookkeeping only while inside a chain or on a linked entry.
        linked = (f & ENTRY_LINKED) != 0
        if unlikely(linked or chain_start >= 0):
            if chain_start < 0:
                chain_start = e
            if code != CODE_OK and not chain_failed:
                fail_chain(b, s, codes, chain_start, e)
                chain_failed = True
            if not linked:
                chain_start = -1
                chain_failed = False
        codes[e] = <uint8_t>code


cdef inline int per_entry(cnp.ndarray column, int64_t n, str name) except -1:
    """An optional column: empty (absent), or a value per entry."""
    if column is not None and 0 < length(column) < n:
        raise ValueError(f"{name}: one per entry, or none")
    return 0


cdef int set_batch(Batch* b, cnp.ndarray keys, cnp.ndarray offsets, cnp.ndarray accounts,
                   cnp.ndarray amounts, cnp.ndarray dims, cnp.ndarray flags, cnp.ndarray dates,
                   cnp.ndarray pending_keys, cnp.ndarray books, cnp.ndarray extra,
                   cnp.ndarray period_closed) except -1:
    """Point `b` at a batch's columns (see post_batch for what an empty column stands for);
    `keys` and `period_closed` may be None (a call that reads neither)."""
    b.keys = <const int64_t*>data_of(keys, INT64, False, "keys") if keys is not None else NULL
    b.offsets = <const int64_t*>data_of(offsets, INT64, False, "offsets")
    b.accounts = <const int32_t*>data_of(accounts, INT32, False, "accounts")
    b.amounts = <const int64_t*>data_of(amounts, INT64, False, "amounts")
    b.dims = <const int32_t*>data_of(dims, INT32, False, "dims", 2)
    if cnp.PyArray_DIMS(dims)[1] != 4:
        raise ValueError("dims: expected an array of 4 codes per line")
    b.flags = <const uint16_t*>data_of(flags, UINT16, False, "flags")
    b.dates = <const int32_t*>data_of(dates, INT32, False, "dates")
    b.pending_keys = <const int64_t*>data_of(pending_keys, INT64, False, "pending_keys")
    b.books = <const int32_t*>data_of(books, INT32, False, "books")
    b.extra = <const uint64_t*>data_of(extra, UINT64, False, "extra")
    b.period_closed = NULL
    if period_closed is not None:
        b.period_closed = <const uint8_t*>data_of(period_closed, UINT8, False, "period_closed")
    # Offsets and lengths, so that no read goes past an array.
    cdef int64_t n = length(offsets) - 1
    cdef int64_t e
    if n < 0 or b.offsets[0] != 0:
        raise ValueError("offsets: expected n + 1 offsets from 0")
    for e in range(n):
        if b.offsets[e + 1] < b.offsets[e]:
            raise ValueError("offsets: expected offsets that do not decrease")
    cdef int64_t m = b.offsets[n]
    if length(accounts) < m or length(amounts) < m or (b.dims != NULL and length(dims) < m):
        raise ValueError("accounts, amounts and dims: one per line up to the last offset")
    if (keys is not None and length(keys) < n) or length(dates) < n:
        raise ValueError("keys and dates: one per entry")
    per_entry(flags, n, "flags")
    per_entry(pending_keys, n, "pending_keys")
    per_entry(books, n, "books")
    per_entry(extra, n, "extra")
    per_entry(period_closed, n, "period_closed")
    b.entries_count = n
    return 0


def post_batch(
    cnp.ndarray keys not None,
    cnp.ndarray offsets not None,
    cnp.ndarray accounts not None,
    cnp.ndarray amounts not None,
    cnp.ndarray dims not None,
    cnp.ndarray flags not None,
    cnp.ndarray dates not None,
    cnp.ndarray pending_keys not None,
    cnp.ndarray books not None,
    cnp.ndarray extra not None,
    cnp.ndarray period_closed not None,
    cnp.ndarray account_table not None,
    cnp.ndarray entry_table not None,
    cnp.ndarray pending_table not None,
    cnp.ndarray pending_accounts not None,
    cnp.ndarray pending_amounts not None,
    cnp.ndarray counters not None,
    int32_t groups_count,
    int64_t lines_max,
    cnp.ndarray codes not None,
):
    """Process a batch in order, writing one code per entry into `codes` (see module doc).

    The caller (ledger.posting) has made room: the hash tables at most half full after the
    batch (a power-of-two size), the pending store large enough for every pending line.
    Dtypes, layouts, lengths and the offsets' order are checked here. An empty array stands for a
    column that is absent: `dims` (no dimensions), `period_closed` (no closed periods),
    `flags` (all 0), `pending_keys` (all 0), `books` (all -1: each entry's book is its
    first line's) and `extra` (all 0).
    """
    cdef Batch b
    cdef State s
    set_batch(&b, keys, offsets, accounts, amounts, dims, flags, dates, pending_keys, books, extra,
              period_closed)
    cdef uint8_t* out = <uint8_t*>data_of(codes, UINT8, True, "codes")
    s.accounts = <AccountRow*>data_of(account_table, ACCOUNT_ROW, True, "account_table")
    s.accounts_count = length(account_table)
    s.entry_table = <EntrySlot*>data_of(entry_table, ENTRY_SLOT, True, "entry_table")
    s.entry_mask = length(entry_table) - 1
    s.pending_table = <PendingSlot*>data_of(pending_table, PENDING_SLOT, True,
                                            "pending_table")
    s.pending_mask = length(pending_table) - 1
    s.pending_accounts = <int32_t*>data_of(pending_accounts, INT32, True, "pending_accounts")
    s.pending_amounts = <int64_t*>data_of(pending_amounts, INT64, True, "pending_amounts")
    s.counters = <int64_t*>data_of(counters, INT64, True, "counters")
    s.groups_count = groups_count
    s.lines_max = lines_max
    if b.entries_count == 0:
        return
    if length(codes) < b.entries_count or s.entry_table == NULL or s.pending_table == NULL \
            or length(counters) < COUNTERS:
        raise ValueError("post_batch: a code per entry, non-empty key tables and every counter")
    with nogil:
        s.group_sums = <ledger_int128*>malloc(sizeof(ledger_int128) * (groups_count + 1))
    if s.group_sums == NULL:
        raise MemoryError()
    with nogil:
        run_batch(&b, &s, out)
        free(s.group_sums)


def rehash_entries(EntrySlot[::1] old, EntrySlot[::1] new):
    """Insert every live key of `old` into the empty table `new` (size a power of two)."""
    cdef int64_t i
    cdef uint64_t j
    cdef uint64_t mask = new.shape[0] - 1
    with nogil:
        for i in range(old.shape[0]):
            if old[i].key > 0:
                j = home_slot(old[i].key, mask)
                while new[j].key != 0:
                    j = (j + 1) & mask
                new[j] = old[i]


def rehash_pending(PendingSlot[::1] old, PendingSlot[::1] new):
    """Insert every live key of `old` into the empty table `new` (size a power of two)."""
    cdef int64_t i
    cdef uint64_t j
    cdef uint64_t mask = new.shape[0] - 1
    with nogil:
        for i in range(old.shape[0]):
            if old[i].key > 0:
                j = home_slot(old[i].key, mask)
                while new[j].key != 0:
                    j = (j + 1) & mask
                new[j] = old[i]


def fingerprints(
    cnp.ndarray offsets not None,
    cnp.ndarray accounts not None,
    cnp.ndarray amounts not None,
    cnp.ndarray dims not None,
    cnp.ndarray flags not None,
    cnp.ndarray dates not None,
    cnp.ndarray pending_keys not None,
    cnp.ndarray books not None,
    cnp.ndarray extra not None,
    cnp.ndarray account_table not None,
    cnp.ndarray out not None,
):
    """The fingerprint of each of the first len(out) entries of a batch (what the entry-key
    table stores).

    A post or void without lines is stored with the book of the pending entry it resolves
    when it names none: give `books` as resolved (journal.entry_books) for those to match.
    """
    cdef Batch b
    cdef int64_t e
    set_batch(&b, None, offsets, accounts, amounts, dims, flags, dates, pending_keys, books, extra, None)
    cdef const AccountRow* rows = <const AccountRow*>data_of(account_table, ACCOUNT_ROW, False,
                                                             "account_table")
    cdef int64_t rows_count = length(account_table)
    cdef uint64_t* fingerprints_out = <uint64_t*>data_of(out, UINT64, True, "out")
    cdef int64_t count = length(out)
    if count > b.entries_count:
        raise ValueError("fingerprints: more outputs than entries")
    with nogil:
        for e in range(count):
            fingerprints_out[e] = fingerprint(&b, rows, rows_count, e)


# --- memory of its own mapping -------------------------------------------------------------------
# numpy advises huge pages for arrays of 4 MiB and more. On a virtual machine whose host takes
# back freed memory (as this project's machines do), first touching such an array costs about
# five times as much as touching ordinary pages (measured: four 100 MB copies 1.08 s with the
# advice, 0.21 s without). A store that keeps copies of what it is given maps them itself.

from libc.stdint cimport uintptr_t

cdef extern from "sys/mman.h":
    void* mmap(void* addr, size_t length, int prot, int flags, int fd, long offset) nogil
    int munmap(void* addr, size_t length) nogil
    int PROT_READ
    int PROT_WRITE
    int MAP_PRIVATE
    int MAP_ANONYMOUS
    void* MAP_FAILED

cdef extern from "Python.h":
    int PyTraceMalloc_Track(unsigned int domain, uintptr_t ptr, size_t size)
    int PyTraceMalloc_Untrack(unsigned int domain, uintptr_t ptr)

cdef enum:
    NUMPY_TRACE_DOMAIN = 389047  # numpy's tracemalloc domain: mapped arrays count as numpy's


cdef class MappedBuffer:
    """Zero-filled, writable anonymous memory of its own mapping, released with the object;
    tracemalloc counts it (in numpy's domain). Exposes the buffer protocol (bytes)."""

    cdef char* data
    cdef Py_ssize_t size
    cdef Py_ssize_t shape[1]
    cdef Py_ssize_t strides[1]

    def __cinit__(self, Py_ssize_t size):
        if size <= 0:
            raise ValueError(f"MappedBuffer: expected a positive size, got {size}")
        cdef void* p = mmap(NULL, <size_t>size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        if p == MAP_FAILED:
            raise MemoryError(f"MappedBuffer: cannot map {size} bytes")
        self.data = <char*>p
        self.size = size
        PyTraceMalloc_Track(NUMPY_TRACE_DOMAIN, <uintptr_t>p, <size_t>size)

    def __dealloc__(self):
        if self.data != NULL:
            PyTraceMalloc_Untrack(NUMPY_TRACE_DOMAIN, <uintptr_t>self.data)
            munmap(self.data, <size_t>self.size)
            self.data = NULL

    def __len__(self):
        return self.size

    def __getbuffer__(self, Py_buffer* buffer, int flags):
        self.shape[0] = self.size
        self.strides[0] = 1
        buffer.buf = self.data
        buffer.obj = self
        buffer.len = self.size
        buffer.readonly = 0
        buffer.itemsize = 1
        buffer.format = "B"
        buffer.ndim = 1
        buffer.shape = self.shape
        buffer.strides = self.strides
        buffer.suboffsets = NULL
        buffer.internal = NULL

    def __releasebuffer__(self, Py_buffer* buffer):
        pass


def mapped_buffer(size):
    """`size` zero bytes of their own mapping (MappedBuffer)."""
    return MappedBuffer(size)


# --- SHA-256 -----------------------------------------------------------------------------------
# The chain's hashes of a small batch, computed where its canonical bytes are written: for a
# voucher's hundred bytes, setting up a hashlib object costs more than the hashing.

cdef extern from *:
    """
    #include <string.h>

    static const uint32_t ledger_sha256_k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

    #define LEDGER_ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

    /* One 64-byte block into the state (FIPS 180-4, 6.2.2). */
    static void ledger_sha256_block(uint32_t *h, const unsigned char *p) {
        uint32_t w[64], a, b, c, d, e, f, g, k, t1, t2;
        int i;
        for (i = 0; i < 16; i++)
            w[i] = ((uint32_t)p[4 * i] << 24) | ((uint32_t)p[4 * i + 1] << 16)
                 | ((uint32_t)p[4 * i + 2] << 8) | (uint32_t)p[4 * i + 3];
        for (i = 16; i < 64; i++)
            w[i] = w[i - 16] + w[i - 7]
                 + (LEDGER_ROTR(w[i - 15], 7) ^ LEDGER_ROTR(w[i - 15], 18) ^ (w[i - 15] >> 3))
                 + (LEDGER_ROTR(w[i - 2], 17) ^ LEDGER_ROTR(w[i - 2], 19) ^ (w[i - 2] >> 10));
        a = h[0]; b = h[1]; c = h[2]; d = h[3]; e = h[4]; f = h[5]; g = h[6]; k = h[7];
        for (i = 0; i < 64; i++) {
            t1 = k + (LEDGER_ROTR(e, 6) ^ LEDGER_ROTR(e, 11) ^ LEDGER_ROTR(e, 25)) + ((e & f) ^ (~e & g))
               + ledger_sha256_k[i] + w[i];
            t2 = (LEDGER_ROTR(a, 2) ^ LEDGER_ROTR(a, 13) ^ LEDGER_ROTR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            k = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
        }
        h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
    }

    /* The SHA-256 of the concatenation of `count` byte strings, into out[0..32). */
    static void ledger_sha256(const char *const *parts, const int64_t *sizes, int count, char *out) {
        uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                         0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
        unsigned char block[64];
        uint64_t total = 0, bits;
        size_t used = 0, take;
        int i;
        for (i = 0; i < count; i++) {
            const unsigned char *p = (const unsigned char *)parts[i];
            size_t left = (size_t)sizes[i];
            total += left;
            while (left > 0) {
                take = 64 - used < left ? 64 - used : left;
                memcpy(block + used, p, take);
                used += take; p += take; left -= take;
                if (used == 64) { ledger_sha256_block(h, block); used = 0; }
            }
        }
        block[used++] = 0x80;
        if (used > 56) { memset(block + used, 0, 64 - used); ledger_sha256_block(h, block); used = 0; }
        memset(block + used, 0, 56 - used);
        bits = total * 8;
        for (i = 0; i < 8; i++) block[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
        ledger_sha256_block(h, block);
        for (i = 0; i < 8; i++) {
            out[4 * i] = (char)(h[i] >> 24); out[4 * i + 1] = (char)(h[i] >> 16);
            out[4 * i + 2] = (char)(h[i] >> 8); out[4 * i + 3] = (char)h[i];
        }
    }
    """
    void c_sha256 "ledger_sha256"(const char* const* parts, const int64_t* sizes, int count, char* out) nogil


def sha256(data):
    """The SHA-256 of `data` (bytes), as small_rows computes it (tests hold it to hashlib's)."""
    cdef bytes raw = bytes(data)
    cdef const char* parts[1]
    cdef int64_t sizes[1]
    out = PyBytes_FromStringAndSize(NULL, 32)
    parts[0] = raw
    sizes[0] = len(raw)
    c_sha256(parts, sizes, 1, PyBytes_AS_STRING(out))
    return out


# --- the rows of a small batch ---------------------------------------------------------------

cdef enum:
    # Days since 1970-01-01 of 0001-01-01 and 9999-12-31: the dates Python's datetime holds.
    DAY_MIN = -719162
    DAY_MAX = 2932896
    PERIOD_SHIFT = 20  # ledger.periods.PERIOD_BITS: a fold key is account << 20 | yyyymm

# Byte widths of the canonical columns (ledger.chain._ENTRY_LAYOUT and _LINE_LAYOUT).
cdef int64_t[8] ENTRY_WIDTHS = [8, 4, 4, 2, 8, 8, 8, 4]
cdef int64_t[8] LINE_WIDTHS = [8, 4, 4, 8, 4, 4, 4, 4]


cdef inline int64_t month_of(int64_t day) noexcept nogil:
    """yyyymm of a day number within DAY_MIN..DAY_MAX (proleptic Gregorian, as Python's
    dates): days from civil, inverted, counting from 0000-03-01 so leap days fall last."""
    cdef int64_t z = day + 719468  # positive from DAY_MIN on, so C division is floor division
    cdef int64_t era = z // 146097
    cdef int64_t doe = z - era * 146097
    cdef int64_t yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    cdef int64_t doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    cdef int64_t mp = (5 * doy + 2) // 153
    cdef int64_t month = mp + 3 if mp < 10 else mp - 9
    return (yoe + era * 400 + (month <= 2)) * 100 + month


cdef inline void put_le(char* p, uint64_t value, int64_t width) noexcept nogil:
    """The low `width` bytes of `value` at p, little-endian."""
    cdef int64_t i
    for i in range(width):
        p[i] = <char>(value >> (8 * i))


cdef inline void column_starts(const int64_t* widths, int64_t rows, int64_t* starts) noexcept nogil:
    """Where each of 8 canonical columns of `rows` rows starts (its length, then its values),
    and their total size in starts[8]."""
    cdef int64_t c
    starts[0] = 0
    for c in range(8):
        starts[c + 1] = starts[c] + 8 + rows * widths[c]


def small_rows(
    cnp.ndarray keys not None,
    cnp.ndarray offsets not None,
    cnp.ndarray accounts not None,
    cnp.ndarray amounts not None,
    cnp.ndarray dims not None,
    cnp.ndarray flags not None,
    cnp.ndarray dates not None,
    cnp.ndarray pending_keys not None,
    cnp.ndarray books not None,
    cnp.ndarray extra not None,
    cnp.ndarray account_table not None,
    cnp.ndarray codes not None,
    bytes prev_hash not None,
    int64_t batch_id,
    bytes texts_digest not None,
):
    """What a batch of accepted ordinary entries stores, as Python values, in one pass, and
    its link in the chain.

    Returns (entries, lines, hash, parts, fold), or None when an entry was not accepted (its
    code in `codes`, from post_batch, is not 0), is pending, a post or a void, or is dated
    outside 0001-01-01..9999-12-31:
    - entries: (key, book, date, flags, pending, extra, fingerprint, line count) per entry,
      extra and fingerprint as signed int64;
    - lines: (entry, line, book, account, amount, dim1..dim4) per line;
    - hash, parts: ledger.chain.link_hash of batch `batch_id` after `prev_hash`, and the
      batch_parts it covers: the SHA-256 of the canonical bytes of the entries and of the
      lines (each column's length, then its values, little-endian), then `texts_digest`;
    - fold: the fold parts (period keys, 1 for a credit, absolute amounts) as lists.
    An accepted entry's book is its own or its first line's account's.
    """
    cdef Batch b
    cdef int64_t n, m, e, i, start, end, day, month, number
    cdef int64_t book, fingerprint_bits, extra_bits, flag_bits, pending_key_
    cdef int64_t key, account, amount, d0, d1, d2, d3
    cdef int64_t[9] es
    cdef int64_t[9] ls
    cdef char* ep
    cdef char* lp
    cdef char* pp
    cdef const char* chunks[3]
    cdef int64_t sizes[3]
    cdef char id_bytes[8]
    set_batch(&b, keys, offsets, accounts, amounts, dims, flags, dates, pending_keys, books, extra, None)
    cdef const AccountRow* rows = <const AccountRow*>data_of(account_table, ACCOUNT_ROW, False,
                                                             "account_table")
    cdef int64_t rows_count = length(account_table)
    n = b.entries_count
    if n == 0:
        return None
    cdef const uint8_t* accepted = <const uint8_t*>data_of(codes, UINT8, False, "codes")
    if length(keys) < n or length(dates) < n or length(codes) < n:
        raise ValueError("small_rows: a key, a date and a code per entry")
    for e in range(n):
        if accepted[e] != CODE_OK:
            return None
        if entry_flags(&b, e) & (ENTRY_PENDING | ENTRY_POST_PENDING | ENTRY_VOID_PENDING):
            return None
        if not DAY_MIN <= b.dates[e] <= DAY_MAX:
            return None
    m = b.offsets[n]
    column_starts(ENTRY_WIDTHS, n, es)
    column_starts(LINE_WIDTHS, m, ls)
    entry_bytes = PyBytes_FromStringAndSize(NULL, es[8])
    line_bytes = PyBytes_FromStringAndSize(NULL, ls[8])
    ep = PyBytes_AS_STRING(entry_bytes)
    lp = PyBytes_AS_STRING(line_bytes)
    for i in range(8):
        put_le(ep + es[i], <uint64_t>n, 8)
        put_le(lp + ls[i], <uint64_t>m, 8)
    entries = []
    lines = []
    fold_keys = []
    fold_sides = []
    fold_amounts = []
    for e in range(n):
        key = b.keys[e]
        book = entry_book(&b, rows, rows_count, e)
        day = b.dates[e]
        flag_bits = entry_flags(&b, e)
        pending_key_ = pending_key(&b, e)
        extra_bits = <int64_t>extra_hash(&b, e)
        fingerprint_bits = <int64_t>fingerprint_of(&b, e, <int32_t>book)
        start = b.offsets[e]
        end = b.offsets[e + 1]
        entries.append((key, book, day, flag_bits, pending_key_, extra_bits, fingerprint_bits, end - start))
        put_le(ep + es[0] + 8 + 8 * e, <uint64_t>key, 8)
        put_le(ep + es[1] + 8 + 4 * e, <uint64_t>book, 4)
        put_le(ep + es[2] + 8 + 4 * e, <uint64_t>day, 4)
        put_le(ep + es[3] + 8 + 2 * e, <uint64_t>flag_bits, 2)
        put_le(ep + es[4] + 8 + 8 * e, <uint64_t>pending_key_, 8)
        put_le(ep + es[5] + 8 + 8 * e, <uint64_t>extra_bits, 8)
        put_le(ep + es[6] + 8 + 8 * e, <uint64_t>fingerprint_bits, 8)
        put_le(ep + es[7] + 8 + 4 * e, <uint64_t>(end - start), 4)
        month = month_of(day)
        for i in range(start, end):
            number = i - start
            account = b.accounts[i]
            amount = b.amounts[i]
            if b.dims != NULL:
                d0 = b.dims[4 * i]
                d1 = b.dims[4 * i + 1]
                d2 = b.dims[4 * i + 2]
                d3 = b.dims[4 * i + 3]
            else:
                d0 = d1 = d2 = d3 = 0
            lines.append((key, number, book, account, amount, d0, d1, d2, d3))
            put_le(lp + ls[0] + 8 + 8 * i, <uint64_t>key, 8)
            put_le(lp + ls[1] + 8 + 4 * i, <uint64_t>number, 4)
            put_le(lp + ls[2] + 8 + 4 * i, <uint64_t>account, 4)
            put_le(lp + ls[3] + 8 + 8 * i, <uint64_t>amount, 8)
            put_le(lp + ls[4] + 8 + 4 * i, <uint64_t>d0, 4)
            put_le(lp + ls[5] + 8 + 4 * i, <uint64_t>d1, 4)
            put_le(lp + ls[6] + 8 + 4 * i, <uint64_t>d2, 4)
            put_le(lp + ls[7] + 8 + 4 * i, <uint64_t>d3, 4)
            fold_keys.append(<int64_t>((<uint64_t>account << PERIOD_SHIFT) | <uint64_t>month))
            fold_sides.append(1 if amount < 0 else 0)
            fold_amounts.append(<uint64_t>amount if amount >= 0 else <uint64_t>0 - <uint64_t>amount)
    if len(texts_digest) != 32:
        raise ValueError("small_rows: texts_digest is a SHA-256 (32 bytes)")
    parts = PyBytes_FromStringAndSize(NULL, 96)
    digest = PyBytes_FromStringAndSize(NULL, 32)
    pp = PyBytes_AS_STRING(parts)
    chunks[0] = ep
    sizes[0] = es[8]
    c_sha256(chunks, sizes, 1, pp)
    chunks[0] = lp
    sizes[0] = ls[8]
    c_sha256(chunks, sizes, 1, pp + 32)
    memcpy(pp + 64, <const char*>texts_digest, 32)
    put_le(id_bytes, <uint64_t>batch_id, 8)
    chunks[0] = prev_hash
    sizes[0] = len(prev_hash)
    chunks[1] = id_bytes
    sizes[1] = 8
    chunks[2] = pp
    sizes[2] = 96
    c_sha256(chunks, sizes, 3, PyBytes_AS_STRING(digest))
    return entries, lines, digest, parts, (fold_keys, fold_sides, fold_amounts)


def codes_table():
    """Name → value of the result codes this kernel was compiled with."""
    return {
        "ok": CODE_OK, "linked_chain_open": CODE_LINKED_CHAIN_OPEN,
        "linked_event_failed": CODE_LINKED_EVENT_FAILED, "key_invalid": CODE_KEY_INVALID,
        "exists": CODE_EXISTS, "exists_with_different_fields": CODE_EXISTS_WITH_DIFFERENT_FIELDS,
        "flags_invalid": CODE_FLAGS_INVALID, "no_lines": CODE_NO_LINES,
        "too_many_lines": CODE_TOO_MANY_LINES, "amount_invalid": CODE_AMOUNT_INVALID,
        "account_not_found": CODE_ACCOUNT_NOT_FOUND, "account_closed": CODE_ACCOUNT_CLOSED,
        "cross_book": CODE_CROSS_BOOK, "pending_not_found": CODE_PENDING_NOT_FOUND,
        "pending_already_resolved": CODE_PENDING_ALREADY_RESOLVED,
        "pending_lines_differ": CODE_PENDING_LINES_DIFFER, "period_closed": CODE_PERIOD_CLOSED,
        "unbalanced": CODE_UNBALANCED, "overflow": CODE_OVERFLOW,
        "exceeds_credits": CODE_EXCEEDS_CREDITS, "exceeds_debits": CODE_EXCEEDS_DEBITS,
        "book_not_found": CODE_BOOK_NOT_FOUND,
    }
