# cython: language_level=3
"""Rollup kernel: the totals of rows of amounts at every node of one or more trees.

The trees are one forest over dense node ids, children after parents: ``parent[i]`` is -1
(a root) or a node before i. A row carries a key and amounts; a key sits at one node of each
tree (``key_leaf[t, key]``, -1 when the key is not in tree t). A node's total is the sum of
the amounts of its own keys' rows, once per tree that puts the key there, plus its
children's totals.

The kernel keeps one promise: ``totals`` are exact, or the call says they are not. With
non-negative amounts (what ledger.rollup passes) partial sums only grow, so whether some
int64 addition wrapped does not depend on the order of the additions: it did exactly when
some node's exact total exceeds INT64_MAX. The fast path adds in int64 and notes any wrap;
after a wrap the slow path sums again in int128, finds the last node (by id) whose exact
total leaves the int64 range and returns it (or, when every exact total fits after all,
which needs negative inputs, writes those and returns -1). So the return value depends only
on the input, and ``ledger/_rollup_reference.py``, the pure-Python twin, returns the same.

The work, for rows over keys into trees: each row into a per-key scratch (one random write
a row, where rows x trees would be one per row and tree), each key's sums into its node in
every tree, then one sweep from the last node to the first; with few rows over many keys
(rows x trees <= keys) the rows go straight into the nodes instead. 10 M signed rows over
2.5 M keys into two trees of 3.15 M nodes: ~105 ms alone, ~121 ms through ledger.rollup
(benchmarks/rollup.py). The loops hold no Python object and run without the GIL.
"""

from libc.stdint cimport INT64_MAX, INT64_MIN, int32_t, int64_t, uint64_t
from libc.stdlib cimport calloc, free

from ledger._native._types cimport ledger_int128

cdef extern from *:
    """
    #ifndef LEDGER_ROLLUP_C
    #define LEDGER_ROLLUP_C
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
    #if defined(__linux__)
    #include <sys/mman.h>
    #endif
    /* Zeroed memory for the per-key scratch, which the row loop hits at random. From 4 MiB
       on Linux: fresh pages from mmap, marked for transparent huge pages, so that a random
       row finds its page in the TLB (with 4 KiB pages nearly every row of a large scratch
       misses it: 10 M rows over 2.5 M keys took ~115 ms in the row loop, ~87 ms so). */
    #define LEDGER_HUGE_MIN ((size_t)4 << 20)
    static void *ledger_zeroed(size_t size) {
    #if defined(__linux__) && defined(MADV_HUGEPAGE)
        if (size >= LEDGER_HUGE_MIN) {
            void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED)
                return NULL;
            madvise(p, size, MADV_HUGEPAGE); /* a hint: without it the pages are small */
            return p;
        }
    #endif
        return calloc(size ? size : 1, 1);
    }
    static void ledger_release(void *p, size_t size) {
    #if defined(__linux__) && defined(MADV_HUGEPAGE)
        if (size >= LEDGER_HUGE_MIN) {
            munmap(p, size);
            return;
        }
    #endif
        free(p);
    }
    #endif
    """
    void LEDGER_PREFETCH(const void* p) nogil
    void* zeroed "ledger_zeroed"(size_t size) nogil
    void release "ledger_release"(void* p, size_t size) nogil
    bint __builtin_add_overflow(int64_t a, int64_t b, int64_t* r) nogil

cdef enum:
    # How many rows ahead the row loop prefetches the scratch slot of a row's key: the keys
    # are read in order, the slots they name are random. 10 M rows over 2.5 M keys, row loop
    # + the rest, measured interleaved: none 163 ms, 8 rows 131, 16 119, 32 113, 64 108,
    # 128 105, 256 111.
    PREFETCH_ROWS = 64
    # How many keys (nodes) ahead the leaf loop (the sweep) prefetches the node it will add
    # into. Measured on the same rows: with the accounts' nodes shuffled, the leaf loop's
    # prefetch took the call from 162 to 128 ms; with their parents shuffled, the sweep's
    # from 123 to 118 ms; in node order both gain a few ms.
    PREFETCH_NODES = 32
    # What run_rollup returns when it cannot allocate (the caller raises MemoryError).
    NO_MEMORY = -2


cdef struct Rollup:
    const int32_t* keys          # [rows_count]; -1: the row is skipped
    const int64_t* values        # [rows_count, values_count]
    int64_t rows_count
    int64_t values_count         # k; 1 when signed
    bint signed                  # one signed column in, (debit, credit) out
    const int32_t* key_leaf      # [trees_count, keys_count]; -1: not in that tree
    int64_t trees_count
    int64_t keys_count
    const int32_t* parent        # [nodes_count]; -1 or a node before it
    int64_t nodes_count
    int64_t* totals              # [nodes_count, columns_count], zero on entry
    int64_t columns_count        # k, or 2 when signed


# --- the fast path: int64, noting any wrap --------------------------------------------------

