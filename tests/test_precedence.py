"""Table-driven precedence tests: one row per case, the expected codes at the end.

Every row runs on a fresh copy of one small world (below). Rows of the record path go through
`Ledger.post` with Entry mappings; rows of the bulk path go through `Ledger.post_columns`
and also straight through both kernels (compiled and reference) and the auditor of
ledger.testing, which must all give the row's codes. Kernel-only rows need what the public
API cannot express (the period_closed column itself, an account closed after a pending
entry reserved on it).

A row may carry `also`: other rules its entry breaks, all later in the precedence order
(the order of ledger.Code). Such a row shows that the earlier rule decides.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from ledger import _reference as reference
from ledger import limits
from ledger._native import posting as native
from ledger.codes import POSTING_CODES, Code
from ledger.columns import (
    ACCOUNT_CLOSED,
    ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS,
    ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS,
    ENTRY_LINKED,
    ENTRY_PENDING,
    ENTRY_POST_PENDING,
    ENTRY_VOID_PENDING,
)
from ledger.testing import Auditor, EntrySpec, KernelState, LineSpec, to_columns

MAX = 2**63 - 1
MIN = -(2**63)
EPOCH = dt.date(1970, 1, 1)
JAN = dt.date(2024, 1, 15)
DEC = dt.date(2023, 12, 15)  # in B1's closed month
JAN_DAYS, DEC_DAYS = (JAN - EPOCH).days, (DEC - EPOCH).days

# --- the world ---------------------------------------------------------------------------------

GROUPS = (("CNY", 2), ("BUD", 0))
BOOKS = ("B1", "B2")
CLOSED_MONTH = ("B1", "2023-12")
ACCOUNTS = (  # key, book, group, flags
    ("cash", "B1", "CNY", ()),
    ("bank", "B1", "CNY", ()),
    ("shut", "B1", "CNY", ("closed",)),
    ("quota", "B1", "CNY", ("debits_must_not_exceed_credits",)),
    ("spend", "B1", "CNY", ("credits_must_not_exceed_debits",)),
    ("other", "B2", "CNY", ()),
    ("bud_a", "B1", "BUD", ()),
    ("bud_b", "B1", "BUD", ()),
    ("big", "B1", "CNY", ()),
    ("big_c", "B1", "CNY", ()),
)
INDEX = {key: position for position, (key, *_) in enumerate(ACCOUNTS)}
_FLAG_BITS = {
    "closed": ACCOUNT_CLOSED,
    "debits_must_not_exceed_credits": ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS,
    "credits_must_not_exceed_debits": ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS,
}


def bulk(
    key: int,
    *lines: tuple[str | int, int],
    flags: int = 0,
    pending: int = 0,
    book: int = -1,
    date: int = JAN_DAYS,
    closed: bool = False,
    dims: tuple[int, int, int, int] | None = None,
) -> EntrySpec:
    """A bulk-path entry; lines are (account name or raw index, signed minor units).

    `closed` marks the entry's period as closed for the kernel path; the public API derives
    the same from the date (DEC is closed in B1).
    """
    line_specs = tuple(
        LineSpec(INDEX[account] if isinstance(account, str) else account, amount, dims or (0, 0, 0, 0))
        for account, amount in lines
    )
    return EntrySpec(
        key, line_specs, flags=flags, pending=pending, book=book, date=date, period_closed=closed
    )


# What every row starts from (all accepted): balances, pending entries, a near-max account.
HISTORY = (
    bulk(1, ("cash", 10_000), ("bank", -10_000)),
    bulk(2, ("cash", 500), ("bank", -500), flags=ENTRY_PENDING),  # stays open
    bulk(3, ("cash", 700), ("bank", -700), flags=ENTRY_PENDING),
    bulk(4, flags=ENTRY_POST_PENDING, pending=3),  # 3 is resolved
    bulk(5, ("bank", 5_000), ("quota", -5_000)),  # quota may take 50.00 of debits
    bulk(6, ("spend", 5_000), ("cash", -5_000)),  # spend may give 50.00 of credits
    bulk(7, ("big", MAX - 10), ("big_c", -(MAX - 10))),  # 10 minor units below the top
    bulk(8, ("bud_a", 3), ("bud_b", -3), ("cash", 100), ("bank", -100), flags=ENTRY_PENDING),
    bulk(9, ("quota", 5_000), ("cash", -5_000)),  # quota's debits now equal its credits
)


def build_ledger(open_ledger) -> Any:
    book = open_ledger()
    assert all(r.ok for r in book.create_groups([{"key": k, "scale": s} for k, s in GROUPS]))
    assert all(r.ok for r in book.create_books([{"key": k} for k in BOOKS]))
    accounts = [
        {"key": key, "book": b, "group": g, "code": "1001", "flags": list(flags)}
        for key, b, g, flags in ACCOUNTS
    ]
    assert all(r.ok for r in book.create_accounts(accounts))
    assert book.post_columns(**to_columns(HISTORY).post_columns_kwargs()).tolist() == [0] * len(HISTORY)
    book.close_period(*CLOSED_MONTH)
    return book


def _layout() -> list[tuple[int, int, int]]:
    groups = [key for key, _ in GROUPS]
    layout = []
    for _, b, g, flags in ACCOUNTS:
        bits = 0
        for flag in flags:
            bits |= _FLAG_BITS[flag]
        layout.append((BOOKS.index(b), groups.index(g), bits))
    return layout


def build_kernel(kernel) -> KernelState:
    state = KernelState(_layout(), groups_count=len(GROUPS))
    assert state.post(kernel, to_columns(HISTORY)).tolist() == [0] * len(HISTORY)
    return state


def build_auditor() -> Auditor:
    auditor = Auditor()
    for layout in _layout():
        auditor.add_account(*layout)
    assert auditor.post(HISTORY) == [Code.ok] * len(HISTORY)
    return auditor


# --- rows -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """Batches posted in turn, and the codes each must give."""

    id: str
    batches: tuple[tuple[Any, ...], ...]
    expected: tuple[tuple[Code, ...], ...]
    also: tuple[Code, ...] = ()
    close_after_history: tuple[str, ...] = ()  # kernel rows: accounts closed before the row


def row(id: str, entries: list[Any], *codes: Code, also: tuple[Code, ...] = ()) -> Any:
    assert len(entries) == len(codes), id
    return pytest.param(Row(id, (tuple(entries),), (codes,), also), id=id)


def rows(id: str, *steps: tuple[list[Any], tuple[Code, ...]], close: tuple[str, ...] = ()) -> Any:
    for entries, codes in steps:
        assert len(entries) == len(codes), id
    return pytest.param(
        Row(id, tuple(tuple(e) for e, _ in steps), tuple(c for _, c in steps), close_after_history=close),
        id=id,
    )


def dr(account: str, amount: str) -> dict[str, str]:
    return {"account": account, "debit": amount}


def cr(account: str, amount: str) -> dict[str, str]:
    return {"account": account, "credit": amount}


def rec(
    key: int,
    *lines: dict[str, Any],
    book: str = "B1",
    date: dt.date = JAN,
    flags: tuple[str, ...] = (),
    pending: int | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A record-path entry as a mapping (what callers hand to Ledger.post)."""
    entry = {"key": key, "book": book, "date": date, "lines": list(lines), "flags": list(flags), **fields}
    if pending is not None:
        entry["pending"] = pending
    return entry


