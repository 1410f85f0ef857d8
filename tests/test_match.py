"""ledger.match: the finding of each key in its order of precedence, the group totals that the
items explain exactly, independence from row order, the file edge, and bad input.

Precedence and the day arithmetic are table-driven (one row per case, the expected finding at
the end); the invariants are properties on drawn sides; a run with faults injected at known
keys is scored for precision and recall; match_files is checked byte for byte.
"""

from __future__ import annotations

import datetime as dt
import decimal
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ledger.cli import app
from ledger.errors import FileFormatError, InvalidInput, LimitExceeded
from ledger.match import TYPES, Matched, Side, match, match_files, rows_max

ROOT = Path(__file__).resolve().parents[1]


def day(days: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=days)


def side(*records: tuple[int, int, int, int, int]) -> Side:
    """A side of (key, group, attr, amount, date) records."""
    columns = list(zip(*records, strict=True)) or [(), (), (), (), ()]
    key, group, attr, amount, date = (np.array(c, np.int64) for c in columns)
    return Side(key, amount, date.astype(np.int32), group=group, attr=attr)


# --- precedence and days, one case a row ----------------------------------------------------

PAIR = (1, 10, 0, 500, 100)  # key 1, group 10, attr 0, 500 minor units, day 100


def like(**change: int) -> tuple[int, int, int, int, int]:
    fields = dict(zip(("key", "group", "attr", "amount", "date"), PAIR, strict=True))
    return tuple({**fields, **change}.values())  # type: ignore[return-value]


# (what, A's records, B's records, window, as_of, expected (type, age_days) or None: matched)
CASES = [
    ("the same on both sides", [PAIR], [PAIR], 0, None, None),
    ("B later by the window", [PAIR], [like(date=103)], 3, None, ("in_transit", 3)),
    ("B later by the window + 1", [PAIR], [like(date=104)], 3, None, ("date_mismatch", 4)),
    ("B earlier by the window", [PAIR], [like(date=97)], 3, None, ("in_transit", -3)),
    ("B earlier by the window + 1", [PAIR], [like(date=96)], 3, None, ("date_mismatch", -4)),
    ("any day apart with window 0", [PAIR], [like(date=101)], 0, None, ("date_mismatch", 1)),
    ("amount before date", [PAIR], [like(amount=501, date=150)], 3, None, ("amount_mismatch", 0)),
    ("group before amount", [PAIR], [like(group=11, amount=501, date=150)], 3, None, ("key_mismatch", 0)),
    ("attr before amount", [PAIR], [like(attr=1, amount=501)], 0, None, ("key_mismatch", 0)),
    ("only on B", [], [PAIR], 0, None, ("missing_a", 0)),
    ("only on B, aged", [], [PAIR], 0, 130, ("missing_a", 30)),
    ("only on A, aged", [PAIR], [], 0, 130, ("missing_b", 30)),
    ("only on A, as_of before it", [PAIR], [], 0, 90, ("missing_b", -10)),
    ("as_of leaves a date's age alone", [PAIR], [like(date=150)], 0, 130, ("date_mismatch", 50)),
    ("twice on A before the group", [PAIR, PAIR], [like(group=11)], 0, None, ("duplicate_a", 0)),
    ("twice on both sides", [PAIR, PAIR], [PAIR, PAIR], 0, None, ("duplicate_a", 0)),
    ("twice on B", [PAIR], [PAIR, like(amount=1)], 0, None, ("duplicate_b", 0)),
    ("twice on A, none on B", [PAIR, PAIR], [], 0, 130, ("duplicate_a", 0)),
    ("twice on B, none on A", [], [PAIR, PAIR], 0, 130, ("duplicate_b", 0)),
]  # fmt: skip


@pytest.mark.parametrize(("what", "a", "b", "window", "as_of", "expected"), CASES, ids=[c[0] for c in CASES])
def test_the_first_finding_that_applies(what: str, a, b, window: int, as_of, expected) -> None:
    items = match(side(*a), side(*b), window=window, as_of=as_of).items.to_pylist()
    assert [(item["type"], item["age_days"]) for item in items] == ([expected] if expected else [])