cdef inline bint add_signed(int64_t* pair, int64_t amount) noexcept nogil:
    """Adds a signed amount's magnitude into a (debit, credit) pair, choosing the column
    without a branch on the (random) sign; True when that wrapped or the amount was
    INT64_MIN, whose magnitude does not fit (negated, it stays INT64_MIN: no wrap to see).
    """
    cdef bint credit = amount < 0
    cdef int64_t magnitude = <int64_t>(0ULL - <uint64_t>amount) if credit else amount
    return __builtin_add_overflow(pair[credit], magnitude, pair + credit) | (amount == INT64_MIN)


cdef inline bint add_row(int64_t* to, const int64_t* source, int64_t count) noexcept nogil:
    """to[:count] += source[:count]; True when some addition wrapped."""
    cdef int64_t c
    cdef bint overflow = False
    if count == 2:  # (debit, credit), the common case, without the loop
        overflow = __builtin_add_overflow(to[0], source[0], to)
        return overflow | __builtin_add_overflow(to[1], source[1], to + 1)
    for c in range(count):
        overflow |= __builtin_add_overflow(to[c], source[c], to + c)
    return overflow


cdef bint rows_into_scratch(const Rollup* r, int64_t* scratch) noexcept nogil:
    """Sums every row into its key's slot of `scratch` ([keys_count, columns_count]).

    Rows of keys that are in no tree are summed too (they are skipped later): a wrap there
    only sends the call down the slow path, which ignores them. Two loops, so that the sign
    mode is tested once per call. (A prefetch for key -1 touches the 8 or more bytes before
    the scratch: harmless, a prefetch never faults.)
    """
    cdef int64_t i, key
    cdef int64_t k = r.values_count
    cdef int64_t ahead = r.rows_count - PREFETCH_ROWS
    cdef const int32_t* keys = r.keys
    cdef const int64_t* values = r.values
    cdef bint overflow = False
    if r.signed:
        for i in range(r.rows_count):
            if i < ahead:
                LEDGER_PREFETCH(scratch + 2 * keys[i + PREFETCH_ROWS])
            key = keys[i]
            if key >= 0:
                overflow |= add_signed(scratch + 2 * key, values[i])
    else:
        for i in range(r.rows_count):
            if i < ahead:
                LEDGER_PREFETCH(scratch + k * keys[i + PREFETCH_ROWS])
            key = keys[i]
            if key >= 0:
                overflow |= add_row(scratch + k * key, values + k * i, k)
    return overflow


cdef bint scratch_into_leaves(const Rollup* r, const int64_t* scratch) noexcept nogil:
    """Adds each key's sums into its node in every tree; True when some addition wrapped.
    (A prefetch for leaf -1 touches the bytes just before the totals: harmless.)"""
    cdef int64_t key, t, leaf
    cdef int64_t columns = r.columns_count
    cdef int64_t ahead = r.keys_count - PREFETCH_NODES
    cdef const int32_t* leaves
    cdef bint overflow = False
    for key in range(r.keys_count):
        for t in range(r.trees_count):
            leaves = r.key_leaf + t * r.keys_count
            if key < ahead:
                LEDGER_PREFETCH(r.totals + columns * leaves[key + PREFETCH_NODES])
            leaf = leaves[key]
            if leaf >= 0:
                overflow |= add_row(r.totals + columns * leaf, scratch + columns * key, columns)
    return overflow


cdef bint rows_into_leaves(const Rollup* r) noexcept nogil:
    """Adds every row straight into its key's node in every tree (for few rows over many
    keys, where a scratch of every key would cost more than the rows)."""
    cdef int64_t i, t, key, leaf
    cdef int64_t columns = r.columns_count
    cdef bint overflow = False
    for i in range(r.rows_count):
        key = r.keys[i]
        if key < 0:
            continue
        for t in range(r.trees_count):
            leaf = r.key_leaf[t * r.keys_count + key]
            if leaf < 0:
                continue
            if r.signed:
                overflow |= add_signed(r.totals + 2 * leaf, r.values[i])
            else:
                overflow |= add_row(r.totals + columns * leaf, r.values + columns * i, columns)
    return overflow


cdef bint sweep(const Rollup* r) noexcept nogil:
    """Adds every node's total into its parent's, last node first (children come after
    their parents, so a node is complete when it is reached)."""
    cdef int64_t i, up
    cdef int64_t columns = r.columns_count
    cdef bint overflow = False
    for i in range(r.nodes_count - 1, -1, -1):
        if i >= PREFETCH_NODES:
            LEDGER_PREFETCH(r.totals + columns * r.parent[i - PREFETCH_NODES])
        up = r.parent[i]
        if up >= 0:
            overflow |= add_row(r.totals + columns * up, r.totals + columns * i, columns)
    return overflow


# --- the slow path: exact sums in int128, after a wrap ---------------------------------------

cdef inline bint in_int64(ledger_int128 value) noexcept nogil:
    return <ledger_int128>INT64_MIN <= value <= <ledger_int128>INT64_MAX


