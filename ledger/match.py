"""Two-sided matching: the records of side A and side B matched by key, each key classified.

A record is (key, amount, date, group, attr): a payment on the treasury's side and on the
bank's, a voucher and its bank receipt. Per key, with ca records on A and cb on B, the finding
is the first of these that applies (a matched key gives none):

1. ``duplicate_a`` (ca > 1), ``duplicate_b`` (cb > 1);
2. ``missing_a`` (only B has the key), ``missing_b`` (only A has it);
3. for the pair: ``key_mismatch`` (groups or attrs differ), ``amount_mismatch``, then, when only
   the dates differ, ``in_transit`` (|date_b - date_a| <= window days) or ``date_mismatch``.

A side's amount for a key is the sum of its records', its date the smallest; its group and
attr are those of its representative, the record with the smallest (group, attr, date,
amount). Group totals hold the one invariant a reconciliation report needs: every key adds
its A amount into its A group's total_a and its B amount into its B group's total_b (matched
keys too), so for every group, difference == total_a - total_b == the sum of amount_a over the
items whose group_a is the group minus the sum of amount_b over those whose group_b is: the
items explain every difference exactly. Nothing depends on the order of the rows. Money is
int64 minor units; a sum that would leave int64 raises TotalOverflow, never wraps.

This module keeps the kernel's preconditions (it converts and checks every column, refusing
lossy conversions with InvalidInput, and turns arbitrary int64 groups into dense ids) and
runs the compiled kernel ``ledger/_native/reconcile.pyx``, or its pure-Python twin when
LEDGER_NO_EXTENSIONS=1. ``match_files`` is the file edge: CSV or Parquet in, items.csv and
groups.csv out.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from ledger import limits
from ledger.errors import FileFormatError, InvalidInput, LimitExceeded, TotalOverflow
from ledger.money import to_minor


def _load_kernel():
    if os.environ.get("LEDGER_NO_EXTENSIONS") == "1":
        from ledger import _reconcile_reference as kernel

        return kernel
    from ledger._native import reconcile as kernel

    return kernel


kernel = _load_kernel()
# True when the compiled kernel is in use (LEDGER_NO_EXTENSIONS unset).
NATIVE = kernel.__name__ == "ledger._native.reconcile"

# The finding types; a finding's code in the kernel is its index here.
TYPES = (
    "in_transit",
    "date_mismatch",
    "amount_mismatch",
    "key_mismatch",
    "missing_a",
    "missing_b",
    "duplicate_a",
    "duplicate_b",
)
# Records on one side. Both sides' groups together get dense int32 ids in the kernel.
rows_max = 1_000_000_000
# Two int32 days are never further apart than this: a larger window says nothing more.
window_max = 2**32

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
# The kernel's items columns and groups rows (see ledger/_native/reconcile.pyx).
ITEM_COLUMNS = ("key", "type", "group_a", "group_b", "attr_a", "attr_b", "amount_a", "amount_b",
                "date_a", "date_b", "age_days", "row_a", "row_b")  # fmt: skip
GROUP_ROWS = ("group", "total_a", "total_b", "difference", *TYPES)
_COLUMN = {name: index for index, name in enumerate(ITEM_COLUMNS)}
# Kernel statuses.
_OVERFLOW_KEY, _OVERFLOW_GROUP = 1, 2
# Group ids are given to the kernel as they are when non-negative and below
# max(DIRECT_GROUPS_PER_ROW * rows, DIRECT_GROUPS_MIN): its arrays of one slot per id then
# cost about what its records do. Others are numbered first (2 M + 2 M rows: ~200 ms more).
DIRECT_GROUPS_PER_ROW = 2
DIRECT_GROUPS_MIN = 1 << 16
_NO_COLUMN = np.zeros(0, np.int64)


@dataclass(frozen=True, eq=False)
class Side:
    """One side's records as columns, one value per record: numpy arrays, pyarrow arrays or
    sequences, converted on construction (InvalidInput for anything lossy).

    key: int64 record keys (a payment id). amount: int64 minor units (floats and decimals
    are refused: convert at the edge, as match_files does). date: days since 1970-01-01
    (integers, numpy datetime64 of whole days, pyarrow date32, datetime.date or
    'YYYY-MM-DD'). group: int64 aggregation groups (a project id); None puts every record
    in group 0. attr: int64, a further classification compared for key_mismatch (an
    economic code); None is all 0.
    """

    key: np.ndarray
    amount: np.ndarray
    date: np.ndarray
    group: np.ndarray | None = None
    attr: np.ndarray | None = None

    def __post_init__(self) -> None:
        key = _integers("key", self.key, np.int64)
        if len(key) > rows_max:
            raise LimitExceeded(f"key: {len(key)} records on one side; the limit is {rows_max}")
        columns = {
            "amount": _integers("amount", self.amount, np.int64),
            "date": _days("date", self.date),
            "group": None if self.group is None else _integers("group", self.group, np.int64),
            "attr": None if self.attr is None else _integers("attr", self.attr, np.int64),
        }
        for name, column in columns.items():
            if column is not None and len(column) != len(key):
                raise InvalidInput(f"{name}: {len(column)} values for {len(key)} keys; one per record")
        object.__setattr__(self, "key", key)
        for name, column in columns.items():
            object.__setattr__(self, name, column)

    def __len__(self) -> int:
        return len(self.key)


@dataclass(frozen=True)
class Matched:
    """What match gives.

    items: one row per finding, sorted by key: key, type (a name of TYPES), group_a, group_b,
    attr_a, attr_b (null for a side without the key), amount_a, amount_b (the side's sum, 0
    without the key), date_a, date_b (date32: the side's smallest date, null without the
    key), age_days (date_b - date_a for in_transit and date_mismatch; as_of - the present
    side's date for missing_* when as_of is given; else 0), row_a, row_b (the input row of
    the side's representative record, -1 without the key).

    groups: one row per group with records on either side, ascending: group, total_a,
    total_b, difference (total_a - total_b), then one count column per type (a finding
    counts in its A group, its B group when A lacks the key, and a key_mismatch in its B
    group as well when that differs).
    """

    items: pa.Table
    groups: pa.Table

    def counts(self) -> dict[str, int]:
        """The number of findings of each type (every type, 0 when none)."""
        counts = dict.fromkeys(TYPES, 0)
        for entry in pc.value_counts(self.items.column("type")).to_pylist():
            counts[entry["values"]] = entry["counts"]
        return counts


def match(a: Side, b: Side, *, window: int = 0, as_of: int | dt.date | str | None = None) -> Matched:
    """Match side A's records with side B's by key (see the module docstring).

    window: days (0..window_max) by which dates may differ for in_transit. as_of: the day
    (days since 1970-01-01, a date or 'YYYY-MM-DD') from which a missing record's age is
    counted; None leaves age_days 0 for missing_*. Raises InvalidInput for a bad window or
    as_of, TotalOverflow when a key's amount on a side or a group's total_a, total_b or
    difference would leave int64.
    """
    window_days = _window(window)
    as_of_day = None if as_of is None else _day("as_of", as_of)
    group_a, group_b, groups_count, group_values = _dense_groups(a, b)
    items = np.empty((len(a) + len(b), len(ITEM_COLUMNS)), np.int64)
    groups = np.zeros((len(GROUP_ROWS), groups_count), np.int64)
    items_count, groups_found, status, where = kernel.match(
        a.key, group_a, _NO_COLUMN if a.attr is None else a.attr, a.amount, a.date,
        b.key, group_b, _NO_COLUMN if b.attr is None else b.attr, b.amount, b.date,
        window_days, as_of_day, items, groups,
    )  # fmt: skip
    if status == _OVERFLOW_KEY:
        raise TotalOverflow(
            f"key {where}: the sum of its amounts on one side does not fit in int64 minor units;"
            " nothing is matched"
        )
    if status == _OVERFLOW_GROUP:
        group = where if group_values is None else int(group_values[where])
        raise TotalOverflow(
            f"group {group}: its total_a, total_b or difference does not fit in int64 minor units;"
            " nothing is matched"
        )
    return Matched(
        _items_table(items[:items_count], group_values), _groups_table(groups[:, :groups_found], group_values)
    )


# --- converting and checking -------------------------------------------------------------------


def _plain(name: str, value: object) -> Any:
    """A pyarrow array as numpy (refusing nulls); anything else as it is."""
    if not isinstance(value, pa.ChunkedArray | pa.Array):
        return value
    if value.null_count:
        raise InvalidInput(f"{name}: {value.null_count} nulls; every record needs a value")
    return (value.cast(pa.int32()) if pa.types.is_date32(value.type) else value).to_numpy(
        zero_copy_only=False
    )


def _integers(name: str, value: object, dtype: type[np.integer]) -> np.ndarray:
    """`value` as a C-contiguous 1-d array of `dtype`, refusing lossy conversions."""
    array = np.asarray(_plain(name, value))
    target = np.dtype(dtype)
    if array.ndim != 1:
        raise InvalidInput(f"{name}: expected a 1-d array, got {array.ndim} dimensions")
    if array.dtype != target:
        if array.size and array.dtype.kind not in "iu":
            hint = "; floats are not money: pass minor units" if array.dtype.kind == "f" else ""
            raise InvalidInput(f"{name}: expected integers ({target}), got {array.dtype}{hint}")
        if array.size:
            info = np.iinfo(target)
            if int(array.min()) < info.min or int(array.max()) > info.max:
                raise InvalidInput(f"{name}: values outside the {target} range")
        array = array.astype(target)
    return np.ascontiguousarray(array)


def _days(name: str, value: object) -> np.ndarray:
    """int32 days since 1970-01-01 of integers, datetime64 (whole days), dates or ISO text."""
    array = np.asarray(_plain(name, value))
    if array.dtype.kind in "OUS":
        try:
            array = array.astype("datetime64[D]")
        except ValueError as error:
            raise InvalidInput(f"{name}: not dates (YYYY-MM-DD): {error}") from None
    if array.dtype.kind == "M":
        days = array.astype("datetime64[D]")
        if (days != array).any() or np.isnat(days).any():
            raise InvalidInput(f"{name}: dates must be whole days, without NaT")
        array = days.view(np.int64)
    return _integers(name, array, np.int32)


def _day(name: str, value: object) -> int:
    """One day since 1970-01-01 from an int, a date or 'YYYY-MM-DD'."""
    if isinstance(value, dt.datetime | bool):
        raise InvalidInput(f"{name}: expected a day (int days, a date or 'YYYY-MM-DD'), got {value!r}")
    if isinstance(value, dt.date):
        return (value - dt.date(1970, 1, 1)).days
    if isinstance(value, str):
        try:
            return (dt.date.fromisoformat(value) - dt.date(1970, 1, 1)).days
        except ValueError:
            raise InvalidInput(f"{name}: {value!r} is not a date (YYYY-MM-DD)") from None
    if isinstance(value, int | np.integer) and INT32_MIN <= value <= INT32_MAX:
        return int(value)
    raise InvalidInput(f"{name}: expected a day (int32 days, a date or 'YYYY-MM-DD'), got {value!r}")


def _window(window: object) -> int:
    if isinstance(window, bool) or not isinstance(window, int | np.integer):
        raise InvalidInput(f"window: expected whole days (an int), got {window!r}")
    if not 0 <= window <= window_max:
        raise InvalidInput(f"window: {window} days; it must be in 0..{window_max}")
    return int(window)


def _dense_groups(a: Side, b: Side) -> tuple[np.ndarray, np.ndarray, int, np.ndarray | None]:
    """Each side's group ids for the kernel, how many ids there are, and the group of each id
    (None when the ids are the groups). A side without groups passes none (all group 0)."""
    given = [group for group in (a.group, b.group) if group is not None and len(group)]
    if not given:
        return _NO_COLUMN, _NO_COLUMN, 1, None
    low = min(int(group.min()) for group in given)
    high = max(int(group.max()) for group in given)
    slots = max(DIRECT_GROUPS_PER_ROW * (len(a) + len(b)), DIRECT_GROUPS_MIN)
    if low >= 0 and high < min(slots, INT32_MAX):
        return (_NO_COLUMN if a.group is None else a.group, _NO_COLUMN if b.group is None else b.group,
                high + 1, None)  # fmt: skip
    both = [np.zeros(len(side), np.int64) if side.group is None else side.group for side in (a, b)]
    ids, values = _ranks(pa.array(np.concatenate(both)))
    return ids[: len(a)], ids[len(a) :], len(values), values.to_numpy()


def _ranks(values: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Each value's rank among the distinct values (int64), and the distinct values in rank
    order. Exact: a hash of the values themselves, then a sort of the distinct ones."""
    encoded = values.dictionary_encode()
    order = pc.sort_indices(encoded.dictionary).to_numpy()
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return rank[encoded.indices.to_numpy(zero_copy_only=False)], encoded.dictionary.take(pa.array(order))


def _items_table(rows: np.ndarray, group_values: np.ndarray | None) -> pa.Table:
    """The kernel's finding rows as Matched.items: type names, groups mapped back, and an
    absent side's group, attr and date null (its -1s could be real values)."""
    columns: dict[str, Any] = {"key": rows[:, _COLUMN["key"]].copy()}
    types = rows[:, _COLUMN["type"]].astype(np.int32)
    columns["type"] = pc.take(pa.array(TYPES, pa.string()), pa.array(types))
    absent = {side: rows[:, _COLUMN[f"row_{side}"]] < 0 for side in "ab"}
    for name in ("group_a", "group_b", "attr_a", "attr_b", "amount_a", "amount_b", "date_a", "date_b"):
        values = rows[:, _COLUMN[name]].copy()
        if name.startswith("amount"):
            columns[name] = values
            continue
        missing = absent[name[-1]]
        if name.startswith("group") and group_values is not None:
            values = group_values[np.where(missing, 0, values)]
        if name.startswith("date"):
            columns[name] = pa.array(values.astype(np.int32), mask=missing).cast(pa.date32())
        else:
            columns[name] = pa.array(values, mask=missing)
    for name in ("age_days", "row_a", "row_b"):
        columns[name] = rows[:, _COLUMN[name]].copy()
    return pa.table(columns)


def _groups_table(columns: np.ndarray, group_values: np.ndarray | None) -> pa.Table:
    """The kernel's group columns as Matched.groups, groups mapped back."""
    data = dict(zip(GROUP_ROWS, columns, strict=True))
    if group_values is not None:
        data["group"] = group_values[data["group"]]
    return pa.table(data)


# --- files ------------------------------------------------------------------------------------

CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")
# items.csv: the items' columns but the attrs and the rows.
ITEMS_CSV_COLUMNS = tuple(name for name in ITEM_COLUMNS if not name.startswith(("attr", "row")))
_DECIMAL = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$"
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def match_files(
    a_path: str | os.PathLike[str],
    b_path: str | os.PathLike[str],
    *,
    key: str,
    amount: str,
    date: str,
    group: str | None = None,
    attr: str | None = None,
    window: int = 0,
    out_dir: str | os.PathLike[str],
    scale: int = 2,
    as_of: int | dt.date | str | None = None,
) -> Matched:
    """Match the records of two files (CSV or Parquet, told by the suffix) and write
    out_dir/items.csv and out_dir/groups.csv; returns the Matched, whose key and group
    columns hold the files' own values and whose amounts are minor units.

    key, amount, date, group, attr name the columns (the same in both files). Keys, groups
    and attrs may be text or integers: both files' values are numbered together, exactly
    (equal text is the same key; an integer column beside a text one is read as text).
    Amounts are decimal text, decimals or integers with at most `scale` decimal places,
    converted to minor units exactly (never through a float); dates are date32 or
    'YYYY-MM-DD'. items.csv: key, type, group_a, group_b, amount_a, amount_b (decimal text
    with `scale` places), date_a, date_b (YYYY-MM-DD), age_days, one row per finding sorted
    by key, empty where a side lacks the key. groups.csv: group, total_a, total_b,
    difference (decimal text), then one count column per type.

    Raises InvalidInput for a bad argument or an unknown suffix, FileFormatError naming the
    file, row (from 1) and column of a bad value or a missing column, TotalOverflow as
    match does.
    """
    if isinstance(scale, bool) or not isinstance(scale, int) or not 0 <= scale <= limits.scale_max:
        raise InvalidInput(f"scale: {scale!r}; decimal places must be in 0..{limits.scale_max}")
    window_days = _window(window)
    as_of_day = None if as_of is None else _day("as_of", as_of)
    names = [name for name in dict.fromkeys((key, amount, date, group, attr)) if name is not None]
    paths = (Path(a_path), Path(b_path))
    tables = [_read_columns(path, names) for path in paths]
    key_a, key_b, key_values = _joint_ids(paths, tables, key)
    group_a, group_b, group_values = _joint_ids(paths, tables, group) if group else (None, None, None)
    attr_a, attr_b, _ = _joint_ids(paths, tables, attr) if attr else (None, None, None)
    sides = [
        Side(key=keys, amount=_minor_units(path, table, amount, scale), date=_file_days(path, table, date),
             group=groups, attr=attrs)
        for path, table, keys, groups, attrs in zip(
            paths, tables, (key_a, key_b), (group_a, group_b), (attr_a, attr_b), strict=True
        )
    ]  # fmt: skip
    matched = match(sides[0], sides[1], window=window_days, as_of=as_of_day)
    matched = _with_values(matched, key_values, group_values)
    _write_outputs(Path(out_dir), matched, scale)
    return matched


def _fail(path: Path, row: int | None, column: str | None, message: str) -> FileFormatError:
    return FileFormatError(path, None if row is None else row + 1, column, message, "row")


def _read_columns(path: Path, names: list[str]) -> pa.Table:
    """The named columns of a CSV file (as text) or a Parquet file (as stored)."""
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES + PARQUET_SUFFIXES:
        known = ", ".join(CSV_SUFFIXES + PARQUET_SUFFIXES)
        raise InvalidInput(f"{path}: unknown file type {suffix or '(no suffix)'!r}; expected {known}")
    try:
        if suffix in CSV_SUFFIXES:
            _require_columns(path, _csv_header(path), names)
            options = pcsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), include_columns=names
            )
            return pcsv.read_csv(path, convert_options=options)
        _require_columns(path, pq.read_schema(path).names, names)
        return pq.read_table(path, columns=names)
    except (pa.ArrowException, OSError) as error:
        raise _fail(path, None, None, f"unreadable file: {error}") from None


