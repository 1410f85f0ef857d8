# cython: language_level=3
"""Matching kernel: the records of two sides matched by key, every key classified, group totals.

A record is (key, group, attr, amount, date) at a row of its side; groups are dense ids in
[0, groups_count). Per key, with ca and cb records on A and B, the finding is the first that
applies: duplicate_a (ca > 1), duplicate_b (cb > 1), missing_a (ca == 0), missing_b (cb == 0),
then for the 1:1 pair key_mismatch (groups or attrs differ), amount_mismatch, and when only the
dates differ in_transit (|date_b - date_a| <= window) or date_mismatch; otherwise the key is
matched and gives no finding. A side's amount for a key is the sum of its records'; its date
the smallest; its group and attr those of its representative, the record with the smallest
(group, attr, date, amount), the first such row on ties. None of that depends on the order of
the rows, and neither does anything else the kernel returns except which of several equal
records a row index names.

Every key adds its side-A amount into its A group's total_a and its side-B amount into its B
group's total_b (matched keys too), so a group's difference is exactly what its items explain.
A finding counts in its A group (its B group when A has no record), a key_mismatch in its B
group as well when that differs. The sums are exact: int128 throughout, and a key's amount or a
group's total_a, total_b or difference outside int64 makes the call return an overflow status
(the smallest such key first, else the smallest such group) instead of a wrapped number.

The work, per side: a read of the keys finds their range (and whether they are in order
already: then the rows are packed as they are); a count of each key's top 11 bits (of key -
the smallest key); one pass packs each row into a 40-byte record and scatters it to its
bucket (2,048 sequential write streams); then each bucket, a few dozen KiB for dense keys, is
sorted in cache on the bits below by LSD radix passes of at most 8 bits (a bit-range of 23
for 2 M dense keys: the scatter and two local passes). Moving whole records leaves the walk
sequential: one walk over both sides, key by key, adds into the group totals (the only random
access, prefetched a few records ahead) and writes the findings; a last sweep writes the
totals of the groups seen. Sorting (key, row) pairs and gathering each row's columns in the
walk measured slower (the gathers, four random cache lines per row, dominated), and so did
full LSD passes over the records. The GIL is released and no Python object touched from the
first pass to the last. Figures: benchmarks/match.py.
"""

from libc.stdint cimport INT32_MAX, INT64_MAX, INT64_MIN, int32_t, int64_t, uint8_t, uint64_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy, memset

from ledger._native._types cimport ledger_int128

cdef extern from *:
    """
    #ifndef LEDGER_RECONCILE_C
    #define LEDGER_RECONCILE_C
    /* A volatile asm, not __builtin_prefetch: GCC marks a helper that only prefetches as
       pure and deletes its calls (as in posting.pyx). */
    #if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    #define LEDGER_PREFETCH(p) __asm__ volatile("prefetcht0 %0" : : "m"(*(const char *)(p)))
    #elif defined(__GNUC__)
    #define LEDGER_PREFETCH(p) __builtin_prefetch((const void *)(p), 1, 3)
    #else
    #define LEDGER_PREFETCH(p) ((void)(p))
    #endif

    #include <stdlib.h>
    /* 64-byte aligned blocks: glibc's large blocks start 16 bytes into a page, where every
       other group's 32 bytes of totals would straddle two cache lines. */
    static void *ledger_aligned(size_t size) {
        return aligned_alloc(64, (size + 64) & ~(size_t)63);
    }
    #endif
    """
    void LEDGER_PREFETCH(const void* p) nogil
    int __builtin_clzll(unsigned long long x) nogil
    void* aligned "ledger_aligned"(size_t size) nogil

cdef enum:
    # The first pass scatters the records into 2**TOP_BITS_MAX buckets by their keys' top
    # bits (few enough write streams for L1 and the TLB); each bucket is then sorted in cache
    # on the bits below, in digits of at most LOCAL_BITS_MAX bits.
    TOP_BITS_MAX = 11
    LOCAL_BITS_MAX = 8
    # How many records ahead the walk prefetches the totals of a record's group.
    PREFETCH_TOTALS = 16
    # What the kernel returns; NO_MEMORY becomes MemoryError here.
    OK = 0
    OVERFLOW_KEY = 1
    OVERFLOW_GROUP = 2
    NO_MEMORY = 3

# The finding types, in the order of ledger.match.TYPES; -1: matched, no finding.
cdef enum:
    MATCHED = -1
    IN_TRANSIT = 0
    DATE_MISMATCH = 1
    AMOUNT_MISMATCH = 2
    KEY_MISMATCH = 3
    MISSING_A = 4
    MISSING_B = 5
    DUPLICATE_A = 6
    DUPLICATE_B = 7
    TYPES_COUNT = 8