cdef int64_t exact_rollup(const Rollup* r) noexcept nogil:
    """Sums again in int128 (exact: |a total| <= trees * rows * 2**63 < 2**127); returns the
    last node whose exact total leaves int64, or -1 after writing the exact totals (all
    fit), or NO_MEMORY."""
    cdef int64_t i, t, c, key, leaf, up
    cdef int64_t columns = r.columns_count
    cdef ledger_int128 amount
    cdef ledger_int128* exact = <ledger_int128*>calloc(r.nodes_count * columns + 1, sizeof(ledger_int128))
    if exact == NULL:
        return NO_MEMORY
    for i in range(r.rows_count):
        key = r.keys[i]
        if key < 0:
            continue
        for t in range(r.trees_count):
            leaf = r.key_leaf[t * r.keys_count + key]
            if leaf < 0:
                continue
            if r.signed:
                amount = r.values[i]
                if amount < 0:
                    exact[2 * leaf + 1] -= amount
                else:
                    exact[2 * leaf] += amount
            else:
                for c in range(columns):
                    exact[columns * leaf + c] += r.values[columns * i + c]
    for i in range(r.nodes_count - 1, -1, -1):
        up = r.parent[i]
        if up >= 0:
            for c in range(columns):
                exact[columns * up + c] += exact[columns * i + c]
    for i in range(r.nodes_count - 1, -1, -1):
        for c in range(columns):
            if not in_int64(exact[columns * i + c]):
                free(exact)
                return i
    for i in range(r.nodes_count * columns):
        r.totals[i] = <int64_t>exact[i]
    free(exact)
    return -1


# --- the whole call ------------------------------------------------------------------------

cdef int64_t run_rollup(const Rollup* r) noexcept nogil:
    """The rollup of `r` into its zeroed totals: -1, a node id (see exact_rollup) or NO_MEMORY."""
    cdef bint overflow
    cdef int64_t* scratch
    cdef size_t scratch_size = r.keys_count * r.columns_count * sizeof(int64_t)
    if r.columns_count == 0:
        return -1
    if r.rows_count * r.trees_count <= r.keys_count:
        overflow = rows_into_leaves(r)
    else:
        scratch = <int64_t*>zeroed(scratch_size)
        if scratch == NULL:
            return NO_MEMORY
        overflow = rows_into_scratch(r, scratch)
        overflow |= scratch_into_leaves(r, scratch)
        release(scratch, scratch_size)
    overflow |= sweep(r)
    if not overflow:
        return -1
    return exact_rollup(r)


def rollup(
    const int32_t[::1] keys,
    const int64_t[:, ::1] values,
    bint signed,
    const int32_t[:, ::1] key_leaf,
    const int32_t[::1] parent,
    int64_t[:, ::1] totals,
):
    """Add each row's amounts into its key's node in every tree, then every node's total
    into its parent's; returns -1 when the totals are exact, else the last node (by id)
    whose exact total leaves the int64 range (`totals` then holds partial sums).

    `values` is [rows, k] with totals [nodes, k], or, when `signed`, [rows, 1] of signed
    amounts with totals [nodes, 2]: column 0 the sum of the positive amounts (debits),
    column 1 the sum of the magnitudes of the negative ones (credits). `totals` must be
    zero. The caller (ledger.rollup) has checked everything else: keys in [-1, keys),
    key_leaf in [-1, nodes), parent[i] in [-1, i), amounts non-negative unless signed (the
    kernel's answer holds for any amounts, but with negative ones the fast path may take a
    detour through the exact sums), trees * rows < 2**64.
    """
    cdef Rollup r
    cdef int64_t result
    if keys.shape[0] != values.shape[0]:
        raise ValueError("keys and values: one key per row")
    if totals.shape[0] != parent.shape[0]:
        raise ValueError("totals and parent: one total per node")
    if signed and (values.shape[1] != 1 or totals.shape[1] != 2):
        raise ValueError("signed: values must have 1 column and totals 2")
    if not signed and totals.shape[1] != values.shape[1]:
        raise ValueError("totals and values: one total column per value column")
    r.keys = &keys[0] if keys.shape[0] > 0 else NULL
    r.values = &values[0, 0] if values.shape[0] > 0 and values.shape[1] > 0 else NULL
    r.rows_count = keys.shape[0]
    r.values_count = values.shape[1]
    r.signed = signed
    r.key_leaf = &key_leaf[0, 0] if key_leaf.shape[0] > 0 and key_leaf.shape[1] > 0 else NULL
    r.trees_count = key_leaf.shape[0] if key_leaf.shape[1] > 0 else 0
    r.keys_count = key_leaf.shape[1]
    r.parent = &parent[0] if parent.shape[0] > 0 else NULL
    r.nodes_count = parent.shape[0]
    r.totals = &totals[0, 0] if totals.shape[0] > 0 and totals.shape[1] > 0 else NULL
    r.columns_count = totals.shape[1]
    with nogil:
        result = run_rollup(&r)
    if result == NO_MEMORY:
        raise MemoryError()
    return result
