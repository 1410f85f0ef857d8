"""Interchange files: groups, accounts and entries in; rejected entries and balances out.

Invariant: a file is converted whole or refused whole. Every reader checks every row before it
returns and otherwise raises FileFormatError naming the file, the line (or Parquet row) and
the column of the problem, so a caller that posts only what a reader returned commits nothing
from a refused file. Nothing here creates or posts anything. Amounts go from decimal text (or
Parquet decimals) to int64 minor units exactly, at the scale of each account's balance group,
through Arrow decimal casts or exact integer arithmetic, never through a float.

The formats (``python -m ledger.export`` writes them to schemas/files.json):

- CSV: UTF-8 (a byte-order mark is allowed), comma-delimited, ``"`` quoting, the header on
  line 1 naming the columns in any order; an empty field is an absent value. Lines are the
  physical lines of the file, the header being line 1 (quoted line breaks and blank lines
  count). Parquet: the same column names; null is an absent value; rows are numbered from 1.
- A file's kind is told by its header: a column ``entry`` makes an entries file, otherwise
  ``account`` an accounts file, otherwise ``group`` a groups file. Required columns must be
  in the header, unknown columns are refused.
- Decimals: an optional sign, digits, an optional point and fraction (``12``, ``12.5``,
  ``.50``); no exponent, spaces or separators; no more significant decimal places than the
  group's scale (``1.000`` is fine at scale 2, ``1.005`` is not). Dates: ``YYYY-MM-DD``.
  Integers: an optional ``-`` and digits. Flags: flag names separated by ``|``
  (``linked|pending``); empty for none.
- Entries: one row per line, an entry's rows contiguous, entries processed in file order. The
  entry-level columns (book, date, kind, reference, flags, pending) repeat on every row of an
  entry and must be identical. An entry without lines (the post or void of a pending entry)
  is a single row with account, debit and credit empty.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from pydantic import BaseModel, ValidationError

from ledger import limits
from ledger.chain import entry_extra_hash
from ledger.codes import Code
from ledger.columns import (
    BALANCE_FIELDS,
)
from ledger.errors import AmountError, FileFormatError, InvalidInput
from ledger.money import INT64_MAX, INT64_MIN, to_minor
from ledger.schemas import (
    ACCOUNT_FLAG_BITS,
    ENTRY_FLAG_BITS,
    Account,
    AccountFlag,
    Book,
    EntryFlag,
    Group,
    Node,
    account_flags,
)
from ledger.service import Ledger

Kind = Literal["groups", "accounts", "nodes", "entries"]
INPUT_KINDS: tuple[Kind, ...] = ("groups", "accounts", "nodes", "entries")
PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True, slots=True)
class Column:
    """One column of an interchange file; a `required` column must be in the header."""

    name: str
    type: str  # string, integer, int64, int32, decimal, date, flags
    required: bool
    meaning: str


_SAME = "; the same on every row of an entry"
_FIGURES = (
    Column(
        "opening_debit",
        "decimal",
        True,
        "opening balance (期初), debit side: posted debits less credits before the first month,"
        " when positive",
    ),
    Column(
        "opening_credit", "decimal", True, "opening balance, credit side: credits less debits, when positive"
    ),
    Column("debit", "decimal", True, "debit turnover (本期借方) posted in the months of the range"),
    Column("credit", "decimal", True, "credit turnover (本期贷方) posted in the months of the range"),
    Column(
        "closing_debit", "decimal", True, "closing balance (期末) at the end of the last month, debit side"
    ),
    Column("closing_credit", "decimal", True, "closing balance, credit side"),
)
_DIMS = tuple(
    Column(f"dim{i}", "int32", False, f"dimension code {i} of the line (functional class, ...); empty is 0")
    for i in range(1, limits.dims_count + 1)
)
LAYOUTS: dict[str, tuple[Column, ...]] = {
    "groups": (
        Column("group", "string", True, "balance group key (a currency x basis)"),
        Column("scale", "integer", True, f"decimal places of the group's amounts, 0..{limits.scale_max}"),
    ),
    "accounts": (
        Column("account", "string", True, "account key, unique in the ledger"),
        Column("book", "string", True, "key of the account's book; created when missing"),
        Column(
            "group",
            "string",
            True,
            "key of the account's balance group; created when missing, at scale 2 unless a groups file "
            "declares it",
        ),
        Column("code", "string", True, "chart code (letters and digits); its prefixes form the account tree"),
        Column("subledger", "string", False, "sub-ledger key (e.g. the project); empty for none"),
        Column("normal", "string", False, "normal side, debit or credit; empty means debit"),
        Column(
            "flags",
            "flags",
            False,
            "account flags separated by '|': " + ", ".join(f.value for f in AccountFlag),
        ),
        Column("name", "string", False, "display name; empty for none"),
    ),
    "entries": (
        Column("entry", "int64", True, "entry key (idempotency id); the rows of an entry are contiguous"),
        Column("book", "string", True, "key of the entry's book" + _SAME),
        Column("date", "date", True, "accounting date, YYYY-MM-DD" + _SAME),
        Column(
            "account",
            "string",
            True,
            "key of the line's account; empty only on the one row of an entry without lines",
        ),
        Column("debit", "decimal", True, "debit amount, positive; exactly one of debit and credit per line"),
        Column(
            "credit", "decimal", True, "credit amount, positive; exactly one of debit and credit per line"
        ),
        Column("kind", "string", False, "entry kind; empty for none" + _SAME),
        Column("reference", "string", False, "source event (e.g. a payment certificate number)" + _SAME),
        Column(
            "flags",
            "flags",
            False,
            "entry flags separated by '|': " + ", ".join(f.value for f in EntryFlag) + _SAME,
        ),
        Column(
            "pending", "int64", False, "key of the pending entry a post_pending/void_pending resolves" + _SAME
        ),
        *_DIMS,
    ),
    "nodes": (
        Column("node", "string", True, "organisation node key (a region, department, unit...), unique"),
        Column(
            "parent",
            "string",
            False,
            "key of the parent node, in an earlier row or already stored; empty for a root",
        ),
        Column(
            "book",
            "string",
            False,
            "key of the book this node places (each book at most once); empty for none",
        ),
        Column("name", "string", False, "display name; empty for none"),
        Column(
            "layout",
            "string",
            False,
            "chart code layout of the books at and below the node, digits per level (4-2-2-2-2);"
            " empty: the parent's",
        ),
    ),
    "rejected": (
        Column("entry", "int64", True, "key of the rejected entry"),
        Column("line", "int64", True, "line of the entry's first row in the entries file (row for Parquet)"),
        Column("code", "integer", True, "result code value (ledger.Code; values never change)"),
        Column("code_name", "string", True, "result code name, read as the rule the entry broke"),
    ),
    "balances": (
        Column("account", "string", True, "account key"),
        Column("book", "string", True, "key of the account's book"),
        Column("group", "string", True, "key of the account's balance group"),
        *(
            Column(field, "decimal", True, f"{field.replace('_', ' ')}, at the group's scale")
            for field in BALANCE_FIELDS
        ),
        Column("net", "decimal", True, "posted balance signed by the account's normal side"),
    ),
    "trial_balance": (
        Column(
            "code",
            "string",
            True,
            "chart node: an account code prefix ending on a level of the layout, or an account code",
        ),
        Column(
            "name",
            "string",
            True,
            "name of the account whose code is the node's; empty for a heading without one",
        ),
        Column("group", "string", True, "balance group key"),
        Column("level", "integer", True, "chart level of the node, 1 for the first"),
        *_FIGURES,
    ),
    "rollup": (
        Column("period", "string", False, "YYYY-MM, with --each-month only"),
        Column("book", "string", False, "book key (by subledger only)"),
        Column("key", "string", True, "book, organisation node, sub-ledger key or chart code"),
        Column("name", "string", False, "organisation node name (by node only)"),
        Column("group", "string", True, "balance group key"),
        Column("level", "integer", True, "level in its tree, 1 for a root"),
        *_FIGURES,
    ),
}
_DESCRIPTIONS = {
    "groups": "Balance groups to create (optional: a group only an accounts file names gets scale 2).",
    "accounts": "Accounts to create, one per row; books and groups they name are created when missing.",
    "entries": "Entries to post, one row per line; rows of an entry contiguous, entries in file order.",
    "nodes": "Organisation nodes to create, parents first (region, department, unit, book placements).",
    "rejected": "Entries a post rejected, one row each (CSV), by default beside the entries file.",
    "trial_balance": "`ledger trial-balance` output (CSV or Parquet): one row per chart node and balance"
    " group, amounts as decimal strings at the group's scale, posted amounts only (pending never counts);"
    " with --all-books a `book` column comes first.",
    "rollup": "`ledger rollup` output: one row per book / organisation node / sub-ledger / chart node and"
    " balance group, amounts as decimal strings at the group's scale.",
    "balances": "Balances of every account (CSV or Parquet by suffix), amounts as decimal strings.",
}
_FORMAT = {
    "csv": "UTF-8 (a byte-order mark is allowed), comma-delimited, '\"' quoting, header on line 1 naming the "
    "columns in any order; an empty field is an absent value",
    "parquet": "the same column names; strings, integers, decimals and dates as Arrow types or as strings; "
    "floats are refused; null is an absent value",
    "kind": "told by the header: a column 'entry' makes an entries file, else 'account' an accounts file, "
    "else 'group' a groups file; unknown columns are refused",
    "decimal": "optional sign, digits, optional point and fraction (12, 12.5, .50); no exponent, spaces or "
    "separators; at most the balance group's scale of significant decimal places",
    "date": "YYYY-MM-DD",
    "integer": "optional '-' and digits",
    "flags": "flag names separated by '|', empty for none",
    "entry_without_lines": "one row with account, debit and credit empty (post or void of a pending entry)",
    "errors": "name the file, the line (CSV: physical line, the header is line 1) or row (Parquet: from 1) "
    "and the column; a refused file commits nothing",
}


def layout_description() -> dict[str, Any]:
    """The format and the column layout of every interchange file (schemas/files.json)."""
    return {
        "format": dict(_FORMAT),
        "files": {
            kind: {"description": _DESCRIPTIONS[kind], "columns": [asdict(column) for column in columns]}
            for kind, columns in LAYOUTS.items()
        },
    }


# --- reading a file into string columns ------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class _Table:
    """A file's columns (text, or Arrow-typed from Parquet) and the line of every row."""

    path: Path
    kind: Kind
    columns: dict[str, Any]  # name -> pyarrow ChunkedArray
    rows: int
    lines: np.ndarray  # int64 [rows]
    unit: str

    def has(self, name: str) -> bool:
        return name in self.columns

    def text(self, name: str, row: int) -> str:
        value = self.columns[name][int(row)].as_py()
        return "" if value is None else str(value)

    def fail(self, row: int | None, column: str | None, message: str) -> NoReturn:
        line = None if row is None else int(self.lines[int(row)])
        raise FileFormatError(self.path, line, column, message, self.unit)


