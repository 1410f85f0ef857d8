"""The service layer: `Ledger`, what callers embed.

A Ledger maps caller keys (strings for groups, books and accounts; int64 ids for entries)
onto the engine's dense indices, converts Decimals to int64 minor units at each group's
scale, and returns one result per item. Every call checks all of its input before it changes
anything, so a call that raises has changed nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel, ValidationError

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
from ledger.errors import AmountError, InvalidInput, LimitExceeded, NotFound
from ledger.money import to_decimal_amount, to_minor
from ledger.posting import Batch, Engine, make_batch
from ledger.schemas import Account, AccountFlag, Balance, Book, Entry, EntryFlag, Group, Result

_EPOCH = dt.date(1970, 1, 1)
_ACCOUNT_FLAG_BITS = {
    AccountFlag.debits_must_not_exceed_credits: ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS,
    AccountFlag.credits_must_not_exceed_debits: ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS,
    AccountFlag.closed: ACCOUNT_CLOSED,
}
_ENTRY_FLAG_BITS = {
    EntryFlag.linked: ENTRY_LINKED,
    EntryFlag.pending: ENTRY_PENDING,
    EntryFlag.post_pending: ENTRY_POST_PENDING,
    EntryFlag.void_pending: ENTRY_VOID_PENDING,
}
# Book index the kernel reads as "this entry names a book that does not exist".
_BOOK_UNKNOWN = -2

M = TypeVar("M", bound=BaseModel)


def _validated(model: type[M], items: Iterable[M | Mapping[str, Any]], what: str) -> list[M]:
    """Every item as a `model`, or InvalidInput naming the first bad one (nothing applied)."""
    if isinstance(items, (str, bytes, BaseModel, Mapping)):
        raise InvalidInput(f"{what}: expected an iterable of {model.__name__}, got {type(items).__name__}")
    out: list[M] = []
    for position, item in enumerate(items):
        if isinstance(item, model):
            out.append(item)
        elif isinstance(item, Mapping):
            try:
                out.append(model.model_validate(item))
            except ValidationError as error:
                raise InvalidInput(f"{what}[{position}]: {error}") from None
        else:
            raise InvalidInput(f"{what}[{position}]: expected {model.__name__} or a mapping, got {type(item).__name__}")
    return out


def entry_extra_hash(kind: str | None, reference: str | None) -> int:
    """The 64-bit hash of the entry fields the kernel does not see (0 when there are none)."""
    if kind is None and reference is None:
        return 0
    digest = hashlib.blake2b(json.dumps([kind, reference]).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") or 1


def days(date: dt.date) -> int:
    """Days since 1970-01-01 (the int32 date of the columns)."""
    return (date - _EPOCH).days


@dataclass(slots=True)
class _Catalog:
    """Groups, books and accounts by key, and their dense indices."""

    groups: dict[str, int]
    group_models: list[Group]
    books: dict[str, int]
    book_models: list[Book]
    accounts: dict[str, int]
    account_models: list[Account]
    account_scales: list[int]


class Ledger:
    """A double-entry ledger. Use `ledger.open()`; close it (or use `with`) when done."""

    def __init__(self) -> None:
        self._catalog = _Catalog({}, [], {}, [], {}, [], [])
        self._engine = Engine(groups_count=1)
        self._closed = False

    # --- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise InvalidInput("this ledger is closed")

    # --- groups, books, accounts -------------------------------------------------------------

    def create_groups(self, groups: Iterable[Group | Mapping[str, Any]]) -> list[Result]:
        """Create balance groups; one result per item (ok, exists, exists_with_different_fields)."""
        self._check_open()
        models = _validated(Group, groups, "groups")
        catalog = self._catalog
        if len(catalog.groups) + len(models) > limits.groups_max:
            raise LimitExceeded(f"more than {limits.groups_max} balance groups")
        results = []
        for group in models:
            code = self._existing(catalog.groups, catalog.group_models, group)
            if code is None:
                catalog.groups[group.key] = len(catalog.group_models)
                catalog.group_models.append(group)
                code = Code.ok
            results.append(Result(group.key, code))
        self._engine.groups_count = max(1, len(catalog.group_models))
        return results

    def create_books(self, books: Iterable[Book | Mapping[str, Any]]) -> list[Result]:
        """Create books; one result per item (ok, exists, exists_with_different_fields)."""
        self._check_open()
        models = _validated(Book, books, "books")
        catalog = self._catalog
        results = []
        for book in models:
            code = self._existing(catalog.books, catalog.book_models, book)
            if code is None:
                catalog.books[book.key] = len(catalog.book_models)
                catalog.book_models.append(book)
                code = Code.ok
            results.append(Result(book.key, code))
        return results

    def create_accounts(self, accounts: Iterable[Account | Mapping[str, Any]]) -> list[Result]:
        """Create accounts with zero balances; one result per item.

        Codes: ok, exists, exists_with_different_fields, group_not_found, book_not_found.
        """
        self._check_open()
        models = _validated(Account, accounts, "accounts")
        catalog = self._catalog
        results: list[Result] = []
        new: list[Account] = []
        pending_keys: dict[str, Account] = {}
        for account in models:
            code = self._existing(catalog.accounts, catalog.account_models, account)
            if code is None and account.key in pending_keys:
                code = Code.exists if pending_keys[account.key] == account else Code.exists_with_different_fields
            if code is None and account.group not in catalog.groups:
                code = Code.group_not_found
            if code is None and account.book not in catalog.books:
                code = Code.book_not_found
            if code is None:
                pending_keys[account.key] = account
                new.append(account)
                code = Code.ok
            results.append(Result(account.key, code))
        if new:
            self._add_accounts(new)
        return results

    def _add_accounts(self, new: list[Account]) -> None:
        catalog = self._catalog
        books = np.fromiter((catalog.books[a.book] for a in new), np.int32, len(new))
        groups = np.fromiter((catalog.groups[a.group] for a in new), np.int32, len(new))
        flags = np.fromiter((_account_bits(a) for a in new), np.uint32, len(new))
        indices = self._engine.add_accounts(books, groups, flags)
        for account, index in zip(new, indices.tolist(), strict=True):
            catalog.accounts[account.key] = index
            catalog.account_models.append(account)
            catalog.account_scales.append(catalog.group_models[catalog.groups[account.group]].scale)

    @staticmethod
    def _existing(index: dict[str, int], stored: list[Any], model: BaseModel) -> Code | None:
        position = index.get(model.key)  # type: ignore[attr-defined]
        if position is None:
            return None
        return Code.exists if stored[position] == model else Code.exists_with_different_fields

    # --- posting -----------------------------------------------------------------------------

    def account_index(self, keys: Iterable[str]) -> np.ndarray:
        """Dense int64 indices of account keys (-1 for a key that does not exist)."""
        self._check_open()
        if isinstance(keys, str):
            raise InvalidInput("account_index takes an iterable of account keys, not one string")
        accounts = self._catalog.accounts
        return np.fromiter((accounts.get(key, -1) for key in keys), np.int64)

    def post(self, entries: Iterable[Entry | Mapping[str, Any]]) -> list[Result]:
        """Post entries in order; one result per entry (see ledger.Code)."""
        self._check_open()
        models = _validated(Entry, entries, "entries")
        if len(models) > limits.batch_entries_max:
            raise LimitExceeded(f"{len(models)} entries in one batch; the limit is {limits.batch_entries_max}")
        if not models:
            return []
        batch = self._record_batch(models)
        codes = self._post_batch(batch)
        return [Result(entry.key, Code(code)) for entry, code in zip(models, codes.tolist(), strict=True)]

    def post_columns(
        self,
        keys: object,
        offsets: object,
        accounts: object,
        amounts: object,
        *,
        flags: object = None,
        dates: object = None,
        pending: object = None,
    ) -> np.ndarray:
        """The bulk path: columns in, one uint8 code per entry out (values of ledger.Code).

        `offsets` (n + 1) delimit each entry's lines in `accounts` (indices from
        account_index) and `amounts` (int64 minor units, debit > 0). `flags` are entry flag
        bits (ledger.columns.ENTRY_*), `dates` days since 1970-01-01 or datetime64 (default
        today), `pending` the key of the pending entry a post/void resolves (0 for none).
        """
        self._check_open()
        batch = make_batch(keys, offsets, accounts, amounts, flags=flags, dates=dates, pending=pending)
        return self._post_batch(batch)

    def _post_batch(self, batch: Batch) -> np.ndarray:
        return self._engine.post(batch)

    def _record_batch(self, models: list[Entry]) -> Batch:
        catalog = self._catalog
        n = len(models)
        offsets = np.zeros(n + 1, np.int64)
        accounts: list[int] = []
        amounts: list[int] = []
        dims: list[tuple[int, ...]] = []
        any_dims = False
        keys = np.fromiter((entry.key for entry in models), np.int64, n)
        books = np.fromiter((catalog.books.get(e.book, _BOOK_UNKNOWN) for e in models), np.int32, n)
        dates = np.fromiter((days(e.date) for e in models), np.int64, n)
        flags = np.fromiter((_entry_bits(e) for e in models), np.uint16, n)
        pending = np.fromiter((e.pending or 0 for e in models), np.int64, n)
        extra = np.fromiter((entry_extra_hash(e.kind, e.reference) for e in models), np.uint64, n)
        for position, entry in enumerate(models):
            for line in entry.lines:
                index = catalog.accounts.get(line.account, -1)
                accounts.append(index)
                amounts.append(self._line_minor(line.debit, line.credit, index))
                padded = tuple(line.dims) + (0,) * (limits.dims_count - len(line.dims))
                any_dims = any_dims or any(padded)
                dims.append(padded)
            offsets[position + 1] = len(accounts)
        return make_batch(
            keys,
            offsets,
            np.asarray(accounts, np.int64),
            np.asarray(amounts, np.int64),
            flags=flags,
            dates=dates.astype(np.int32),
            pending=pending,
            books=books,
            dims=np.asarray(dims, np.int32).reshape(-1, limits.dims_count) if any_dims else None,
            extra=extra,
        )

    def _line_minor(self, debit: Any, credit: Any, index: int) -> int:
        """A line's signed minor units; 0 (amount_invalid) when it does not fit the scale."""
        if index < 0:
            return 1  # the entry gets account_not_found; the amount is never used
        scale = self._catalog.account_scales[index]
        try:
            return to_minor(debit, scale) if debit is not None else -to_minor(credit, scale)
        except AmountError:
            return 0

    # --- reading -----------------------------------------------------------------------------

    def balance(self, account: str) -> Balance:
        """One account's balance as Decimals at its group's scale."""
        self._check_open()
        index = self._catalog.accounts.get(account)
        if index is None:
            raise NotFound(f"account {account!r} does not exist")
        row = self._engine.rows[index]
        scale = self._catalog.account_scales[index]
        model = self._catalog.account_models[index]
        dp, cp = int(row["debits_posted"]), int(row["credits_posted"])
        net = cp - dp if model.normal == "credit" else dp - cp
        return Balance(
            account=account,
            debits_posted=to_decimal_amount(dp, scale),
            credits_posted=to_decimal_amount(cp, scale),
            debits_pending=to_decimal_amount(int(row["debits_pending"]), scale),
            credits_pending=to_decimal_amount(int(row["credits_pending"]), scale),
            net=to_decimal_amount(net, scale),
        )

    def balances(self) -> dict[str, np.ndarray]:
        """All balances as int64 minor-unit columns: account index and the four balances."""
        self._check_open()
        return self._engine.balances()

    @property
    def accounts_count(self) -> int:
        return self._engine.accounts_count


def _account_bits(account: Account) -> int:
    bits = 0
    for flag in account.flags:
        bits |= _ACCOUNT_FLAG_BITS[flag]
    if account.normal == "credit":
        bits |= ACCOUNT_NORMAL_CREDIT
    return bits


def _entry_bits(entry: Entry) -> int:
    bits = 0
    for flag in entry.flags:
        bits |= _ENTRY_FLAG_BITS[flag]
    return bits


def open(url: str | None = None) -> Ledger:  # noqa: A001 - the public name is ledger.open
    """Open a ledger. No URL: a new in-memory ledger."""
    if url is not None:
        raise InvalidInput(f"unsupported ledger URL {url!r}: only the in-memory ledger (no URL) exists yet")
    return Ledger()


__all__ = ["Ledger", "days", "entry_extra_hash", "open"]