# The columns of `items` (one row per finding) and the rows of `groups` (one column per group).
cdef enum:
    ITEM_KEY = 0
    ITEM_TYPE = 1
    ITEM_GROUP_A = 2
    ITEM_GROUP_B = 3
    ITEM_ATTR_A = 4
    ITEM_ATTR_B = 5
    ITEM_AMOUNT_A = 6
    ITEM_AMOUNT_B = 7
    ITEM_DATE_A = 8
    ITEM_DATE_B = 9
    ITEM_AGE_DAYS = 10
    ITEM_ROW_A = 11
    ITEM_ROW_B = 12
    ITEM_COLUMNS = 13
    GROUP_ID = 0
    GROUP_TOTAL_A = 1
    GROUP_TOTAL_B = 2
    GROUP_DIFFERENCE = 3
    GROUP_COUNTS = 4
    GROUP_ROWS = GROUP_COUNTS + TYPES_COUNT


cdef struct Record:
    # One row, as the sort moves it and the walk reads it (40 bytes).
    int64_t key
    int64_t attr
    int64_t amount
    int64_t row
    int32_t group
    int32_t date


cdef struct Side:
    const int64_t* key
    const int64_t* group         # NULL: all 0
    const int64_t* attr          # NULL: all 0
    const int64_t* amount
    const int32_t* date
    int64_t count
    Record* records              # [count] in key order, stably


cdef struct Run:
    # One side's records of one key.
    int64_t count
    ledger_int128 amount         # the sum
    int32_t date_min
    # the representative: the smallest (group, attr, date, amount), the first row on ties
    int32_t group
    int64_t attr
    int32_t date
    int64_t own_amount
    int64_t row


cdef struct Totals:
    ledger_int128 a
    ledger_int128 b


cdef struct Match:
    Side a
    Side b
    int64_t window
    bint aged                    # as_of given
    int64_t as_of
    int64_t* items               # [capacity, ITEM_COLUMNS]
    int64_t items_count
    int64_t* groups              # [GROUP_ROWS, groups_count]; count rows zero on entry
    int64_t groups_count
    int64_t groups_found
    Totals* totals               # [groups_count]
    uint8_t* seen                # [groups_count]: some record has the group
    int64_t where                # the key or group of an overflow


cdef inline bint in_int64(ledger_int128 value) noexcept nogil:
    return <ledger_int128>INT64_MIN <= value <= <ledger_int128>INT64_MAX


# --- sorting: one MSD pass, then LSD in cache ----------------------------------------------

cdef inline int bit_length(uint64_t value) noexcept nogil:
    return 0 if value == 0 else 64 - __builtin_clzll(value)


cdef inline void pack(const Side* s, int64_t row, Record* r) noexcept nogil:
    r.key = s.key[row]
    r.attr = s.attr[row] if s.attr != NULL else 0
    r.amount = s.amount[row]
    r.row = row
    r.group = <int32_t>s.group[row] if s.group != NULL else 0
    r.date = s.date[row]


cdef int sort_side(Side* s) noexcept nogil:
    """Writes the side's rows into s.records as records in key order, stably; OK or
    NO_MEMORY.

    Keys in order already are packed as they are. Otherwise the sort is of key - (the
    smallest key): one pass counts the top TOP_BITS_MAX bits of its range, one packs each
    row and scatters it to its bucket (sequential writes into each bucket), then each bucket
    (a few dozen KiB for dense keys) is sorted on the bits below by local_sort.
    """
    cdef int64_t i, d, n = s.count, position, largest = 0
    cdef int64_t key_min = INT64_MAX, key_max = INT64_MIN
    cdef bint ordered = True
    cdef uint64_t low
    cdef int bits, top, shift
    cdef int64_t* ends
    cdef int32_t* counts
    cdef Record* scratch
    for i in range(n):
        key_min = min(key_min, s.key[i])
        key_max = max(key_max, s.key[i])
        if i > 0 and s.key[i] < s.key[i - 1]:
            ordered = False
    if ordered:
        for i in range(n):
            pack(s, i, s.records + i)
        return OK
    low = <uint64_t>key_min
    bits = bit_length(<uint64_t>key_max - low)
    top = min(bits, TOP_BITS_MAX)
    shift = bits - top
    ends = <int64_t*>calloc((1 << top) + 1, sizeof(int64_t))
    counts = <int32_t*>malloc((1 << LOCAL_BITS_MAX) * sizeof(int32_t))
    if ends == NULL or counts == NULL:
        free(ends)
        free(counts)
        return NO_MEMORY
    # ends[d + 1] counts bucket d; summed up, ends[d] is where bucket d starts.
    for i in range(n):
        ends[((<uint64_t>s.key[i] - low) >> shift) + 1] += 1
    for d in range(1 << top):
        largest = max(largest, ends[d + 1])
        ends[d + 1] += ends[d]
    # After the scatter ends[d] is where bucket d ends (and bucket d + 1 starts).
    for i in range(n):
        d = (<uint64_t>s.key[i] - low) >> shift
        position = ends[d]
        ends[d] = position + 1
        pack(s, i, s.records + position)
    scratch = <Record*>malloc(largest * sizeof(Record) + 1)
    if scratch == NULL:
        free(ends)
        free(counts)
        return NO_MEMORY
    position = 0
    for d in range(1 << top):
        if shift > 0 and ends[d] - position > 1:
            local_sort(s.records + position, ends[d] - position, low, shift, scratch, counts)
        position = ends[d]
    free(scratch)
    free(ends)
    free(counts)
    return OK


