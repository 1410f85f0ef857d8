# Shared ctypedefs of the kernels. These structs describe the same bytes as the numpy dtypes
# in ledger/columns.py (a test compares sizes and offsets).
from libc.stdint cimport int32_t, int64_t, uint16_t, uint32_t, uint64_t, uint8_t

cdef extern from *:
    """
    typedef __int128 ledger_int128;
    """
    ctypedef long long ledger_int128

cdef packed struct AccountRow:
    int64_t debits_posted
    int64_t credits_posted
    int64_t debits_pending
    int64_t credits_pending
    int32_t book             # book and group adjacent: the kernel reads them as one word
    int32_t group
    uint32_t flags
    int32_t reserved
    int64_t reserved_tail[2]

cdef packed struct EntrySlot:
    int64_t key
    uint64_t fingerprint

cdef packed struct PendingSlot:
    int64_t key
    int64_t lines_start
    int32_t lines_count
    int32_t book
    int32_t state
    int32_t reserved

# Result codes: values of ledger.Code (a test checks they match).
cdef enum:
    CODE_OK = 0
    CODE_LINKED_CHAIN_OPEN = 1
    CODE_LINKED_EVENT_FAILED = 2
    CODE_KEY_INVALID = 3
    CODE_EXISTS = 4
    CODE_EXISTS_WITH_DIFFERENT_FIELDS = 5
    CODE_FLAGS_INVALID = 6
    CODE_NO_LINES = 7
    CODE_TOO_MANY_LINES = 8
    CODE_AMOUNT_INVALID = 9
    CODE_ACCOUNT_NOT_FOUND = 10
    CODE_ACCOUNT_CLOSED = 11
    CODE_BOOK_NOT_FOUND = 12
    CODE_CROSS_BOOK = 13
    CODE_PENDING_NOT_FOUND = 14
    CODE_PENDING_ALREADY_RESOLVED = 15
    CODE_PENDING_LINES_DIFFER = 16
    CODE_PERIOD_CLOSED = 17
    CODE_UNBALANCED = 18
    CODE_OVERFLOW = 19
    CODE_EXCEEDS_CREDITS = 20
    CODE_EXCEEDS_DEBITS = 21

# Flags: values of ledger.columns.
cdef enum:
    ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS = 1
    ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS = 2
    ACCOUNT_CLOSED = 4
    ENTRY_LINKED = 1
    ENTRY_PENDING = 2
    ENTRY_POST_PENDING = 4
    ENTRY_VOID_PENDING = 8
    ENTRY_FLAGS_ALL = 15
    PENDING_OPEN = 1
    PENDING_POSTED = 2
    PENDING_VOIDED = 3
    COUNTER_ENTRIES = 0
    COUNTER_ENTRY_TOMBSTONES = 1
    COUNTER_PENDINGS = 2
    COUNTER_PENDING_TOMBSTONES = 3
    COUNTER_PENDING_LINES = 4
