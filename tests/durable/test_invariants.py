"""The invariants of DOMAIN §9 on a small generated province, on every store: an untouched
province holds every one; each one broken on purpose behind the domain's back (an entry
posted with `book.post`, a row appended to one of the domain's tables) is found by its own
check, exactly as often as it was broken, and by no other; what the core refuses to post
(an unbalanced entry, an indicator overdrawn) is refused; after the year end the closing
invariants are checked too."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pyarrow as pa
import pytest
from sqlalchemy import Table, text

import ledger
from ledger.codes import Code
from ledger.fiscal import Fiscal, Indicator, synth
from ledger.fiscal import tables as ft
from ledger.fiscal.domain import TREASURY_EXPENDITURE
from ledger.fiscal.invariants import INVARIANTS, SCHEMA, check, failures
from ledger.periods import days
from ledger.schemas import Account, Entry, EntryFlag, Line

YEAR = 2026
SPAN = (dt.date(2026, 3, 2), dt.date(2026, 3, 6))
DAY = SPAN[1]
AFTER_CLOSING = ("INV-U2", "INV-U3", "INV-U4")  # nothing to check before a year end
_keys = itertools.count(9_000_000_001)


@pytest.fixture(autouse=True)
def tiny_chunks() -> None:
    """Reads in the store's own chunks here (conftest's five-row chunks are what
    test_chunked_reads exercises; on a province's 9,000 accounts they would make every check
    thousands of queries)."""


def province(book: ledger.Ledger) -> Fiscal:
    fiscal = Fiscal(book)
    synth.synthesize(fiscal, scale=0.002, seed=5, start=SPAN[0], end=SPAN[1])
    return fiscal


def found(fiscal: Fiscal) -> dict[str, int]:
    """The failures of each invariant that does not hold, checked by a fresh Fiscal (nothing
    it read before is kept)."""
    table = check(Fiscal(fiscal.book), YEAR)
    return {row["invariant"]: row["failures"] for row in table.to_pylist() if row["failures"]}


# --- what breaking an invariant takes ---------------------------------------------------------


@dataclass(frozen=True)
class Funded:
    """An indicator with money left, with the keys of its books and accounts."""

    idx: int
    bgt_id: str
    region: int
    region_code: str
    unit_type: str
    project: str
    basic: bool
    unit_book: str
    fund_type: int

    @property
    def ind(self) -> str:
        return f"IND:{self.region_code}"

    @property
    def tr(self) -> str:
        return f"TR:{self.region_code}"

    @property
    def spending(self) -> tuple[str, str]:
        """Its unit's budget-basis expenditure and appropriation revenue accounts."""
        head = "7101" if self.unit_type == "ADMIN" else "7201"
        if self.basic:
            return f"{self.unit_book}|{head}01", f"{self.unit_book}|600101"
        return f"{self.unit_book}|{head}02|{self.project}", f"{self.unit_book}|600102|{self.project}"


def funded(fiscal: Fiscal, *, admin: bool | None = None, basic: bool | None = None) -> Funded:
    """The first indicator with at least ¥100 left (of an ADMIN unit or not, of basic
    expenditure or not, when asked)."""
    ind = fiscal.table(ft.indicators).to_pylist()
    regions = fiscal.table(ft.regions).column("code").to_pylist()
    units = fiscal.table(ft.units).to_pylist()
    projects = fiscal.table(ft.projects).to_pylist()
    for row in ind:
        unit, project = units[row["unit"]], projects[row["project"]]
        is_basic = project["kind"] in ("1", "21")
        if admin is not None and (unit["unit_type"] == "ADMIN") != admin:
            continue
        if (basic is not None and is_basic != basic) or fiscal.available(row["bgt_id"]) < 100_00:
            continue
        region = regions[row["region"]]
        book = f"U:{region}:{unit['code']}" + (":J" if project["book"] == "J" else "")
        return Funded(
            row["idx"],
            row["bgt_id"],
            row["region"],
            region,
            unit["unit_type"],
            project["code"],
            is_basic,
            book,
            row["fund_type"],
        )
    raise AssertionError("no such indicator in the province")