ok, C = Code.ok, Code
LINKED, PENDING, POST, VOID = ENTRY_LINKED, ENTRY_PENDING, ENTRY_POST_PENDING, ENTRY_VOID_PENDING
TRANSFER = (dr("cash", "1.00"), cr("bank", "1.00"))

RECORD_ROWS = [
    # accepted entries and boundaries
    row("transfer", [rec(10, *TRANSFER)], ok),
    row("trailing zeros beyond the scale", [rec(10, dr("cash", "1.000"), cr("bank", "1.0000"))], ok),
    row(
        "multi-group entry balancing in each group",
        [rec(10, *TRANSFER, dr("bud_a", "5"), cr("bud_b", "5"))],
        ok,
    ),
    row("constraint met exactly", [rec(10, dr("bank", "50.00"), cr("spend", "50.00"))], ok),
    row("constraint on the whole effect", [rec(10, dr("quota", "10.00"), cr("quota", "10.00"))], ok),
    row("balance reaches INT64_MAX exactly", [rec(10, dr("big", "0.10"), cr("cash", "0.10"))], ok),
    row("same account on both sides", [rec(10, dr("cash", "1.00"), cr("cash", "1.00"))], ok),
    row(
        "one period closed, the other book open",
        [rec(10, dr("other", "1"), cr("other", "1"), book="B2", date=DEC)],
        ok,
    ),
    # linked chains
    row("chain accepted whole", [rec(10, *TRANSFER, flags=("linked",)), rec(11, *TRANSFER)], ok, ok),
    row("chain open at the end of the batch", [rec(10, *TRANSFER, flags=("linked",))], C.linked_chain_open),
    row(
        "chain open after a good member",
        [rec(10, *TRANSFER, flags=("linked",)), rec(11, *TRANSFER, flags=("linked",))],
        C.linked_event_failed,
        C.linked_chain_open,
    ),
    row(
        "chain open beats an invalid key",
        [rec(0, *TRANSFER, flags=("linked",))],
        C.linked_chain_open,
        also=(C.key_invalid,),
    ),
    row(
        "chain fails at its last member",
        [rec(10, *TRANSFER, flags=("linked",)), rec(11, dr("cash", "1.00"), cr("bank", "0.99"))],
        C.linked_event_failed,
        C.unbalanced,
    ),
    row(
        "chain fails at its first member",
        [
            rec(10, dr("cash", "1.00"), cr("bank", "0.99"), flags=("linked",)),
            rec(11, *TRANSFER),
            rec(12, *TRANSFER),
        ],
        C.unbalanced,
        C.linked_event_failed,
        ok,
    ),
    row(
        "failed chain rolls back a pending entry and its post",
        [
            rec(10, *TRANSFER, flags=("linked", "pending")),
            rec(11, flags=("linked", "post_pending"), pending=10),
            rec(12, dr("quota", "0.01"), cr("cash", "0.01")),
            rec(13, flags=("void_pending",), pending=10),
        ],
        C.linked_event_failed,
        C.linked_event_failed,
        C.exceeds_credits,
        C.pending_not_found,
    ),
    # keys
    row("key zero", [rec(0, *TRANSFER)], C.key_invalid),
    row("negative key", [rec(-5, *TRANSFER)], C.key_invalid),
    row("smallest int64 key", [rec(MIN, *TRANSFER)], C.key_invalid),
    row(
        "invalid key beats invalid flags",
        [rec(0, *TRANSFER, flags=("pending", "post_pending"))],
        C.key_invalid,
        also=(C.flags_invalid,),
    ),
    row(
        "rejected key is not consumed",
        [rec(10, dr("cash", "1.00"), cr("bank", "0.99")), rec(10, *TRANSFER)],
        C.unbalanced,
        ok,
    ),
    # exists
    row("record path repeats a bulk entry", [rec(1, dr("cash", "100.00"), cr("bank", "100.00"))], C.exists),
    row(
        "exists beats a constraint it would now break",
        [rec(9, dr("quota", "50.00"), cr("cash", "50.00"))],
        C.exists,
        also=(C.exceeds_credits,),
    ),
    rows(
        "exists beats an already resolved pending",
        ([rec(10, flags=("post_pending",), pending=2)], (ok,)),
        ([rec(10, flags=("post_pending",), pending=2)], (C.exists,)),
    ),
    row("repeat inside one batch", [rec(10, *TRANSFER), rec(10, *TRANSFER)], ok, C.exists),
    row(
        "repeat with another amount inside one batch",
        [rec(10, *TRANSFER), rec(10, dr("cash", "2.00"), cr("bank", "2.00"))],
        ok,
        C.exists_with_different_fields,
    ),
    row(
        "another amount", [rec(1, dr("cash", "100.01"), cr("bank", "100.01"))], C.exists_with_different_fields
    ),
    row(
        "another date",
        [rec(1, dr("cash", "100.00"), cr("bank", "100.00"), date=JAN + dt.timedelta(days=1))],
        C.exists_with_different_fields,
    ),
    row(
        "another reference",
        [rec(1, dr("cash", "100.00"), cr("bank", "100.00"), reference="PAY-1")],
        C.exists_with_different_fields,
    ),
    row(
        "another line order",
        [rec(1, cr("bank", "100.00"), dr("cash", "100.00"))],
        C.exists_with_different_fields,
    ),
    row(
        "dimensions added",
        [rec(1, {**dr("cash", "100.00"), "dims": [7]}, cr("bank", "100.00"))],
        C.exists_with_different_fields,
    ),
    row(
        "an unknown book is a different field",
        [rec(1, dr("cash", "100.00"), cr("bank", "100.00"), book="B9")],
        C.exists_with_different_fields,
        also=(C.book_not_found,),
    ),
    row(
        "different fields beat invalid flags",
        [rec(1, dr("cash", "100.00"), cr("bank", "100.00"), flags=("pending", "void_pending"))],
        C.exists_with_different_fields,
        also=(C.flags_invalid,),
    ),
    # flags
    row(
        "pending and post",
        [rec(10, *TRANSFER, flags=("pending", "post_pending"), pending=2)],
        C.flags_invalid,
    ),
    row("post and void", [rec(10, flags=("post_pending", "void_pending"), pending=2)], C.flags_invalid),
    row("post without a pending key", [rec(10, flags=("post_pending",))], C.flags_invalid),
    row("pending key on an ordinary entry", [rec(10, *TRANSFER, pending=2)], C.flags_invalid),
    row("negative pending key", [rec(10, flags=("void_pending",), pending=-2)], C.flags_invalid),
    row(
        "invalid flags beat no lines",
        [rec(10, dr("cash", "1.00"), pending=2)],
        C.flags_invalid,
        also=(C.no_lines,),
    ),
    # lines
    row("no lines", [rec(10)], C.no_lines),
    row("one line", [rec(10, dr("cash", "1.00"))], C.no_lines),
    row("pending entry without lines", [rec(10, flags=("pending",))], C.no_lines),
    row("post with one line", [rec(10, dr("cash", "5.00"), flags=("post_pending",), pending=2)], C.no_lines),
    row(
        "no lines beat an invalid amount",
        [rec(10, dr("cash", "1.001"))],
        C.no_lines,
        also=(C.amount_invalid,),
    ),
    # amounts
    row("more places than the scale", [rec(10, dr("cash", "1.001"), cr("bank", "1.001"))], C.amount_invalid),
    row("a place at scale 0", [rec(10, dr("bud_a", "1.5"), cr("bud_b", "1.5"))], C.amount_invalid),
    row(
        "beyond int64 minor units",
        [rec(10, dr("cash", "92233720368547758.08"), cr("bank", "1.00"))],
        C.amount_invalid,
        also=(C.unbalanced,),
    ),
    row(
        "invalid amount beats a closed account",
        [rec(10, dr("shut", "1.001"), cr("bank", "1.001"))],
        C.amount_invalid,
        also=(C.account_closed,),
    ),
    row(
        "an unknown account's amount is not judged",
        [rec(10, dr("nope", "1.001"), cr("bank", "1.00"))],
        C.account_not_found,
    ),
    # accounts and books
    row("unknown account", [rec(10, dr("nope", "1.00"), cr("bank", "1.00"))], C.account_not_found),
    row(
        "unknown account beats a closed one",
        [rec(10, dr("nope", "1.00"), cr("shut", "1.00"))],
        C.account_not_found,
        also=(C.account_closed,),
    ),
    row("closed account", [rec(10, dr("shut", "1.00"), cr("bank", "1.00"))], C.account_closed),
    row(
        "closed account in a post's lines",
        [rec(10, dr("shut", "5.00"), cr("bank", "5.00"), flags=("post_pending",), pending=2)],
        C.account_closed,
        also=(C.pending_lines_differ,),
    ),
    row(
        "closed account beats an unknown book",
        [rec(10, dr("shut", "1.00"), cr("bank", "1.00"), book="B9")],
        C.account_closed,
        also=(C.book_not_found,),
    ),
    row("unknown book", [rec(10, *TRANSFER, book="B9")], C.book_not_found),
    row(
        "unknown book beats lines in two books",
        [rec(10, dr("cash", "1.00"), cr("other", "1.00"), book="B9")],
        C.book_not_found,
        also=(C.cross_book, C.unbalanced),
    ),
    row("lines in another book", [rec(10, *TRANSFER, book="B2")], C.cross_book),
    row("lines in two books", [rec(10, dr("cash", "1.00"), cr("other", "1.00"))], C.cross_book),
    row(
        "cross book beats unbalanced",
        [rec(10, dr("cash", "1.00"), cr("other", "2.00"))],
        C.cross_book,
        also=(C.unbalanced,),
    ),
    row(
        "post naming another book than the pending",
        [rec(10, flags=("post_pending",), pending=2, book="B2")],
        C.cross_book,
    ),
    row(
        "cross book beats an unknown pending",
        [rec(10, dr("cash", "1.00"), cr("other", "1.00"), flags=("post_pending",), pending=999)],
        C.cross_book,
        also=(C.pending_not_found,),
    ),
    # pending entries
    row("post a pending entry", [rec(10, flags=("post_pending",), pending=2)], ok),
    row("void a pending entry", [rec(10, flags=("void_pending",), pending=2)], ok),
    row(
        "post repeating the pending lines",
        [rec(10, dr("cash", "5.00"), cr("bank", "5.00"), flags=("post_pending",), pending=2)],
        ok,
    ),
    row("post a multi-group pending entry", [rec(10, flags=("post_pending",), pending=8)], ok),
    row(
        "pending then its post in one batch",
        [rec(10, *TRANSFER, flags=("pending",)), rec(11, flags=("post_pending",), pending=10)],
        ok,
        ok,
    ),
    row("unknown pending entry", [rec(10, flags=("post_pending",), pending=999)], C.pending_not_found),
    row(
        "an ordinary entry is not pending", [rec(10, flags=("void_pending",), pending=1)], C.pending_not_found
    ),
    row(
        "unknown pending beats a closed period",
        [rec(10, flags=("post_pending",), pending=999, date=DEC)],
        C.pending_not_found,
        also=(C.period_closed,),
    ),
    row(
        "post a posted pending entry",
        [rec(10, flags=("post_pending",), pending=3)],
        C.pending_already_resolved,
    ),
    row(
        "void a posted pending entry",
        [rec(10, flags=("void_pending",), pending=3)],
        C.pending_already_resolved,
    ),
    row(
        "post then void in one batch",
        [rec(10, flags=("post_pending",), pending=2), rec(11, flags=("void_pending",), pending=2)],
        ok,
        C.pending_already_resolved,
    ),
    row(
        "resolved beats differing lines",
        [rec(10, dr("cash", "1.00"), cr("bank", "1.00"), flags=("post_pending",), pending=3)],
        C.pending_already_resolved,
        also=(C.pending_lines_differ,),
    ),
    row(
        "post with another amount",
        [rec(10, dr("cash", "5.01"), cr("bank", "5.01"), flags=("post_pending",), pending=2)],
        C.pending_lines_differ,
    ),
    row(
        "void with the lines reordered",
        [rec(10, cr("bank", "5.00"), dr("cash", "5.00"), flags=("void_pending",), pending=2)],
        C.pending_lines_differ,
    ),
    row(
        "differing lines beat a closed period",
        [rec(10, dr("cash", "5.01"), cr("bank", "5.01"), flags=("post_pending",), pending=2, date=DEC)],
        C.pending_lines_differ,
        also=(C.period_closed,),
    ),
    # periods
    row("closed period", [rec(10, *TRANSFER, date=DEC)], C.period_closed),
    row("post in a closed period", [rec(10, flags=("post_pending",), pending=2, date=DEC)], C.period_closed),
    row(
        "closed period beats unbalanced",
        [rec(10, dr("cash", "1.00"), cr("bank", "0.99"), date=DEC)],
        C.period_closed,
        also=(C.unbalanced,),
    ),
    # balance, overflow, constraints
    row("unbalanced", [rec(10, dr("cash", "1.00"), cr("bank", "0.99"))], C.unbalanced),
    row("groups never offset each other", [rec(10, dr("cash", "1.00"), cr("bud_a", "100"))], C.unbalanced),
    row(
        "one group of two unbalanced", [rec(10, *TRANSFER, dr("bud_a", "5"), cr("bud_b", "4"))], C.unbalanced
    ),
    row(
        "unbalanced beats overflow",
        [rec(10, dr("big", "0.11"), cr("cash", "0.10"))],
        C.unbalanced,
        also=(C.overflow,),
    ),
    row(
        "unbalanced beats a constraint",
        [rec(10, dr("quota", "0.01"), cr("cash", "0.02"))],
        C.unbalanced,
        also=(C.exceeds_credits,),
    ),
    row("balance beyond INT64_MAX", [rec(10, dr("big", "0.11"), cr("cash", "0.11"))], C.overflow),
    row(
        "posted plus pending beyond INT64_MAX",
        [rec(10, dr("big", "0.11"), cr("cash", "0.11"), flags=("pending",))],
        C.overflow,
    ),
    row(
        "an entry's own lines beyond INT64_MAX",
        [
            rec(
                10,
                dr("other", "92233720368547758.07"),
                dr("other", "0.01"),
                cr("other", "92233720368547758.07"),
                cr("other", "0.01"),
                book="B2",
            )
        ],
        C.overflow,
    ),
    row(
        "overflow beats a constraint",
        [rec(10, dr("big", "0.11"), dr("quota", "0.01"), cr("cash", "0.12"))],
        C.overflow,
        also=(C.exceeds_credits,),
    ),
    row("debits beyond credits", [rec(10, dr("quota", "0.01"), cr("cash", "0.01"))], C.exceeds_credits),
    row(
        "pending debits count, pending credits do not",
        [rec(10, dr("quota", "10.00"), cr("quota", "10.00"), flags=("pending",))],
        C.exceeds_credits,
    ),
    row("credits beyond debits", [rec(10, dr("cash", "50.01"), cr("spend", "50.01"))], C.exceeds_debits),
    row(
        "exceeds credits beats exceeds debits",
        [rec(10, dr("quota", "50.01"), cr("spend", "50.01"))],
        C.exceeds_credits,
        also=(C.exceeds_debits,),
    ),
]