cdef void local_sort(
    Record* records, int64_t n, uint64_t low, int bits, Record* scratch, int32_t* counts
) noexcept nogil:
    """Sorts n records stably on the low `bits` bits of key - low, by LSD radix passes
    between `records` and `scratch` (both held in cache); a digit the same in every record is
    skipped. `counts` has room for 2**LOCAL_BITS_MAX."""
    cdef int passes = (bits + LOCAL_BITS_MAX - 1) // LOCAL_BITS_MAX
    cdef int width = (bits + passes - 1) // passes
    cdef uint64_t mask = (1ULL << width) - 1
    cdef int64_t i, d
    cdef int32_t position, total
    cdef int p, shift
    cdef Record* source = records
    cdef Record* target = scratch
    for p in range(passes):
        shift = p * width
        memset(counts, 0, (1 << width) * sizeof(int32_t))
        for i in range(n):
            counts[((<uint64_t>source[i].key - low) >> shift) & mask] += 1
        if counts[((<uint64_t>source[0].key - low) >> shift) & mask] == n:
            continue
        total = 0
        for d in range(1 << width):
            position = counts[d]
            counts[d] = total
            total += position
        for i in range(n):
            d = ((<uint64_t>source[i].key - low) >> shift) & mask
            target[counts[d]] = source[i]
            counts[d] += 1
        source, target = target, source
    if source != records:
        memcpy(records, source, n * sizeof(Record))


# --- the walk ------------------------------------------------------------------------------

cdef inline bint before(const Record* r, const Run* run) noexcept nogil:
    """Whether record r comes before the run's representative (so is the representative)."""
    if r.group != run.group:
        return r.group < run.group
    if r.attr != run.attr:
        return r.attr < run.attr
    if r.date != run.date:
        return r.date < run.date
    if r.amount != run.own_amount:
        return r.amount < run.own_amount
    return r.row < run.row


cdef inline void no_run(Run* run) noexcept nogil:
    """A side without records of the key: no amount, group, attr, date and row -1."""
    run.count = 0
    run.amount = 0
    run.date_min = run.group = run.date = -1
    run.attr = run.own_amount = run.row = -1


cdef inline int64_t read_run(
    const Side* s, int64_t start, int64_t key, Run* run, uint8_t* seen, const Totals* totals
) noexcept nogil:
    """The records of `key` from position `start` on, every group marked seen; returns the
    position after them. Each position prefetches the totals of a group further on."""
    cdef int64_t p = start
    cdef const Record* r
    no_run(run)
    while p < s.count:
        r = s.records + p
        if r.key != key:
            break
        if p + PREFETCH_TOTALS < s.count:
            LEDGER_PREFETCH(totals + s.records[p + PREFETCH_TOTALS].group)
        seen[r.group] = 1
        run.amount += r.amount
        if p == start or r.date < run.date_min:
            run.date_min = r.date
        if p == start or before(r, run):
            run.group, run.attr, run.date, run.own_amount, run.row = r.group, r.attr, r.date, r.amount, r.row
        p += 1
    run.count = p - start
    return p


cdef inline int classify(const Run* a, const Run* b, int64_t window) noexcept nogil:
    """The finding type of a key, or MATCHED."""
    cdef int64_t apart
    if a.count > 1:
        return DUPLICATE_A
    if b.count > 1:
        return DUPLICATE_B
    if a.count == 0:
        return MISSING_A
    if b.count == 0:
        return MISSING_B
    if a.group != b.group or a.attr != b.attr:
        return KEY_MISMATCH
    if a.amount != b.amount:
        return AMOUNT_MISMATCH
    if a.date_min != b.date_min:
        apart = <int64_t>b.date_min - a.date_min
        return IN_TRANSIT if -window <= apart <= window else DATE_MISMATCH
    return MATCHED


