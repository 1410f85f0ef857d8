"""The catalog: groups, books and accounts by key, and the dense indices the engine uses.

Indices are assigned in creation order and never change, so the database, the engine's
account table and every numpy column agree on them. Accounts loaded from a store stay in an
Arrow table (millions of them load in seconds); a model is rebuilt only when a caller asks
for one, e.g. to tell `exists` from `exists_with_different_fields`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from ledger.keys import KeyIndex
from ledger.schemas import Account, Book, Group, account_flags


@dataclass(slots=True)
class Catalog:
    """Keys → indices for groups, books and accounts, and back."""

    group_keys: list[str] = field(default_factory=list)
    group_scales: list[int] = field(default_factory=list)
    groups: dict[str, int] = field(default_factory=dict)
    book_keys: list[str] = field(default_factory=list)
    book_names: list[str | None] = field(default_factory=list)
    books: dict[str, int] = field(default_factory=dict)
    # Account keys by index, and key -> index (built on first use).
    account_keys: KeyIndex = field(default_factory=KeyIndex)
    # Accounts as Arrow chunks (loaded or bulk-created), by first index; single models aside.
    account_chunks: list[tuple[int, pa.Table]] = field(default_factory=list)
    account_models: dict[int, Account] = field(default_factory=dict)
    # Fields of accounts held as keys only, read on demand: set for a durable store, whose
    # accounts table has them (an account's fields are asked for rarely: to tell exists from
    # exists_with_different_fields, or by `account`); None keeps them in account_chunks.
    fetch_account: Callable[[int], dict[str, Any]] | None = None

    @classmethod
    def from_rows(
        cls,
        groups: list[tuple[str, int]],
        books: list[tuple[str, str | None]],
        accounts: pa.Table,
        fetch_account: Callable[[int], dict[str, Any]] | None = None,
    ) -> Catalog:
        """A catalog of these rows; with `fetch_account`, accounts are held as keys only."""
        catalog = cls(fetch_account=fetch_account)
        for key, scale in groups:
            catalog.add_group(Group(key=key, scale=scale))
        for key, name in books:
            catalog.add_book(Book(key=key, name=name))
        catalog.add_account_table(accounts)
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

    @property
    def accounts(self) -> KeyIndex:
        """Account key -> index (`get`, `in`, and `lookup` for many at once)."""
        return self.account_keys

    def set_account_keys(self, keys: pa.Array | list[str]) -> None:
        """Hold these keys as accounts 0..n-1 (their fields are fetched on demand)."""
        self.account_keys = KeyIndex(keys)

    def add_account(self, account: Account) -> int:
        index = self.account_keys.append(account.key)
        self.account_models[index] = account
        return index

    def add_account_table(self, table: pa.Table) -> None:
        """Append accounts given as columns (key, book, group, code, normal, subledger, flags,
        name; book and group as indices), in index order."""
        start = len(self.account_keys)
        self.account_keys.extend(table.column("key"))
        if table.num_rows and self.fetch_account is None:  # else the store has them
            self.account_chunks.append((start, table))

    def account_model(self, index: int) -> Account:
        model = self.account_models.get(index)
        if model is not None:
            return model
        chunk = next((chunk for chunk in reversed(self.account_chunks) if chunk[0] <= index), None)
        if chunk is not None and index - chunk[0] < chunk[1].num_rows:
            row = chunk[1].slice(index - chunk[0], 1).to_pylist()[0]
        else:
            assert self.fetch_account is not None, "accounts without fields in memory can be fetched"
            row = self.fetch_account(index)
        bits = int(row["flags"])
        return Account(
            key=row["key"],
            book=self.book_keys[row["book"]],
            group=self.group_keys[row["group"]],
            code=row["code"],
            normal=row["normal"],
            subledger=row["subledger"],
            flags=account_flags(bits),
            name=row["name"],
        )

    def scales(self) -> np.ndarray:
        """int8 scale of every group, by group index (index with an account's group)."""
        return np.asarray(self.group_scales or [2], np.int8)


__all__ = ["Catalog"]
