"""Interchange files: round trips through CSV and Parquet, and one test per malformed case.

Every malformed case asserts the file, the line (or Parquet row) and the column the error
names, and that nothing reached the ledger.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ledger
from ledger import files
from ledger.codes import Code
from ledger.errors import InvalidInput
from ledger.files import FileFormatError
from ledger.money import to_decimal_amount, to_minor

GROUPS = "group,scale\nCNY,2\nQTY,3\n"
ACCOUNTS = (
    "account,book,group,code,subledger,normal,flags,name\n"
    "cash,B1,CNY,1001,,,,Cash\n"
    "revenue,B1,CNY,6001,,credit,,Revenue\n"
    "budget,B1,CNY,8001,P1,credit,credits_must_not_exceed_debits,Budget\n"
    "stock,B1,QTY,1401,,,,\n"
    "stock_out,B1,QTY,1402,,credit,,\n"
    "bank,B2,CNY,1002,,,,\n"
    "payable,B2,CNY,2001,,credit,,\n"
)
HEADER = "entry,book,date,account,debit,credit"


def _write(directory: Path, name: str, text: str | bytes) -> Path:
    path = directory / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def _setup(book: ledger.Ledger, directory: Path) -> None:
    groups = files.read_groups(_write(directory, "groups.csv", GROUPS))
    accounts = files.read_accounts(_write(directory, "accounts.csv", ACCOUNTS))
    assert all(r.ok for r in book.create_groups(files.named_groups(accounts, groups)))
    assert all(r.ok for r in book.create_books(files.named_books(accounts)))
    assert all(r.ok for r in book.create_accounts(accounts))


@pytest.fixture
def book(tmp_path: Path):
    with ledger.open() as opened:
        _setup(opened, tmp_path)
        yield opened


def _post(book: ledger.Ledger, path: Path) -> tuple[files.EntriesBatch, np.ndarray]:
    batch = files.read_entries(path, book)
    return batch, book.post_columns(**batch.post_arguments())


def _nothing_posted(book: ledger.Ledger) -> bool:
    balances = book.balances()
    return all(not balances[field].any() for field in ("debits_posted", "credits_posted", "debits_pending"))


# --- round trips -----------------------------------------------------------------------------

ENTRIES = (
    "entry,book,date,account,debit,credit,kind,reference,flags,pending,dim1,dim2,dim3,dim4\n"
    '1,B1,2024-01-05,cash,100.50,,sale,"INV-1, north",,,2010101,301,,\n'
    '1,B1,2024-01-05,revenue,,100.5,sale,"INV-1, north",,,2010101,301,,\n'
    "2,B1,2024-01-06,stock,1.005,,,,,,,,,\n"
    "2,B1,2024-01-06,stock_out,,1.005,,,,,,,,\n"
    "3,B2,2024-01-07,bank,7,,,,pending,,,,,\n"
    "3,B2,2024-01-07,payable,,7,,,pending,,,,,\n"
    "4,B2,2024-01-08,,,,,,post_pending,3,,,,\n"
    "5,B1,2024-01-08,cash,1,,,,,,,,,\n"
    "5,B1,2024-01-08,revenue,,2,,,,,,,,\n"
)


def test_csv_round_trip_posts_and_balances(book: ledger.Ledger, tmp_path: Path) -> None:
    batch, codes = _post(book, _write(tmp_path, "entries.csv", ENTRIES))
    assert batch.keys.tolist() == [1, 2, 3, 4, 5]
    assert batch.offsets.tolist() == [0, 2, 4, 6, 6, 8]
    assert batch.lines.tolist() == [2, 4, 6, 8, 9]
    assert batch.amounts.tolist() == [10050, -10050, 1005, -1005, 700, -700, 100, -200]
    assert batch.dims is not None and batch.dims[0].tolist() == [2010101, 301, 0, 0]
    assert batch.references is not None and batch.references.to_pylist()[0] == "INV-1, north"
    assert [Code(c) for c in codes] == [Code.ok, Code.ok, Code.ok, Code.ok, Code.unbalanced]
    assert book.balance("cash").debits_posted == Decimal("100.50")
    assert book.balance("revenue").net == Decimal("100.50")
    assert book.balance("stock").debits_posted == Decimal("1.005")
    assert book.balance("payable").credits_posted == Decimal("7.00")
    assert book.balance("payable").credits_pending == Decimal("0.00")


def test_file_and_record_paths_agree(book: ledger.Ledger, tmp_path: Path) -> None:
    _, codes = _post(book, _write(tmp_path, "entries.csv", ENTRIES))
    with ledger.open() as other:
        (tmp_path / "other").mkdir()
        _setup(other, tmp_path / "other")
        entries = [
            ledger.Entry(
                key=1,
                book="B1",
                date=dt.date(2024, 1, 5),
                kind="sale",
                reference="INV-1, north",
                lines=[
                    ledger.Line(account="cash", debit="100.50", dims=(2010101, 301)),
                    ledger.Line(account="revenue", credit="100.5", dims=(2010101, 301)),
                ],
            ),
            ledger.Entry(
                key=2,
                book="B1",
                date=dt.date(2024, 1, 6),
                lines=[
                    ledger.Line(account="stock", debit="1.005"),
                    ledger.Line(account="stock_out", credit="1.005"),
                ],
            ),
            ledger.Entry(
                key=3,
                book="B2",
                date=dt.date(2024, 1, 7),
                flags={ledger.EntryFlag.pending},
                lines=[ledger.Line(account="bank", debit="7"), ledger.Line(account="payable", credit="7")],
            ),
            ledger.Entry(
                key=4, book="B2", date=dt.date(2024, 1, 8), flags={ledger.EntryFlag.post_pending}, pending=3
            ),
            ledger.Entry(
                key=5,
                book="B1",
                date=dt.date(2024, 1, 8),
                lines=[ledger.Line(account="cash", debit="1"), ledger.Line(account="revenue", credit="2")],
            ),
        ]
        results = other.post(entries)
        assert [r.code for r in results] == [Code(c) for c in codes]
        for account in ("cash", "revenue", "stock", "stock_out", "bank", "payable"):
            assert other.balance(account) == book.balance(account)
        # Re-posting the file's entries through the record path: same fields, so `exists`.
        again = files.read_entries(tmp_path / "entries.csv", other)
        assert [Code(c) for c in other.post_columns(**again.post_arguments())][:4] == [Code.exists] * 4


def _parquet_from_csv(csv_path: Path, parquet_path: Path) -> Path:
    names = csv_path.read_text(encoding="utf-8").splitlines()[0].split(",")
    options = pcsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()))
    pq.write_table(pcsv.read_csv(csv_path, convert_options=options), parquet_path)
    return parquet_path


def test_parquet_round_trip_with_text_columns(book: ledger.Ledger, tmp_path: Path) -> None:
    path = _parquet_from_csv(_write(tmp_path, "entries.csv", ENTRIES), tmp_path / "entries.parquet")
    assert files.detect_kind(path) == "entries"
    batch, codes = _post(book, path)
    assert batch.unit == "row" and batch.lines.tolist() == [1, 3, 5, 7, 8]
    assert [Code(c) for c in codes] == [Code.ok, Code.ok, Code.ok, Code.ok, Code.unbalanced]
    assert book.balance("stock_out").credits_posted == Decimal("1.005")


def test_parquet_round_trip_with_typed_columns(book: ledger.Ledger, tmp_path: Path) -> None:
    table = pa.table(
        {
            "entry": pa.array([10, 10, 11, 11], pa.int64()),
            "book": ["B1", "B1", "B1", "B1"],
            "date": pa.array([dt.date(2024, 3, 1)] * 4, pa.date32()),
            "account": ["cash", "revenue", "stock", "stock_out"],
            "debit": pa.array([Decimal("12.30"), None, Decimal("0.001"), None], pa.decimal128(12, 3)),
            "credit": pa.array([None, Decimal("12.3"), None, Decimal("0.001")], pa.decimal128(12, 3)),
            "dim1": pa.array([5, 5, None, None], pa.int32()),
        }
    )
    pq.write_table(table, tmp_path / "typed.parquet")
    batch, codes = _post(book, tmp_path / "typed.parquet")
    assert batch.amounts.tolist() == [1230, -1230, 1, -1]
    assert batch.dates.tolist() == [(dt.date(2024, 3, 1) - dt.date(1970, 1, 1)).days] * 2
    assert not codes.any()
    assert book.balance("cash").debits_posted == Decimal("12.30")


def test_quoted_line_breaks_blank_lines_and_crlf_keep_physical_line_numbers(
    book: ledger.Ledger, tmp_path: Path
) -> None:
    text = (
        "entry,book,date,account,debit,credit,reference\r\n"
        '1,B1,2024-01-05,cash,1,,"two\r\nlines"\r\n'
        '1,B1,2024-01-05,revenue,,1,"two\r\nlines"\r\n'
        "\r\n"
        "2,B1,2024-01-05,cash,1,,\r\n"
        "2,B1,2024-01-05,revenue,,2,\r\n"
    )
    batch, codes = _post(book, _write(tmp_path, "entries.csv", text))
    assert batch.lines.tolist() == [2, 7]
    assert batch.references is not None and batch.references.to_pylist() == ["two\r\nlines", None]
    assert [Code(c) for c in codes] == [Code.ok, Code.unbalanced]
    with pytest.raises(FileFormatError) as error:
        files.read_entries(_write(tmp_path, "bad.csv", text.replace(",2,\r\n", ",x,\r\n")), book)
    assert (error.value.line, error.value.column) == (8, "credit")


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
@pytest.mark.parametrize("bom", ["", "\ufeff"], ids=["plain", "BOM"])
def test_line_ends_and_byte_order_mark(book: ledger.Ledger, tmp_path: Path, newline: str, bom: str) -> None:
    rows = [HEADER, "1,B1,2024-01-05,cash,1,", "1,B1,2024-01-05,revenue,,1", "2,B1,2024-01-05,cash,1,"]
    path = _write(
        tmp_path, "entries.csv", bom + newline.join([*rows, "2,B1,2024-01-05,revenue,,x"]) + newline
    )
    with pytest.raises(FileFormatError) as error:
        files.read_entries(path, book)
    assert str(error.value) == f"{path}:5: column 'credit': 'x' is not a decimal number"
    batch = files.read_entries(_write(tmp_path, "ok.csv", bom + newline.join(rows[:3])), book)
    assert batch.lines.tolist() == [2]


def test_rejected_file_beside_the_entries_file(book: ledger.Ledger, tmp_path: Path) -> None:
    entries = _write(tmp_path, "entries.csv", ENTRIES)
    batch, codes = _post(book, entries)
    rejected = files.rejected_path_for(entries)
    assert rejected == tmp_path / "entries.rejected.csv"
    assert files.rejected_path_for(tmp_path / "day.parquet") == tmp_path / "day.rejected.csv"
    assert files.write_rejected(rejected, batch, codes) == 1
    rows = pcsv.read_csv(rejected).to_pylist()
    assert rows == [{"entry": 5, "line": 9, "code": int(Code.unbalanced), "code_name": "unbalanced"}]
    with pytest.raises(InvalidInput):
        files.write_rejected(rejected, batch, codes[:-1])


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_balances_file_matches_the_ledger(book: ledger.Ledger, tmp_path: Path, suffix: str) -> None:
    _post(book, _write(tmp_path, "entries.csv", ENTRIES))
    path = tmp_path / f"balances{suffix}"
    assert files.write_balances(path, book) == book.accounts_count
    if suffix == ".csv":
        names = [c.name for c in files.LAYOUTS["balances"]]
        table = pcsv.read_csv(
            path, convert_options=pcsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()))
        )
    else:
        table = pq.read_table(path)
    for row in table.to_pylist():
        balance = book.balance(row["account"])
        for field in ("debits_posted", "credits_posted", "debits_pending", "credits_pending", "net"):
            assert Decimal(row[field]) == getattr(balance, field)
            assert row[field] == format(getattr(balance, field), "f")
    assert {row["account"]: row["book"] for row in table.to_pylist()}["bank"] == "B2"


@given(
    minor=st.integers(-(2**63), 2**63 - 1),
    scale=st.integers(0, 9),
)
def test_decimal_text_is_exact(minor: int, scale: int) -> None:
    text = files.decimal_text(np.array([minor], np.int64), np.array([scale])).to_pylist()[0]
    assert Decimal(text) == to_decimal_amount(minor, scale)
    assert "E" not in text and (scale == 0 or len(text.split(".")[1]) == scale)


_AMOUNT_LEDGER: list[ledger.Ledger] = []


def _amount_ledger(directory: Path) -> ledger.Ledger:
    if not _AMOUNT_LEDGER:
        opened = ledger.open()
        _setup(opened, directory)
        _AMOUNT_LEDGER.append(opened)
    return _AMOUNT_LEDGER[0]


@settings(max_examples=150, deadline=None)
@given(
    whole=st.text("0123456789", min_size=0, max_size=40),
    fraction=st.none() | st.text("0123456789", min_size=0, max_size=6),
    account=st.sampled_from(["cash", "stock"]),
)
def test_amounts_convert_exactly_as_money_to_minor(
    tmp_path_factory: pytest.TempPathFactory, whole: str, fraction: str | None, account: str
) -> None:
    text = whole + ("" if fraction is None else "." + fraction)
    if not any(c.isdigit() for c in text):
        return
    directory = tmp_path_factory.mktemp("amounts")
    book = _amount_ledger(directory)
    path = _write(directory, "e.csv", f"{HEADER}\n1,B1,2024-01-01,{account},{text},\n")
    scale = 2 if account == "cash" else 3
    try:
        expected: int | str = to_minor(text, scale)
    except ledger.AmountError as error:
        expected = str(error).removeprefix("amount ")
    try:
        got: int | str = int(files.read_entries(path, book).amounts[0])
    except FileFormatError as error:
        assert (error.line, error.column) == (2, "debit")
        got = error.message
    if isinstance(expected, int) and expected <= 0:
        assert isinstance(got, str) and "not positive" in got
    else:
        assert got == expected


# --- detecting the kind ----------------------------------------------------------------------


def test_detect_kind(tmp_path: Path) -> None:
    assert files.detect_kind(_write(tmp_path, "g.csv", GROUPS)) == "groups"
    assert files.detect_kind(_write(tmp_path, "a.csv", ACCOUNTS)) == "accounts"
    assert files.detect_kind(_write(tmp_path, "e.csv", "\ufeff" + ENTRIES)) == "entries"
    pq.write_table(pa.table({"group": ["X"], "scale": [2]}), tmp_path / "g.parquet")
    assert files.detect_kind(tmp_path / "g.parquet") == "groups"
    with pytest.raises(
        FileFormatError, match=r"g2\.csv:1: cannot tell the kind of file from its columns \(name, x\)"
    ):
        files.detect_kind(_write(tmp_path, "g2.csv", "name,x\n"))
    with pytest.raises(FileFormatError, match=r"a2\.csv:1: column 'code': missing from the header"):
        files.detect_kind(_write(tmp_path, "a2.csv", "account,book,group\n"))


def test_reading_a_file_of_another_kind(tmp_path: Path) -> None:
    path = _write(tmp_path, "accounts.csv", ACCOUNTS)
    with pytest.raises(FileFormatError, match=r"this is an accounts file .*, not a groups file"):
        files.read_groups(path)


def test_groups_named_by_accounts_get_scale_2_unless_declared(tmp_path: Path) -> None:
    accounts = files.read_accounts(_write(tmp_path, "a.csv", "account,book,group,code\nx,B,G1,1\ny,C,G2,2\n"))
    declared = files.read_groups(_write(tmp_path, "g.csv", "group,scale\nG2,4\n"))
    assert files.named_groups(accounts, declared) == [ledger.Group(key="G2", scale=4), ledger.Group(key="G1")]
    assert [b.key for b in files.named_books(accounts)] == ["B", "C"]
    assert accounts[0].normal == "debit" and accounts[0].flags == frozenset()


# --- malformed entries files -----------------------------------------------------------------

_OK = "1,B1,2024-01-05,cash,1,\n1,B1,2024-01-05,revenue,,1\n"
MALFORMED = [
    # (case, file text, line, column, part of the message)
    (
        "missing column",
        "entry,book,date,account,debit\n1,B1,2024-01-05,cash,1\n",
        1,
        "credit",
        "missing from the header of an entries file (missing: credit)",
    ),
    ("unknown column", HEADER + ",colour\n1,B1,2024-01-05,cash,1,,red\n", 1, "colour", "unknown column"),
    ("duplicate column", HEADER + ",book\n", 1, "book", "appears twice in the header"),
    ("bad date", f"{HEADER}\n{_OK}2,B1,2024-02-30,cash,1,\n", 4, "date", "'2024-02-30' is not a date"),
    ("date format", f"{HEADER}\n{_OK}2,B1,05/01/2024,cash,1,\n", 4, "date", "is not a date (YYYY-MM-DD)"),
    (
        "bad decimal",
        f"{HEADER}\n{_OK}2,B1,2024-01-05,cash,1.2.3,\n",
        4,
        "debit",
        "'1.2.3' is not a decimal number",
    ),
    ("exponent", f"{HEADER}\n{_OK}2,B1,2024-01-05,cash,,1e3\n", 4, "credit", "'1e3' is not a decimal number"),
    (
        "too many places",
        f"{HEADER}\n{_OK}2,B1,2024-01-05,cash,1.005,\n",
        4,
        "debit",
        "'1.005' has more than 2 decimal places",
    ),
    (
        "beyond int64",
        f"{HEADER}\n2,B1,2024-01-05,cash,99999999999999999999,\n",
        2,
        "debit",
        "outside the int64 range",
    ),
    (
        "both sides",
        f"{HEADER}\n{_OK}2,B1,2024-01-05,cash,1,1\n",
        4,
        "credit",
        "both debit and credit are given",
    ),
    ("neither side", f"{HEADER}\n{_OK}2,B1,2024-01-05,cash,,\n", 4, "debit", "neither debit nor credit"),
    ("zero amount", f"{HEADER}\n{_OK}2,B1,2024-01-05,cash,0.00,\n", 4, "debit", "'0.00' is not positive"),
    ("negative amount", f"{HEADER}\n{_OK}2,B1,2024-01-05,cash,,-5\n", 4, "credit", "'-5' is not positive"),
    (
        "unknown account",
        f"{HEADER}\n{_OK}2,B1,2024-01-05,nosuch,1,\n",
        4,
        "account",
        "unknown account 'nosuch'",
    ),
    ("empty account", f"{HEADER}\n{_OK}2,B1,2024-01-05,,1,\n", 4, "account", "empty; a row with an amount"),
    (
        "unknown book",
        f"{HEADER}\n{_OK}2,B9,2024-01-05,cash,1,\n2,B9,2024-01-05,revenue,,1\n",
        4,
        "book",
        "unknown book 'B9'",
    ),
    (
        "non-contiguous entry rows",
        f"{HEADER}\n{_OK}2,B1,2024-01-05,cash,1,\n1,B1,2024-01-05,cash,1,\n",
        5,
        "entry",
        "entry 1 appears again after other entries (its rows began on line 2)",
    ),
    (
        "book differs",
        f"{HEADER}\n1,B1,2024-01-05,cash,1,\n1,B2,2024-01-05,bank,,1\n",
        3,
        "book",
        "'B2' differs from 'B1' on the entry's first row (line 2)",
    ),
    (
        "date differs",
        f"{HEADER}\n1,B1,2024-01-05,cash,1,\n1,B1,2024-01-06,revenue,,1\n",
        3,
        "date",
        "'2024-01-06' differs from '2024-01-05'",
    ),
    (
        "reference differs",
        f"{HEADER},reference\n1,B1,2024-01-05,cash,1,,a\n1,B1,2024-01-05,revenue,,1,b\n",
        3,
        "reference",
        "'b' differs from 'a'",
    ),
    (
        "flags differ",
        f"{HEADER},flags\n1,B1,2024-01-05,cash,1,,linked\n1,B1,2024-01-05,revenue,,1,\n",
        3,
        "flags",
        "differs from 'linked'",
    ),
    (
        "pending differs",
        f"{HEADER},pending\n1,B1,2024-01-05,cash,1,,7\n1,B1,2024-01-05,revenue,,1,8\n",
        3,
        "pending",
        "'8' differs from '7'",
    ),
    (
        "key not an integer",
        f"{HEADER}\n{_OK}x2,B1,2024-01-05,cash,1,\n",
        4,
        "entry",
        "'x2' is not an integer",
    ),
    (
        "key beyond int64",
        f"{HEADER}\n{_OK}9223372036854775808,B1,2024-01-05,cash,1,\n",
        4,
        "entry",
        "'9223372036854775808' is outside the range",
    ),
    ("key empty", f"{HEADER}\n{_OK},B1,2024-01-05,cash,1,\n", 4, "entry", "empty"),
    (
        "bad flags",
        f"{HEADER},flags\n1,B1,2024-01-05,cash,1,,linked|bogus\n",
        2,
        "flags",
        "unknown flag 'bogus'",
    ),
    (
        "dims not an integer",
        f"{HEADER},dim3\n{_OK.replace(chr(10), ',' + chr(10))}2,B1,2024-01-05,cash,1,,x\n",
        4,
        "dim3",
        "'x' is not an integer",
    ),
    (
        "dims beyond int32",
        f"{HEADER},dim1\n1,B1,2024-01-05,cash,1,,2147483648\n",
        2,
        "dim1",
        "'2147483648' is outside the range -2147483648..2147483647",
    ),
    (
        "bad pending",
        f"{HEADER},pending\n1,B1,2024-01-05,cash,1,,p1\n",
        2,
        "pending",
        "'p1' is not an integer",
    ),
    (
        "reference too long",
        f"{HEADER},reference\n1,B1,2024-01-05,cash,1,,{'r' * 257}\n",
        2,
        "reference",
        "longer than 256 characters",
    ),
    ("too few fields", f"{HEADER}\n{_OK}2,B1,2024-01-05,cash\n", 4, "debit", "missing: the row has 4 fields"),
    (
        "entry without lines among lines",
        f"{HEADER}\n1,B1,2024-01-05,cash,1,\n1,B1,2024-01-05,,,\n",
        3,
        "account",
        "stands for an entry without lines",
    ),
]


@pytest.mark.parametrize(
    ("case", "text", "line", "column", "message"), MALFORMED, ids=[m[0] for m in MALFORMED]
)
def test_malformed_entries_file(
    book: ledger.Ledger, tmp_path: Path, case: str, text: str, line: int, column: str, message: str
) -> None:
    path = _write(tmp_path, "entries.csv", text)
    with pytest.raises(FileFormatError) as error:
        files.read_entries(path, book)
    assert str(error.value).startswith(f"{path}:{line}: column {column!r}: "), str(error.value)
    assert message in str(error.value)
    assert (error.value.path, error.value.line, error.value.column) == (path, line, column)
    assert isinstance(error.value, ledger.InvalidInput)
    assert _nothing_posted(book)


def test_too_many_places_message_reads_as_documented(book: ledger.Ledger, tmp_path: Path) -> None:
    path = _write(tmp_path, "entries.csv", f"{HEADER}\n1,B1,2024-01-05,cash,1.005,\n")
    with pytest.raises(FileFormatError) as error:
        files.read_entries(path, book)
    assert str(error.value) == f"{path}:2: column 'debit': '1.005' has more than 2 decimal places"


def test_an_entries_file_without_a_header_is_refused(book: ledger.Ledger, tmp_path: Path) -> None:
    path = _write(tmp_path, "entries.csv", b"")
    with pytest.raises(FileFormatError) as error:
        files.read_entries(path, book)
    assert str(error.value) == f"{path}:1: empty file: no header"
    assert _nothing_posted(book)


@pytest.mark.parametrize("newline", [b"", b"\n", b"\r\n"], ids=["bare", "lf", "crlf"])
def test_a_header_only_entries_file_is_an_empty_batch(
    book: ledger.Ledger, tmp_path: Path, newline: bytes
) -> None:
    """An empty daily extract: no entries, no lines, nothing posted and nothing refused."""
    batch = files.read_entries(_write(tmp_path, "entries.csv", HEADER.encode() + newline), book)
    assert (batch.entries_count, batch.lines_count) == (0, 0)
    codes = book.post_columns(**batch.post_arguments())  # type: ignore[arg-type]
    assert len(codes) == 0
    assert _nothing_posted(book)


def test_wrong_encoding_names_the_line_and_column_of_the_first_bad_byte(
    book: ledger.Ledger, tmp_path: Path
) -> None:
    text = f"{HEADER},reference\n1,B1,2024-01-05,cash,1,,ok\n1,B1,2024-01-05,revenue,,1,ok\n"
    text += "2,B1,2024-01-05,cash,1,,"
    path = _write(tmp_path, "entries.csv", text.encode() + "caf\u00e9\n".encode("latin-1"))
    with pytest.raises(FileFormatError) as error:
        files.read_entries(path, book)
    assert str(error.value).startswith(f"{path}:4: column 'reference': not UTF-8: byte 0xe9")
    assert _nothing_posted(book)
    header = _write(tmp_path, "header.csv", b"entry,b\xffok\n")
    with pytest.raises(FileFormatError, match=r"header\.csv:1: not UTF-8"):
        files.detect_kind(header)


def test_malformed_parquet_names_the_row(book: ledger.Ledger, tmp_path: Path) -> None:
    rows = {
        "entry": ["1", "1", "2"],
        "book": ["B1"] * 3,
        "date": ["2024-01-05"] * 3,
        "account": ["cash", "revenue", "cash"],
        "debit": ["1", None, "1.005"],
        "credit": [None, "1", None],
    }
    pq.write_table(pa.table(rows), tmp_path / "entries.parquet")
    with pytest.raises(FileFormatError) as error:
        files.read_entries(tmp_path / "entries.parquet", book)
    expected = (
        f"{tmp_path / 'entries.parquet'}: row 3: column 'debit': '1.005' has more than 2 decimal places"
    )
    assert str(error.value) == expected
    assert error.value.unit == "row"
    assert _nothing_posted(book)


def test_parquet_float_amounts_are_refused(book: ledger.Ledger, tmp_path: Path) -> None:
    table = pa.table(
        {
            "entry": [1],
            "book": ["B1"],
            "date": ["2024-01-05"],
            "account": ["cash"],
            "debit": [1.5],
            "credit": [None],
        }
    )
    pq.write_table(table, tmp_path / "floats.parquet")
    with pytest.raises(
        FileFormatError, match=r"floats\.parquet: column 'debit': type double .* floats are not money"
    ):
        files.read_entries(tmp_path / "floats.parquet", book)


def test_empty_and_unreadable_parquet(book: ledger.Ledger, tmp_path: Path) -> None:
    schema = pa.schema([(name, pa.string()) for name in HEADER.split(",")])
    pq.write_table(schema.empty_table(), tmp_path / "empty.parquet")
    assert files.read_entries(tmp_path / "empty.parquet", book).entries_count == 0
    with pytest.raises(FileFormatError, match=r"broken\.parquet: unreadable Parquet file"):
        files.read_entries(_write(tmp_path, "broken.parquet", b"PAR1 not really"), book)


def test_missing_file(book: ledger.Ledger, tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match=r"nope\.csv: cannot read the file"):
        files.read_entries(tmp_path / "nope.csv", book)


# --- malformed groups and accounts files -----------------------------------------------------

MALFORMED_CATALOG = [
    ("groups", "group,scale\nCNY,2\nUSD,x\n", 3, "scale", "'x' is not an integer"),
    ("groups", "group,scale\nCNY,2\nUSD,12\n", 3, "scale", "'12' is outside the range 0..9"),
    ("groups", "group,scale\nCNY,2\n,2\n", 3, "group", "empty"),
    ("accounts", "account,book,group,code,normal\nx,B,G,10-01,\n", 2, "code", "'10-01': String should match"),
    (
        "accounts",
        "account,book,group,code,normal\nx,B,G,1001,Debit\n",
        2,
        "normal",
        "'Debit': Input should be",
    ),
    (
        "accounts",
        "account,book,group,code,flags\nx,B,G,1001,closed|frozen\n",
        2,
        "flags",
        "unknown flag 'frozen'",
    ),
    (
        "accounts",
        "account,book,group,code,flags\nx,B,G,1001,"
        "debits_must_not_exceed_credits|credits_must_not_exceed_debits\n",
        2,
        "flags",
        "at most one",
    ),
    ("accounts", "account,book,group,code\nx,B,G,1001\ny,B,,1002\n", 3, "group", "empty"),
    ("accounts", "account,book,group\nx,B,G\n", 1, "code", "missing from the header of an accounts file"),
]


@pytest.mark.parametrize(("kind", "text", "line", "column", "message"), MALFORMED_CATALOG)
def test_malformed_catalog_file(
    tmp_path: Path, kind: str, text: str, line: int, column: str, message: str
) -> None:
    path = _write(tmp_path, f"{kind}.csv", text)
    reader = files.read_groups if kind == "groups" else files.read_accounts
    with pytest.raises(FileFormatError) as error:
        reader(path)
    assert str(error.value).startswith(f"{path}:{line}: column {column!r}: "), str(error.value)
    assert message in str(error.value)


def test_error_pickles_and_reads_as_documented(tmp_path: Path) -> None:
    import pickle

    error = FileFormatError("entries.csv", 17, "debit", "'1.005' has more than 2 decimal places")
    assert str(error) == "entries.csv:17: column 'debit': '1.005' has more than 2 decimal places"
    assert str(pickle.loads(pickle.dumps(error))) == str(error)
    assert (
        str(FileFormatError("e.parquet", 3, "date", "bad", "row")) == "e.parquet: row 3: column 'date': bad"
    )