cdef void write_item(Match* m, int64_t key, int kind, const Run* a, const Run* b) noexcept nogil:
    """One finding's row of `items` (an absent side's run gives its -1s and amount 0)."""
    cdef int64_t* item = m.items + m.items_count * ITEM_COLUMNS
    cdef int64_t age = 0
    if kind == IN_TRANSIT or kind == DATE_MISMATCH:
        age = <int64_t>b.date_min - a.date_min
    elif kind == MISSING_A and m.aged:
        age = m.as_of - b.date_min
    elif kind == MISSING_B and m.aged:
        age = m.as_of - a.date_min
    item[ITEM_KEY] = key
    item[ITEM_TYPE] = kind
    item[ITEM_GROUP_A] = a.group
    item[ITEM_GROUP_B] = b.group
    item[ITEM_ATTR_A] = a.attr
    item[ITEM_ATTR_B] = b.attr
    item[ITEM_AMOUNT_A] = <int64_t>a.amount
    item[ITEM_AMOUNT_B] = <int64_t>b.amount
    item[ITEM_DATE_A] = a.date_min
    item[ITEM_DATE_B] = b.date_min
    item[ITEM_AGE_DAYS] = age
    item[ITEM_ROW_A] = a.row
    item[ITEM_ROW_B] = b.row
    m.items_count += 1


cdef int walk(Match* m) noexcept nogil:
    """Every key of both sides, smallest first: classified, its finding written, its amounts
    added into its groups. OK, or OVERFLOW_KEY with m.where the first key whose amount on a
    side leaves int64."""
    cdef const Side* sa = &m.a
    cdef const Side* sb = &m.b
    cdef int64_t i = 0, j = 0
    cdef int64_t key, key_a = 0, key_b = 0
    cdef Run a, b
    cdef int kind
    cdef int64_t* counts = m.groups + GROUP_COUNTS * m.groups_count
    while i < sa.count or j < sb.count:
        if i < sa.count:
            key_a = sa.records[i].key
        if j < sb.count:
            key_b = sb.records[j].key
        key = key_a if j == sb.count or (i < sa.count and key_a <= key_b) else key_b
        if i < sa.count and key_a == key:
            i = read_run(sa, i, key, &a, m.seen, m.totals)
            m.totals[a.group].a += a.amount
        else:
            no_run(&a)
        if j < sb.count and key_b == key:
            j = read_run(sb, j, key, &b, m.seen, m.totals)
            m.totals[b.group].b += b.amount
        else:
            no_run(&b)
        if not (in_int64(a.amount) and in_int64(b.amount)):
            m.where = key
            return OVERFLOW_KEY
        kind = classify(&a, &b, m.window)
        if kind != MATCHED:
            write_item(m, key, kind, &a, &b)
            counts[kind * m.groups_count + (a.group if a.count else b.group)] += 1
            if kind == KEY_MISMATCH and b.group != a.group:
                counts[kind * m.groups_count + b.group] += 1
    return OK


cdef int close_groups(Match* m) noexcept nogil:
    """Writes the totals of every group seen, in id order, into the first columns of
    `groups` (moving their counts along); OK or OVERFLOW_GROUP with m.where the first group
    whose total_a, total_b or difference leaves int64."""
    cdef int64_t g, t, found = 0
    cdef int64_t columns = m.groups_count
    cdef ledger_int128 difference
    for g in range(m.groups_count):
        if not m.seen[g]:
            continue
        difference = m.totals[g].a - m.totals[g].b
        if not (in_int64(m.totals[g].a) and in_int64(m.totals[g].b) and in_int64(difference)):
            m.where = g
            return OVERFLOW_GROUP
        m.groups[GROUP_ID * columns + found] = g
        m.groups[GROUP_TOTAL_A * columns + found] = <int64_t>m.totals[g].a
        m.groups[GROUP_TOTAL_B * columns + found] = <int64_t>m.totals[g].b
        m.groups[GROUP_DIFFERENCE * columns + found] = <int64_t>difference
        if found != g:
            for t in range(GROUP_COUNTS, GROUP_ROWS):
                m.groups[t * columns + found] = m.groups[t * columns + g]
        found += 1
    m.groups_found = found
    return OK