def detect_kind(path: str | os.PathLike[str]) -> Kind:
    """ "groups", "accounts" or "entries", told by the CSV header or the Parquet schema."""
    path = Path(path)
    try:
        with path.open("rb") as stream:
            head = stream.readline(1 << 20)
    except OSError as error:
        raise FileFormatError(path, None, None, f"cannot read the file: {error.strerror or error}") from None
    if head.startswith(b"PAR1"):
        try:
            names = pq.read_schema(path).names
        except (pa.ArrowException, OSError) as error:
            raise FileFormatError(path, None, None, f"unreadable Parquet file: {error}", "row") from None
        return _kind_of(path, names, None, "row")
    return _kind_of(path, _csv_header(path, head), 1, "line")


def _kind_of(path: Path, names: Sequence[str], line: int | None, unit: str) -> Kind:
    """The kind a header makes, or FileFormatError naming the missing or unknown columns."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise FileFormatError(path, line, name, "appears twice in the header", unit)
        seen.add(name)
    kind: Kind | None = (
        "entries"
        if "entry" in seen
        else "accounts"
        if "account" in seen
        else "nodes"
        if "node" in seen
        else "groups"
        if "group" in seen
        else None
    )
    if kind is None:
        expected = "; ".join(
            f"{k} ({', '.join(c.name for c in LAYOUTS[k] if c.required)})" for k in INPUT_KINDS
        )
        raise FileFormatError(
            path,
            line,
            None,
            f"cannot tell the kind of file from its columns ({', '.join(names)}); expected {expected}",
            unit,
        )
    layout = LAYOUTS[kind]
    missing = [c.name for c in layout if c.required and c.name not in seen]
    if missing:
        message = f"missing from the header of {_a(kind)} file (missing: {', '.join(missing)})"
        raise FileFormatError(path, line, missing[0], message, unit)
    known = {c.name for c in layout}
    unknown = [name for name in names if name not in known]
    if unknown:
        message = (
            f"unknown column of {_a(kind)} file (unknown: {', '.join(map(repr, unknown))}; "
            f"the columns are {', '.join(c.name for c in layout)})"
        )
        raise FileFormatError(path, line, unknown[0], message, unit)
    return kind


def _load(path: str | os.PathLike[str], kind: Kind) -> _Table:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise FileFormatError(path, None, None, f"cannot read the file: {error.strerror or error}") from None
    table = _load_parquet(path, data) if data.startswith(b"PAR1") else _load_csv(path, data)
    if table.kind != kind:
        line = 1 if table.unit == "line" else None
        raise FileFormatError(
            path, line, None, f"this is {_a(table.kind)} file (told by its header), not {_a(kind)} file"
        )
    return table


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _csv_header(path: Path, data: bytes) -> list[str]:
    ends = [end for end in (data.find(b"\n"), data.find(b"\r")) if end >= 0]
    first = data[: min(ends, default=len(data))].removeprefix(b"\xef\xbb\xbf")
    if not first.strip():
        message = (
            "empty file: no header" if not data.strip() else "line 1 is blank; the header must be on line 1"
        )
        raise FileFormatError(path, 1, None, message)
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _encoding_error(path, first, error.start, []) from None
    try:
        return next(csv.reader([text]))
    except csv.Error as error:
        raise FileFormatError(path, 1, None, f"malformed CSV header: {error}") from None


def _load_csv(path: Path, data: bytes) -> _Table:
    names = _csv_header(path, data)
    kind = _kind_of(path, names, 1, "line")
    if not data.rstrip(b"\r\n").count(b"\n") and not data.rstrip(b"\r\n").count(b"\r"):
        # A header and no rows (an empty extract): an empty batch, which Arrow cannot skip to.
        empty = {name: pa.chunked_array([], pa.string()) for name in names}
        return _Table(path, kind, empty, 0, np.zeros(0, np.int64), "line")
    try:
        table = pcsv.read_csv(
            pa.BufferReader(data),
            read_options=pcsv.ReadOptions(column_names=names, skip_rows=1),
            # Without quotes there can be no quoted line break, and block splitting stays parallel.
            parse_options=pcsv.ParseOptions(newlines_in_values=b'"' in data),
            convert_options=pcsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), check_utf8=True
            ),
        )
    except pa.ArrowInvalid as error:
        raise _diagnose_csv(path, data, names) or FileFormatError(
            path, None, None, f"unreadable CSV: {error}"
        ) from None
    columns = {name: table.column(name) for name in names}
    return _Table(path, kind, columns, table.num_rows, _csv_lines(path, data, table.num_rows), "line")


def _csv_lines(path: Path, data: bytes, rows: int) -> np.ndarray:
    """The physical line each data row starts on (the header is line 1)."""
    physical = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if physical == rows + 1:
        return np.arange(2, rows + 2, dtype=np.int64)
    # Blank lines, quoted line breaks or bare CR line ends: follow the csv module's line count.
    reader = csv.reader(io.StringIO(data.decode("utf-8", "replace"), newline=""))
    next(reader, None)
    out = np.empty(rows, np.int64)
    count, start = 0, reader.line_num + 1
    for row in reader:
        if row:
            if count == rows:
                break
            out[count] = start
            count += 1
        start = reader.line_num + 1
    if count != rows:
        raise FileFormatError(
            path, None, None, "the CSV rows could not be matched to lines (irregular quoting?)"
        )
    return out


def _diagnose_csv(path: Path, data: bytes, names: list[str]) -> FileFormatError | None:
    """The first encoding or field-count problem of a file Arrow refused (None if none found)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return _encoding_error(path, data, error.start, names)
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    try:
        next(reader, None)
        start = reader.line_num + 1
        for row in reader:
            if row and len(row) != len(names):
                fields = f"the row has {len(row)} fields, the header {len(names)}"
                if len(row) < len(names):
                    return FileFormatError(path, start, names[len(row)], f"missing: {fields}")
                return FileFormatError(path, start, None, f"too many fields: {fields}")
            start = reader.line_num + 1
    except csv.Error as error:
        return FileFormatError(path, reader.line_num, None, f"malformed CSV: {error}")
    return None


