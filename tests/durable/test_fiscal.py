"""The public-finance domain on every store: the worked example of DOMAIN §10, the refusals
(each with its reason and nothing posted), idempotent payments, and the invariants that must
hold after a day of payments (INV-I1, INV-I2, INV-I5, INV-X1, INV-L1)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import ledger
from ledger.fiscal import Department, Fiscal, Indicator, Movement, Project, Region, Unit, chart

REGION = "500103000"
D = dt.date(2026, 3, 2)


def world(book: ledger.Ledger) -> Fiscal:
    """A district with a public school (project kind 3) and an administrative bureau (kind 21)."""
    f = Fiscal(book)
    assert all(
        o.ok
        for o in f.create_regions(
            [
                Region(code="500000000", level="PROVINCE_CITY_LEVEL", name="重庆市"),
                Region(code=REGION, parent="500000000", name="渝中区"),
            ]
        )
    )
    assert all(o.ok for o in f.create_departments([Department(region=REGION, code="101", name="教委")]))
    assert all(
        o.ok
        for o in f.create_units(
            [
                Unit(
                    region=REGION, code="101001", department="101", unit_type="PUBLIC_INST_FULL", name="初中"
                ),
                Unit(region=REGION, code="101002", department="101", unit_type="ADMIN", name="教委机关"),
            ]
        )
    )
    assert all(
        o.ok
        for o in f.create_projects(
            [
                Project(region=REGION, code="P", unit="101001", kind="3", name="校舍维修"),
                Project(region=REGION, code="Q", unit="101002", kind="21", name="公用经费"),
            ]
        )
    )
    return f


def indicator(bgt_id: str, amount: int, **fields: Any) -> Indicator:
    base = dict(
        region=REGION,
        year=2026,
        unit="101001",
        project="P",
        fund_type=11,
        func_code=2050203,
        eco_code=30213,
        doc_no="渝中财预〔2026〕1号",
        date=D,
    )
    if "parent" not in fields:
        base["source"] = "ANNUAL"
    return Indicator(bgt_id=bgt_id, amount=amount, **{**base, **fields})


def payments(rows: list[tuple[str, str, int, int]], **fields: Any) -> pa.Table:
    """(pay_cert_no, bgt_id, eco_code, amount) rows with the school's keys."""
    n = len(rows)
    columns = {
        "pay_cert_no": [r[0] for r in rows],
        "region": [REGION] * n,
        "year": [2026] * n,
        "bgt_id": [r[1] for r in rows],
        "unit": ["101001"] * n,
        "project": ["P"] * n,
        "fund_type": [11] * n,
        "func_code": [2050203] * n,
        "eco_code": [r[2] for r in rows],
        "amount": [r[3] for r in rows],
        "date": pa.array([D] * n, pa.date32()),
    }
    columns.update(fields)
    return pa.table(columns)


def results(rows: list[tuple[str, str]], table: str = "status") -> pa.Table:
    n = len(rows)
    return pa.table(
        {
            "pay_cert_no": [r[0] for r in rows],
            "region": [REGION] * n,
            "year": [2026] * n,
            table: [r[1] for r in rows],
            "date": pa.array([D] * n, pa.date32()),
        }
    )


def post_pair(
    book: ledger.Ledger, key: int, book_key: str, debit: str, credit: str, amount: str, date: dt.date = D
) -> list[ledger.Result]:
    """Post one two-line entry (a financial-basis voucher a unit keeps itself)."""
    lines = [ledger.Line(account=debit, debit=amount), ledger.Line(account=credit, credit=amount)]
    return book.post([ledger.Entry(key=key, book=book_key, date=date, lines=lines)])


def codes(table: pa.Table) -> list[str]:
    return table.column("code").to_pylist()


def fen(balance: ledger.Balance, side: str = "net") -> int:
    value = balance.debits_posted - balance.credits_posted if side == "net" else getattr(balance, side)
    return int(Decimal(value) * 100)


def test_charts_are_data_with_their_bases() -> None:
    unit = chart("GOV-UNIT-2019")
    assert len([c for c in unit.codes("FA") if len(c) == 4]) == 77
    assert len([c for c in unit.codes("BA") if len(c) == 4]) == 26
    assert all(c[0] in "12345" for c in unit.codes("FA")) and all(c[0] in "678" for c in unit.codes("BA"))
    assert unit.row("6001")["side"] == "credit" and unit.row("8001")["side"] == "debit"
    assert set(chart("INDICATOR-P1").codes()) >= {"IS100", "IU210", "IU230", "IU240"}
    assert chart("TREASURY-2016").row("5001")["name"] == "一般公共预算本级支出"
    with pytest.raises(ledger.InvalidInput):
        chart("NOPE")