def post(fiscal: Fiscal, book: str, *lines: tuple[str, int], pending: bool = False) -> Code:
    """One entry behind the domain's back: (account, fen) lines, debit > 0."""
    entry = Entry(
        key=next(_keys),
        book=book,
        date=DAY,
        flags=frozenset({EntryFlag.pending} if pending else ()),
        lines=tuple(
            Line(account=account, **{"debit" if fen > 0 else "credit": Decimal(abs(fen)).scaleb(-2)})
            for account, fen in lines
        ),
    )
    return fiscal.book.post([entry])[0].code


def append(fiscal: Fiscal, table: Table, **values: object) -> int:
    """Append one row to a domain table behind the domain's back (the next idx); its idx."""
    idx = fiscal.book.count_rows(table)
    schema = pa.schema(
        [(c.name, pa.int64() if c.type.python_type is int else pa.string()) for c in table.columns]
    )
    fiscal.book.insert_rows(table, pa.Table.from_pylist([{"idx": idx, **values}], schema=schema))
    return idx


def payment(fiscal: Fiscal, *, indicator: int, region: int, pay_cert_no: str, failed: bool) -> None:
    """A payment application recorded without its freeze; with `failed`, the bank's FAIL too
    (so nothing is in flight for it)."""
    at = append(
        fiscal,
        ft.payments,
        key=next(_keys) * 4,
        pay_cert_no=pay_cert_no,
        region=region,
        year=YEAR,
        indicator=indicator,
        amount=100_00,
        eco_code=30201,
        date=days(DAY),
    )
    if failed:
        append(fiscal, ft.settlements, payment=at, status="FAIL", date=days(DAY))


# --- one way to break each invariant ----------------------------------------------------------


def l3_a_financial_code_in_the_budget_basis(fiscal: Fiscal) -> None:
    f = funded(fiscal)
    rogue = f"{f.unit_book}|1002|ROGUE"
    fiscal.book.create_accounts([Account(key=rogue, book=f.unit_book, group="CNY-BA", code="1002")])
    assert post(fiscal, f.unit_book, (rogue, 100), (f"{f.unit_book}|8201", -100)) == Code.ok


def l5_a_payment_recorded_twice(fiscal: Fiscal) -> None:
    first = fiscal.table(ft.payments).slice(0, 1).to_pylist()[0]
    payment(
        fiscal,
        indicator=first["indicator"],
        region=first["region"],
        pay_cert_no=first["pay_cert_no"],
        failed=True,
    )


def i1_a_freeze_without_an_application(fiscal: Fiscal) -> None:
    f = funded(fiscal)
    freeze = ((f"{f.ind}|IU230|{f.bgt_id}", 100), (f"{f.ind}|IU210|{f.bgt_id}", -100))
    assert post(fiscal, f.ind, *freeze, pending=True) == Code.ok


def i2_a_payment_of_another_regions_indicator(fiscal: Fiscal) -> None:
    f = funded(fiscal)
    another = (f.region + 1) % fiscal.table(ft.regions).num_rows
    payment(fiscal, indicator=f.idx, region=another, pay_cert_no="X-REGION", failed=True)


def i3_a_root_without_a_source(fiscal: Fiscal) -> None:
    f = funded(fiscal)
    row = fiscal.table(ft.indicators).slice(f.idx, 1).to_pylist()[0]
    del row["idx"]
    for code in ("IU210", "IU230"):
        key = f"{f.ind}|{code}|ROGUE"
        fiscal.book.create_accounts(
            [Account(key=key, book=f.ind, group="CNY-IND", code=code, subledger="ROGUE")]
        )
    append(fiscal, ft.indicators, **{**row, "bgt_id": "ROGUE", "source": "ALLOCATED", "parent": None})


def i4_an_indicator_credited_from_the_budget_without_a_document(fiscal: Fiscal) -> None:
    f = funded(fiscal)
    assert post(fiscal, f.ind, (f"{f.ind}|IU210|{f.bgt_id}", 100), (f"{f.ind}|IS100", -100)) == Code.ok


def i5_a_refund_recorded_but_never_posted(fiscal: Fiscal) -> None:
    executed = fiscal.payments.settled() == 1
    executed[fiscal.table(ft.refunds).column("payment").to_numpy()] = False
    append(fiscal, ft.refunds, payment=int(executed.argmax()), amount=1_00, date=days(DAY))