def test_every_type_in_full_with_its_group_totals() -> None:
    """One key of each type: every column of the items and of the groups, by hand."""
    a = side(
        (1, 0, 0, 100, 10), (2, 0, 0, 200, 10), (3, 1, 0, 300, 10), (4, 1, 0, 400, 10), (6, 2, 7, 600, 10),
        (7, 2, 0, 70, 12), (7, 1, 5, 30, 11), (7, 1, 4, 1, 13), (8, 0, 0, 800, 10), (9, 0, 0, 5, 10),
    )  # fmt: skip
    b = side(
        (1, 0, 0, 100, 12), (2, 0, 0, 200, 20), (3, 1, 0, 301, 10), (4, 2, 0, 400, 10), (5, 2, 0, 500, 10),
        (7, 2, 0, 101, 12), (8, 0, 0, 800, 10), (8, 1, 0, 800, 9), (9, 0, 0, 5, 10),
    )  # fmt: skip
    matched = match(a, b, window=2, as_of=15)
    assert matched.items.column_names == [
        "key", "type", "group_a", "group_b", "attr_a", "attr_b", "amount_a", "amount_b", "date_a", "date_b",
        "age_days", "row_a", "row_b",
    ]  # fmt: skip
    assert [tuple(row.values()) for row in matched.items.to_pylist()] == [
        (1, "in_transit", 0, 0, 0, 0, 100, 100, day(10), day(12), 2, 0, 0),
        (2, "date_mismatch", 0, 0, 0, 0, 200, 200, day(10), day(20), 10, 1, 1),
        (3, "amount_mismatch", 1, 1, 0, 0, 300, 301, day(10), day(10), 0, 2, 2),
        (4, "key_mismatch", 1, 2, 0, 0, 400, 400, day(10), day(10), 0, 3, 3),
        (5, "missing_a", None, 2, None, 0, 0, 500, None, day(10), 5, -1, 4),
        (6, "missing_b", 2, None, 7, None, 600, 0, day(10), None, 5, 4, -1),
        # the representative: the smallest (group, attr, date, amount); the smallest date
        (7, "duplicate_a", 1, 2, 4, 0, 101, 101, day(11), day(12), 0, 7, 5),
        (8, "duplicate_b", 0, 0, 0, 0, 800, 1600, day(10), day(9), 0, 8, 6),
    ]
    assert matched.groups.column_names == ["group", "total_a", "total_b", "difference", *TYPES]
    assert [tuple(row.values()) for row in matched.groups.to_pylist()] == [
        # 1, 2, 8 and 9 (matched) in group 0; the key_mismatch 4 counts in 1 and 2
        (0, 1105, 1905, -800, 1, 1, 0, 0, 0, 0, 0, 1),
        (1, 801, 301, 500, 0, 0, 1, 1, 0, 0, 1, 0),
        (2, 600, 1001, -401, 0, 0, 0, 1, 1, 1, 0, 0),
    ]
    assert matched.counts() == dict.fromkeys(TYPES, 1)


def test_a_side_without_groups_or_attrs_is_group_0_attr_0() -> None:
    a = Side([1, 2], [5, 6], [0, 0])
    b = Side([1, 2], [5, 6], [0, 0], group=[0, 3], attr=[0, 0])
    matched = match(a, b)
    assert matched.items.to_pylist()[0]["type"] == "key_mismatch"
    assert matched.groups.column("group").to_pylist() == [0, 3]


def test_nothing_to_match() -> None:
    matched = match(side(), side())
    assert matched.items.num_rows == 0 and matched.groups.num_rows == 0
    assert matched.counts() == dict.fromkeys(TYPES, 0)


# --- properties -------------------------------------------------------------------------------

