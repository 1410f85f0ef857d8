"""Result codes: one per entry (or created object), read as the rule that was broken.

The order of the members is the precedence: when an entry breaks several rules it gets the
code of the first rule checked, and rules are checked in this order (DESIGN.md §3). The
numeric values are part of the interchange contract (rejected-entry files, the bulk path's
code arrays, other services), so a member is never renumbered: new codes get new numbers.
"""

from __future__ import annotations

import enum


class Code(enum.IntEnum):
    """What happened to one entry of a batch (or one group, book or account created)."""

    ok = 0
    # A chain still open at the end of the batch fails at its last entry.
    linked_chain_open = 1
    # Another entry of the same linked chain failed; this one was rolled back or not tried.
    linked_event_failed = 2
    # The entry key must be a positive int64 (0 and negatives are reserved).
    key_invalid = 3
    exists = 4
    exists_with_different_fields = 5
    # Contradictory flags, a pending key on an entry that resolves nothing, or none where needed.
    flags_invalid = 6
    # Fewer than two lines on an entry that needs lines.
    no_lines = 7
    # More than limits.lines_max lines.
    too_many_lines = 8
    # A zero amount, or one whose magnitude is not a valid int64.
    amount_invalid = 9
    account_not_found = 10
    account_closed = 11
    # The entry names a book that does not exist.
    book_not_found = 12
    # All lines must belong to the entry's book (on the bulk path: the first line's book).
    cross_book = 13
    pending_not_found = 14
    pending_already_resolved = 15
    # A resolving entry that carries lines, but not exactly the pending entry's lines.
    pending_lines_differ = 16
    period_closed = 17
    # An entry must net to zero in every balance group it touches.
    unbalanced = 18
    # A balance (or an entry's sum on one account) would leave the int64 range.
    overflow = 19
    # An account flagged debits_must_not_exceed_credits would have debits above credits.
    exceeds_credits = 20
    # An account flagged credits_must_not_exceed_debits would have credits above debits.
    exceeds_debits = 21
    # Object creation only (groups, books, accounts): a field is out of its allowed range.
    invalid = 22
    # Object creation only: the account names a group that does not exist.
    group_not_found = 23
    # Node creation only: the parent node does not exist (yet: parents come first).
    parent_not_found = 24
    # Node creation only: another node already places this book.
    book_placed = 25


# The codes the posting kernel can return, in precedence order.
POSTING_CODES = tuple(code for code in Code if code <= Code.exceeds_debits)

__all__ = ["POSTING_CODES", "Code"]
