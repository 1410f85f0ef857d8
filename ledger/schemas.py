"""The edge: pydantic models of what callers create and post, and of what they read back.

Models are immutable and refuse unknown fields. Amounts are Decimals (or strings / ints that
parse as such), never floats; whether an amount fits its balance group's scale is checked at
posting time, when the account (and so the group) is known. Keys are caller-chosen strings
for groups, books and accounts, and positive int64 ids for entries.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from ledger import limits
from ledger.codes import Code
from ledger.columns import (
    ACCOUNT_CLOSED,
    ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS,
    ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS,
    ACCOUNT_NORMAL_CREDIT,
    ENTRY_LINKED,
    ENTRY_PENDING,
    ENTRY_POST_PENDING,
    ENTRY_VOID_PENDING,
)
from ledger.money import INT64_MAX, INT64_MIN, to_decimal

Key = Annotated[
    str,
    Field(min_length=1, max_length=limits.key_length_max, pattern=r"^[^\x00-\x1f\x7f]+$"),
]
ChartCode = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z]+$")]
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX, strict=True)]
# A chart code layout: digits per level, "4-2-2-2-2" (ledger.trees).
Layout = Annotated[str, Field(max_length=64, pattern=r"^[1-9][0-9]?(-[1-9][0-9]?)*$")]


def _amount(value: object) -> Decimal | None:
    if value is None:
        return None
    return to_decimal(value)  # AmountError is a ValueError: pydantic reports it on the field


Amount = Annotated[Decimal | None, BeforeValidator(_amount)]


class AccountFlag(enum.StrEnum):
    """Flags an account is created with."""

    debits_must_not_exceed_credits = "debits_must_not_exceed_credits"
    credits_must_not_exceed_debits = "credits_must_not_exceed_debits"
    closed = "closed"


class EntryFlag(enum.StrEnum):
    """Flags of an entry (DESIGN.md §2)."""

    linked = "linked"
    pending = "pending"
    post_pending = "post_pending"
    void_pending = "void_pending"


# The bits of ledger.columns each flag sets: the one map from names to bits.
ACCOUNT_FLAG_BITS = {
    AccountFlag.debits_must_not_exceed_credits: ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS,
    AccountFlag.credits_must_not_exceed_debits: ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS,
    AccountFlag.closed: ACCOUNT_CLOSED,
}
ENTRY_FLAG_BITS = {
    EntryFlag.linked: ENTRY_LINKED,
    EntryFlag.pending: ENTRY_PENDING,
    EntryFlag.post_pending: ENTRY_POST_PENDING,
    EntryFlag.void_pending: ENTRY_VOID_PENDING,
}


def flag_bits(flags: Iterable[AccountFlag] | Iterable[EntryFlag]) -> int:
    """The bits of a set of account or entry flags."""
    bits = 0
    for flag in flags:
        bits |= ACCOUNT_FLAG_BITS[flag] if isinstance(flag, AccountFlag) else ENTRY_FLAG_BITS[flag]
    return bits


def account_flags(bits: int) -> frozenset[AccountFlag]:
    """The account flags whose bits are set in `bits` (the normal side's bit aside)."""
    return frozenset(flag for flag, bit in ACCOUNT_FLAG_BITS.items() if bits & bit)


def entry_flags(bits: int) -> frozenset[EntryFlag]:
    """The entry flags whose bits are set in `bits`."""
    return frozenset(flag for flag, bit in ENTRY_FLAG_BITS.items() if bits & bit)


def account_bits(flags: Iterable[AccountFlag], normal: str) -> int:
    """The uint32 flag bits of an account row: its flags and its normal side."""
    return flag_bits(flags) | (ACCOUNT_NORMAL_CREDIT if normal == "credit" else 0)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Group(_Model):
    """A balance group (currency × basis): entries net to zero in each group they touch."""

    key: Key
    scale: int = Field(default=2, ge=0, le=limits.scale_max, strict=True)


class Book(_Model):
    """One set of books; every account belongs to one, every entry touches one."""

    key: Key
    name: str | None = Field(default=None, max_length=256)


class Account(_Model):
    """A posting target. `code` is the chart code whose prefixes form the account tree."""

    key: Key
    book: Key
    group: Key
    code: ChartCode
    normal: Literal["debit", "credit"] = "debit"
    subledger: Key | None = None
    flags: frozenset[AccountFlag] = frozenset()
    name: str | None = Field(default=None, max_length=256)

    @model_validator(mode="after")
    def _one_constraint(self) -> Account:
        both = {AccountFlag.debits_must_not_exceed_credits, AccountFlag.credits_must_not_exceed_debits}
        if both <= self.flags:
            raise ValueError("an account takes at most one of the two balance constraints")
        return self


class Node(_Model):
    """A node of the organisation tree (a region, a department, a unit…) below `parent`
    (None: a root); with `book`, the place of that book in the tree. `layout` is the chart
    code layout of the books at and below it (None: its parent's; at a root, 4-2-2-2-2)."""

    key: Key
    parent: Key | None = None
    book: Key | None = None
    name: str | None = Field(default=None, max_length=256)
    layout: Layout | None = None

    @field_validator("layout")
    @classmethod
    def _layout(cls, layout: str | None) -> str | None:
        if layout is not None and sum(int(part) for part in layout.split("-")) > 32:
            raise ValueError("a code layout covers at most 32 digits (the longest account code)")
        return layout


class Line(_Model):
    """One line of an entry: exactly one of debit or credit, a positive amount."""

    account: Key
    debit: Amount = None
    credit: Amount = None
    dims: tuple[Int64, ...] = ()

    @model_validator(mode="after")
    def _one_side(self) -> Line:
        if (self.debit is None) == (self.credit is None):
            raise ValueError("a line has exactly one of debit or credit")
        amount = self.debit if self.debit is not None else self.credit
        assert amount is not None
        if amount <= 0:
            raise ValueError("a line's amount must be positive (use the other side for negatives)")
        return self

    @field_validator("dims")
    @classmethod
    def _dims(cls, dims: tuple[int, ...]) -> tuple[int, ...]:
        if len(dims) > limits.dims_count:
            raise ValueError(f"at most {limits.dims_count} dimension codes")
        if any(not -(2**31) <= d < 2**31 for d in dims):
            raise ValueError("dimension codes are int32")
        return dims


class Entry(_Model):
    """A voucher: 2..lines_max lines in one book (none for a post/void of a pending entry)."""

    key: Int64
    book: Key
    date: dt.date
    lines: tuple[Line, ...] = Field(default=(), max_length=limits.lines_max)
    kind: str | None = Field(default=None, max_length=64)
    reference: str | None = Field(default=None, max_length=limits.reference_length_max)
    flags: frozenset[EntryFlag] = frozenset()
    pending: Int64 | None = None


class Balance(_Model):
    """An account's balance at the edge: Decimals at the account's group scale."""

    account: Key
    debits_posted: Decimal
    credits_posted: Decimal
    debits_pending: Decimal
    credits_pending: Decimal
    net: Decimal  # posted only, signed by the account's normal side


@dataclass(frozen=True, slots=True)
class Result:
    """What happened to one item of a create_* or post call."""

    key: str | int
    code: Code

    @property
    def ok(self) -> bool:
        return self.code == Code.ok


__all__ = [
    "ACCOUNT_FLAG_BITS",
    "ENTRY_FLAG_BITS",
    "Account",
    "AccountFlag",
    "Balance",
    "Book",
    "Entry",
    "EntryFlag",
    "Group",
    "Line",
    "Node",
    "Result",
    "account_bits",
    "account_flags",
    "entry_flags",
    "flag_bits",
]