BULK_ROWS = [
    row("transfer", [bulk(10, ("cash", 100), ("bank", -100))], ok),
    row("book given", [bulk(10, ("cash", 100), ("bank", -100), book=0)], ok),
    row("INT64_MAX amounts", [bulk(10, ("other", MAX), ("other", -MAX))], ok),
    row("balance reaches INT64_MAX exactly", [bulk(10, ("big", 10), ("cash", -10))], ok),
    row("chain open", [bulk(10, ("cash", 1), ("bank", -1), flags=LINKED)], C.linked_chain_open),
    row(
        "chain fails",
        [bulk(10, ("cash", 1), ("bank", -1), flags=LINKED), bulk(11, ("cash", 1), ("bank", -2))],
        C.linked_event_failed,
        C.unbalanced,
    ),
    row(
        "two chains, one fails",
        [
            bulk(10, ("cash", 1), ("bank", -1), flags=LINKED),
            bulk(11, ("cash", 1), ("bank", -1)),
            bulk(12, ("cash", 1), ("bank", -1), flags=LINKED),
            bulk(13, ("shut", 1), ("bank", -1)),
        ],
        ok,
        ok,
        C.linked_event_failed,
        C.account_closed,
    ),
    row("key zero", [bulk(0, ("cash", 1), ("bank", -1))], C.key_invalid),
    row("exists", [bulk(1, ("cash", 10_000), ("bank", -10_000))], C.exists),
    row("exists with its book given", [bulk(1, ("cash", 10_000), ("bank", -10_000), book=0)], C.exists),
    row(
        "zero dims in a dims column are no dims",
        [
            bulk(10, ("cash", 1), ("bank", -1), dims=(1, 2, 3, 4)),
            bulk(1, ("cash", 10_000), ("bank", -10_000)),
        ],
        ok,
        C.exists,
    ),
    row(
        "different dims",
        [bulk(1, ("cash", 10_000), ("bank", -10_000), dims=(0, 0, 0, 1))],
        C.exists_with_different_fields,
    ),
    row(
        "unknown book is a different field",
        [bulk(1, ("cash", 10_000), ("bank", -10_000), book=-2)],
        C.exists_with_different_fields,
        also=(C.book_not_found,),
    ),
    row("unknown flag bit", [bulk(10, ("cash", 1), ("bank", -1), flags=16)], C.flags_invalid),
    row("highest flag bit", [bulk(10, ("cash", 1), ("bank", -1), flags=0x8000)], C.flags_invalid),
    row(
        "pending and void",
        [bulk(10, ("cash", 1), ("bank", -1), flags=PENDING | VOID, pending=2)],
        C.flags_invalid,
    ),
    row("invalid flags beat no lines", [bulk(10, flags=16)], C.flags_invalid, also=(C.no_lines,)),
    row("no lines", [bulk(10)], C.no_lines),
    row("no lines beat an invalid amount", [bulk(10, ("cash", 0))], C.no_lines, also=(C.amount_invalid,)),
    row(
        "too many lines",
        [bulk(10, *[("cash", 1), ("bank", -1)] * (limits.lines_max // 2), ("cash", 1))],
        C.too_many_lines,
        also=(C.unbalanced,),
    ),
    row(
        "too many lines beat an invalid amount",
        [bulk(10, *[("cash", 1), ("bank", -1)] * (limits.lines_max // 2), ("cash", 0))],
        C.too_many_lines,
        also=(C.amount_invalid,),
    ),
    row("lines_max lines", [bulk(10, *[("cash", 1), ("bank", -1)] * (limits.lines_max // 2))], ok),
    row("zero amount", [bulk(10, ("cash", 0), ("bank", 0))], C.amount_invalid),
    row("INT64_MIN amount", [bulk(10, ("cash", MIN), ("bank", MAX), ("bank", 1))], C.amount_invalid),
    row(
        "invalid amount beats an unknown account",
        [bulk(10, (99, 0), ("bank", 1))],
        C.amount_invalid,
        also=(C.account_not_found,),
    ),
    row("account index past the end", [bulk(10, (len(ACCOUNTS), 1), ("bank", -1))], C.account_not_found),
    row("negative account index", [bulk(10, (-1, 1), ("bank", -1))], C.account_not_found),
    row("largest int32 account index", [bulk(10, (2**31 - 1, 1), ("bank", -1))], C.account_not_found),
    row(
        "unknown account beats a closed one",
        [bulk(10, (99, 1), ("shut", -1))],
        C.account_not_found,
        also=(C.account_closed,),
    ),
    row("closed account", [bulk(10, ("cash", 1), ("shut", -1))], C.account_closed),
    row(
        "closed account beats an unknown book",
        [bulk(10, ("cash", 1), ("shut", -1), book=-2)],
        C.account_closed,
        also=(C.book_not_found,),
    ),
    row("void with the pending lines", [bulk(10, ("cash", 500), ("bank", -500), flags=VOID, pending=2)], ok),
    row("unknown book", [bulk(10, ("cash", 1), ("bank", -1), book=-2)], C.book_not_found),
    row("unknown book on a post without lines", [bulk(10, flags=POST, pending=2, book=-2)], C.book_not_found),
    row(
        "unknown book beats cross book",
        [bulk(10, ("cash", 1), ("other", -1), book=-2)],
        C.book_not_found,
        also=(C.cross_book,),
    ),
    row("second line in another book", [bulk(10, ("cash", 1), ("other", -1))], C.cross_book),
    row("book given differs from the lines'", [bulk(10, ("cash", 1), ("bank", -1), book=1)], C.cross_book),
    row("post naming another book", [bulk(10, flags=POST, pending=2, book=1)], C.cross_book),
    row("post", [bulk(10, flags=POST, pending=2)], ok),
    row("post of an unknown pending", [bulk(10, flags=POST, pending=999)], C.pending_not_found),
    row("void of a resolved pending", [bulk(10, flags=VOID, pending=3)], C.pending_already_resolved),
    row(
        "post with some of the pending lines",
        [bulk(10, ("bud_a", 3), ("bud_b", -3), flags=POST, pending=8)],
        C.pending_lines_differ,
    ),
    row(
        "replay of a post without lines",
        [bulk(4, flags=POST, pending=3)],
        C.exists,
        also=(C.pending_already_resolved,),
    ),
    row(
        "post with other lines",
        [bulk(10, ("cash", 400), ("bank", -400), flags=POST, pending=2)],
        C.pending_lines_differ,
    ),
    row(
        "post with a multi-group pending's lines in another order",
        [bulk(10, ("cash", 100), ("bank", -100), ("bud_a", 3), ("bud_b", -3), flags=POST, pending=8)],
        C.pending_lines_differ,
    ),
    row("closed period", [bulk(10, ("cash", 1), ("bank", -1), date=DEC_DAYS, closed=True)], C.period_closed),
    row(
        "void in a closed period",
        [bulk(10, flags=VOID, pending=2, date=DEC_DAYS, closed=True)],
        C.period_closed,
    ),
    row(
        "closed period beats unbalanced",
        [bulk(10, ("cash", 1), ("bank", -2), date=DEC_DAYS, closed=True)],
        C.period_closed,
        also=(C.unbalanced,),
    ),
    row("unbalanced", [bulk(10, ("cash", 1), ("bank", -2))], C.unbalanced),
    row("unbalanced across groups", [bulk(10, ("cash", 1), ("bud_a", -1))], C.unbalanced),
    row("overflow", [bulk(10, ("big", 11), ("cash", -11))], C.overflow),
    row(
        "overflow of the entry's own lines",
        [bulk(10, ("other", MAX), ("other", 1), ("other", -MAX), ("other", -1))],
        C.overflow,
    ),
    row("overflow of posted plus pending", [bulk(10, ("big", 11), ("cash", -11), flags=PENDING)], C.overflow),
    row(
        "overflow beats a constraint",
        [bulk(10, ("big", 11), ("quota", 1), ("cash", -12))],
        C.overflow,
        also=(C.exceeds_credits,),
    ),
    row("exceeds credits", [bulk(10, ("quota", 1), ("cash", -1))], C.exceeds_credits),
    row("exceeds debits", [bulk(10, ("cash", 5_001), ("spend", -5_001))], C.exceeds_debits),
    row(
        "exceeds credits beats exceeds debits",
        [bulk(10, ("quota", 5_001), ("spend", -5_001))],
        C.exceeds_credits,
        also=(C.exceeds_debits,),
    ),
    rows(
        "failed chain leaves its keys free",
        (
            [bulk(10, ("cash", 1), ("bank", -1), flags=LINKED), bulk(11, ("cash", 1), ("bank", -2))],
            (C.linked_event_failed, C.unbalanced),
        ),
        ([bulk(10, ("cash", 1), ("bank", -1)), bulk(11, ("cash", 1), ("bank", -1))], (ok, ok)),
    ),
    rows(
        "voided pending cannot be posted",
        ([bulk(10, flags=VOID, pending=2)], (ok,)),
        (
            [bulk(11, flags=POST, pending=2), bulk(10, flags=VOID, pending=2)],
            (C.pending_already_resolved, C.exists),
        ),
    ),
]

# Only a direct kernel call sets the period_closed column on its own or closes an account
# after a pending entry reserved on it.
KERNEL_ROWS = [
    row("period column alone", [bulk(10, ("cash", 1), ("bank", -1), closed=True)], C.period_closed),
    row(
        "period column on a pending entry",
        [bulk(10, ("cash", 1), ("bank", -1), flags=PENDING, closed=True)],
        C.period_closed,
    ),
    row(
        "period column loses to pending lines differ",
        [bulk(10, ("cash", 1), ("bank", -1), flags=POST, pending=2, closed=True)],
        C.pending_lines_differ,
        also=(C.period_closed,),
    ),
    rows(
        "post on an account closed since",
        ([bulk(10, flags=POST, pending=2)], (C.account_closed,)),
        close=("bank",),
    ),
    rows("void on an account closed since", ([bulk(10, flags=VOID, pending=2)], (ok,)), close=("bank",)),
    rows(
        "void with lines on an account closed since",
        ([bulk(10, ("cash", 500), ("bank", -500), flags=VOID, pending=2)], (ok,)),
        close=("bank",),
    ),
    rows(
        "post with lines on an account closed since",
        ([bulk(10, ("cash", 500), ("bank", -500), flags=POST, pending=2)], (C.account_closed,)),
        close=("bank",),
    ),
    rows(
        "closed account beats the period column",
        ([bulk(10, flags=POST, pending=2, closed=True)], (C.account_closed,)),
        close=("bank",),
    ),
]


def _row(param: Any) -> Row:
    return param.values[0]


# --- the table is what it claims ------------------------------------------------------------------


def _codes(params: list[Any]) -> set[Code]:
    return {code for param in params for codes in _row(param).expected for code in codes}


def test_bulk_rows_produce_every_posting_code():
    assert _codes(BULK_ROWS) == set(POSTING_CODES)


def test_record_rows_produce_every_code_the_record_path_can_reach():
    # An Entry holds at most lines_max lines (more is InvalidInput), so too_many_lines is
    # bulk-only; every other posting code is reachable with records.
    assert _codes(RECORD_ROWS) == set(POSTING_CODES) - {Code.too_many_lines}


def test_kernel_rows_cover_what_only_the_kernel_sees():
    assert {Code.period_closed, Code.account_closed, Code.ok} <= _codes(KERNEL_ROWS)


def test_two_rule_rows_show_the_earlier_rule_deciding():
    ladder = [code for code in POSTING_CODES if code not in (Code.ok, Code.linked_event_failed)]
    winners = set()
    for param in RECORD_ROWS + BULK_ROWS + KERNEL_ROWS:
        case = _row(param)
        if case.also:
            decided = case.expected[-1][-1]
            assert all(POSTING_CODES.index(decided) < POSTING_CODES.index(other) for other in case.also), (
                case.id
            )
            winners.add(decided)
    # Every rule but the last wins against a later one somewhere in the tables.
    assert set(ladder[:-1]) <= winners, set(ladder[:-1]) - winners


# --- running the rows -----------------------------------------------------------------------------


@pytest.mark.parametrize("case", RECORD_ROWS)
def test_record_path(case: Row, open_ledger):
    book = build_ledger(open_ledger)
    for entries, expected in zip(case.batches, case.expected, strict=True):
        results = book.post(list(entries))
        assert [r.key for r in results] == [e["key"] for e in entries]
        assert tuple(r.code for r in results) == expected


@pytest.mark.parametrize("case", BULK_ROWS)
def test_bulk_path(case: Row, open_ledger):
    book = build_ledger(open_ledger)
    for entries, expected in zip(case.batches, case.expected, strict=True):
        plain = [dataclasses.replace(entry, period_closed=False) for entry in entries]
        codes = book.post_columns(**to_columns(plain).post_columns_kwargs())
        assert codes.dtype == np.uint8
        assert tuple(Code(int(c)) for c in codes) == expected


@pytest.mark.parametrize("case", BULK_ROWS + KERNEL_ROWS)
@pytest.mark.parametrize("kernel", [native, reference], ids=["native", "reference"])
def test_kernel(case: Row, kernel):
    state = build_kernel(kernel)
    for name in case.close_after_history:
        state.rows["flags"][INDEX[name]] |= ACCOUNT_CLOSED
    for entries, expected in zip(case.batches, case.expected, strict=True):
        codes = state.post(kernel, to_columns(list(entries)))
        assert tuple(Code(int(c)) for c in codes) == expected


@pytest.mark.parametrize("case", BULK_ROWS + KERNEL_ROWS)
def test_auditor(case: Row):
    auditor = build_auditor()
    for name in case.close_after_history:
        auditor.accounts[INDEX[name]].flags |= ACCOUNT_CLOSED
    for entries, expected in zip(case.batches, case.expected, strict=True):
        assert tuple(auditor.post(list(entries))) == expected


@pytest.mark.parametrize("case", BULK_ROWS)
def test_rejections_change_nothing(case: Row, open_ledger):
    """A batch where nothing is accepted leaves every balance as it was."""
    book = build_ledger(open_ledger)
    for entries, expected in zip(case.batches, case.expected, strict=True):
        before = book.balances()
        plain = [dataclasses.replace(entry, period_closed=False) for entry in entries]
        book.post_columns(**to_columns(plain).post_columns_kwargs())
        after = book.balances()
        if Code.ok not in expected:
            for field, column in before.items():
                assert np.array_equal(column, after[field]), field


def test_closed_period_holds_for_a_pending_of_the_same_batch(open_ledger):
    book = build_ledger(open_ledger)
    batch = [
        bulk(10, ("cash", 1), ("bank", -1), flags=PENDING),
        bulk(11, flags=POST, pending=10, date=DEC_DAYS),
    ]
    codes = book.post_columns(**to_columns(batch).post_columns_kwargs())
    assert codes.tolist() == [Code.ok, Code.period_closed]


# --- creation codes -------------------------------------------------------------------------------

CREATE_ROWS = [
    pytest.param("groups", [{"key": "EUR"}], [Code.ok], id="new group"),
    pytest.param("groups", [{"key": "CNY", "scale": 2}], [Code.exists], id="same group"),
    pytest.param(
        "groups", [{"key": "CNY", "scale": 3}], [Code.exists_with_different_fields], id="group scale differs"
    ),
    pytest.param(
        "groups", [{"key": "EUR"}, {"key": "EUR"}], [Code.ok, Code.exists], id="group twice in one call"
    ),
    pytest.param("books", [{"key": "B3"}], [Code.ok], id="new book"),
    pytest.param("books", [{"key": "B1"}], [Code.exists], id="same book"),
    pytest.param(
        "books",
        [{"key": "B1", "name": "Unit 1"}],
        [Code.exists_with_different_fields],
        id="book name differs",
    ),
    pytest.param(
        "accounts", [{"key": "new", "book": "B1", "group": "CNY", "code": "1"}], [Code.ok], id="new account"
    ),
    pytest.param(
        "accounts",
        [{"key": "cash", "book": "B1", "group": "CNY", "code": "1001"}],
        [Code.exists],
        id="same account",
    ),
    pytest.param(
        "accounts",
        [{"key": "cash", "book": "B1", "group": "CNY", "code": "1002"}],
        [Code.exists_with_different_fields],
        id="account code differs",
    ),
    pytest.param(
        "accounts",
        [{"key": "cash", "book": "B1", "group": "CNY", "code": "1001", "flags": ["closed"]}],
        [Code.exists_with_different_fields],
        id="account flags differ",
    ),
    pytest.param(
        "accounts",
        [{"key": "x", "book": "B1", "group": "EUR", "code": "1"}],
        [Code.group_not_found],
        id="unknown group",
    ),
    pytest.param(
        "accounts",
        [{"key": "x", "book": "B9", "group": "CNY", "code": "1"}],
        [Code.book_not_found],
        id="unknown book",
    ),
    pytest.param(
        "accounts",
        [{"key": "cash", "book": "B9", "group": "EUR", "code": "1001"}],
        [Code.exists_with_different_fields],
        id="existing key beats unknown group and book",
    ),
    pytest.param(
        "accounts",
        [{"key": "x", "book": "B9", "group": "EUR", "code": "1"}],
        [Code.book_not_found],
        id="unknown book beats unknown group",
    ),
    pytest.param(
        "accounts",
        [{"key": "x", "book": "B1", "group": "CNY", "code": "1"}] * 2,
        [Code.ok, Code.exists],
        id="account twice in one call",
    ),
    pytest.param(
        "accounts",
        [
            {"key": "x", "book": "B1", "group": "CNY", "code": "1"},
            {"key": "x", "book": "B2", "group": "CNY", "code": "1"},
        ],
        [Code.ok, Code.exists_with_different_fields],
        id="account twice, differing",
    ),
    pytest.param(
        "accounts",
        [
            {"key": "x", "book": "B9", "group": "CNY", "code": "1"},
            {"key": "x", "book": "B1", "group": "CNY", "code": "1"},
        ],
        [Code.book_not_found, Code.ok],
        id="rejected account leaves its key free",
    ),
]


@pytest.mark.parametrize(("kind", "items", "expected"), CREATE_ROWS)
def test_creation_codes(kind: str, items: list[dict[str, Any]], expected: list[Code], open_ledger):
    book = build_ledger(open_ledger)
    create = {"groups": book.create_groups, "books": book.create_books, "accounts": book.create_accounts}[
        kind
    ]
    results = create(items)
    assert [r.key for r in results] == [item["key"] for item in items]
    assert [r.code for r in results] == expected
    if kind == "accounts":
        created = [item["key"] for item, code in zip(items, expected, strict=True) if code == Code.ok]
        assert book.account_index(created).tolist() == list(
            range(len(ACCOUNTS), len(ACCOUNTS) + len(created))
        )


def test_creation_codes_cover_the_creation_rules():
    produced = {code for param in CREATE_ROWS for code in param.values[2]}
    assert produced == {
        Code.ok,
        Code.exists,
        Code.exists_with_different_fields,
        Code.group_not_found,
        Code.book_not_found,
    }


def test_account_creation_paths_agree_on_precedence(open_ledger):
    records = build_ledger(open_ledger).create_accounts(
        [{"key": "x", "book": "B9", "group": "EUR", "code": "1"}]
    )
    columns = build_ledger(open_ledger).create_accounts_columns(["x"], ["B9"], ["EUR"], ["1"])
    assert [r.code for r in records] == [Code(int(c)) for c in columns]