def unit_spending(fiscal: Fiscal, f: Funded) -> None:
    """The unit's voucher of a fiscal payment (both bases), alone."""
    expenditure, appropriation = f.spending
    assert (
        post(
            fiscal,
            f.unit_book,
            (f"{f.unit_book}|500102", 100),
            (f"{f.unit_book}|4001", -100),
            (expenditure, 100),
            (appropriation, -100),
        )
        == Code.ok
    )


def x1_a_unit_spending_fiscal_money_the_treasury_never_paid(fiscal: Fiscal) -> None:
    unit_spending(fiscal, funded(fiscal, basic=False))


def x2_a_payment_without_its_indicator(fiscal: Fiscal) -> None:
    f = funded(fiscal, basic=False)
    expenditure = TREASURY_EXPENDITURE.get(f.fund_type, "5001")
    paid = ((f"{f.tr}|{expenditure}|{f.project}", 100), (f"{f.tr}|1001", -100))
    assert post(fiscal, f.tr, *paid) == Code.ok
    unit_spending(fiscal, f)


def u1_a_fund_balance_without_its_cash(fiscal: Fiscal) -> None:
    book = funded(fiscal).unit_book
    assert post(fiscal, book, (f"{book}|800102", 100), (f"{book}|8201", -100)) == Code.ok


def u6_an_expense_without_its_budget_leg(fiscal: Fiscal) -> None:
    book = funded(fiscal).unit_book
    assert post(fiscal, book, (f"{book}|500102", 100), (f"{book}|3001", -100)) == Code.ok


def u7_a_public_institutions_expenditure_in_an_admin_unit(fiscal: Fiscal) -> None:
    book = funded(fiscal, admin=True).unit_book.removesuffix(":J")
    lines = (
        (f"{book}|500102", 100),
        (f"{book}|1002", -100),
        (f"{book}|720101", 100),
        (f"{book}|800102", -100),
    )
    assert post(fiscal, book, *lines) == Code.ok


def t1_a_payment_of_the_year_from_last_years_indicator(fiscal: Fiscal) -> None:
    f = funded(fiscal)
    row = fiscal.table(ft.indicators).slice(f.idx, 1).to_pylist()[0]
    unit = fiscal.table(ft.units).column("code")[row["unit"]].as_py()
    last_year = Indicator(
        bgt_id="2025-LAST",
        region=f.region_code,
        year=YEAR - 1,
        unit=unit,
        project=f.project,
        fund_type=row["fund_type"],
        func_code=row["func_code"],
        amount=1_000_00,
        source="ANNUAL",
        doc_no="渝财预〔2025〕1号",
        date=dt.date(YEAR - 1, 3, 2),
    )
    assert fiscal.create_indicators([last_year])[0].code == "ok"
    idx = fiscal.table(ft.indicators).num_rows - 1
    payment(fiscal, indicator=idx, region=f.region, pay_cert_no="X-LAST-YEAR", failed=True)


BREAKAGES: list[tuple[Callable[[Fiscal], None], str]] = [
    (l3_a_financial_code_in_the_budget_basis, "INV-L3"),
    (l5_a_payment_recorded_twice, "INV-L5"),
    (i1_a_freeze_without_an_application, "INV-I1"),
    (i2_a_payment_of_another_regions_indicator, "INV-I2"),
    (i3_a_root_without_a_source, "INV-I3"),
    (i4_an_indicator_credited_from_the_budget_without_a_document, "INV-I4"),
    (i5_a_refund_recorded_but_never_posted, "INV-I5"),
    (x1_a_unit_spending_fiscal_money_the_treasury_never_paid, "INV-X1"),
    (x2_a_payment_without_its_indicator, "INV-X2"),
    (u1_a_fund_balance_without_its_cash, "INV-U1"),
    (u6_an_expense_without_its_budget_leg, "INV-U6"),
    (u7_a_public_institutions_expenditure_in_an_admin_unit, "INV-U7"),
    (t1_a_payment_of_the_year_from_last_years_indicator, "INV-T1"),
]


# --- tests --------------------------------------------------------------------------------------