RECORD = st.tuples(
    st.integers(0, 12),
    st.one_of(st.integers(0, 3), st.sampled_from([-5, 10**12])),  # dense groups, or numbered first
    st.integers(0, 1),
    st.integers(-1_000, 1_000),
    st.integers(0, 5),
)
SIDES = st.tuples(st.lists(RECORD, max_size=25), st.lists(RECORD, max_size=25), st.integers(0, 2))


@settings(max_examples=100, deadline=None)
@given(SIDES)
def test_group_totals_are_what_their_items_explain(drawn) -> None:
    a_records, b_records, window = drawn
    matched = match(side(*a_records), side(*b_records), window=window)
    items = matched.items.to_pylist()
    for row in matched.groups.to_pylist():
        group = row["group"]
        explained = sum(i["amount_a"] for i in items if i["group_a"] == group) - sum(
            i["amount_b"] for i in items if i["group_b"] == group
        )
        assert row["difference"] == row["total_a"] - row["total_b"] == explained
    every = {record[1] for record in a_records + b_records}
    assert matched.groups.column("group").to_pylist() == sorted(every)
    counted = sum(sum(matched.groups.column(name).to_pylist()) for name in TYPES)
    twice = sum(1 for i in items if i["type"] == "key_mismatch" and i["group_a"] != i["group_b"])
    assert counted == len(items) + twice


@settings(max_examples=100, deadline=None)
@given(SIDES, st.randoms(use_true_random=False))
def test_the_order_of_the_rows_does_not_matter(drawn, random) -> None:
    a_records, b_records, window = drawn
    first = match(side(*a_records), side(*b_records), window=window, as_of=3)
    order_a, order_b = (
        random.sample(range(len(a_records)), len(a_records)),
        random.sample(range(len(b_records)), len(b_records)),
    )
    shuffled_a, shuffled_b = [a_records[i] for i in order_a], [b_records[i] for i in order_b]
    second = match(side(*shuffled_a), side(*shuffled_b), window=window, as_of=3)
    assert second.groups.equals(first.groups)
    rows = ["row_a", "row_b"]
    assert second.items.drop_columns(rows).equals(first.items.drop_columns(rows))
    # A representative's row may name another of several equal records, never another record.
    for before, after in zip(first.items.to_pylist(), second.items.to_pylist(), strict=True):
        for records, shuffled, name in ((a_records, shuffled_a, "row_a"), (b_records, shuffled_b, "row_b")):
            assert (before[name] == -1) == (after[name] == -1)
            if before[name] >= 0:
                assert shuffled[after[name]] == records[before[name]]


def test_injected_faults_are_found_exactly() -> None:
    """20,000 payments a side, 40 faults of each type at known keys: precision and recall 100 %."""
    rng = np.random.default_rng(3)
    count, each = 20_000, 40
    key = rng.permutation(count).astype(np.int64) * 7 + 1_000
    base = {"key": key, "group": rng.integers(0, 3_000, count), "attr": rng.integers(0, 9, count),
            "amount": rng.integers(1, 10**7, count), "date": rng.integers(0, 365, count)}  # fmt: skip
    faulted = rng.choice(count, each * len(TYPES), replace=False).reshape(len(TYPES), each)
    truth = {name: set(key[rows].tolist()) for name, rows in zip(TYPES, faulted, strict=True)}
    at = dict(zip(TYPES, faulted, strict=True))
    a = {name: column.copy() for name, column in base.items()}
    b = {name: column.copy() for name, column in base.items()}
    b["date"][at["in_transit"]] += rng.choice([-2, -1, 1, 2], each)
    b["date"][at["date_mismatch"]] += rng.integers(3, 30, each)
    b["amount"][at["amount_mismatch"]] += 1
    b["group"][at["key_mismatch"][::2]] += 1
    b["attr"][at["key_mismatch"][1::2]] += 1
    a = {name: np.concatenate([np.delete(c, at["missing_a"]), c[at["duplicate_a"]]]) for name, c in a.items()}
    b = {name: np.concatenate([np.delete(c, at["missing_b"]), c[at["duplicate_b"]]]) for name, c in b.items()}
    sides = [Side(s["key"], s["amount"], s["date"], group=s["group"], attr=s["attr"]) for s in (a, b)]
    items = match(sides[0], sides[1], window=2).items
    found = {name: set() for name in TYPES}
    for key_value, kind in zip(
        items.column("key").to_pylist(), items.column("type").to_pylist(), strict=True
    ):
        found[kind].add(key_value)
    assert found == truth


