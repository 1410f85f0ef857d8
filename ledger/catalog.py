"""The catalog: groups, books and accounts by key, and the dense indices the engine uses.

Indices are assigned in creation order and never change, so the database, the engine's
account table and every numpy column agree on them. Accounts loaded from a store stay in an
Arrow table (millions of them load in seconds); a model is rebuilt only when a caller asks
for one, e.g. to tell `exists` from `exists_with_different_fields`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from ledger.columns import (
    ACCOUNT_CLOSED,
    ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS,
    ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS,
    ACCOUNT_NORMAL_CREDIT,
)
from ledger.schemas import Account, AccountFlag, Book, Group

ACCOUNT_FLAG_BITS = {
    AccountFlag.debits_must_not_exceed_credits: ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS,
    AccountFlag.credits_must_not_exceed_debits: ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS,
    AccountFlag.closed: ACCOUNT_CLOSED,
}


def account_bits(account: Account) -> int:
    """The uint32 flag bits of an account row (constraints, closed, normal side)."""
    bits = 0
    for flag in account.flags:
        bits |= ACCOUNT_FLAG_BITS[flag]
    if account.normal == "credit":
        bits |= ACCOUNT_NORMAL_CREDIT
    return bits


@dataclass(slots=True)
class Catalog:
    """Keys → indices for groups, books and accounts, and back."""

    group_keys: list[str] = field(default_factory=list)
    group_scales: list[int] = field(default_factory=list)
    groups: dict[str, int] = field(default_factory=dict)
    book_keys: list[str] = field(default_factory=list)
    book_names: list[str | None] = field(default_factory=list)
    books: dict[str, int] = field(default_factory=dict)
    account_keys: list[str] = field(default_factory=list)
    accounts: dict[str, int] = field(default_factory=dict)
    loaded_accounts: pa.Table | None = None
    new_accounts: list[Account] = field(default_factory=list)

    @classmethod
    def from_rows(
        cls, groups: list[tuple[str, int]], books: list[tuple[str, str | None]], accounts: pa.Table
    ) -> Catalog:
        catalog = cls()
        for key, scale in groups:
            catalog.add_group(Group(key=key, scale=scale))
        for key, name in books:
            catalog.add_book(Book(key=key, name=name))
        keys = accounts.column("key").to_pylist()
        catalog.account_keys = keys
        catalog.accounts = dict(zip(keys, range(len(keys)), strict=True))
        catalog.loaded_accounts = accounts
        return catalog

    # --- groups and books --------------------------------------------------------------------

    def add_group(self, group: Group) -> int:
        self.groups[group.key] = len(self.group_keys)
        self.group_keys.append(group.key)
        self.group_scales.append(group.scale)
        return self.groups[group.key]

    def group_model(self, index: int) -> Group:
        return Group(key=self.group_keys[index], scale=self.group_scales[index])

    def add_book(self, book: Book) -> int:
        self.books[book.key] = len(self.book_keys)
        self.book_keys.append(book.key)
        self.book_names.append(book.name)
        return self.books[book.key]

    def book_model(self, index: int) -> Book:
        return Book(key=self.book_keys[index], name=self.book_names[index])

    # --- accounts ----------------------------------------------------------------------------

    def add_account(self, account: Account) -> int:
        index = len(self.account_keys)
        self.accounts[account.key] = index
        self.account_keys.append(account.key)
        self.new_accounts.append(account)
        return index

    def account_model(self, index: int) -> Account:
        loaded = 0 if self.loaded_accounts is None else self.loaded_accounts.num_rows
        if index >= loaded:
            return self.new_accounts[index - loaded]
        assert self.loaded_accounts is not None
        row = self.loaded_accounts.slice(index, 1).to_pylist()[0]
        bits = int(row["flags"])
        return Account(
            key=row["key"],
            book=self.book_keys[row["book"]],
            group=self.group_keys[row["group"]],
            code=row["code"],
            normal=row["normal"],
            subledger=row["subledger"],
            flags=frozenset(flag for flag, bit in ACCOUNT_FLAG_BITS.items() if bits & bit),
            name=row["name"],
        )

    def scales(self) -> np.ndarray:
        """int8 scale of every group, by group index (index with an account's group)."""
        return np.asarray(self.group_scales or [2], np.int8)


__all__ = ["ACCOUNT_FLAG_BITS", "Catalog", "account_bits"]
