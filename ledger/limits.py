"""Limits on everything: batch sizes, lines per entry, table sizes.

Every limit is checked at the edge (the Python wrapper or the model) and the kernel relies
on it: with lines_max lines of |amount| < 2**63 a balance-group sum fits an int128 easily.
"""

from __future__ import annotations

# Lines in one entry (a payroll voucher can be long; the kernel is linear in it).
lines_max = 8_190
# Entries in one call of post / post_columns.
batch_entries_max = 10_000_000
# Lines in one call of post_columns.
batch_lines_max = 100_000_000
# Entries one call of Ledger.reserve makes room for.
entries_reserve_max = 1 << 30
# Accounts in one ledger (dense int32 index).
accounts_max = 2**31 - 2
# Balance groups and books in one ledger (int32 index).
groups_max = 65_535
books_max = 2**31 - 2
# Decimal places a balance group may declare.
scale_max = 9
# Dimension codes carried by every line.
dims_count = 4
# Length of string keys (accounts, books, groups) and of references.
key_length_max = 128
reference_length_max = 256

__all__ = [
    "accounts_max",
    "batch_entries_max",
    "batch_lines_max",
    "books_max",
    "dims_count",
    "entries_reserve_max",
    "groups_max",
    "key_length_max",
    "lines_max",
    "reference_length_max",
    "scale_max",
]