# --- bad input, one case a row ----------------------------------------------------------------

GOOD = {"key": [1, 2, 3], "amount": [10, 20, 30], "date": [0, 1, 2], "group": [0, 0, 1], "attr": None}
BAD_SIDES = [
    ("a float key", {"key": [1.0, 2.0, 3.0]}, r"key: expected integers \(int64\), got float64"),
    ("float amounts", {"amount": [1.5, 2.0, 3.0]}, r"amount: expected integers .*floats are not money"),
    ("decimal amounts", {"amount": [decimal.Decimal(1)] * 3}, r"amount: expected integers .*, got object"),
    ("bool amounts", {"amount": [True, False, True]}, r"amount: expected integers \(int64\), got bool"),
    ("amounts beyond int64", {"amount": np.array([2**64 - 1, 0, 0], np.uint64)}, r"amount: values outside"),
    ("a 2-d key", {"key": [[1, 2, 3]]}, r"key: expected a 1-d array, got 2 dimensions"),
    ("too few amounts", {"amount": [10, 20]}, r"amount: 2 values for 3 keys; one per record"),
    ("too many groups", {"group": [0, 0, 1, 1]}, r"group: 4 values for 3 keys"),
    ("too few attrs", {"attr": [1]}, r"attr: 1 values for 3 keys"),
    ("dates that are not", {"date": ["2026-01-01", "soon", "2026-01-03"]}, r"date: not dates \(YYYY-MM-DD\)"),
    ("dates in hours", {"date": np.array([0, 1, 25], "datetime64[h]")}, r"date: dates must be whole days"),
    ("a NaT date", {"date": np.array(["2026-01-01", "NaT", "2026-01-02"], "datetime64[D]")}, r"without NaT"),
    ("dates beyond int32", {"date": [0, 2**40, 1]}, r"date: values outside the int32 range"),
    ("nulls in an Arrow key", {"key": pa.array([1, None, 3])}, r"key: 1 nulls; every record needs a value"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "change", "message"), BAD_SIDES, ids=[b[0] for b in BAD_SIDES])