def _encoding_error(path: Path, data: bytes, position: int, names: list[str]) -> FileFormatError:
    line = data.count(b"\n", 0, position) + 1
    start = data.rfind(b"\n", 0, position) + 1
    field, quoted = 0, False
    for byte in data[start:position]:  # one line's prefix
        if byte == 0x22:
            quoted = not quoted
        elif byte == 0x2C and not quoted:
            field += 1
    column = names[field] if field < len(names) else None
    return FileFormatError(path, line, column, f"not UTF-8: byte 0x{data[position]:02x} (files are UTF-8)")


def _load_parquet(path: Path, data: bytes) -> _Table:
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as error:
        raise FileFormatError(path, None, None, f"unreadable Parquet file: {error}", "row") from None
    names = table.column_names
    kind = _kind_of(path, names, None, "row")
    types = {c.name: c.type for c in LAYOUTS[kind]}
    columns = {name: _parquet_column(path, name, types[name], table.column(name)) for name in names}
    return _Table(
        path, kind, columns, table.num_rows, np.arange(1, table.num_rows + 1, dtype=np.int64), "row"
    )


def _parquet_column(path: Path, name: str, logical: str, column: Any) -> Any:
    """A Parquet column as text ("" for null) or, for numbers and dates, its exact Arrow type."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column, kind = pc.cast(column, kind.value_type), kind.value_type
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        for row, value in enumerate(column.to_pylist()):
            if value is not None and not _is_utf8(value):
                raise FileFormatError(path, row + 1, name, "not UTF-8 (text is UTF-8)", "row")
        column, kind = pc.cast(column, pa.string()), pa.string()
    if _is_text(kind):
        return column.fill_null("")
    if logical in ("string", "flags") and pa.types.is_integer(kind):
        return pc.cast(column, pa.string()).fill_null("")
    if logical in ("integer", "int64", "int32") and pa.types.is_integer(kind):
        return column
    if logical == "decimal" and (pa.types.is_decimal(kind) or pa.types.is_integer(kind)):
        return column
    if logical == "date" and pa.types.is_date(kind):
        return pc.cast(column, pa.date32())
    hint = "; floats are not money: store amounts as decimal or string" if pa.types.is_floating(kind) else ""
    raise FileFormatError(path, None, name, f"type {kind} cannot hold {logical} values{hint}", "row")


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _is_text(kind: Any) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


# --- converting columns ----------------------------------------------------------------------

_INTEGER = r"^-?[0-9]+$"
_DECIMAL = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$"
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# Flag names as a file spells them -> their bits (schemas holds the one map).
_ENTRY_FLAG_BITS = {flag.value: bit for flag, bit in ENTRY_FLAG_BITS.items()}
_ACCOUNT_FLAG_BITS = {flag.value: bit for flag, bit in ACCOUNT_FLAG_BITS.items()}


def _bools(array: Any) -> np.ndarray:
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=bool)


def _first(mask: np.ndarray) -> int | None:
    found = np.flatnonzero(mask)
    return int(found[0]) if len(found) else None


def _empty(column: Any) -> np.ndarray:
    """True where a value is absent: "" in a text column, null in a typed (Parquet) one."""
    if _is_text(column.type):
        return _bools(pc.equal(column, ""))
    return _bools(column.is_null())


def _require(t: _Table, name: str, why: str) -> np.ndarray:
    """The column's empty mask, after refusing the first empty value."""
    empty = _empty(t.columns[name])
    row = _first(empty)
    if row is not None:
        t.fail(row, name, f"empty; {why}")
    return empty


