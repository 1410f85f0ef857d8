"""Records to columns: what the record paths of `Ledger` check and convert, once per call.

Pydantic models (or mappings) are validated here, then turned into the same columns the bulk
paths take — entries into a checked `Batch`, accounts into one Arrow table with a `valid`
column — so each use case has one implementation, vectorised, whichever path it came by.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ValidationError

from ledger import limits
from ledger.catalog import Catalog
from ledger.chain import entry_extra_hash
from ledger.codes import Code
from ledger.columns import (
    ACCOUNT_CLOSED,
    ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS,
    ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS,
)
from ledger.errors import AmountError, InvalidInput, LimitExceeded
from ledger.money import to_minor
from ledger.periods import days
from ledger.posting import NO_DIMS, NO_EXTRA, NO_FLAGS, NO_KEYS, NO_PERIODS, Batch
from ledger.schemas import Entry, Line, Result, flag_bits

# Book index the kernel reads as "this entry names a book that does not exist".
BOOK_UNKNOWN = -2

M = TypeVar("M", bound=BaseModel)
_ONE_BY_ONE_LINES = 16
Text = tuple[int, str | None, str | None]  # an entry's (key, kind, reference)


def validated(model: type[M], items: Iterable[M | Mapping[str, Any]], what: str) -> list[M]:
    """Every item as a `model`, or InvalidInput naming the first bad one (nothing applied)."""
    if isinstance(items, (str, bytes, BaseModel, Mapping)) or not isinstance(items, Iterable):
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
            raise InvalidInput(
                f"{what}[{position}]: expected {model.__name__} or a mapping, got {type(item).__name__}"
            )
    return out


def record_batch(models: list[Entry], catalog: Catalog, account_groups: np.ndarray) -> Batch:
    """The checked batch of record-path entries: account keys resolved (-1 unknown), amounts
    at their groups' scales (0 where one does not fit: amount_invalid), books (-2 unknown).

    The models are validated (keys and pending keys int64, at most lines_max lines each), so
    the columns are built as the kernel reads them, in one pass, without make_batch's checks
    of caller-made columns: a voucher at a time, that pass is most of the call's Python.
    """
    lines = [line for entry in models for line in entry.lines]
    if len(lines) > limits.batch_lines_max:
        raise LimitExceeded(f"{len(lines)} lines in one batch; the limit is {limits.batch_lines_max}")
    if len(lines) <= _ONE_BY_ONE_LINES:  # a voucher's lines: a lookup each costs less than numpy
        get_account = catalog.accounts.get
        found = [-1 if (index := get_account(line.account)) is None else index for line in lines]
    else:
        found = catalog.accounts.lookup([line.account for line in lines]).tolist()
    scales = catalog.group_scales or [2]
    amounts = [
        line_minor(line, scales[account_groups[index]] if index >= 0 and len(account_groups) else -1)
        for index, line in zip(found, lines, strict=True)
    ]
    offsets, flags, dates, pending, books, extra = [0], [], [], [], [], []
    get_book = catalog.books.get
    end = 0
    for entry in models:
        end += len(entry.lines)
        offsets.append(end)
        flags.append(flag_bits(entry.flags) if entry.flags else 0)
        dates.append(days(entry.date))
        pending.append(entry.pending or 0)
        books.append(get_book(entry.book, BOOK_UNKNOWN))
        extra.append(entry_extra_hash(entry.kind, entry.reference))
    dims = None
    if any(line.dims for line in lines):
        padded = [tuple(line.dims) + (0,) * (limits.dims_count - len(line.dims)) for line in lines]
        dims = np.array(padded, np.int32).reshape(-1, limits.dims_count)
    return Batch(
        keys=np.array([entry.key for entry in models], np.int64),
        offsets=np.array(offsets, np.int64),
        accounts=np.array(found, np.int32),  # -1 or an index below accounts_max
        amounts=np.array(amounts, np.int64),
        dims=dims if dims is not None and dims.any() else NO_DIMS,
        # a column of zeros goes as an empty one, as the bulk path's absent columns do
        flags=np.array(flags, np.uint16) if any(flags) else NO_FLAGS,
        dates=np.array(dates, np.int32),
        pending=np.array(pending, np.int64) if any(pending) else NO_KEYS,
        books=np.array(books, np.int32),
        extra=np.array(extra, np.uint64) if any(extra) else NO_EXTRA,
        period_closed=NO_PERIODS,
    )


def entry_texts(
    keys: object, kinds: object, references: object
) -> dict[int, tuple[int, str | None, str | None]]:
    """position -> (key, kind, reference) of the entries that carry a kind or a reference."""
    if kinds is None and references is None:
        return {}
    key_list = np.asarray(keys).tolist()
    n = len(key_list)
    columns = []
    for name, values in (("kinds", kinds), ("references", references)):
        texts = [None] * n if values is None else list(values)  # type: ignore[call-overload]
        if len(texts) != n or any(v is not None and not isinstance(v, str) for v in texts):
            raise InvalidInput(f"{name}: expected {n} strings or None, one per entry")
        columns.append(texts)
    too_long = next((k for k in columns[1] if k is not None and len(k) > limits.reference_length_max), None)
    if too_long is not None or any(k is not None and len(k) > 64 for k in columns[0]):
        raise InvalidInput("kinds are at most 64 characters, references at most 256")
    return {
        position: (int(key_list[position]), kind, reference)
        for position, (kind, reference) in enumerate(zip(columns[0], columns[1], strict=True))
        if kind is not None or reference is not None
    }


_CODES = {int(code): code for code in Code}


def results(keys: list[Any], codes: np.ndarray) -> list[Result]:
    """One Result per key (Code looked up, not called: an enum call costs microseconds)."""
    members = _CODES
    return [Result(key, members[code]) for key, code in zip(keys, codes.tolist(), strict=True)]


def index_in(values: pa.ChunkedArray, keys: pa.Array | list[str]) -> np.ndarray:
    """int64 position of each value among `keys` (-1 where absent or null)."""
    if not len(keys) or not len(values):
        return np.full(len(values), -1, np.int64)
    found = pc.index_in(values, value_set=keys if isinstance(keys, pa.Array) else pa.array(keys, pa.string()))
    return pc.fill_null(found, -1).to_numpy().astype(np.int64)


def repeated(keys: pa.ChunkedArray) -> np.ndarray:
    """True for each row whose (non-null) key an earlier row has: after a stable sort, a
    key equal to the one before it is a later row's."""
    out = np.zeros(len(keys), bool)
    if len(keys) < 2:
        return out
    order = pc.sort_indices(keys)
    ordered = keys.take(order).combine_chunks()
    same = pc.fill_null(pc.equal(ordered.slice(1), ordered.slice(0, len(ordered) - 1)), False)
    out[order.to_numpy()[1:][same.to_numpy(zero_copy_only=False)]] = True
    return out