# --- the whole call ------------------------------------------------------------------------

cdef int run_match(Match* m) noexcept nogil:
    """The match of m's sides into its items and groups: OK, OVERFLOW_* or NO_MEMORY."""
    cdef int result = NO_MEMORY
    m.a.records = <Record*>malloc(m.a.count * sizeof(Record) + 1)
    m.b.records = <Record*>malloc(m.b.count * sizeof(Record) + 1)
    # 64-byte aligned, so that a group's two totals share a cache line.
    m.totals = <Totals*>aligned((m.groups_count + 1) * sizeof(Totals))
    m.seen = <uint8_t*>calloc(m.groups_count + 1, 1)
    if m.a.records != NULL and m.b.records != NULL and m.totals != NULL and m.seen != NULL:
        memset(m.totals, 0, (m.groups_count + 1) * sizeof(Totals))
        result = sort_side(&m.a)
        if result == OK:
            result = sort_side(&m.b)
        if result == OK:
            result = walk(m)
        if result == OK:
            result = close_groups(m)
    free(m.a.records)
    free(m.b.records)
    free(m.totals)
    free(m.seen)
    return result


cdef void side_of(
    Side* s, const int64_t[::1] key, const int64_t[::1] group, const int64_t[::1] attr,
    const int64_t[::1] amount, const int32_t[::1] date, str name,
) except *:
    cdef int64_t n = key.shape[0]
    if amount.shape[0] != n or date.shape[0] != n or group.shape[0] not in (0, n) or attr.shape[0] not in (0, n):
        raise ValueError(f"side {name}: key, amount and date need one value a row, group and attr one or none")
    if n > INT32_MAX:
        raise ValueError(f"side {name}: more than 2**31 - 1 rows")
    memset(s, 0, sizeof(Side))
    s.count = n
    if n:
        s.key, s.amount, s.date = &key[0], &amount[0], &date[0]
        s.group = &group[0] if group.shape[0] else NULL
        s.attr = &attr[0] if attr.shape[0] else NULL


def match(
    const int64_t[::1] key_a, const int64_t[::1] group_a, const int64_t[::1] attr_a,
    const int64_t[::1] amount_a, const int32_t[::1] date_a,
    const int64_t[::1] key_b, const int64_t[::1] group_b, const int64_t[::1] attr_b,
    const int64_t[::1] amount_b, const int32_t[::1] date_b,
    int64_t window, object as_of, int64_t[:, ::1] items, int64_t[:, ::1] groups,
):
    """Match side A's records with side B's by key; returns (items_count, groups_count,
    status, where).

    Each side: key, group (a dense id in [0, groups_count)), attr, amount, date (int32 days);
    an empty group or attr array reads as all 0. `window` >= 0 days; `as_of` an int day or None.
    `items` is [capacity >= rows of A + rows of B, 13]: one row per finding, sorted by key
    (columns key, type, group_a, group_b, attr_a, attr_b, amount_a, amount_b, date_a, date_b,
    age_days, row_a, row_b; an absent side's group, attr, date and row are -1, its amount 0).
    `groups` is [12, groups_count], rows 4..11 zero on entry; its first columns receive one
    group seen on either side each, in id order (rows: group, total_a, total_b, difference,
    then a count per type). status 0: all done; 1: the amount of key `where` on a side leaves
    int64; 2: a total or the difference of group `where` does (the outputs then hold partial
    results). The caller (ledger.match) has checked everything else: groups in range.
    """
    cdef Match m
    cdef int result
    memset(&m, 0, sizeof(Match))
    side_of(&m.a, key_a, group_a, attr_a, amount_a, date_a, "A")
    side_of(&m.b, key_b, group_b, attr_b, amount_b, date_b, "B")
    if items.shape[1] != ITEM_COLUMNS or items.shape[0] < m.a.count + m.b.count:
        raise ValueError("items: expected [capacity >= rows of A + rows of B, 13]")
    if groups.shape[0] != GROUP_ROWS or groups.shape[1] > INT32_MAX:
        raise ValueError("groups: expected [12, groups_count <= 2**31 - 1]")
    if window < 0:
        raise ValueError("window: must be >= 0")
    m.window = window
    m.aged = as_of is not None
    m.as_of = as_of if as_of is not None else 0
    m.items = &items[0, 0] if items.shape[0] else NULL
    m.groups_count = groups.shape[1]
    m.groups = &groups[0, 0] if m.groups_count else NULL
    with nogil:
        result = run_match(&m)
    if result == NO_MEMORY:
        raise MemoryError()
    return m.items_count, m.groups_found, result, m.where