def test_worked_example_of_domain_section_10(any_store: str | None) -> None:
    with ledger.open(any_store) as book:
        f = world(book)
        # a project indicator without an economic class: repairs (302) and equipment (310) both
        assert [o.code for o in f.create_indicators([indicator("BGT-1", 1_000_000_00, eco_code=None)])] == [
            "ok"
        ]
        applied = f.payments.apply(
            payments([("C-1", "BGT-1", 30213, 300_000_00), ("C-2", "BGT-1", 31002, 200_000_00)])
        )
        assert codes(applied) == ["ok", "ok"]
        assert f.available("BGT-1") == 500_000_00  # frozen is not available
        assert codes(f.payments.settle(results([("C-1", "OK"), ("C-2", "OK")]))) == ["ok", "ok"]
        # 5. depreciation, FA only: the core takes it as it is
        school = f"U:{REGION}:101001"
        dep = post_pair(book, 9, school, f"{school}|500104", f"{school}|1602", "9999.00", D)
        assert dep[0].ok
        # 6. year end, zero carry-over: the unspent 500,000 recovered, the books closed
        treasury = fen(book.balance(f"TR:{REGION}|5001|P"))
        revenue = -fen(book.balance(f"{school}|600102|P"))
        executed = f.executed("BGT-1")
        assert treasury == revenue == executed == 500_000_00  # INV-X1, INV-X2
        assert fen(book.balance(f"{school}|500102")) == 300_000_00
        assert fen(book.balance(f"{school}|1601")) == 200_000_00
        assert fen(book.balance(f"{school}|720102|P")) == 500_000_00
        budget = -fen(book.balance(f"{school}|600102|P")) - fen(book.balance(f"{school}|720102|P"))
        surplus = -fen(book.balance(f"{school}|4001")) - 300_000_00 - 9_999_00
        assert budget == 0 and surplus == 190_001_00
        assert (
            budget + 200_000_00 - 9_999_00 == surplus
        )  # capex not expensed, depreciation not budget spending
        before = f.basis_reconciliation(REGION, 2026)
        done = f.year_end(REGION, 2026)
        assert (done.indicators_left, done.zero_carryover) == (500_000_00, True)
        assert done.reconciliation.equals(before)
        row = {
            k: v for k, v in zip(before.column_names, before.slice(0, 1).to_pylist()[0].values(), strict=True)
        }
        assert row["book"] == school and row["closes"]  # INV-U6
        assert (row["budget_difference"], row["budget_expenditure_not_expensed"]) == (0, 200_000_00)
        assert (row["expenses_not_budget_expenditure"], row["surplus"], row["unexplained"]) == (
            -9_999_00,
            190_001_00,
            0,
        )
        assert f.available("BGT-1") == 0 and f.executed("BGT-1") == 500_000_00  # INV-U4
        table = book.accounts_table()
        for key in table.column("key").to_pylist():
            if (key.startswith(school + "|") and key.split("|")[1][0] in "4567") or key == f"{school}|3301":
                assert fen(book.balance(key)) == 0, key  # INV-U2
        assert fen(book.balance(f"{school}|8101")) == 0  # INV-U4: nothing of the fiscal money carried
        assert -fen(book.balance(f"{school}|3001")) == surplus  # the year's surplus, accumulated
        late = post_pair(
            book, 10, school, f"{school}|500104", f"{school}|1602", "1.00", dt.date(2026, 12, 30)
        )
        assert late[0].code == ledger.Code.period_closed  # a closed year refuses postings
        assert codes(f.payments.apply(payments([("C-3", "BGT-1", 30213, 1_00)]))) == ["period_closed"]
        assert book.trial_balances(period="2026").balanced  # INV-L1 in every book
        assert book.verify() is None