def test_an_untouched_province_holds_every_invariant(any_store: str | None) -> None:
    with ledger.open(any_store) as book:
        table = check(province(book), YEAR)
    assert table.schema == SCHEMA
    assert tuple(table.column("invariant").to_pylist()) == INVARIANTS
    assert failures(table) == []
    checked = dict(zip(INVARIANTS, table.column("checked").to_pylist(), strict=True))
    assert [name for name, count in checked.items() if not count] == list(AFTER_CLOSING)


@pytest.mark.parametrize(("breakage", "invariant"), BREAKAGES, ids=[b.__name__ for b, _ in BREAKAGES])
def test_each_broken_invariant_is_found_by_its_own_check(
    any_store: str | None, breakage: Callable[[Fiscal], None], invariant: str
) -> None:
    with ledger.open(any_store) as book:
        fiscal = province(book)
        assert found(fiscal) == {}
        breakage(fiscal)
        assert found(fiscal) == {invariant: 1}


def test_what_the_core_refuses_never_breaks_an_invariant(any_store: str | None) -> None:
    """INV-L1 (an entry that does not balance per group) and INV-I1 (an indicator spent or
    restored beyond what it has) cannot be broken by a posting: the core refuses it."""
    with ledger.open(any_store) as book:
        fiscal = province(book)
        f = funded(fiscal)
        left = fiscal.available(f.bgt_id)
        available, executed = f"{f.ind}|IU210|{f.bgt_id}", f"{f.ind}|IU230|{f.bgt_id}"
        assert post(fiscal, f.ind, (available, 100), (f"{f.ind}|IS100", -99)) == Code.unbalanced
        fa_against_ba = ((f"{f.unit_book}|500102", 100), (f"{f.unit_book}|600101", -100))
        assert post(fiscal, f.unit_book, *fa_against_ba) == Code.unbalanced
        assert post(fiscal, f.ind, (executed, left + 1), (available, -left - 1)) == Code.exceeds_debits
        restored = fiscal.executed(f.bgt_id) + 1
        assert post(fiscal, f.ind, (available, restored), (executed, -restored)) == Code.exceeds_debits
        assert found(fiscal) == {}


def test_an_edit_behind_the_ledgers_back_breaks_inv_l1(durable) -> None:
    """verify()'s finding is one of INV-L1's failures."""
    with ledger.open(durable.url) as book:
        province(book)
        with durable.engine().begin() as conn:
            conn.execute(text("UPDATE books SET name = 'forged' WHERE idx = 0"))
        table = check(Fiscal(book), YEAR)
    assert table.column("failures").to_pylist() == [1] + [0] * (len(INVARIANTS) - 1)
    assert table.column("example")[0].as_py().startswith("verify: books idx 0")


def a_unit_book(fiscal: Fiscal) -> str:
    unit = fiscal.table(ft.units).slice(0, 1).to_pylist()[0]
    return f"U:{fiscal.table(ft.regions).column('code')[unit['region']].as_py()}:{unit['code']}"


def closed_province(book: ledger.Ledger) -> Fiscal:
    """A province whose year is closed in every region."""
    fiscal = province(book)
    for region in fiscal.table(ft.regions).column("code").to_pylist():
        fiscal.year_end(region, YEAR)
    return fiscal


def test_after_the_year_end_the_closing_invariants_are_checked(any_store: str | None) -> None:
    with ledger.open(any_store) as book:
        fiscal = closed_province(book)
        table = check(Fiscal(book), YEAR)
        unit = a_unit_book(fiscal)  # nothing can be posted into the closed year (INV-L6)
        assert post(fiscal, unit, (f"{unit}|500102", 100), (f"{unit}|3001", -100)) == Code.period_closed
    rows = {row["invariant"]: row for row in table.to_pylist()}
    # every check ran, but those of a year still open (the cross-ledger and basis pairs)
    assert sorted(name for name, row in rows.items() if not row["checked"]) == ["INV-U6", "INV-X1"]
    assert [name for name, row in rows.items() if row["failures"]] == []


def test_a_zero_carryover_year_end_leaves_no_fiscal_balance() -> None:
    with ledger.open() as book:
        table = check(closed_province(book), YEAR)
    assert failures(table) == []