def test_a_bad_side_is_refused_with_its_message(what: str, change: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        Side(**{**GOOD, **change})


def test_sides_take_dates_and_arrow_columns() -> None:
    expected = match(Side(**GOOD), Side(**GOOD)).groups
    dates = [dt.date(1970, 1, 1), dt.date(1970, 1, 2), "1970-01-03"]
    arrow = {name: pa.array(value) for name, value in GOOD.items() if value is not None}
    arrow["date"] = pa.array([0, 1, 2], pa.int32()).cast(pa.date32())
    for other in ({**GOOD, "date": dates}, {**GOOD, "date": np.array([0, 1, 2], "datetime64[D]")}, arrow):
        assert match(Side(**other), Side(**GOOD)).groups.equals(expected)


def test_more_records_than_rows_max_is_a_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ledger.match.rows_max", 2)
    with pytest.raises(LimitExceeded, match=r"key: 3 records on one side; the limit is 2"):
        Side(**GOOD)
    assert rows_max == 1_000_000_000


BAD_CALLS = [
    ("a negative window", {"window": -1}, r"window: -1 days; it must be in 0\.\.4294967296"),
    ("a window too wide", {"window": 2**32 + 1}, r"window: 4294967297 days"),
    ("a float window", {"window": 1.0}, r"window: expected whole days \(an int\), got 1\.0"),
    ("a bool window", {"window": True}, r"window: expected whole days"),
    ("as_of not a date", {"as_of": "2026-02-30"}, r"as_of: '2026-02-30' is not a date \(YYYY-MM-DD\)"),
    ("as_of a datetime", {"as_of": dt.datetime(2026, 1, 1)}, r"as_of: expected a day"),
    ("as_of beyond int32", {"as_of": 2**31}, r"as_of: expected a day"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "change", "message"), BAD_CALLS, ids=[b[0] for b in BAD_CALLS])
def test_a_bad_call_is_refused_with_its_message(what: str, change: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        match(Side(**GOOD), Side(**GOOD), **change)


def test_as_of_as_a_date_or_text_is_the_same_day() -> None:
    a, b = side(PAIR), side()
    ages = {
        match(a, b, as_of=day).items.column("age_days")[0].as_py()
        for day in (130, "1970-05-11", dt.date(1970, 5, 11))
    }
    assert ages == {30}


# --- files ------------------------------------------------------------------------------------

COLUMNS = ["pay_id", "project", "econ", "amount", "date"]
TREASURY = [
    ("P001", "PRJ-B", 30201, "100.00", "2026-03-02"),
    ("P002", "PRJ-A", 30201, "250.50", "2026-03-02"),
    ("P003", "PRJ-A", 30202, "75", "2026-03-03"),
    ("P004", "PRJ-B", 30201, "10.00", "2026-03-04"),
    ("P005", "PRJ-A", 30201, "5.00", "2026-03-06"),
    ("P005", "PRJ-A", 30201, "5.00", "2026-03-05"),
    ("P007", "PRJ-C", 30201, "1.10", "2026-03-01"),
    ("P008", "PRJ-A", 30201, "2.00", "2026-03-01"),
    ("P009", "PRJ-C", 30201, "4.00", "2026-03-02"),
]
BANK = [
    ("P009", "PRJ-C", 30201, "4.00", "2026-03-02"),
    ("P001", "PRJ-B", 30201, "100.00", "2026-03-02"),
    ("P002", "PRJ-A", 30201, "250.50", "2026-03-04"),
    ("P003", "PRJ-C", 30202, "75.00", "2026-03-03"),
    ("P004", "PRJ-B", 30201, "10.01", "2026-03-04"),
    ("P005", "PRJ-A", 30201, "10.00", "2026-03-05"),
    ("P006", "PRJ-B", 30201, "3.00", "2026-03-07"),
    ("P008", "PRJ-A", 30201, "2.00", "2026-03-10"),
    ("P009", "PRJ-C", 30201, "4.00", "2026-03-03"),
]
ITEMS_CSV = """\
"key","type","group_a","group_b","amount_a","amount_b","date_a","date_b","age_days"
"P002","in_transit","PRJ-A","PRJ-A",250.50,250.50,2026-03-02,2026-03-04,2
"P003","key_mismatch","PRJ-A","PRJ-C",75.00,75.00,2026-03-03,2026-03-03,0
"P004","amount_mismatch","PRJ-B","PRJ-B",10.00,10.01,2026-03-04,2026-03-04,0
"P005","duplicate_a","PRJ-A","PRJ-A",10.00,10.00,2026-03-05,2026-03-05,0
"P006","missing_a",,"PRJ-B",,3.00,,2026-03-07,3
"P007","missing_b","PRJ-C",,1.10,,2026-03-01,,9
"P008","date_mismatch","PRJ-A","PRJ-A",2.00,2.00,2026-03-01,2026-03-10,9
"P009","duplicate_b","PRJ-C","PRJ-C",4.00,8.00,2026-03-02,2026-03-02,0
"""
GROUPS_CSV = """\
"group","total_a","total_b","difference","in_transit","date_mismatch","amount_mismatch","key_mismatch",\
"missing_a","missing_b","duplicate_a","duplicate_b"
"PRJ-A",337.50,262.50,75.00,1,1,0,1,0,0,1,0
"PRJ-B",110.00,113.01,-3.01,0,0,1,0,1,0,0,0
"PRJ-C",5.10,83.00,-77.90,0,0,0,1,0,1,0,1
"""
NAMES = {"key": "pay_id", "group": "project", "attr": "econ", "amount": "amount", "date": "date"}


def write_csv(path: Path, rows: list[tuple], columns: list[str] = COLUMNS) -> Path:
    path.write_text("\n".join([",".join(columns), *(",".join(map(str, row)) for row in rows)]) + "\n")
    return path


def write_parquet(path: Path, rows: list[tuple]) -> Path:
    """The same records as Parquet: text keys and projects, integer codes, decimals, date32."""
    key, project, econ, amount, date = zip(*rows, strict=True)
    pq.write_table(pa.table({
        "pay_id": pa.array(key), "project": pa.array(project).dictionary_encode(), "econ": pa.array(econ),
        "amount": pa.array([decimal.Decimal(a) for a in amount], pa.decimal128(12, 2)),
        "date": pa.array([dt.date.fromisoformat(d) for d in date]),
    }), path)  # fmt: skip
    return path


def run_files(a: Path, b: Path, out: Path, **change) -> Matched:
    arguments = {**NAMES, "window": 3, "out_dir": out, "as_of": "2026-03-10", **change}
    return match_files(a, b, **arguments)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_match_files_writes_items_and_groups(tmp_path: Path, kind: str) -> None:
    write = write_csv if kind == "csv" else write_parquet
    a, b = write(tmp_path / f"treasury.{kind}", TREASURY), write(tmp_path / f"bank.{kind}", BANK)
    matched = run_files(a, b, tmp_path / "out")
    assert (tmp_path / "out" / "items.csv").read_text() == ITEMS_CSV
    assert (tmp_path / "out" / "groups.csv").read_text() == GROUPS_CSV
    assert matched.items.column("key").to_pylist()[:2] == ["P002", "P003"]
    assert matched.items.column("amount_b").to_pylist()[:2] == [25050, 7500]  # minor units
    assert matched.groups.column("group").to_pylist() == ["PRJ-A", "PRJ-B", "PRJ-C"]


def test_the_match_command(tmp_path: Path) -> None:
    a, b = write_csv(tmp_path / "treasury.csv", TREASURY), write_csv(tmp_path / "bank.csv", BANK)
    runner = CliRunner()
    options = ["--key", "pay_id", "--group", "project", "--attr", "econ", "--amount", "amount"]
    options += ["--date", "date", "--window", "3", "--as-of", "2026-03-10"]
    found = runner.invoke(app, ["match", str(a), str(b), *options, "--out", str(tmp_path / "out")])
    assert found.exit_code == 2, found.output
    assert "8 findings" in found.output
    assert (tmp_path / "out" / "items.csv").read_text() == ITEMS_CSV
    clean = write_csv(tmp_path / "clean.csv", TREASURY[:4])
    same = runner.invoke(app, ["match", str(clean), str(clean), *options, "--out", str(tmp_path / "same")])
    assert same.exit_code == 0 and "0 findings (clean)" in same.output, same.output
    bad = runner.invoke(
        app, ["match", str(a), str(b), *options, "--key", "nope", "--out", str(tmp_path / "x")]
    )
    assert bad.exit_code == 1 and "nope" in bad.output, bad.output


def test_match_files_of_integer_keys_and_no_groups(tmp_path: Path) -> None:
    columns = ["id", "amount", "date"]
    a = write_csv(tmp_path / "a.csv", [(10, "1.5", "2026-01-01"), (9, "2", "2026-01-01")], columns)
    pq.write_table(
        pa.table({"id": [9, 11], "amount": [2, 3], "date": ["2026-01-01", "2026-01-01"]}), tmp_path / "b.pq"
    )
    matched = match_files(
        a, tmp_path / "b.pq", key="id", amount="amount", date="date", out_dir=tmp_path, scale=1
    )
    # One file's integers beside the other's text: the keys are text ("10" before "11").
    assert (tmp_path / "items.csv").read_text().splitlines()[1:] == [
        '"10","missing_b",0,,1.5,,2026-01-01,,0',
        '"11","missing_a",,0,,3.0,,2026-01-01,0',
    ]
    assert matched.groups.to_pylist()[0]["difference"] == 15 - 30


# (what, the changed field of the bank's second record (file row 2), the message after its column)
BAD_FILES = [
    ("a bad decimal", {"amount": "12.3x"}, r"'12.3x' is not a decimal number"),
    ("an exponent", {"amount": "1e5"}, r"'1e5' is not a decimal number"),
    ("too many decimals", {"amount": "1.005"}, r"'1.005' has more than 2 decimal places"),
    ("too large", {"amount": "99999999999999999999"}, r"'99999999999999999999' is outside the int64 range"),
    ("an empty key", {"pay_id": ""}, r"empty; every record needs a value"),
    ("a bad date", {"date": "2026-02-30"}, r"'2026-02-30' is not a date \(YYYY-MM-DD\)"),
    ("a date in another form", {"date": "02/03/2026"}, r"'02/03/2026' is not a date"),
]


@pytest.mark.parametrize(("what", "change", "message"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_a_bad_value_in_a_file_is_named(tmp_path: Path, what: str, change: dict, message: str) -> None:
    row = dict(zip(COLUMNS, BANK[1], strict=True))
    rows = [BANK[0], tuple({**row, **change}.values()), *BANK[2:]]
    a, b = write_csv(tmp_path / "treasury.csv", TREASURY), write_csv(tmp_path / "bank.csv", rows)
    column = next(iter(change))
    with pytest.raises(FileFormatError, match=rf"bank.csv: row 2: column '{column}': {message}"):
        run_files(a, b, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_bad_files_and_arguments_are_refused(tmp_path: Path) -> None:
    a, b = write_csv(tmp_path / "a.csv", TREASURY), write_csv(tmp_path / "b.csv", BANK)
    out = tmp_path / "out"
    with pytest.raises(FileFormatError, match=r"b.csv: column 'project': missing \(the file's columns are"):
        run_files(a, write_csv(tmp_path / "b.csv", BANK, ["pay_id", "group", "econ", "amount", "date"]), out)
    (tmp_path / "b.txt").write_text("x")
    with pytest.raises(InvalidInput, match=r"b.txt: unknown file type '.txt'; expected .csv, .parquet, .pq"):
        run_files(a, tmp_path / "b.txt", out)
    with pytest.raises(FileFormatError, match=r"c.csv: empty file: no header"):
        (tmp_path / "c.csv").write_text("")
        run_files(a, tmp_path / "c.csv", out)
    floats = {"pay_id": ["P1"], "project": ["X"], "econ": [1], "amount": [1.5], "date": ["2026-01-01"]}
    pq.write_table(pa.table(floats), tmp_path / "f.parquet")
    with pytest.raises(FileFormatError, match=r"column 'amount': type double: floats are not money"):
        run_files(a, tmp_path / "f.parquet", out)
    b = write_csv(tmp_path / "b.csv", BANK)
    with pytest.raises(InvalidInput, match=r"window: -1 days"):
        run_files(a, b, out, window=-1)
    with pytest.raises(InvalidInput, match=r"scale: 10; decimal places must be in 0\.\.9"):
        run_files(a, b, out, scale=10)
    assert not out.exists()


def test_the_benchmark_runs_at_a_tiny_size() -> None:
    """`python -m benchmarks.match` end to end (the figures are not checked)."""
    command = [sys.executable, "-m", "benchmarks.match", "--records", "2000", "--repeat", "1", "--no-check"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all findings, counts and group totals identical" in done.stdout