def _csv_header(path: Path) -> list[str]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            header = next(csv.reader(stream), None)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise _fail(path, None, None, f"unreadable CSV header: {error}") from None
    if not header:
        raise _fail(path, None, None, "empty file: no header")
    return header


def _require_columns(path: Path, present: list[str], names: list[str]) -> None:
    for name in names:
        if name not in present:
            raise _fail(path, None, name, f"missing (the file's columns are {', '.join(present)})")


def _column(path: Path, table: pa.Table, name: str) -> pa.Array:
    """One column as a single array of plain values, after refusing nulls and empty text."""
    column = table.column(name).combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    missing = column.is_null()
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        missing = pc.or_(missing, pc.equal(column, ""))
    first = _first(missing)
    if first is not None:
        raise _fail(path, first, name, "empty; every record needs a value")
    return column


def _first(mask: pa.Array) -> int | None:
    """The position of the first true value of a boolean array, if any."""
    found = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
    return int(found[0]) if len(found) else None


def _joint_ids(
    paths: tuple[Path, Path], tables: list[pa.Table], name: str
) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """Both files' values of a column numbered together: each value's rank among the distinct
    values of both (int64), per file, and the distinct values in rank order."""
    columns = [_column(path, table, name) for path, table in zip(paths, tables, strict=True)]
    for path, column in zip(paths, columns, strict=True):
        kind = column.type
        if not (pa.types.is_integer(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            raise _fail(path, None, name, f"type {kind} cannot hold keys (text or integers)")
    kind = pa.int64() if all(pa.types.is_integer(c.type) for c in columns) else pa.large_string()
    ids, values = _ranks(pa.concat_arrays([column.cast(kind) for column in columns]))
    return ids[: len(columns[0])], ids[len(columns[0]) :], values


def _minor_units(path: Path, table: pa.Table, name: str, scale: int) -> np.ndarray:
    """int64 minor units of an amount column at `scale` decimal places, exactly or refused."""
    column = _column(path, table, name)
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        bad = _first(pc.invert(pc.match_substring_regex(column, _DECIMAL)))
        if bad is not None:
            raise _fail(path, bad, name, f"{column[bad].as_py()!r} is not a decimal number")
    elif pa.types.is_floating(kind):
        message = f"type {kind}: floats are not money; store amounts as decimal text or decimals"
        raise _fail(path, None, name, message)
    elif not (pa.types.is_integer(kind) or pa.types.is_decimal(kind)):
        raise _fail(path, None, name, f"type {kind} cannot hold amounts")
    try:
        decimals = pc.cast(column, pa.decimal128(38, scale))
    except pa.ArrowInvalid:  # too many places, or too large: the reference conversion names the row
        decimals = None
    if decimals is not None:
        # Two little-endian 64-bit words a value: low, then high (the low's sign when it fits).
        words = np.frombuffer(decimals.buffers()[1], "<i8")[2 * decimals.offset :][: 2 * len(decimals)]
        low, high = words[0::2], words[1::2]
        if np.array_equal(high, low >> 63):  # every value fits in int64
            return low.copy()
    for row, value in enumerate(column.to_pylist()):
        try:
            to_minor(str(value), scale)
        except InvalidInput as error:
            raise _fail(path, row, name, str(error).removeprefix("amount ")) from None
    raise AssertionError("a conversion Arrow refused was accepted value by value")


def _file_days(path: Path, table: pa.Table, name: str) -> np.ndarray:
    """int32 days since 1970-01-01 of a date column (date32/date64, or 'YYYY-MM-DD')."""
    column = _column(path, table, name)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        bad = _first(pc.invert(pc.match_substring_regex(column, _DATE)))
        if bad is None:
            try:
                column = pc.cast(column, pa.date32())
            except pa.ArrowInvalid:
                bad = next(row for row, text in enumerate(column.to_pylist()) if not _is_iso_date(text))
        if bad is not None:
            raise _fail(path, bad, name, f"{column[bad].as_py()!r} is not a date (YYYY-MM-DD)")
    if not pa.types.is_date(column.type):
        raise _fail(path, None, name, f"type {column.type} cannot hold dates (date32 or YYYY-MM-DD text)")
    return pc.cast(pc.cast(column, pa.date32()), pa.int32()).to_numpy(zero_copy_only=False)


def _is_iso_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return re.match(_DATE, text) is not None


def _with_values(matched: Matched, keys: pa.Array, groups: pa.Array | None) -> Matched:
    """The Matched of numbered keys and groups with the files' own values in their place."""
    items, table = matched.items, matched.groups
    items = items.set_column(0, "key", keys.take(items.column("key")))
    if groups is not None:
        for name in ("group_a", "group_b"):
            position = items.schema.get_field_index(name)
            items = items.set_column(position, name, groups.take(items.column(name)))
        table = table.set_column(0, "group", groups.take(table.column("group")))
    return Matched(items, table)


def _decimals(minor: np.ndarray, scale: int, valid: np.ndarray | None = None) -> pa.Array:
    """decimal128(38, scale) of int64 minor units, exactly (the unscaled value is the minor
    units, sign-extended to 128 bits); null where not `valid`."""
    minor = np.ascontiguousarray(minor, np.int64)
    words = np.stack([minor, minor >> 63], axis=1)
    bitmap = None if valid is None else pa.array(valid, pa.bool_()).buffers()[1]
    null_count = -1 if valid is not None else 0
    return pa.Array.from_buffers(
        pa.decimal128(38, scale), len(minor), [bitmap, pa.py_buffer(words.tobytes())], null_count
    )


def _write_outputs(out_dir: Path, matched: Matched, scale: int) -> None:
    items, groups = matched.items, matched.groups
    present = {side: items.column(f"row_{side}").to_numpy() >= 0 for side in "ab"}
    item_columns: dict[str, Any] = {name: items.column(name) for name in ITEMS_CSV_COLUMNS}
    for side in "ab":
        amounts = items.column(f"amount_{side}").to_numpy()
        item_columns[f"amount_{side}"] = _decimals(amounts, scale, present[side])
    group_columns: dict[str, Any] = {name: groups.column(name) for name in GROUP_ROWS}
    for name in ("total_a", "total_b", "difference"):
        group_columns[name] = _decimals(groups.column(name).to_numpy(), scale)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InvalidInput(f"cannot create {out_dir}: {error.strerror or error}") from None
    _write_csv(out_dir / "items.csv", pa.table(item_columns))
    _write_csv(out_dir / "groups.csv", pa.table(group_columns))


def _write_csv(path: Path, table: pa.Table) -> None:
    """Write `table` whole or not at all (a temporary file renamed over `path`)."""
    temporary = path.with_name(f".{path.name}.partial")
    try:
        pcsv.write_csv(table, temporary, pcsv.WriteOptions(quoting_style="needed"))
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise InvalidInput(f"cannot write {path}: {error.strerror or error}") from None


__all__ = ["NATIVE", "TYPES", "Matched", "Side", "match", "match_files", "rows_max", "window_max"]