def test_indicators_and_movements_refused_with_their_reason(any_store: str | None) -> None:
    with ledger.open(any_store) as book:
        f = world(book)
        made = f.create_indicators(
            [
                indicator("A", 100_00),
                indicator("B", 50_00, unit="101002", project="Q", eco_code=30201),
                indicator("A1", 30_00, parent="A"),
                indicator("A2", 80_00, parent="A"),
                indicator("X1", 1, source=None),
                indicator("X2", 1, parent="nope"),
                indicator("X3", 1, project="Q"),
                indicator("X4", 1, unit="nope"),
                indicator("A", 100_00),
            ]
        )
        assert [o.code for o in made] == [
            "ok",
            "ok",
            "ok",
            "exceeds_available",
            "source_missing",
            "parent_not_found",
            "project_of_another_unit",
            "unit_not_found",
            "repeated",
        ]
        assert (f.available("A"), f.available("A1")) == (70_00, 30_00)
        before = book.balances()
        moves = f.move(
            [
                Movement(key=1, kind="TOPUP", bgt_id="A", amount=5_00, date=D),
                Movement(
                    key=2, kind="TOPUP", bgt_id="A", amount=5_00, date=D, authority="FILING", doc_no="d"
                ),
                Movement(key=3, kind="TOPUP", bgt_id="A", amount=5_00, date=D, authority="FINANCE_APPROVAL"),
                Movement(
                    key=4,
                    kind="ADJUST",
                    bgt_id="A",
                    amount=5_00,
                    date=D,
                    authority="FINANCE_APPROVAL",
                    doc_no="d",
                ),
                Movement(
                    key=5,
                    kind="REALLOC",
                    bgt_id="A",
                    to="B",
                    amount=5_00,
                    date=D,
                    authority="FILING",
                    doc_no="d",
                ),
                Movement(
                    key=6,
                    kind="REALLOC",
                    bgt_id="A",
                    to="nope",
                    amount=5_00,
                    date=D,
                    authority="FILING",
                    doc_no="d",
                ),
                Movement(
                    key=7,
                    kind="REALLOC",
                    bgt_id="A",
                    to="A1",
                    amount=71_00,
                    date=D,
                    authority="FILING",
                    doc_no="d",
                ),
                Movement(
                    key=8,
                    kind="CUT",
                    bgt_id="nope",
                    amount=5_00,
                    date=D,
                    authority="FINANCE_APPROVAL",
                    doc_no="d",
                ),
                Movement(key=9, kind="FREEZE", bgt_id="A1", amount=31_00, date=D),
                Movement(key=10, kind="UNFREEZE", bgt_id="A1", amount=1, date=D),
                Movement(key=11, kind="RECOVER", bgt_id="A1", amount=-1, date=D),
            ]
        )
        assert [o.code for o in moves] == [
            "authority_missing",
            "authority_not_allowed",
            "document_missing",
            "authority_not_allowed",
            "filing_across_units",
            "receiver_not_found",
            "exceeds_available",
            "indicator_not_found",
            "exceeds_available",
            "freeze_missing",
            "negative_amount",
        ]
        after = book.balances()
        assert all(np.array_equal(before[k], after[k]) for k in before)  # nothing of them was posted
        ok = f.move(
            [
                Movement(
                    key=20,
                    kind="REALLOC",
                    bgt_id="A",
                    to="B",
                    amount=10_00,
                    date=D,
                    authority="FINANCE_APPROVAL",
                    doc_no="d",
                ),
                Movement(
                    key=21,
                    kind="ADJUST",
                    bgt_id="A",
                    amount=-20_00,
                    date=D,
                    authority="PC_APPROVAL",
                    doc_no="人大",
                ),
                Movement(key=22, kind="FREEZE", bgt_id="A1", amount=30_00, date=D),
                Movement(key=23, kind="UNFREEZE", bgt_id="A1", amount=30_00, freeze=22, date=D),
                Movement(
                    key=20,
                    kind="REALLOC",
                    bgt_id="A",
                    to="B",
                    amount=10_00,
                    date=D,
                    authority="FINANCE_APPROVAL",
                    doc_no="d",
                ),
            ]
        )
        assert [o.code for o in ok] == ["ok", "ok", "ok", "ok", "exists"]
        assert (f.available("A"), f.available("B"), f.available("A1")) == (40_00, 60_00, 30_00)
        with pytest.raises(ledger.InvalidInput, match=r"movements\[0\]"):
            f.move([{"key": 1, "kind": "TOPUP", "bgt_id": "A", "amount": 0, "date": D}])