def _check_pattern(t: _Table, name: str, pattern: str, what: str, skip: np.ndarray) -> None:
    """Refuse the first text value outside `skip` that does not match `pattern`."""
    column = t.columns[name]
    if not _is_text(column.type):
        return
    good = _bools(pc.match_substring_regex(column, pattern)) | skip
    row = _first(~good)
    if row is not None:
        t.fail(row, name, f"{t.text(name, row)!r} is not {what}")


def _integers(t: _Table, name: str, low: int, high: int, empty_ok: bool) -> np.ndarray:
    """int64 values of a column (empty is 0 where allowed), each within [low, high]."""
    column = t.columns[name]
    empty = _empty(column) if empty_ok else _require(t, name, "every row needs a value")
    if empty.all():
        return np.zeros(t.rows, np.int64)
    _check_pattern(t, name, _INTEGER, "an integer", empty)
    filled = pc.if_else(pc.equal(column, ""), "0", column) if _is_text(column.type) else column.fill_null(0)
    try:
        values = np.asarray(pc.cast(filled, pa.int64()).to_numpy(zero_copy_only=False), np.int64)
    except pa.ArrowInvalid as error:  # beyond int64: find the row one by one
        for position, value in enumerate(column.to_pylist()):
            if value not in ("", None) and not low <= int(value) <= high:
                t.fail(position, name, f"{t.text(name, position)!r} is outside the range {low}..{high}")
        t.fail(None, name, f"unreadable integers: {error}")
    outside = _first((values < low) | (values > high))
    if outside is not None:
        t.fail(outside, name, f"{t.text(name, outside)!r} is outside the range {low}..{high}")
    return values


def _dates(t: _Table, name: str) -> np.ndarray:
    """int32 days since 1970-01-01 of a date column (YYYY-MM-DD, every row)."""
    empty = _require(t, name, "every row needs a date (YYYY-MM-DD)")
    _check_pattern(t, name, _DATE, "a date (YYYY-MM-DD)", empty)
    column = t.columns[name]
    try:
        dates = pc.cast(column, pa.date32())
    except pa.ArrowInvalid as error:
        for row, value in enumerate(column.to_pylist()):
            try:
                dt.date.fromisoformat(value)
            except ValueError as problem:
                t.fail(row, name, f"{value!r} is not a date: {problem}")
        t.fail(None, name, f"unreadable dates: {error}")
    return np.asarray(pc.cast(dates, pa.int32()).to_numpy(zero_copy_only=False), np.int32)