def row_values(table: pa.Table, row: int) -> dict[str, Any]:
    """One row of account_columns' table, without its `valid` column."""
    values = table.slice(row, 1).to_pylist()[0]
    values.pop("valid")
    return cast(dict[str, Any], values)


def account_columns(keys: object, books: object, groups: object, codes: object, normals: object,
                    flags: object, subledgers: object, names: object) -> pa.Table:  # fmt: skip
    """Bulk account columns as one Arrow table, with a `valid` column for row-level checks."""
    try:
        table = pa.table({"key": pa.array(keys, pa.string())})
        n = table.num_rows

        def strings(value: object, name: str, default: str | None) -> pa.Array:
            if value is None:
                return pa.array([default] * n, pa.string())
            array = pa.array(value, pa.string())
            if len(array) != n:
                raise InvalidInput(f"{name}: expected {n} values, got {len(array)}")
            return array

        table = table.append_column("book", strings(books, "books", None))
        table = table.append_column("group", strings(groups, "groups", None))
        table = table.append_column("code", strings(codes, "codes", None))
        table = table.append_column("normal", strings(normals, "normals", "debit"))
        table = table.append_column("subledger", strings(subledgers, "subledgers", None))
        table = table.append_column("name", strings(names, "names", None))
        bits = np.zeros(n, np.int64) if flags is None else np.asarray(flags)
        if bits.shape != (n,) or (len(bits) and bits.dtype.kind not in "iu"):
            raise InvalidInput(f"flags: expected {n} integer flag bit sets")
        table = table.append_column("flags", pa.array(bits.astype(np.int64)))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise InvalidInput(f"account columns: {error}") from None
    key_ok = pc.and_(
        pc.match_substring_regex(table.column("key"), r"^[^\x00-\x1f\x7f]{1,128}$"),
        pc.is_valid(table.column("key")),
    )
    code = table.column("code")
    code_ok = pc.and_(
        pc.and_(pc.string_is_ascii(code), pc.utf8_is_alnum(code)), pc.less_equal(pc.utf8_length(code), 32)
    )
    normal_ok = pc.is_in(table.column("normal"), pa.array(["debit", "credit"]))
    sub_ok = pc.or_kleene(
        pc.is_null(table.column("subledger")),
        pc.match_substring_regex(table.column("subledger"), r"^[^\x00-\x1f\x7f]{1,128}$"),
    )
    both = ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS | ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS
    flag_values = table.column("flags").to_numpy()
    flags_ok = (
        ((flag_values & ~(both | ACCOUNT_CLOSED)) == 0) & ((flag_values & both) != both) & (flag_values >= 0)
    )
    valid = pc.and_(
        pc.and_(pc.fill_null(key_ok, False), pc.fill_null(code_ok, False)), pc.fill_null(normal_ok, False)
    )
    valid = pc.and_(pc.and_(valid, pc.fill_null(sub_ok, False)), pa.array(flags_ok))
    return table.append_column("valid", valid)


def existing_code(stored: object, offered: object) -> Code:
    """The code of an item whose key exists: exists if it is the same, else the other one."""
    return Code.exists if stored == offered else Code.exists_with_different_fields


def line_minor(line: Line, scale: int) -> int:
    """A line's signed minor units; 0 (amount_invalid) when it does not fit the scale."""
    if scale < 0:
        return 1  # unknown account: the entry gets account_not_found; the amount is never used
    try:
        return to_minor(line.debit, scale) if line.debit is not None else -to_minor(line.credit, scale)
    except AmountError:
        return 0


__all__ = [
    "BOOK_UNKNOWN",
    "Text",
    "account_columns",
    "entry_texts",
    "existing_code",
    "index_in",
    "line_minor",
    "record_batch",
    "repeated",
    "results",
    "row_values",
    "validated",
]