def test_payments_refused_idempotent_and_all_or_nothing(any_store: str | None) -> None:
    with ledger.open(any_store) as book:
        f = world(book)
        assert all(o.ok for o in f.create_indicators([indicator("A", 1000_00)]))
        applied = f.payments.apply(
            payments(
                [
                    ("1", "A", 30213, 100_00),
                    ("2", "A", 30299, 200_00),
                    ("3", "A", 30101, 1_00),
                    ("4", "nope", 30213, 1_00),
                    ("5", "A", 30213, 800_00),
                    ("6", "A", 30213, 0),
                ]
            )
        )
        assert codes(applied) == [
            "ok",
            "ok",
            "keys_mismatch:eco_code",
            "indicator_not_found",
            "exceeds_available",
            "amount_invalid",
        ]
        for field, value in (
            ("unit", "101002"),
            ("project", "Q"),
            ("fund_type", 12),
            ("func_code", 2050201),
            ("year", 2025),
            ("region", "500000000"),
        ):
            table = payments([("9", "A", 30213, 1_00)])
            table = table.set_column(table.schema.get_field_index(field), field, pa.array([value]))
            assert codes(f.payments.apply(table)) == [f"keys_mismatch:{field}"]
        assert codes(f.payments.apply(payments([("1", "A", 30213, 100_00)]))) == ["exists"]
        assert f.available("A") == 700_00
        settled = f.payments.settle(results([("1", "OK"), ("2", "FAIL"), ("7", "OK"), ("1", "MAYBE")]))
        assert codes(settled) == ["ok", "ok", "payment_not_found", "status_invalid"]
        assert codes(f.payments.settle(results([("1", "OK"), ("2", "FAIL")]))) == ["exists", "exists"]
        assert (f.available("A"), f.executed("A")) == (900_00, 100_00)
        refunded = f.payments.refund(results([("1", 40_00), ("1x", 1), ("2", 1), ("1", 101_00)], "amount"))
        assert codes(refunded) == ["ok", "payment_not_found", "not_executed", "exceeds_payment"]
        assert codes(f.payments.refund(results([("1", 40_00)], "amount"))) == ["exists"]
        # one refund per payment (its keys): another amount for the same payment is refused
        assert codes(f.payments.refund(results([("1", 70_00)], "amount"))) == ["key_reused"]
        assert (f.available("A"), f.executed("A")) == (940_00, 60_00)
        with pytest.raises(ledger.InvalidInput, match="missing columns"):
            f.payments.apply(pa.table({"pay_cert_no": ["1"]}))
        assert book.trial_balances(period="2026-03").balanced
        assert book.verify() is None