def _flags(t: _Table, name: str, bits_of: Mapping[str, int]) -> np.ndarray:
    """int64 flag bits of a column of '|'-separated flag names."""
    column = t.columns[name]
    uniques = pc.unique(column)
    bits = []
    for text in uniques.to_pylist():
        value = 0
        for part in text.split("|") if text else ():
            bit = bits_of.get(part.strip())
            if bit is None:
                row = _first(_bools(pc.equal(column, text)))
                known = ", ".join(bits_of)
                t.fail(
                    row,
                    name,
                    f"unknown flag {part.strip()!r} in {text!r} (flags are {known}, separated by '|')",
                )
            value |= bit
        bits.append(value)
    positions = pc.index_in(column, value_set=uniques).to_numpy(zero_copy_only=False)
    return np.asarray(bits, np.int64)[positions]


def _check_length(t: _Table, name: str, length_max: int) -> None:
    lengths = np.asarray(pc.utf8_length(t.columns[name]).to_numpy(zero_copy_only=False))
    row = _first(lengths > length_max)
    if row is not None:
        t.fail(row, name, f"longer than {length_max} characters")


def _amounts(t: _Table, name: str, rows: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Positive int64 minor units of column `name` at `rows`, each at its scale, exactly."""
    column = t.columns[name].take(rows)
    if _is_text(column.type):
        good = _bools(pc.match_substring_regex(column, _DECIMAL))
        position = _first(~good)
        if position is not None:
            row = int(rows[position])
            t.fail(row, name, f"{t.text(name, row)!r} is not a decimal number")
    out = np.empty(len(rows), np.int64)
    problems: list[tuple[int, str]] = []
    for scale in np.unique(scales).tolist():
        picked = np.flatnonzero(scales == scale)
        part = column.take(picked)
        minor = _exact_minor(part, scale)
        if minor is None:  # Arrow could not say exactly: the reference conversion decides
            minor, problem = _minor_one_by_one(part, scale)
            if problem is not None:
                problems.append((int(rows[picked[problem[0]]]), problem[1]))
        out[picked] = minor
    if problems:
        row, message = min(problems)
        t.fail(row, name, message)
    position = _first(out <= 0)
    if position is not None:
        row = int(rows[position])
        t.fail(
            row,
            name,
            f"{t.text(name, row)!r} is not positive (a line's amount is positive; its column is its side)",
        )
    return out


def _exact_minor(part: Any, scale: int) -> np.ndarray | None:
    """int64 unscaled values of `part` cast to decimal128(38, scale); None if inexact or too big."""
    try:
        decimals = pc.cast(part, pa.decimal128(38, scale))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    pieces = [np.empty(0, np.int64)]
    for chunk in decimals.chunks:
        if len(chunk) == 0:
            continue
        # decimal128 is two little-endian 64-bit words: low, then high (the sign extension if it fits).
        words = np.frombuffer(chunk.buffers()[1], dtype="<i8")
        words = words[2 * chunk.offset : 2 * (chunk.offset + len(chunk))].reshape(-1, 2)
        low, high = words[:, 0], words[:, 1]
        if not np.array_equal(high, low >> 63):
            return None
        pieces.append(low)
    return np.concatenate(pieces)


def _minor_one_by_one(part: Any, scale: int) -> tuple[np.ndarray, tuple[int, str] | None]:
    """ledger.money.to_minor of every value, and the first (position, message) it refused."""
    values = part.to_pylist()
    out = np.zeros(len(values), np.int64)
    for position, value in enumerate(values):
        try:
            out[position] = to_minor(str(value), scale)
        except AmountError as error:
            return out, (position, str(error).removeprefix("amount "))
    return out, None


# --- groups and accounts ---------------------------------------------------------------------

M = TypeVar("M", bound=BaseModel)


def _model(t: _Table, row: int, model: type[M], fields: dict[str, Any], columns: Mapping[str, str]) -> M:
    """`model(**fields)`, or FileFormatError at `row` naming the column of the first bad field."""
    try:
        return model(**fields)
    except ValidationError as error:
        detail = error.errors()[0]
        field = detail["loc"][0] if detail["loc"] else None
        column = columns.get(str(field), str(field)) if field is not None else columns.get("", None)
        value = t.text(column, row) if column is not None and t.has(column) else None
        prefix = "" if value is None else f"{value!r}: "
        t.fail(row, column, f"{prefix}{detail['msg']}")


def read_groups(path: str | os.PathLike[str]) -> list[Group]:
    """The balance groups of a groups file (columns group, scale), in file order."""
    t = _load(path, "groups")
    _require(t, "group", "every row names a group")
    scales = _integers(t, "scale", 0, limits.scale_max, empty_ok=False)
    keys = t.columns["group"].to_pylist()
    columns = {"key": "group", "scale": "scale"}
    return [
        _model(t, row, Group, {"key": keys[row], "scale": int(scales[row])}, columns) for row in range(t.rows)
    ]


def read_nodes(path: str | os.PathLike[str]) -> list[Node]:
    """The organisation nodes of a nodes file (node, parent, book, name, layout), in file order."""
    t = _load(path, "nodes")
    _require(t, "node", "every row names a node")
    values = {name: column.to_pylist() for name, column in t.columns.items()}
    columns = {"key": "node", "parent": "parent", "book": "book", "name": "name", "layout": "layout"}
    out = []
    for row in range(t.rows):
        fields: dict[str, Any] = {"key": values["node"][row]}
        for name in ("parent", "book", "name", "layout"):
            if name in values and values[name][row]:
                fields[name] = values[name][row]
        out.append(_model(t, row, Node, fields, columns))
    return out


def read_accounts(path: str | os.PathLike[str]) -> list[Account]:
    """The accounts of an accounts file, in file order (see named_books / named_groups)."""
    t = _load(path, "accounts")
    for name in ("account", "book", "group", "code"):
        _require(t, name, f"every account needs its {name}")
    bits = _flags(t, "flags", _ACCOUNT_FLAG_BITS) if t.has("flags") else np.zeros(t.rows, np.int64)
    values = {name: column.to_pylist() for name, column in t.columns.items()}
    columns = {"key": "account", "book": "book", "group": "group", "code": "code", "": "flags"}
    columns |= {"subledger": "subledger", "normal": "normal", "flags": "flags", "name": "name"}
    out = []
    for row in range(t.rows):
        fields: dict[str, Any] = {"key": values["account"][row], "book": values["book"][row]}
        fields |= {"group": values["group"][row], "code": values["code"][row]}
        for name in ("subledger", "normal", "name"):
            if name in values and values[name][row]:
                fields[name] = values[name][row]
        row_bits = int(bits[row])
        fields["flags"] = account_flags(row_bits)
        out.append(_model(t, row, Account, fields, columns))
    return out


def named_books(accounts: Iterable[Account]) -> list[Book]:
    """The books accounts name, in order of first mention (to create where missing)."""
    return [Book(key=key) for key in dict.fromkeys(account.book for account in accounts)]


def named_groups(accounts: Iterable[Account], declared: Iterable[Group] = ()) -> list[Group]:
    """The declared groups, then every other group the accounts name at scale 2."""
    groups = {group.key: group for group in declared}
    for account in accounts:
        if account.group not in groups:
            groups[account.group] = Group(key=account.group)
    return list(groups.values())


# --- entries ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class EntriesBatch:
    """An entries file as the columns of Ledger.post_columns, plus where each entry starts.

    `lines[i]` is the line (CSV; `unit` "line") or row (Parquet; `unit` "row") of entry i's
    first row. Absent optional columns are None, as post_columns takes them. `kinds` and
    `references` are the texts behind `extra`, for a store that keeps them.
    """

    path: Path
    keys: np.ndarray  # int64 [n]
    offsets: np.ndarray  # int64 [n + 1]
    accounts: np.ndarray  # int64 [lines], from Ledger.account_index
    amounts: np.ndarray  # int64 [lines], minor units, debit > 0
    dates: np.ndarray  # int32 [n], days since 1970-01-01
    books: np.ndarray  # int32 [n], from Ledger.book_index
    flags: np.ndarray | None  # uint16 [n]
    pending: np.ndarray | None  # int64 [n]
    dims: np.ndarray | None  # int32 [lines, 4]
    extra: np.ndarray | None  # uint64 [n], entry_extra_hash(kind, reference)
    kinds: Any  # pyarrow string array [n] (null for none), or None without a kind column
    references: Any  # likewise for the reference column
    lines: np.ndarray  # int64 [n]
    unit: str

    @property
    def entries_count(self) -> int:
        return len(self.keys)

    @property
    def lines_count(self) -> int:
        return len(self.amounts)

    def post_arguments(self) -> dict[str, np.ndarray | None]:
        """Keyword arguments of Ledger.post_columns: `ledger.post_columns(**batch.post_arguments())`."""
        return {
            "keys": self.keys,
            "offsets": self.offsets,
            "accounts": self.accounts,
            "amounts": self.amounts,
            "flags": self.flags,
            "dates": self.dates,
            "pending": self.pending,
            "books": self.books,
            "dims": self.dims,
            "extra": self.extra,
        }


@dataclass(frozen=True, slots=True, eq=False)
class _Runs:
    """Where the entries of a file start: contiguous runs of equal keys."""

    is_start: np.ndarray  # bool [rows]
    starts: np.ndarray  # int64 [entries], first row of each entry
    first_row: np.ndarray  # int64 [rows], first row of the row's entry
    sizes: np.ndarray  # int64 [entries], rows of each entry


def read_entries(path: str | os.PathLike[str], ledger: Ledger) -> EntriesBatch:
    """The entries of an entries file, checked and converted for ledger.post_columns.

    Accounts and books are looked up in `ledger` and amounts converted at their groups'
    scales; nothing is posted. Raises FileFormatError at the first malformed row.
    """
    t = _load(path, "entries")
    keys = _integers(t, "entry", INT64_MIN, INT64_MAX, empty_ok=False)
    runs = _runs(t, keys)
    books = _entry_books(t, runs, ledger)
    dates = _dates(t, "date")
    _same_within_entries(t, "date", runs, dates)
    flags = pending = extra = None
    if t.has("flags"):
        flags = _flags(t, "flags", _ENTRY_FLAG_BITS)
        _same_within_entries(t, "flags", runs, flags)
        flags = flags[runs.starts].astype(np.uint16)
    if t.has("pending"):
        pending = _integers(t, "pending", INT64_MIN, INT64_MAX, empty_ok=True)
        _same_within_entries(t, "pending", runs, pending)
        pending = pending[runs.starts]
    kinds = references = None
    if t.has("kind") or t.has("reference"):
        extra, kinds, references = _texts(t, runs)
    lineless, line_rows, accounts = _line_accounts(t, runs, ledger)
    amounts = _line_amounts(t, line_rows, ledger.account_scales(accounts))
    dims = _dims(t, line_rows)
    offsets = np.zeros(len(runs.starts) + 1, np.int64)
    np.cumsum(np.add.reduceat((~lineless).astype(np.int64), runs.starts), out=offsets[1:])
    return EntriesBatch(
        path=t.path,
        keys=keys[runs.starts],
        offsets=offsets,
        accounts=accounts,
        amounts=amounts,
        dates=dates[runs.starts],
        books=books,
        flags=flags,
        pending=pending,
        dims=dims,
        extra=extra,
        kinds=kinds,
        references=references,
        lines=t.lines[runs.starts],
        unit=t.unit,
    )


def _runs(t: _Table, keys: np.ndarray) -> _Runs:
    """The entries' runs of rows, refusing a key that appears again after another key."""
    is_start = np.ones(t.rows, bool)
    is_start[1:] = keys[1:] != keys[:-1]
    starts = np.flatnonzero(is_start)
    run_keys = keys[starts]
    order = np.argsort(run_keys, kind="stable")
    again = order[1:][run_keys[order][1:] == run_keys[order][:-1]]
    if len(again):
        run = int(again.min())
        earlier = int(starts[_first(run_keys == run_keys[run])])
        message = (
            f"entry {int(run_keys[run])} appears again after other entries (its rows began on {t.unit} "
            f"{int(t.lines[earlier])}); the rows of an entry are contiguous"
        )
        t.fail(int(starts[run]), "entry", message)
    first_row = starts[np.cumsum(is_start) - 1]
    sizes = np.diff(np.append(starts, t.rows))
    return _Runs(is_start, starts, first_row, sizes)


def _same_within_entries(t: _Table, name: str, runs: _Runs, values: np.ndarray | None = None) -> None:
    """Refuse the first row whose entry-level `name` differs from its entry's first row."""
    if values is None:
        column = t.columns[name]
        differs = _bools(pc.not_equal(column.slice(1), column.slice(0, t.rows - 1)))
    else:
        differs = values[1:] != values[:-1]
    position = _first(differs & ~runs.is_start[1:])
    if position is not None:
        row = position + 1
        first = int(runs.first_row[row])
        message = (
            f"{t.text(name, row)!r} differs from {t.text(name, first)!r} on the entry's first row "
            f"({t.unit} {int(t.lines[first])}); {name} is the same on every row of an entry"
        )
        t.fail(row, name, message)


def _entry_books(t: _Table, runs: _Runs, ledger: Ledger) -> np.ndarray:
    _require(t, "book", "every row names its entry's book")
    _same_within_entries(t, "book", runs)
    at_starts = t.columns["book"].take(runs.starts)
    uniques = pc.unique(at_starts)
    known = ledger.book_index(uniques.to_pylist())
    books = known[pc.index_in(at_starts, value_set=uniques).to_numpy(zero_copy_only=False)]
    entry = _first(books < 0)
    if entry is not None:
        row = int(runs.starts[entry])
        t.fail(row, "book", f"unknown book {t.text('book', row)!r}")
    return np.asarray(books, np.int32)


def _texts(t: _Table, runs: _Runs) -> tuple[np.ndarray, Any, Any]:
    """Per entry: uint64 entry_extra_hash(kind, reference) (Python per entry), kinds, references."""
    texts: list[Any] = []
    for name, length_max in (("kind", 64), ("reference", limits.reference_length_max)):
        if t.has(name):
            _check_length(t, name, length_max)
            _same_within_entries(t, name, runs)
            at_starts = t.columns[name].take(runs.starts)
            texts.append(pc.if_else(pc.equal(at_starts, ""), pa.scalar(None, pa.string()), at_starts))
        else:
            texts.append(None)
    kinds, references = texts
    count = len(runs.starts)
    pairs = zip(
        kinds.to_pylist() if kinds is not None else [None] * count,
        references.to_pylist() if references is not None else [None] * count,
        strict=True,
    )
    extra = np.fromiter((entry_extra_hash(kind, reference) for kind, reference in pairs), np.uint64, count)
    return extra, kinds, references


def _line_accounts(t: _Table, runs: _Runs, ledger: Ledger) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows without a line, the rows of lines, and the account index of each line."""
    column = t.columns["account"]
    empty = _empty(column)
    lineless = empty & _empty(t.columns["debit"]) & _empty(t.columns["credit"])
    row = _first(lineless & (runs.sizes[np.cumsum(runs.is_start) - 1] > 1))
    if row is not None:
        message = (
            "empty on a row without amounts, which stands for an entry without lines and must be its only row"
        )
        t.fail(row, "account", message)
    row = _first(empty & ~lineless)
    if row is not None:
        t.fail(row, "account", "empty; a row with an amount names its account")
    uniques = pc.unique(column)
    known = ledger.account_index(uniques.to_pylist())
    accounts = known[pc.index_in(column, value_set=uniques).to_numpy(zero_copy_only=False)]
    row = _first((accounts < 0) & ~lineless)
    if row is not None:
        t.fail(row, "account", f"unknown account {t.text('account', row)!r}")
    line_rows = np.flatnonzero(~lineless)
    return lineless, line_rows, np.asarray(accounts[line_rows], np.int64)


def _line_amounts(t: _Table, line_rows: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Signed int64 minor units of every line: debit > 0, credit < 0."""
    has_debit = ~_empty(t.columns["debit"])[line_rows]
    has_credit = ~_empty(t.columns["credit"])[line_rows]
    position = _first(has_debit == has_credit)
    if position is not None:
        row = int(line_rows[position])
        if has_debit[position]:
            t.fail(row, "credit", "both debit and credit are given; a line has exactly one of them")
        t.fail(row, "debit", "neither debit nor credit is given; a line has exactly one of them")
    amounts = np.empty(len(line_rows), np.int64)
    debits, credits = np.flatnonzero(has_debit), np.flatnonzero(has_credit)
    amounts[debits] = _amounts(t, "debit", line_rows[debits], scales[debits])
    amounts[credits] = -_amounts(t, "credit", line_rows[credits], scales[credits])
    return amounts


def _dims(t: _Table, line_rows: np.ndarray) -> np.ndarray | None:
    names = [column.name for column in _DIMS]
    if not any(t.has(name) for name in names):
        return None
    dims = np.zeros((len(line_rows), limits.dims_count), np.int32)
    for position, name in enumerate(names):
        if t.has(name):
            dims[:, position] = _integers(t, name, -(2**31), 2**31 - 1, empty_ok=True)[line_rows]
    return dims


# --- writing ---------------------------------------------------------------------------------

_CODE_NAME_OF = {code.value: code.name for code in Code}
_CODE_NAMES = pa.array([_CODE_NAME_OF.get(value, "") for value in range(256)], pa.string())


def rejected_path_for(entries_path: str | os.PathLike[str]) -> Path:
    """The default rejected-entries file beside an entries file: entries.csv -> entries.rejected.csv."""
    path = Path(entries_path)
    return path.with_name(f"{path.stem}.rejected.csv")


def write_rejected(path: str | os.PathLike[str], batch: EntriesBatch, codes: object) -> int:
    """Write the entries whose code is not ok (entry, line, code, code_name) as CSV; their count."""
    codes_a = np.asarray(codes)
    if codes_a.shape != (batch.entries_count,) or codes_a.dtype.kind not in "iu":
        raise InvalidInput(
            f"codes: expected {batch.entries_count} integer codes, got {codes_a.shape} {codes_a.dtype}"
        )
    if len(codes_a) and (int(codes_a.min()) < 0 or int(codes_a.max()) > 255):
        raise InvalidInput("codes: values outside 0..255 are not result codes")
    rejected = np.flatnonzero(codes_a != Code.ok)
    values = codes_a[rejected].astype(np.int64)
    table = pa.table(
        {
            "entry": pa.array(batch.keys[rejected], pa.int64()),
            "line": pa.array(batch.lines[rejected], pa.int64()),
            "code": pa.array(values, pa.int64()),
            "code_name": _CODE_NAMES.take(pa.array(values)),
        }
    )
    _write_table(Path(path), table, parquet=False)
    return len(rejected)


def write_balances(path: str | os.PathLike[str], ledger: Ledger) -> int:
    """Write every account's balance (Parquet for .parquet/.pq, else CSV); the row count.

    Columns: account, book, group, the four balances and net, as decimal strings at the
    account's group scale.
    """
    path = Path(path)
    columns = ledger.balances()
    index = np.asarray(columns["account"], np.int64)
    keys, books, groups, credit_normal = _account_columns(ledger, index)
    scales = np.asarray(ledger.account_scales(index), np.int64)
    debits, credits = columns["debits_posted"], columns["credits_posted"]
    net = np.where(credit_normal, credits - debits, debits - credits)
    data = {"account": keys, "book": books, "group": groups}
    data |= {field: decimal_text(columns[field], scales) for field in BALANCE_FIELDS}
    data["net"] = decimal_text(net, scales)
    _write_table(path, pa.table(data), parquet=path.suffix.lower() in PARQUET_SUFFIXES)
    return len(index)


def _account_columns(ledger: Ledger, index: np.ndarray) -> tuple[Any, Any, Any, np.ndarray]:
    """Key, book key, group key and credit-normal flag of the accounts at `index`."""
    table = ledger.accounts_table().take(pa.array(index))
    credit_normal = table.column("normal").to_numpy(zero_copy_only=False) == "credit"
    return table.column("key"), table.column("book"), table.column("group"), credit_normal


def decimal_text(minor: np.ndarray, scales: np.ndarray) -> Any:
    """Plain decimal strings ("-12.34", "0.000000001") of int64 minor units at per-row scales."""
    minor = np.asarray(minor, np.int64)
    count = len(minor)
    if count == 0:
        return pa.array([], pa.string())
    negative = minor < 0
    magnitude = minor.astype(np.uint64)
    magnitude[negative] = ~magnitude[negative] + np.uint64(1)  # two's complement, exact for INT64_MIN
    digits = pc.cast(pa.array(magnitude), pa.string())
    parts, order = [], []
    for scale in np.unique(scales).tolist():
        picked = np.flatnonzero(scales == scale)
        part = digits.take(pa.array(picked))
        if scale > 0:
            padded = pc.utf8_lpad(part, width=scale + 1, padding="0")
            whole = pc.utf8_slice_codeunits(padded, 0, -scale)
            part = pc.binary_join_element_wise(whole, pc.utf8_slice_codeunits(padded, -scale), ".")
        parts.append(part)
        order.append(picked)
    inverse = np.empty(count, np.int64)
    inverse[np.concatenate(order)] = np.arange(count)
    text = pa.concat_arrays(parts).take(pa.array(inverse))
    return pc.binary_join_element_wise(pc.if_else(pa.array(negative), "-", ""), text, "")


def _write_table(path: Path, table: Any, *, parquet: bool) -> None:
    """Write `table` whole or not at all (a temporary file renamed over `path`)."""
    temporary = path.with_name(f".{path.name}.partial")
    try:
        if parquet:
            pq.write_table(table, temporary)
        else:
            pcsv.write_csv(table, temporary, pcsv.WriteOptions(quoting_style="needed"))
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise InvalidInput(f"cannot write {path}: {error.strerror or error}") from None


__all__ = [
    "INPUT_KINDS",
    "read_nodes",
    "LAYOUTS",
    "PARQUET_SUFFIXES",
    "Column",
    "EntriesBatch",
    "FileFormatError",
    "Kind",
    "decimal_text",
    "detect_kind",
    "layout_description",
    "named_books",
    "named_groups",
    "read_accounts",
    "read_entries",
    "read_groups",
    "rejected_path_for",
    "write_balances",
    "write_rejected",
]