def test_invariants_after_a_day_of_payments(any_store: str | None) -> None:
    """INV-I1 (issued + moved = available + frozen + executed), INV-I5 (executed = paid −
    refunded), INV-X1 (treasury expenditure per project = the unit's appropriation revenue),
    INV-L1 (every book balances per basis)."""
    rng = np.random.default_rng(5)
    with ledger.open(any_store) as book:
        f = world(book)
        ids = [f"I{i}" for i in range(6)]
        assert all(o.ok for o in f.create_indicators([indicator(i, 10_000_00) for i in ids]))
        n = 120
        rows = [(f"C{k}", ids[int(rng.integers(6))], 30213, int(rng.integers(1, 400_00))) for k in range(n)]
        applied = codes(f.payments.apply(payments(rows)))
        status = ["OK" if rng.random() < 0.9 else "FAIL" for _ in range(n)]
        settled = codes(f.payments.settle(results([(r[0], s) for r, s in zip(rows, status, strict=True)])))
        paid = {i: 0 for i in ids}
        for r, a, s, c in zip(rows, applied, status, settled, strict=True):
            if a == "ok":
                assert c == "ok"
                if s == "OK":
                    paid[r[1]] += r[3]
            else:
                assert a == "exceeds_available" and c == "payment_not_found"
        refunds = [
            (r[0], r[3] // 2)
            for r, a, s in zip(rows, applied, status, strict=True)
            if a == "ok" and s == "OK"
        ][:10]
        assert set(codes(f.payments.refund(results(refunds, "amount")))) == {"ok"}
        by_cert = {r[0]: r[1] for r in rows}
        for cert, amount in refunds:
            paid[by_cert[cert]] -= amount
        for i in ids:
            assert f.executed(i) == paid[i]  # INV-I5
            assert f.available(i) + f.executed(i) == 10_000_00  # INV-I1 (nothing frozen is left)
            assert book.balance(f"IND:{REGION}|IU210|{i}").credits_pending == 0
        school = f"U:{REGION}:101001"
        assert (
            fen(book.balance(f"TR:{REGION}|5001|P"))
            == -fen(book.balance(f"{school}|600102|P"))
            == sum(paid.values())
        )
        assert book.trial_balances(period="2026").balanced  # INV-L1
        assert book.verify() is None


def test_year_end_refuses_what_is_in_flight_and_carries_where_allowed(any_store: str | None) -> None:
    with ledger.open(any_store) as book:
        f = world(book)
        assert all(o.ok for o in f.create_indicators([indicator("A", 100_00), indicator("B", 50_00)]))
        assert codes(f.payments.apply(payments([("1", "A", 30213, 10_00)]))) == ["ok"]
        with pytest.raises(ledger.InvalidInput, match="frozen without a bank result"):
            f.year_end(REGION, 2026)
        assert codes(f.payments.settle(results([("1", "OK")]))) == ["ok"]
        assert f.move([Movement(key=1, kind="FREEZE", bgt_id="B", amount=5_00, date=D)])[0].code == "ok"
        with pytest.raises(ledger.InvalidInput, match="freeze not released"):
            f.year_end(REGION, 2026)
        assert (
            f.move([Movement(key=2, kind="UNFREEZE", bgt_id="B", amount=5_00, freeze=1, date=D)])[0].code
            == "ok"
        )
        with pytest.raises(ledger.InvalidInput, match="does not exist"):
            f.year_end("599999000", 2026)
        done = f.year_end(REGION, 2026)
        assert done.indicators_left == 90_00 + 50_00 and done.books_closed == 4
        assert (f.available("A"), f.available("B")) == (0, 0)
        again = f.year_end(REGION, 2026)  # idempotent: nothing left to move or close
        assert again.indicators_left == 0 and again.closing_entries == 0
        assert book.trial_balances(period="2026").balanced
        assert book.verify() is None
    with ledger.open() as book:  # a region that carries unspent indicators over
        f = Fiscal(book)
        f.create_regions([Region(code="500200000", zero_carryover=False)])
        f.create_units([Unit(region="500200000", code="U1")])
        f.create_projects([Project(region="500200000", code="P", unit="U1", kind="3")])
        made = f.create_indicators([indicator("C", 70_00, region="500200000", unit="U1", project="P")])
        assert made[0].code == "ok"
        done = f.year_end("500200000", 2026)
        assert not done.zero_carryover and done.indicators_left == 70_00
        assert fen(book.balance("IND:500200000|IU250")) == 70_00  # carried to next year


def test_basis_reconciliation_names_what_no_category_explains(any_store: str | None) -> None:
    """INV-U6 is a check, not a tautology: a one-sided line of no category (an expense booked
    against the accumulated surplus) leaves an unexplained difference."""
    with ledger.open(any_store) as book:
        f = world(book)
        assert all(o.ok for o in f.create_indicators([indicator("A", 1000_00, eco_code=None)]))
        assert codes(f.payments.apply(payments([("1", "A", 31002, 300_00), ("2", "A", 30213, 100_00)]))) == [
            "ok",
            "ok",
        ]
        assert codes(f.payments.settle(results([("1", "OK"), ("2", "OK")]))) == ["ok", "ok"]
        school = f"U:{REGION}:101001"
        accrued = book.post(
            [
                ledger.Entry(
                    key=7,
                    book=school,
                    date=D,
                    lines=[  # a receivable accrued: categorised
                        ledger.Line(account=f"{school}|1218", debit="5.00"),
                        ledger.Line(account=f"{school}|4609", credit="5.00"),
                    ],
                )
            ]
        )
        assert accrued[0].ok
        report = {r["book"]: r for r in f.basis_reconciliation(REGION, 2026).to_pylist()}
        assert report[school]["closes"] and report[school]["revenue_not_budget_revenue"] == 5_00
        assert report[school]["budget_expenditure_not_expensed"] == 300_00
        odd = post_pair(book, 8, school, f"{school}|5901", f"{school}|3001", "2.00", D)
        assert odd[0].ok
        report = {r["book"]: r for r in f.basis_reconciliation(REGION, 2026).to_pylist()}
        assert not report[school]["closes"] and report[school]["unexplained"] == -2_00
        assert report[f"U:{REGION}:101002"]["closes"]


def test_unit_books_keep_bases_and_unit_types_apart(any_store: str | None) -> None:
    """INV-L3: every account belongs to its basis's balance group (FA 1xxx-5xxx, BA 6xxx-8xxx),
    so a line crossing bases leaves both unbalanced and is refused; INV-U7: 7101 only in an
    administrative unit's postings, 7201 only in a public institution's; after the year end
    the fiscal carry-over 8101 and the fund balance 8001 are zero (no fiscal money stays)."""
    with ledger.open(any_store) as book:
        f = world(book)
        table = book.accounts_table().to_pylist()
        for row in table:
            if row["key"].startswith("U:"):
                code = row["key"].split("|")[1]  # <book>|<code>[|<sub-ledger>]
                basis = "CNY-FA" if code[0] in "12345" else "CNY-BA"
                assert row["group"] == basis, row
        school = f"U:{REGION}:101001"
        crossing = post_pair(book, 1, school, f"{school}|5001", f"{school}|6001", "1.00", D)
        assert crossing[0].code == ledger.Code.unbalanced
        assert all(
            o.ok
            for o in f.create_indicators(
                [
                    indicator("S", 100_00, eco_code=None),
                    indicator("Q1", 100_00, unit="101002", project="Q", eco_code=None),
                ]
            )
        )
        rows = payments([("1", "S", 30213, 10_00), ("2", "Q1", 30213, 10_00)])
        rows = rows.set_column(rows.schema.get_field_index("unit"), "unit", pa.array(["101001", "101002"]))
        rows = rows.set_column(rows.schema.get_field_index("project"), "project", pa.array(["P", "Q"]))
        assert codes(f.payments.apply(rows)) == ["ok", "ok"]
        assert codes(f.payments.settle(results([("1", "OK"), ("2", "OK")]))) == ["ok", "ok"]
        bureau = f"U:{REGION}:101002"
        assert fen(book.balance(f"{school}|720102|P")) == 10_00 and fen(book.balance(f"{school}|710101")) == 0
        assert fen(book.balance(f"{bureau}|710101")) == 10_00 and fen(book.balance(f"{bureau}|720101")) == 0
        f.year_end(REGION, 2026)
        for unit_book in (school, bureau):
            assert fen(book.balance(f"{unit_book}|8101")) == 0 and fen(book.balance(f"{unit_book}|8001")) == 0
            assert -fen(book.balance(f"{unit_book}|3001")) == 0  # fiscal payments only: no surplus


def test_event_keys_are_fnv1a_of_the_event_without_python_per_row() -> None:
    from ledger.fiscal.domain import _fnv1a, event_keys

    def reference(text: str) -> int:
        digest = 0xCBF29CE484222325
        for byte in text.encode():
            digest = ((digest ^ byte) * 0x100000001B3) % 2**64
        return digest

    strings = pa.array(["", "a", "pay\x1f500103000\x1f2026\x1fC1", "渝中区", "x" * 70])
    for part in (strings, strings.slice(2)):
        assert _fnv1a(part).tolist() == [reference(t) for t in part.to_pylist()]
    table = pa.table({"region": [REGION] * 3, "year": [2026] * 3, "pay_cert_no": ["C1", "C2", "C1"]})
    keys = event_keys(table, "pay")
    assert keys[0] == keys[2] != keys[1] and (keys > 0).all() and (keys % 4 == 0).all()
    assert (event_keys(table, "refund") != keys).all()


def test_payment_columns_refused_by_type_not_truncated(any_store: str | None) -> None:
    with ledger.open(any_store) as book:
        f = world(book)
        assert codes(f.payments.apply(payments([("0", "A", 30213, 1)]))) == [
            "indicator_not_found"
        ]  # none yet
        assert all(o.ok for o in f.create_indicators([indicator("A", 100_00)]))
        good = payments([("1", "A", 30213, 12_99)])
        for name, value in (
            ("amount", pa.array([12.99])),
            ("eco_code", pa.array([30213.9])),
            ("amount", pa.array([2**63 + 5], pa.uint64())),
            ("date", pa.array(["2026-03-02"])),
            ("year", pa.array(["2026"])),
            ("pay_cert_no", pa.array(["x" * 41])),
        ):
            bad = good.set_column(good.schema.get_field_index(name), name, value)
            with pytest.raises(ledger.InvalidInput, match=name):
                f.payments.apply(bad)
        assert f.available("A") == 100_00  # nothing frozen by any of them


def test_a_call_cut_short_between_posting_and_recording_is_completed_by_retrying(
    any_store: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ledger.open(any_store) as book:
        f = world(book)
        assert all(o.ok for o in f.create_indicators([indicator("A", 100_00)]))
        original = Fiscal._append_table

        def cut(self: Fiscal, table: Any, rows: pa.Table) -> None:
            raise ledger.StoreError("cut short")

        monkeypatch.setattr(Fiscal, "_append_table", cut)
        with pytest.raises(ledger.StoreError):
            f.payments.apply(payments([("1", "A", 30213, 10_00)]))  # the freeze is posted, not recorded
        monkeypatch.setattr(Fiscal, "_append_table", original)
        assert codes(f.payments.apply(payments([("1", "A", 30213, 10_00)]))) == ["exists"]  # recorded now
        monkeypatch.setattr(Fiscal, "_append_table", cut)
        with pytest.raises(ledger.StoreError):
            f.payments.settle(results([("1", "OK")]))
        monkeypatch.setattr(Fiscal, "_append_table", original)
        assert codes(f.payments.settle(results([("1", "OK")]))) == ["exists"]
        assert codes(f.payments.refund(results([("1", 5_00)], "amount"))) == ["ok"]  # the settlement is known
        assert (f.available("A"), f.executed("A")) == (95_00, 5_00)


def test_year_end_is_all_or_nothing_and_in_its_year(any_store: str | None) -> None:
    with ledger.open(any_store) as book:
        f = world(book)
        assert all(o.ok for o in f.create_indicators([indicator("A", 100_00)]))
        with pytest.raises(ledger.InvalidInput, match="not in the year"):
            f.year_end(REGION, 2026, dt.date(2027, 1, 5))
        book.close_period(f"U:{REGION}:101002", "2026-12")  # the bureau's December closed by hand
        dep = post_pair(
            book, 3, f"U:{REGION}:101001", f"U:{REGION}:101001|500104", f"U:{REGION}:101001|1602", "1.00", D
        )
        assert dep[0].ok
        post_pair(
            book, 4, f"U:{REGION}:101002", f"U:{REGION}:101002|500104", f"U:{REGION}:101002|1602", "1.00", D
        )
        with pytest.raises(ledger.InvalidInput, match="nothing was posted"):
            f.year_end(REGION, 2026)
        assert f.available("A") == 100_00  # the recovery was not posted either
        assert fen(book.balance(f"U:{REGION}:101001|500104")) == 1_00


def test_movement_keys_are_the_regions_own() -> None:
    with ledger.open() as book:
        f = world(book)
        f.create_regions([Region(code="500104000")])
        f.create_units([Unit(region="500104000", code="U")])
        f.create_projects([Project(region="500104000", code="P", unit="U", kind="3")])
        made = f.create_indicators(
            [indicator("A", 100_00), indicator("Z", 100_00, region="500104000", unit="U")]
        )
        assert [o.code for o in made] == ["ok", "ok"]
        moves = [
            Movement(
                key=1, kind="TOPUP", bgt_id=b, amount=1_00, date=D, authority="FINANCE_APPROVAL", doc_no="d"
            )
            for b in ("A", "Z")
        ]
        assert [o.code for o in f.move(moves)] == ["ok", "ok"]  # the same id in two regions
        assert post_pair(
            book, 1, f"U:{REGION}:101001", f"U:{REGION}:101001|500104", f"U:{REGION}:101001|1602", "1.00", D
        )[0].ok  # entry key 1 is free


def test_a_capital_construction_book_keeps_its_projects(any_store: str | None) -> None:
    with ledger.open(any_store) as book:
        f = world(book)
        assert codes_of(
            f.create_units([Unit(region=REGION, code="101003", capital_book=True, name="医院")])
        ) == ["ok"]
        outcomes = f.create_projects(
            [
                Project(region=REGION, code="J1", unit="101003", kind="3", capital=True),
                Project(region=REGION, code="J2", unit="101001", kind="3", capital=True),  # one book only
                Project(region=REGION, code="J3", unit="101003", kind="21", capital=True),  # basic
                Project(region=REGION, code="J4", unit="101003", kind="3"),
            ]
        )
        assert codes_of(outcomes) == ["ok", "capital_book_not_found", "capital_not_project_kind", "ok"]
        books = set(book.accounts_table().column("book").to_pylist())
        assert {f"U:{REGION}:101003", f"U:{REGION}:101003:J"} <= books
        assert f"U:{REGION}:101001:J" not in books
        f.create_indicators([indicator("BJ", 1_000_000_00, unit="101003", project="J1", eco_code=31002)])
        applied = f.payments.apply(
            payments([("PJ1", "BJ", 31002, 250_000_00)], unit=["101003"], project=["J1"])
        )
        assert codes(applied) == ["ok"]
        assert codes(f.payments.settle(results([("PJ1", "OK")]))) == ["ok"]
        capital = book.balance(f"U:{REGION}:101003:J|600102|J1")
        assert fen(capital) == -250_000_00  # the capital book's appropriation revenue, per project
        assert fen(book.balance(f"U:{REGION}:101003:J|1601")) == 250_000_00
        assert fen(book.balance(f"U:{REGION}:101003|4001")) == 0  # nothing in the unit's own book
        year = f.year_end(REGION, 2026)
        assert year.books_closed == 6  # the treasury, the indicators, three units' books and a capital book
        assert fen(book.balance(f"U:{REGION}:101003:J|600102|J1")) == 0


def codes_of(outcomes: list[Any]) -> list[str]:
    return [o.code for o in outcomes]


def test_direct_reach_funds_are_tracked_to_the_payment(any_store: str | None) -> None:
    with ledger.open(any_store) as book:
        f = world(book)
        f.create_indicators(
            [
                indicator("BD", 800_000_00, source="TRANSFER", direct=True),
                indicator("BN", 500_000_00, source="TRANSFER"),
            ]
        )
        rows = [("PD1", "BD", 30213, 120_000_00), ("PD2", "BD", 30213, 30_000_00), ("PN1", "BN", 30213, 5_00)]
        assert codes(f.payments.apply(payments(rows))) == ["ok"] * 3
        assert (
            codes(f.payments.settle(results([("PD1", "OK"), ("PD2", "FAIL"), ("PN1", "OK")]))) == ["ok"] * 3
        )
        report = {r["region"]: r for r in f.direct_reach(2026).to_pylist()}
        assert report[REGION] == {
            "region": REGION,
            "indicators": 1,
            "issued": 800_000_00,
            "executed": 120_000_00,
            "payments": 1,
        }
        assert report["500000000"]["indicators"] == 0
        assert f.direct_reach(2025).column("indicators").to_pylist() == [0, 0]


def test_unit_funds_are_booked_in_the_units_own_book(any_store: str | None) -> None:
    from ledger.fiscal import UnitFunds
    from ledger.fiscal import tables as ft

    def vouchers(rows: list[tuple[str, str, int]]) -> pa.Table:
        n = len(rows)
        return pa.table(
            {
                "pay_cert_no": [r[0] for r in rows],
                "region": [REGION] * n,
                "year": [2026] * n,
                "unit": [r[1] for r in rows],
                "amount": [r[2] for r in rows],
                "date": pa.array([D] * n, pa.date32()),
            }
        )

    with ledger.open(any_store) as book:
        f = world(book)
        funds = UnitFunds(f)
        assert codes(funds.receive(vouchers([("IN1", "101001", 50_000_00)]))) == ["ok"]
        out = funds.pay(
            vouchers([("OUT1", "101001", 1_200_00), ("OUT2", "nope", 5_00), ("OUT3", "101002", 0)])
        )
        assert codes(out) == ["ok", "unit_not_found", "amount_invalid"]
        assert codes(funds.pay(vouchers([("OUT1", "101001", 1_200_00)]))) == ["exists"]  # idempotent
        twice = vouchers([("OUT4", "101001", 7_00), ("OUT4", "101001", 7_00)])  # one call naming it twice
        assert codes(funds.pay(twice)) == ["ok", "exists"]
        unit = f"U:{REGION}:101001"
        assert fen(book.balance(f"{unit}|1002")) == 48_793_00
        assert fen(book.balance(f"{unit}|800102")) == 48_793_00  # the budget basis follows (INV-U1)
        assert fen(book.balance(f"{unit}|7901")) == 1_207_00  # other expenditure: not fiscal money
        recorded = f.table(ft.unit_vouchers)
        assert recorded.column("pay_cert_no").to_pylist() == ["IN1", "OUT1", "OUT4"]
        assert recorded.column("amount").to_pylist() == [50_000_00, -1_200_00, -7_00]
        with pytest.raises(ledger.InvalidInput, match="missing columns"):
            funds.pay(pa.table({"pay_cert_no": ["X"]}))


def test_tables_of_an_earlier_version_gain_the_columns_added_since(durable: Any) -> None:
    """A durable store's domain tables made by an earlier version (the in-memory store has no
    earlier version: it lives as long as its ledger)."""
    from ledger.fiscal import tables as ft

    with ledger.open(durable.url) as book:
        world(book)
    with durable.engine().begin() as conn:  # as the tables were before units had books and projects a book
        conn.exec_driver_sql('ALTER TABLE fiscal_units DROP COLUMN "books"')
        conn.exec_driver_sql('ALTER TABLE fiscal_projects DROP COLUMN "book"')
    with ledger.open(durable.url) as book:
        f = Fiscal(book)
        assert f.table(ft.units).column("books").to_pylist() == [-1, -1]  # read as NULL
        assert codes_of(f.create_units([Unit(region=REGION, code="101009", capital_book=True)])) == ["ok"]
        assert codes_of(
            f.create_projects([Project(region=REGION, code="J9", unit="101009", kind="3", capital=True)])
        ) == ["ok"]
        assert f.table(ft.units).column("books").to_pylist() == [-1, -1, 2]
        assert f.table(ft.projects).column("book").to_pylist() == [None, None, "J"]
