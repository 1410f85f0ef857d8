"""The public-finance domain on a Ledger: regions, units, projects and indicators as books,
organisation nodes and accounts; indicator movements and payments as postings.

Books: per region a treasury book `TR:<region>` (TREASURY-2016) and an indicator book
`IND:<region>` (INDICATOR-P1); per unit a dual-basis book `U:<region>:<agency>`
(GOV-UNIT-2019, financial and budget bases as two balance groups). They sit in the
organisation tree: region → department → unit → book, the region's own books under it.

Accounts: `<book>|<code>` for the chart's accounts, `<book>|<code>|<key>` for the sub-ledger
accounts of a project (its budget-basis appropriation revenue 600102 and project expenditure
7101/7201 02; its own-level expenditure in the treasury, 5001/5002/5003 by fund type) and of
an indicator (IU210 available, IU230 executed). The rules of the domain are the core's
rules, not Python checks: IU210 and IU230 may not go below zero (credits_must_not_exceed_
debits), so nothing is frozen or spent beyond what is available (INV-I1), and a payment is
one linked chain across the three ledgers, all or nothing.

Every creation is idempotent by key (a repeated call answers `exists`), so a call cut short
is completed by calling it again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ledger.codes import Code
from ledger.columns import (
    ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS,
    ENTRY_LINKED,
    ENTRY_PENDING,
    ENTRY_POST_PENDING,
    ENTRY_VOID_PENDING,
)
from ledger.errors import InvalidInput
from ledger.fiscal import tables as ft
from ledger.fiscal.charts import CURRENCY, chart, group_key
from ledger.periods import days
from ledger.schemas import Account, AccountFlag, Book, Entry, EntryFlag, Group, Line, Node
from ledger.service import Ledger

UNIT_TYPES = ("ADMIN", "PUBLIC_INST_FULL", "PUBLIC_INST_PARTIAL", "OTHER")
PROJECT_KINDS = ("1", "21", "22", "3")
BASIC_KINDS = ("1", "21")  # basic expenditure (基本支出); the others are project expenditure
SOURCES = {"ANNUAL": "IS100", "TRANSFER": "IS110", "CARRY": "IS120", "RESERVE": "IS140"}
AUTHORITIES = ("PC_APPROVAL", "FINANCE_APPROVAL", "FILING")
# The categories of the basis reconciliation (§3.5): sign and, per first-level account, the
# side of its turnover that is a one-sided amount of that category.
_RECEIVABLES = ("1211", "1212", "1215", "1216", "1218")
_PAYABLES = ("2201", "2302", "2307")
RECONCILIATION: dict[str, tuple[int, dict[str, str]]] = {
    # revenue recognised, not budget revenue: accrued receivables, advance receipts recognised
    "revenue_not_budget_revenue": (1, {**dict.fromkeys(_RECEIVABLES, "debit"), "2305": "debit"}),
    # budget expenditure, not an expense: assets bought, prior payables paid, debt repaid
    # (fixed assets net: a payment refunded after it bought one takes the asset back out)
    "budget_expenditure_not_expensed": (
        1,
        {
            **dict.fromkeys(
                ("1214", "1302", "1501", "1502", "1611", "1613", "1701", "2001", "2501", *_PAYABLES),
                "debit",
            ),
            "1601": "net",
        },
    ),
    # budget revenue, not revenue: receivables collected, advance receipts, borrowing
    "budget_revenue_not_revenue": (
        -1,
        {**dict.fromkeys(_RECEIVABLES, "credit"), "2305": "credit", "2001": "credit", "2501": "credit"},
    ),
    # an expense, not budget expenditure: depreciation and amortisation, stock issued, accruals
    "expenses_not_budget_expenditure": (
        -1,
        dict.fromkeys(("1302", "1602", "1702", "1802", "1832", *_PAYABLES), "credit"),
    ),
}
TREASURY_EXPENDITURE = {11: "5001", 12: "5002", 13: "5003"}  # by fund type; others: 5001
CAPITAL_BOOK = ":J"  # the key suffix of a unit's capital-construction book (基建)
_MINOR = 100  # CNY fen


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Region(_Model):
    """A fiscal region (MOF_DIV_CODE, 9 characters)."""

    code: str = Field(pattern=r"^[0-9]{9}$")
    name: str | None = Field(default=None, max_length=256)
    level: Literal["PROVINCE_CITY_LEVEL", "DISTRICT", "ZONE"] = "DISTRICT"
    parent: str | None = Field(default=None, pattern=r"^[0-9]{9}$")
    regime: Literal["integrated", "legacy_quota"] = "integrated"
    zero_carryover: bool = True


class Department(_Model):
    region: str = Field(pattern=r"^[0-9]{9}$")
    code: str = Field(pattern=r"^[0-9A-Za-z]{1,16}$")
    name: str | None = Field(default=None, max_length=256)


class Unit(_Model):
    """A budget unit (AGENCY_CODE within its region); its dual-basis book is created with it,
    and with `capital_book` a second one, its capital-construction book (基建账套)."""

    region: str = Field(pattern=r"^[0-9]{9}$")
    code: str = Field(pattern=r"^[0-9A-Za-z]{1,16}$")
    department: str | None = Field(default=None, pattern=r"^[0-9A-Za-z]{1,16}$")
    unit_type: Literal["ADMIN", "PUBLIC_INST_FULL", "PUBLIC_INST_PARTIAL", "OTHER"] = "ADMIN"
    name: str | None = Field(default=None, max_length=256)
    capital_book: bool = False


class Project(_Model):
    """A project of the project library (PRO_CODE within its region), a sub-ledger of its unit."""

    region: str = Field(pattern=r"^[0-9]{9}$")
    code: str = Field(pattern=r"^[0-9A-Za-z]{1,22}$")
    unit: str = Field(pattern=r"^[0-9A-Za-z]{1,16}$")
    kind: Literal["1", "21", "22", "3"]
    capital: bool = False  # kept in its unit's capital-construction book (project kinds only)
    name: str | None = Field(default=None, max_length=256)


class Indicator(_Model):
    """A budget indicator (BGT_ID) with all its keys. A root indicator is issued from a
    source with its document (INV-I3); a child (`parent`) is allocated from its parent."""

    bgt_id: str = Field(pattern=r"^[0-9A-Za-z_-]{1,40}$")
    region: str = Field(pattern=r"^[0-9]{9}$")
    year: int = Field(ge=2000, le=2100, strict=True)
    unit: str = Field(pattern=r"^[0-9A-Za-z]{1,16}$")
    project: str = Field(pattern=r"^[0-9A-Za-z]{1,22}$")
    fund_type: int = Field(ge=1, le=99, strict=True)
    func_code: int = Field(ge=1_000_000, le=9_999_999, strict=True)  # EXP_FUNC_CODE, 7 digits
    # DEP_BGT_ECO_CODE, 5 digits; None: payments of any economic class (a project indicator)
    eco_code: int | None = Field(default=None, ge=10_000, le=99_999, strict=True)
    amount: int = Field(gt=0, le=2**62, strict=True)  # minor units
    source: Literal["ANNUAL", "TRANSFER", "CARRY", "RESERVE"] | None = None
    parent: str | None = None
    doc_no: str = Field(min_length=1, max_length=64)
    date: dt.date
    direct: bool = False  # direct-reach funds (直达资金): tracked down to the payment (§6.7)


MovementKind = Literal["TOPUP", "CUT", "REALLOC", "ADJUST", "FREEZE", "UNFREEZE", "RESTORE", "RECOVER"]


class Movement(_Model):
    """An indicator movement (DOMAIN §5.3) posted in the region's indicator book. `key` is
    the movement id (idempotency); `to` the receiving indicator of a REALLOC; `amount` of an
    ADJUST is signed (a decrease is negative); UNFREEZE names the FREEZE it releases."""

    key: int = Field(gt=0, lt=2**62, strict=True)
    kind: MovementKind
    bgt_id: str
    amount: int = Field(le=2**62, ge=-(2**62), strict=True)
    date: dt.date
    authority: Literal["PC_APPROVAL", "FINANCE_APPROVAL", "FILING"] | None = None
    doc_no: str | None = Field(default=None, max_length=64)
    to: str | None = None
    freeze: int | None = None

    @field_validator("amount")
    @classmethod
    def _not_zero(cls, amount: int) -> int:
        if amount == 0:
            raise ValueError("a movement moves a non-zero amount")
        return amount


@dataclass(frozen=True, slots=True)
class YearEnd:
    """What a year end did: the amount left on the region's indicators and where it went
    (recovered under zero carry-over, else carried), the closing entries, the books closed."""

    region: str
    year: int
    indicators_left: int  # minor units
    zero_carryover: bool
    closing_entries: int
    books_closed: int
    # basis_reconciliation as it stood before the closing entries (None: the year was closed already)
    reconciliation: pa.Table | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one item: `ok`, `exists`, or the reason it was refused (nothing of
    it was posted)."""

    key: Any
    code: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.code in ("ok", "exists")


# Which authorities each movement needs (INV-I4): an adjustment changes the approved budget
# (People's Congress); a reallocation within a unit is filed, across units approved.
_AUTHORITY = {
    "TOPUP": ("FINANCE_APPROVAL", "PC_APPROVAL"),
    "CUT": ("FINANCE_APPROVAL", "PC_APPROVAL"),
    "ADJUST": ("PC_APPROVAL",),
    "REALLOC": ("FINANCE_APPROVAL", "FILING"),
}
# Core codes as the domain reads them.
_REASONS = {
    Code.exceeds_debits: "exceeds_available",
    Code.exists_with_different_fields: "key_reused",
    Code.period_closed: "period_closed",
    Code.pending_not_found: "freeze_not_found",
    Code.pending_already_resolved: "freeze_already_resolved",
    Code.linked_event_failed: "chain_failed",
}


def entry_key(kind: int, *parts: object) -> int:
    """A positive int64 entry key for a source event (INV-L5): its parts hashed, times four,
    plus `kind` (0..3) for the entries one event makes."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "little") >> 4 | 1) * 4 + kind


class Fiscal:
    """The public-finance domain on `book` (see the module docstring)."""

    def __init__(self, book: Ledger, currency: str = CURRENCY) -> None:
        self.book = book
        self.currency = currency
        self._rows: dict[str, pa.Table] = {}

    # --- reading the domain's tables ---------------------------------------------------------

    def table(self, table: Any) -> pa.Table:
        """A domain table's rows, kept and extended by what was appended since (append-only)."""
        known = self._rows.get(table.name)
        start = 0 if known is None else known.num_rows
        new = self.book.read_rows(table, start)
        if known is None or new.num_rows:
            self._rows[table.name] = new if known is None else _grown(known, new)
        return self._rows[table.name]

    def _index(self, table: Any, *columns: str) -> dict[tuple[Any, ...], int]:
        rows = self.table(table)
        values = [rows.column(c).to_pylist() for c in columns]
        return {key: i for i, key in enumerate(zip(*values, strict=True))}

    def _append_table(self, table: Any, rows: pa.Table) -> None:
        """Append rows with the next idx values; the kept table grows by them without reading
        them back, unless another process appended meanwhile (then it reads what it lacks)."""
        known = self.table(table)
        start = known.num_rows
        names = [c.name for c in table.columns]
        rows = rows.add_column(0, "idx", pa.array(np.arange(start, start + rows.num_rows, dtype=np.int64)))
        rows = rows.select(names)
        self.book.insert_rows(table, rows)
        if self.book.count_rows(table) == start + rows.num_rows:
            self._rows[table.name] = _grown(known, rows.cast(known.schema))
        else:
            self.table(table)

    @property
    def payments(self) -> Payments:
        found = self.__dict__.get("_payments")
        if found is None:
            found = self.__dict__["_payments"] = Payments(self)
        return found

    def _append(self, table: Any, rows: list[dict[str, Any]]) -> None:
        if rows:
            names = [c.name for c in table.columns]
            start = self.table(table).num_rows
            for i, row in enumerate(rows):
                row["idx"] = start + i
            self.book.insert_rows(table, pa.Table.from_pylist([{n: r.get(n) for n in names} for r in rows]))
            self.table(table)

    # --- regions, departments, units, projects ------------------------------------------------

    def _groups(self) -> None:
        self.book.create_groups([Group(key=group_key(b, self.currency)) for b in ("FA", "BA", "TR", "IND")])

    def _chart_accounts(
        self, book_key: str, chart_name: str, constrained: Sequence[str] = ()
    ) -> list[Account]:
        rows = chart(chart_name).rows.to_pylist()
        return [
            Account(
                key=f"{book_key}|{r['code']}",
                book=book_key,
                group=group_key(r["basis"], self.currency),
                code=r["code"],
                normal=r["side"],
                name=r["name"],
                flags=frozenset({AccountFlag.credits_must_not_exceed_debits})
                if r["code"] in constrained
                else frozenset(),
            )
            for r in rows
        ]

    def create_regions(self, regions: Iterable[Region | Mapping[str, Any]]) -> list[Outcome]:
        """Fiscal regions, each with its treasury and indicator books under its node (a
        parent region first)."""
        models = _validated(Region, regions, "regions")
        self._groups()
        known = self._index(ft.regions, "code")
        out, rows = [], []
        for region in models:
            if (region.code,) in known:
                out.append(Outcome(region.code, "exists"))
                continue
            if region.parent is not None and (region.parent,) not in known:
                out.append(
                    Outcome(region.code, "parent_not_found", f"region {region.parent} is not created yet")
                )
                continue
            tr, ind = f"TR:{region.code}", f"IND:{region.code}"
            self.book.create_books(
                [
                    Book(key=tr, name=f"{region.name or region.code} 财政总会计"),
                    Book(key=ind, name=f"{region.name or region.code} 预算指标账"),
                ]
            )
            parent = f"R:{region.parent}" if region.parent else None
            self.book.create_nodes(
                [
                    Node(key=f"R:{region.code}", parent=parent, name=region.name),
                    Node(
                        key=f"B:{tr}",
                        parent=f"R:{region.code}",
                        book=tr,
                        layout=chart("TREASURY-2016").layout,
                    ),
                    Node(
                        key=f"B:{ind}",
                        parent=f"R:{region.code}",
                        book=ind,
                        layout=chart("INDICATOR-P1").layout,
                    ),
                ]
            )
            self.book.create_accounts(
                self._chart_accounts(tr, "TREASURY-2016")
                + self._chart_accounts(ind, "INDICATOR-P1", constrained=("IU200", "IU240", "IU250", "IU260"))
            )
            known[(region.code,)] = len(known)
            rows.append(
                {
                    **region.model_dump(),
                    "parent": known.get((region.parent,)) if region.parent else None,
                    "zero_carryover": int(region.zero_carryover),
                }
            )
            out.append(Outcome(region.code, "ok"))
        self._append(ft.regions, rows)
        return out

    def _region(self, code: str) -> int | None:
        return self._index(ft.regions, "code").get((code,))

    def create_departments(self, departments: Iterable[Department | Mapping[str, Any]]) -> list[Outcome]:
        models = _validated(Department, departments, "departments")
        regions = self._index(ft.regions, "code")
        known = self._index(ft.departments, "region", "code")
        out, rows, nodes = [], [], []
        for d in models:
            region = regions.get((d.region,))
            if region is None:
                out.append(Outcome((d.region, d.code), "region_not_found"))
                continue
            if (region, d.code) in known:
                out.append(Outcome((d.region, d.code), "exists"))
                continue
            known[(region, d.code)] = len(known)
            rows.append({"region": region, "code": d.code, "name": d.name})
            nodes.append(Node(key=f"D:{d.region}:{d.code}", parent=f"R:{d.region}", name=d.name))
            out.append(Outcome((d.region, d.code), "ok"))
        self.book.create_nodes(nodes)
        self._append(ft.departments, rows)
        return out

    def create_units(self, units: Iterable[Unit | Mapping[str, Any]]) -> list[Outcome]:
        """Budget units, each with its dual-basis book (GOV-UNIT-2019) under its department
        (or its region)."""
        models = _validated(Unit, units, "units")
        regions = self._index(ft.regions, "code")
        departments = self._index(ft.departments, "region", "code")
        known = self._index(ft.units, "region", "code")
        out, rows, books, nodes = [], [], [], []
        accounts: list[str] = []  # the books whose chart accounts to create
        for u in models:
            key = (u.region, u.code)
            region = regions.get((u.region,))
            if region is None:
                out.append(Outcome(key, "region_not_found"))
                continue
            department = departments.get((region, u.department)) if u.department is not None else None
            if u.department is not None and department is None:
                out.append(Outcome(key, "department_not_found"))
                continue
            if (region, u.code) in known:
                out.append(Outcome(key, "exists"))
                continue
            parent = f"D:{u.region}:{u.department}" if u.department is not None else f"R:{u.region}"
            nodes.append(Node(key=f"A:{u.region}:{u.code}", parent=parent, name=u.name))
            for book in unit_books(u.region, u.code, 2 if u.capital_book else 1):
                books.append(Book(key=book, name=u.name))
                nodes.append(
                    Node(
                        key=f"B:{book}",
                        parent=f"A:{u.region}:{u.code}",
                        book=book,
                        layout=chart("GOV-UNIT-2019").layout,
                    )
                )
                accounts.append(book)
            known[(region, u.code)] = len(known)
            rows.append(
                {
                    "region": region,
                    "code": u.code,
                    "department": department,
                    "unit_type": u.unit_type,
                    "name": u.name,
                    "books": 2 if u.capital_book else 1,
                }
            )
            out.append(Outcome(key, "ok"))
        self.book.create_books(books)
        self.book.create_nodes(nodes)
        self._chart_accounts_columns(accounts, "GOV-UNIT-2019")
        self._append(ft.units, rows)
        return out

    def _chart_accounts_columns(self, books: list[str], chart_name: str) -> None:
        """Every account of a chart in each of `books`, through the bulk path."""
        if not books:
            return
        rows = chart(chart_name).rows
        count = rows.num_rows
        book_column = pa.array(np.repeat(np.array(books, dtype=object), count).tolist(), pa.string())
        codes = pa.array(
            np.tile(np.array(rows.column("code").to_pylist(), dtype=object), len(books)).tolist(), pa.string()
        )
        tiled = np.tile(np.arange(count), len(books))
        groups = [group_key(b, self.currency) for b in rows.column("basis").to_pylist()]
        created = self.book.create_accounts_columns(
            pc.binary_join_element_wise(book_column, codes, "|"),
            book_column,
            pa.array(groups, pa.string()).take(pa.array(tiled)),
            codes,
            normals=rows.column("side").take(pa.array(tiled)),
            names=rows.column("name").take(pa.array(tiled)),
        )
        bad = np.flatnonzero((created != Code.ok) & (created != Code.exists))
        if len(bad):
            raise InvalidInput(f"{chart_name} accounts: {Code(int(created[bad[0]])).name}")

    def create_projects(self, projects: Iterable[Project | Mapping[str, Any]]) -> list[Outcome]:
        """Projects, each a sub-ledger of its unit's book: budget-basis appropriation revenue
        600102 and, for project expenditure (kinds 22 and 3), 7101/7201 02, per project."""
        models = _validated(Project, projects, "projects")
        table = pa.Table.from_pylist([m.model_dump() for m in models], schema=_PROJECT_SCHEMA)
        codes = self.create_projects_columns(table).column("code").to_pylist()
        return [Outcome((m.region, m.code), code) for m, code in zip(models, codes, strict=True)]

    def create_projects_columns(self, table: pa.Table) -> pa.Table:
        """create_projects for columns region, code, unit, kind, name and capital (the bulk
        path: no Python per project); one code per row: ok, exists, region_not_found,
        unit_not_found, kind_invalid, code_invalid, capital_book_not_found (the unit keeps no
        capital-construction book), capital_not_project_kind (basic expenditure is not)."""
        p = _columns(table, ("region", "code", "unit", "kind"), "projects")
        n = p.num_rows

        def text(name: str) -> pa.Array:
            return p.column(name).combine_chunks().cast(pa.string())

        names = (
            table.column("name").combine_chunks().cast(pa.string())
            if "name" in table.column_names
            else pa.nulls(n, pa.string())
        )
        capital = np.zeros(n, bool)
        if "capital" in table.column_names:
            given = table.column("capital")
            if not pa.types.is_boolean(given.type):
                raise InvalidInput(f"projects: column capital: expected booleans, got {given.type}")
            capital = pc.fill_null(given, False).to_numpy(zero_copy_only=False).astype(bool)
        regions = self.table(ft.regions)
        units = self.table(ft.units)
        region = _positions(text("region"), regions.column("code"))
        unit_keys = pc.binary_join_element_wise(
            regions.column("code").take(units.column("region")), units.column("code"), "|"
        )
        wanted = pc.binary_join_element_wise(text("region"), text("unit"), "|")
        unit = _positions(wanted, unit_keys)
        known = self.table(ft.projects)
        known_keys = pc.binary_join_element_wise(
            regions.column("code").take(known.column("region")), known.column("code"), "|"
        )
        project_keys = pc.binary_join_element_wise(text("region"), text("code"), "|")
        exists = _positions(project_keys, known_keys) >= 0
        kind = text("kind")
        code_ok = pc.fill_null(pc.match_substring_regex(text("code"), r"^[0-9A-Za-z]{1,22}$"), False)
        reason = np.full(n, "", dtype=object)
        reason[region < 0] = "region_not_found"
        reason[(reason == "") & (unit < 0)] = "unit_not_found"
        reason[(reason == "") & exists] = "exists"
        reason[(reason == "") & ~pc.is_in(kind, pa.array(PROJECT_KINDS)).to_numpy(zero_copy_only=False)] = (
            "kind_invalid"
        )
        reason[(reason == "") & ~code_ok.to_numpy(zero_copy_only=False)] = "code_invalid"
        unit_books_count = pc.fill_null(units.column("books"), 1).to_numpy()
        has_capital = (
            unit_books_count[np.maximum(unit, 0)] == 2 if len(unit_books_count) else np.zeros(n, bool)
        )
        reason[(reason == "") & capital & ~has_capital] = "capital_book_not_found"
        basic_kind = np.isin(kind.to_numpy(zero_copy_only=False), BASIC_KINDS)
        reason[(reason == "") & capital & basic_kind] = "capital_not_project_kind"
        reason[(reason == "") & _repeated(project_keys)] = "exists"  # an earlier row of this call
        go = np.flatnonzero(reason == "")
        if len(go):
            take = pa.array(go)
            region_code = text("region").take(take)
            project = text("code").take(take)
            suffix = pa.array(np.where(capital[go], CAPITAL_BOOK, "").tolist(), pa.string())
            book = pc.binary_join_element_wise("U:", region_code, ":", text("unit").take(take), suffix, "")
            unit_type = units.column("unit_type").take(pa.array(unit[go])).to_numpy(zero_copy_only=False)
            basic = np.isin(kind.take(take).to_numpy(zero_copy_only=False), BASIC_KINDS)
            revenue = pc.binary_join_element_wise(book, "|600102|", project, "")
            spending_code = np.where(unit_type == "ADMIN", "710102", "720102").astype(object)[~basic]
            spend = pa.array(np.flatnonzero(~basic))
            spending = pc.binary_join_element_wise(
                book.take(spend),
                "|",
                pa.array(spending_code.tolist(), pa.string()),
                "|",
                project.take(spend),
                "",
            )
            keys = pa.concat_arrays([revenue, spending])
            accounts = self.book.create_accounts_columns(
                keys,
                pa.concat_arrays([book, book.take(spend)]),
                [group_key("BA", self.currency)] * len(keys),
                pa.concat_arrays(
                    [pa.array(["600102"] * len(go)), pa.array(spending_code.tolist(), pa.string())]
                ),
                normals=["credit"] * len(go) + ["debit"] * len(spend),
                subledgers=pa.concat_arrays([project, project.take(spend)]),
                names=pa.concat_arrays([names.take(take), names.take(take).take(spend)]),
            )
            if ((accounts != Code.ok) & (accounts != Code.exists)).any():
                bad = int(np.flatnonzero((accounts != Code.ok) & (accounts != Code.exists))[0])
                raise InvalidInput(f"projects: account {keys[bad].as_py()}: {Code(int(accounts[bad])).name}")
            self._append_table(
                ft.projects,
                pa.table(
                    {
                        "region": pa.array(region[go].astype(np.int64)),
                        "code": project,
                        "unit": pa.array(unit[go].astype(np.int64)),
                        "kind": kind.take(take),
                        "name": names.take(take),
                        "book": pc.if_else(
                            pa.array(capital[go]), CAPITAL_BOOK[1:], pa.scalar(None, pa.string())
                        ),
                    }
                ),
            )
            reason[go] = "ok"
        return pa.table({"code": pa.array(reason.tolist(), pa.string())})

    # --- indicators --------------------------------------------------------------------------

    def create_indicators(self, indicators: Iterable[Indicator | Mapping[str, Any]]) -> list[Outcome]:
        """Indicators with all their keys (DOMAIN §5.1). A root is issued from its source
        (Dr IU210 / Cr IS1x0, INV-I3: no indicator without a source); a child is allocated
        from its parent (Dr IU210 child / Cr IU210 parent), within what the parent has
        available. Its accounts: IU210 available and IU230 executed in the indicator book,
        and its project's own-level expenditure in the treasury (by fund type)."""
        models = _validated(Indicator, indicators, "indicators")
        rows = [m.model_dump() for m in models]
        for row in rows:
            row["date"] = days(row["date"])
        table = pa.Table.from_pylist(rows, schema=INDICATOR_SCHEMA)
        codes = self.create_indicators_columns(table).column("code").to_pylist()
        return [Outcome(m.bgt_id, code) for m, code in zip(models, codes, strict=True)]

    def create_indicators_columns(self, table: pa.Table) -> pa.Table:
        """create_indicators for columns (INDICATOR_SCHEMA; date as days since 1970-01-01 or
        date32): the bulk path, one code per row: ok, exists, repeated, region_not_found,
        unit_not_found, project_not_found, project_of_another_unit, source_missing,
        source_invalid, parent_not_found, a field out of range (`<field>_invalid`), or the
        core's refusal of the issue or allocation (exceeds_available when the parent has not
        enough left)."""
        required = (
            "bgt_id",
            "region",
            "year",
            "unit",
            "project",
            "fund_type",
            "func_code",
            "amount",
            "doc_no",
            "date",
        )
        if not isinstance(table, pa.Table):
            raise InvalidInput("indicators: expected a pyarrow.Table")
        missing = [name for name in required if name not in table.column_names]
        if missing:
            raise InvalidInput(f"indicators: missing columns {', '.join(missing)}")
        n = table.num_rows

        def column(name: str, kind: pa.DataType) -> pa.Array:
            if name not in table.column_names:
                return pa.nulls(n, kind)
            values = table.column(name).combine_chunks()
            if pa.types.is_date(values.type):
                values = values.cast(pa.date32()).cast(pa.int32())
            try:
                return values.cast(kind)
            except pa.ArrowException as error:
                raise InvalidInput(f"indicators: column {name}: {error}") from None

        bgt, region_code, unit_code, project_code = (
            column(c, pa.string()) for c in ("bgt_id", "region", "unit", "project")
        )
        source, parent, doc = (
            column("source", pa.string()),
            column("parent", pa.string()),
            column("doc_no", pa.string()),
        )
        year, fund, func = (
            column(c, pa.int64()).to_numpy(zero_copy_only=False) for c in ("year", "fund_type", "func_code")
        )
        eco = pc.fill_null(column("eco_code", pa.int64()), 0).to_numpy(zero_copy_only=False)
        direct = pc.fill_null(column("direct", pa.bool_()), False)
        amount = column("amount", pa.int64()).to_numpy(zero_copy_only=False)
        date = column("date", pa.int32()).to_numpy(zero_copy_only=False)
        for name, values in (
            ("bgt_id", bgt),
            ("region", region_code),
            ("unit", unit_code),
            ("project", project_code),
            ("doc_no", doc),
        ):
            if values.null_count:
                raise InvalidInput(f"indicators: column {name}: a value is missing")
        for name, values in (
            ("year", year),
            ("fund_type", fund),
            ("func_code", func),
            ("amount", amount),
            ("date", date),
        ):
            if np.ma.is_masked(values) or column(name, pa.int64()).null_count:
                raise InvalidInput(f"indicators: column {name}: a value is missing")
        regions, units, projects = self.table(ft.regions), self.table(ft.units), self.table(ft.projects)
        known = self.table(ft.indicators)
        region = _positions(region_code, regions.column("code"))
        unit = _positions(
            pc.binary_join_element_wise(region_code, unit_code, "|"),
            pc.binary_join_element_wise(
                regions.column("code").take(units.column("region")), units.column("code"), "|"
            ),
        )
        project = _positions(
            pc.binary_join_element_wise(region_code, project_code, "|"),
            pc.binary_join_element_wise(
                regions.column("code").take(projects.column("region")), projects.column("code"), "|"
            ),
        )
        project_unit = np.where(
            project >= 0,
            projects.column("unit").to_numpy()[np.maximum(project, 0)] if len(projects) else -1,
            -1,
        )
        exists = _positions(bgt, known.column("bgt_id")) >= 0
        earlier = _positions(parent, bgt)  # the parent among this call's rows (first place)
        parent_ok = (
            pc.is_null(parent).to_numpy(zero_copy_only=False)
            | (_positions(parent, known.column("bgt_id")) >= 0)
            | ((earlier >= 0) & (earlier < np.arange(n)))
        )
        has_source = pc.is_valid(source).to_numpy(zero_copy_only=False)
        reason = np.full(n, "", dtype=object)
        checks = [
            (exists, "exists"),
            (_repeated(bgt), "repeated"),
            (
                ~pc.fill_null(pc.match_substring_regex(bgt, r"^[0-9A-Za-z_-]{1,40}$"), False).to_numpy(
                    zero_copy_only=False
                ),
                "bgt_id_invalid",
            ),
            (region < 0, "region_not_found"),
            (unit < 0, "unit_not_found"),
            (project < 0, "project_not_found"),
            (project_unit != unit, "project_of_another_unit"),
            (~has_source & pc.is_null(parent).to_numpy(zero_copy_only=False), "source_missing"),
            (
                has_source
                & ~pc.fill_null(pc.is_in(source, pa.array(list(SOURCES))), False).to_numpy(
                    zero_copy_only=False
                ),
                "source_invalid",
            ),
            (~parent_ok, "parent_not_found"),
            ((year < 2000) | (year > 2100), "year_invalid"),
            ((fund < 1) | (fund > 99), "fund_type_invalid"),
            ((func < 1_000_000) | (func > 9_999_999), "func_code_invalid"),
            ((eco != 0) & ((eco < 10_000) | (eco > 99_999)), "eco_code_invalid"),
            ((amount <= 0) | (amount > 2**62), "amount_invalid"),
            (
                (pc.utf8_length(doc).to_numpy(zero_copy_only=False) < 1)
                | (pc.utf8_length(doc).to_numpy(zero_copy_only=False) > 64),
                "doc_no_invalid",
            ),
        ]
        for failed, name in checks:
            reason[(reason == "") & failed] = name
        go = np.flatnonzero(reason == "")
        if not len(go):
            return pa.table({"code": pa.array(reason.tolist(), pa.string())})
        take = pa.array(go)
        ind_book = pc.binary_join_element_wise("IND:", region_code.take(take), "")
        tr_book = pc.binary_join_element_wise("TR:", region_code.take(take), "")
        own = bgt.take(take)
        treasury_code = np.vectorize(lambda f: TREASURY_EXPENDITURE.get(int(f), "5001"), otypes=[object])(
            fund[go]
        )
        treasury_keys = pc.binary_join_element_wise(
            tr_book, "|", pa.array(treasury_code.tolist(), pa.string()), "|", project_code.take(take), ""
        )
        first_treasury = ~_repeated(treasury_keys)
        m = len(go)
        iu = pa.array(["IU210"] * m + ["IU230"] * m, pa.string())
        keys = pa.concat_arrays(
            [
                pc.binary_join_element_wise(ind_book, "|IU210|", own, ""),
                pc.binary_join_element_wise(ind_book, "|IU230|", own, ""),
                treasury_keys.filter(pa.array(first_treasury)),
            ]
        )
        t = int(first_treasury.sum())
        created = self.book.create_accounts_columns(
            keys,
            pa.concat_arrays([ind_book, ind_book, tr_book.filter(pa.array(first_treasury))]),
            [group_key("IND", self.currency)] * (2 * m) + [group_key("TR", self.currency)] * t,
            pa.concat_arrays([iu, pa.array(treasury_code[first_treasury].tolist(), pa.string())]),
            flags=np.concatenate(
                [np.full(2 * m, ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS, np.int64), np.zeros(t, np.int64)]
            ),
            subledgers=pa.concat_arrays([own, own, project_code.take(take).filter(pa.array(first_treasury))]),
        )
        bad = np.flatnonzero((created != Code.ok) & (created != Code.exists))
        if len(bad):
            raise InvalidInput(
                f"indicator accounts: {keys[int(bad[0])].as_py()}: {Code(int(created[bad[0]])).name}"
            )
        sources = pa.array(
            [SOURCES.get(x, "") if x else "" for x in source.take(take).to_pylist()], pa.string()
        )
        is_root = pc.is_null(parent.take(take))
        credit = pc.if_else(
            is_root,
            pc.binary_join_element_wise(ind_book, "|", sources, ""),
            pc.binary_join_element_wise(ind_book, "|IU210|", pc.fill_null(parent.take(take), ""), ""),
        )
        accounts = self.book.account_index(pa.concat_arrays([keys.slice(0, m), credit]).to_pylist())
        lines = np.empty(2 * m, np.int64)
        lines[0::2], lines[1::2] = accounts[:m], accounts[m:]
        values = np.empty(2 * m, np.int64)
        values[0::2], values[1::2] = amount[go], -amount[go]
        entry_keys = (
            (
                _fnv1a(_array(pc.binary_join_element_wise("issue", region_code.take(take), own, "\x1f")))
                >> np.uint64(4)
            )
            | np.uint64(1)
        ).astype(np.int64) * 4
        kinds = np.where(is_root.to_numpy(zero_copy_only=False), "ISSUE", "ALLOCATE").tolist()
        references = pc.binary_join_element_wise(own, doc.take(take), " ").to_pylist()
        codes = self.book.post_columns(
            entry_keys,
            np.arange(0, 2 * m + 1, 2, dtype=np.int64),
            lines,
            values,
            dates=date[go].astype(np.int32),
            books=self.book.book_index(ind_book.to_pylist()),
            kinds=kinds,
            references=references,
        )
        reason[go] = _reasons(codes)
        fresh = go[codes == Code.ok]
        if len(fresh):
            keep = pa.array(np.flatnonzero(codes == Code.ok))
            parents = _positions(
                parent.take(pa.array(fresh)),
                pa.concat_arrays([known.column("bgt_id").combine_chunks(), bgt.take(pa.array(fresh))]),
            )
            self._append_table(
                ft.indicators,
                pa.table(
                    {
                        "bgt_id": own.take(keep),
                        "region": pa.array(region[fresh]),
                        "year": pa.array(year[fresh].astype(np.int64)),
                        "unit": pa.array(unit[fresh]),
                        "project": pa.array(project[fresh]),
                        "fund_type": pa.array(fund[fresh].astype(np.int64)),
                        "func_code": pa.array(func[fresh].astype(np.int64)),
                        "eco_code": pa.array(eco[fresh].astype(np.int64)),
                        "source": pc.fill_null(source.take(pa.array(fresh)), "ALLOCATED"),
                        "parent": pa.array(parents, pa.int64()),
                        "doc_no": doc.take(pa.array(fresh)),
                        "amount": pa.array(amount[fresh].astype(np.int64)),
                        "direct": pc.if_else(direct.take(pa.array(fresh)), 1, pa.scalar(None, pa.int64())),
                    }
                ),
            )
        return pa.table({"code": pa.array(reason.tolist(), pa.string())})

    def available(self, bgt_id: str) -> int:
        """What an indicator has left to spend, minor units: IU210's posted debits less its
        posted and frozen (pending) credits."""
        region = self._indicator_region(bgt_id)
        balance = self.book.balance(f"IND:{region}|IU210|{bgt_id}")
        return int((balance.debits_posted - balance.credits_posted - balance.credits_pending) * _MINOR)

    def executed(self, bgt_id: str) -> int:
        region = self._indicator_region(bgt_id)
        balance = self.book.balance(f"IND:{region}|IU230|{bgt_id}")
        return int((balance.debits_posted - balance.credits_posted) * _MINOR)

    def direct_reach(self, year: int) -> pa.Table:
        """Direct-reach funds (直达资金, DOMAIN §6.7) of a year per region: how many indicators,
        issued and executed (IU230) in fen, and the payments executed from them."""
        indicators = self.table(ft.indicators)
        regions = self.table(ft.regions)
        flagged = pc.fill_null(pc.equal(indicators.column("direct"), 1), False).to_numpy(zero_copy_only=False)
        mine = np.flatnonzero(flagged & (indicators.column("year").to_numpy() == year))
        region = indicators.column("region").to_numpy()[mine]
        count = len(regions)
        issued = np.zeros(count, np.int64)
        executed = np.zeros(count, np.int64)
        paid = np.zeros(count, np.int64)
        np.add.at(issued, region, indicators.column("amount").to_numpy()[mine])
        if len(mine):
            balances = self.book.balances()
            net = balances["debits_posted"] - balances["credits_posted"]
            np.add.at(executed, region, net[self.payments.ledgers().executed[mine]])
            payments = self.table(ft.payments)
            done = self.payments.settled() == 1
            from_direct = np.zeros(indicators.num_rows, bool)
            from_direct[mine] = True
            rows = np.flatnonzero(done & from_direct[payments.column("indicator").to_numpy()])
            np.add.at(paid, payments.column("region").to_numpy()[rows], 1)
        return pa.table(
            {
                "region": regions.column("code"),
                "indicators": pa.array(np.bincount(region, minlength=count).astype(np.int64)),
                "issued": pa.array(issued),
                "executed": pa.array(executed),
                "payments": pa.array(paid),
            }
        )

    def _indicator_region(self, bgt_id: str) -> str:
        found = self._index(ft.indicators, "bgt_id").get((bgt_id,))
        if found is None:
            raise InvalidInput(f"indicator {bgt_id!r} does not exist")
        region = self.table(ft.indicators).column("region")[found].as_py()
        return str(self.table(ft.regions).column("code")[region].as_py())

    # --- basis reconciliation ----------------------------------------------------------------

    def basis_reconciliation(self, region: str | None, year: int) -> pa.Table:
        """本年预算收支差额 to 本期盈余 per unit book of a region (None: of every region whose
        year is still open, in one read) (DOMAIN §3.5, INV-U6), from the
        year's turnover per account, before its closing entries (year_end runs it first and
        keeps it): budget_difference (6xxx less 7xxx), each category of RECONCILIATION (the
        turnover of the accounts whose one-sided lines make it: capex is budget expenditure
        not expensed, depreciation an expense not budget expenditure…), surplus (4xxx less
        5xxx), and what no category explains; `closes` when that is zero. Amounts in fen."""
        if region is not None and self._year_closed(region, year):
            raise InvalidInput(
                f"basis_reconciliation {region} {year}: the year is closed; its reconciliation is the one"
                " year_end returned (the turnover now includes the closing entries)"
            )
        if region is None:
            regions = self.table(ft.regions).column("code").to_pylist()
            prefixes = tuple(f"U:{c}:" for c in regions if not self._year_closed(c, year))
        else:
            prefixes = (f"U:{region}:",)
        rows = self.book.trial_balances(period=str(year), depth=1).rows
        books = rows.column("book").to_pylist()
        codes = rows.column("code").to_pylist()
        debit = rows.column("debit").to_pylist()
        credit = rows.column("credit").to_pylist()
        per: dict[str, dict[str, int]] = {}
        for b, code, d, c in zip(books, codes, debit, credit, strict=True):
            if not b.startswith(prefixes):
                continue
            figures = per.setdefault(b, {name: 0 for name in ("budget", "surplus", *RECONCILIATION)})
            head = code[0]
            if head in "67":  # budget revenue (credit) less budget expenditure (debit)
                figures["budget"] += c - d
            elif head in "45":  # revenue (credit) less expenses (debit)
                figures["surplus"] += c - d
            for name, (sign, accounts) in RECONCILIATION.items():
                if code in accounts:
                    side = accounts[code]
                    figures[name] += sign * (d if side == "debit" else c if side == "credit" else d - c)
        out: dict[str, list[Any]] = {
            "book": [],
            "budget_difference": [],
            **{n: [] for n in RECONCILIATION},
            "surplus": [],
            "unexplained": [],
            "closes": [],
        }
        for b in sorted(per):
            f = per[b]
            unexplained = f["surplus"] - f["budget"] - sum(f[n] for n in RECONCILIATION)
            out["book"].append(b)
            out["budget_difference"].append(f["budget"])
            for n in RECONCILIATION:
                out[n].append(f[n])
            out["surplus"].append(f["surplus"])
            out["unexplained"].append(unexplained)
            out["closes"].append(unexplained == 0)
        return pa.table(out)

    # --- year end ----------------------------------------------------------------------------

    def year_end(self, region: str, year: int, date: dt.date | None = None) -> YearEnd:
        """The year end of a region (DOMAIN §6.6, §3.4 E8), in order:

        1. no payment of the year may still be frozen (applied without a bank result);
        2. every indicator's unspent amount leaves it: recovered to finance under zero
           carry-over (Dr IU240 / Cr IU210), else carried to next year (Dr IU250);
        3. each unit book is closed: budget basis 6xxx and 7xxx into 8101 (fiscal: 6001,
           7101, 7201) or 8201 (the rest); financial basis 4xxx and 5xxx into 3301, then 3301
           to 3302 and 3302 to 3001;
        4. every month of the year is closed in the region's books: postings dated in the
           year are refused from then on (period_closed).

        Afterwards 4xxx, 5xxx, 6xxx, 7xxx and 3301 are zero (INV-U2); under zero carry-over
        no indicator has anything left and 8101 nets to zero (INV-U4).
        """
        regions = self._index(ft.regions, "code")
        at = regions.get((region,))
        if at is None:
            raise InvalidInput(f"year_end: region {region!r} does not exist")
        day = date or dt.date(year, 12, 31)
        if day.year != year:
            raise InvalidInput(f"year_end {region} {year}: the closing date {day} is not in the year")
        book = self.book
        payments = self.table(ft.payments)
        mine = (payments.column("region").to_numpy() == at) & (payments.column("year").to_numpy() == year)
        settled = np.zeros(payments.num_rows, bool)
        settled[self.table(ft.settlements).column("payment").to_numpy()] = True
        in_flight = int((mine & ~settled).sum())
        if in_flight:
            raise InvalidInput(
                f"year_end {region} {year}: {in_flight} payments are frozen without a bank result"
            )
        zero = bool(self.table(ft.regions).column("zero_carryover")[at].as_py())
        closed = self._year_closed(region, year)
        # before the closing entries (after them the turnover includes them): None for a year closed already
        reconciliation = None if closed else self.basis_reconciliation(region, year)
        balances = book.balances_at(f"{year}")
        pending = book.balances()["credits_pending"]
        keys = book.accounts_table().column("key").to_pylist()
        index = {k: i for i, k in enumerate(keys) if k.startswith((f"U:{region}:", f"IND:{region}|"))}
        net = balances["debits_posted"] - balances["credits_posted"]
        entries: list[Entry] = []
        # 2. indicators: what is left on IU210 leaves it
        indicators = self.table(ft.indicators)
        target = f"IND:{region}|" + ("IU240" if zero else "IU250")
        left = 0
        for bgt, r, y in zip(
            indicators.column("bgt_id").to_pylist(),
            indicators.column("region").to_pylist(),
            indicators.column("year").to_pylist(),
            strict=True,
        ):
            if r != at or y != year:
                continue
            i = index[f"IND:{region}|IU210|{bgt}"]
            if pending[i]:
                raise InvalidInput(f"year_end {region} {year}: indicator {bgt} has a freeze not released")
            amount = int(net[i])
            if amount > 0:
                left += amount
                entries.append(
                    self._pair(
                        entry_key(0, "year-end", region, year, bgt),
                        f"IND:{region}",
                        day,
                        target,
                        f"IND:{region}|IU210|{bgt}",
                        amount,
                        "RECOVER" if zero else "CARRY",
                    )
                )
        # 3. unit books
        units = self.table(ft.units)
        closings = 0
        region_books = [
            book_key
            for code, r, count in zip(
                units.column("code").to_pylist(),
                units.column("region").to_pylist(),
                pc.fill_null(units.column("books"), 1).to_pylist(),
                strict=True,
            )
            if r == at
            for book_key in unit_books(region, code, count)
        ]
        for unit_book in region_books:
            lines: dict[str, list[tuple[str, int]]] = {"8101": [], "8201": [], "3301": []}
            for key, i in index.items():
                if not key.startswith(unit_book + "|") or net[i] == 0:
                    continue
                account_code = key.split("|")[1]
                head = account_code[:4]
                if head[0] in "67":
                    into = "8101" if head in ("6001", "7101", "7201") else "8201"
                elif head[0] in "45":
                    into = "3301"
                else:
                    continue
                lines[into].append((key, -int(net[i])))
            net_3301 = int(net[index[f"{unit_book}|3301"]]) - sum(a for _, a in lines["3301"])
            for n, (into, moved) in enumerate(lines.items()):
                if moved:
                    total = sum(a for _, a in moved)
                    entries.append(
                        self._entry(
                            entry_key(n, "close", region, year, unit_book),
                            unit_book,
                            day,
                            [*moved, (f"{unit_book}|{into}", -total)],
                            "CLOSE",
                        )
                    )
                    closings += 1
            if net_3301:  # 3301 → 3302 → 3001 (the current year's surplus, into the accumulated)
                entries.append(
                    self._pair(
                        entry_key(3, "close", region, year, unit_book),
                        unit_book,
                        day,
                        f"{unit_book}|3301",
                        f"{unit_book}|3302",
                        -net_3301,
                        "CLOSE",
                    )
                )
                entries.append(
                    self._pair(
                        entry_key(0, "close-3302", region, year, unit_book),
                        unit_book,
                        day,
                        f"{unit_book}|3302",
                        f"{unit_book}|3001",
                        -net_3301,
                        "CLOSE",
                    )
                )
                closings += 2
        # one linked chain: every entry of the year end is posted, or none
        chained = [
            e.model_copy(update={"flags": frozenset({EntryFlag.linked})}) for e in entries[:-1]
        ] + entries[-1:]
        results = book.post(chained) if chained else []
        refused = [r for r in results if r.code not in (Code.ok, Code.exists, Code.linked_event_failed)]
        if refused or any(r.code == Code.linked_event_failed for r in results):
            first = refused[0] if refused else next(r for r in results if r.code != Code.ok)
            raise InvalidInput(
                f"year_end {region} {year}: entry {first.key} refused ({first.code.name}): nothing was posted"
            )
        # what another writer posted into the year meanwhile would stay in it: checked before
        # the year is closed (run the year end again to close it)
        after = book.balances_at(f"{year}")
        left_open = [
            key
            for key, i in index.items()
            if key.startswith(f"U:{region}:")
            and key.split("|")[1][0] in "4567"
            and i < len(after["account"])
            and after["debits_posted"][i] != after["credits_posted"][i]
        ]
        if left_open:
            raise InvalidInput(
                f"year_end {region} {year}: {left_open[0]} was posted to meanwhile; run it again"
            )
        # 4. the year's months closed in the region's books
        books = [f"TR:{region}", f"IND:{region}", *region_books]
        for b in books:
            months = set(book.closed_periods(b))
            for month in range(1, 13):
                label = f"{year:04d}-{month:02d}"
                if label not in months:
                    book.close_period(b, label)
        return YearEnd(region, year, left, zero, closings, len(books), reconciliation)

    def _year_closed(self, region: str, year: int) -> bool:
        """Whether the year end closed the region's year (its indicator book's December)."""
        return f"{year:04d}-12" in self.book.closed_periods(f"IND:{region}")

    def _pair(
        self, key: int, book: str, day: dt.date, debit: str, credit: str, amount: int, kind: str
    ) -> Entry:
        """A two-line entry moving `amount` (> 0 debits `debit`; < 0 the other way)."""
        if amount < 0:
            debit, credit, amount = credit, debit, -amount
        return Entry(
            key=key,
            book=book,
            date=day,
            kind=kind,
            lines=(
                Line(account=debit, debit=_decimal(amount)),
                Line(account=credit, credit=_decimal(amount)),
            ),
        )

    def _entry(self, key: int, book: str, day: dt.date, moves: list[tuple[str, int]], kind: str) -> Entry:
        """An entry of signed moves (account, minor units: debit > 0)."""
        lines = tuple(
            Line(account=a, **({"debit": _decimal(v)} if v > 0 else {"credit": _decimal(-v)}))  # type: ignore[arg-type]
            for a, v in moves
            if v
        )
        return Entry(key=key, book=book, date=day, kind=kind, lines=lines)

    # --- movements ---------------------------------------------------------------------------

    def move(self, movements: Iterable[Movement | Mapping[str, Any]]) -> list[Outcome]:
        """Indicator movements, each a balanced posting in the region's indicator book, or
        refused with its reason and nothing posted (see Movement and DOMAIN §5.3-§5.4)."""
        models = _validated(Movement, movements, "movements")
        known = self._index(ft.indicators, "bgt_id")
        rows = self.table(ft.indicators)
        regions = self.table(ft.regions).column("code").to_pylist()
        out: list[Outcome] = []
        entries: list[Entry] = []
        posted: list[int] = []  # the position in `out` of each entry
        for m in models:
            found = known.get((m.bgt_id,))
            target = known.get((m.to,)) if m.to is not None else None
            allowed = _AUTHORITY.get(m.kind)
            reason = (
                "indicator_not_found"
                if found is None
                else "receiver_not_found"
                if m.kind == "REALLOC" and target is None
                else "authority_missing"
                if allowed is not None and m.authority is None
                else "authority_not_allowed"
                if allowed is not None and m.authority not in allowed
                else "document_missing"
                if allowed is not None and not m.doc_no
                else "negative_amount"
                if m.kind != "ADJUST" and m.amount < 0
                else "freeze_missing"
                if m.kind == "UNFREEZE" and m.freeze is None
                else ""
            )
            if not reason and m.kind == "REALLOC":
                assert found is not None and target is not None
                same_unit = rows.column("unit")[found].as_py() == rows.column("unit")[target].as_py()
                same_region = rows.column("region")[found].as_py() == rows.column("region")[target].as_py()
                reason = (
                    "cross_region"
                    if not same_region
                    else "filing_across_units"
                    if m.authority == "FILING" and not same_unit
                    else "same_indicator"
                    if found == target
                    else ""
                )
            if reason:
                out.append(Outcome(m.key, reason))
                continue
            assert found is not None
            region = regions[rows.column("region")[found].as_py()]
            entries.append(self._movement_entry(m, f"IND:{region}", region))
            posted.append(len(out))
            out.append(Outcome(m.key, "ok"))
        # one batch, each movement on its own (in order: a later one sees an earlier one's effect)
        for position, result in zip(posted, self.book.post(entries) if entries else [], strict=True):
            if result.code != Code.ok:
                code = "exists" if result.code == Code.exists else _REASONS.get(result.code, result.code.name)
                out[position] = Outcome(out[position].key, code)
        return out

    def _movement_entry(self, m: Movement, ind: str, region: str) -> Entry:
        own = f"{ind}|IU210|{m.bgt_id}"
        amount = _decimal(abs(m.amount))
        pairs = {  # debit account, credit account
            "TOPUP": (own, f"{ind}|IS140"),
            "CUT": (f"{ind}|IS140", own),
            "ADJUST": (own, f"{ind}|IS130") if m.amount > 0 else (f"{ind}|IS130", own),
            "REALLOC": (f"{ind}|IU210|{m.to}", own),
            "FREEZE": (f"{ind}|IU220", own),
            "RESTORE": (own, f"{ind}|IU230|{m.bgt_id}"),
            "RECOVER": (f"{ind}|IU240", own),
        }
        reference = " ".join(x for x in (m.bgt_id, m.authority or "", m.doc_no or "") if x)
        if m.kind == "UNFREEZE":
            return Entry(
                key=movement_key(region, m.key),
                book=ind,
                date=m.date,
                kind=m.kind,
                reference=reference,
                flags=frozenset({EntryFlag.void_pending}),
                pending=movement_key(region, m.freeze or 0),
            )  # type: ignore[arg-type]
        debit, credit = pairs[m.kind]
        flags = frozenset({EntryFlag.pending}) if m.kind == "FREEZE" else frozenset()
        return Entry(
            key=movement_key(region, m.key),
            book=ind,
            date=m.date,
            kind=m.kind,
            reference=reference,
            flags=flags,  # type: ignore[arg-type]
            lines=(Line(account=debit, debit=amount), Line(account=credit, credit=amount)),
        )


PAYMENT_COLUMNS = (
    "pay_cert_no",
    "region",
    "year",
    "bgt_id",
    "unit",
    "project",
    "fund_type",
    "func_code",
    "eco_code",
    "amount",
    "date",
)
SETTLE_COLUMNS = ("pay_cert_no", "region", "year", "status", "date")
REFUND_COLUMNS = ("pay_cert_no", "region", "year", "amount", "date")


@dataclass(frozen=True, slots=True)
class _Ledgers:
    """Per indicator (by idx): the books and accounts its payments post to, as account and
    book indices of the core."""

    count: int
    ind_book: np.ndarray
    tr_book: np.ndarray
    unit_book: np.ndarray
    available: np.ndarray  # IU210
    executed: np.ndarray  # IU230
    treasury_expenditure: np.ndarray  # TR 5001/5002/5003 | project
    treasury_deposit: np.ndarray  # TR 1001
    fa_debit: (
        np.ndarray
    )  # by economic class: 500101 wages, 500102 goods and services, 500103 individuals, 1601
    fa_credit: np.ndarray  # 4001 fiscal appropriation revenue
    ba_debit: np.ndarray  # 7101/7201 01 basic, or 02 | project
    ba_credit: np.ndarray  # 600101 basic, or 600102 | project
    dims: np.ndarray  # int32 [n, 4]: functional class, (the payment's economic code), fund type, project idx


# The financial-basis debit of a fiscal payment by department economic class (§8.3): wages,
# goods and services, transfers to individuals, capital (fixed assets); others as goods.
FA_DEBITS = ("500101", "500102", "500103", "1601")


def _fa_debit(eco: np.ndarray) -> np.ndarray:
    """The FA_DEBITS position of each economic code."""
    klass = np.asarray(eco, np.int64) // 100
    return np.select([klass == 301, klass == 303, (klass == 309) | (klass == 310)], [0, 2, 3], 1)


class Payments:
    """The bulk path of payments (DOMAIN §6.3, §8.3): columns in, one reason per payment
    out (`ok`, `exists`, or why it was refused), no Python per payment but the key hash."""

    def __init__(self, fiscal: Fiscal) -> None:
        self.fiscal = fiscal
        self._ledgers: _Ledgers | None = None
        self._keys: tuple[int, np.ndarray, np.ndarray] | None = None  # count, sorted keys, their idx
        self._settled: tuple[np.ndarray, int] = (np.zeros(0, np.int8), 0)  # per payment, settlements read

    def ledgers(self) -> _Ledgers:
        f = self.fiscal
        indicators = f.table(ft.indicators)
        if self._ledgers is not None and self._ledgers.count == indicators.num_rows:
            return self._ledgers
        regions = f.table(ft.regions).column("code").combine_chunks()
        units, projects = f.table(ft.units), f.table(ft.projects)
        region = regions.take(indicators.column("region"))
        unit_code = units.column("code").take(indicators.column("unit"))
        unit_type = units.column("unit_type").take(indicators.column("unit")).to_numpy(zero_copy_only=False)
        project = projects.column("code").take(indicators.column("project"))
        kind = projects.column("kind").take(indicators.column("project")).to_numpy(zero_copy_only=False)
        bgt = indicators.column("bgt_id")
        fund = indicators.column("fund_type").to_numpy()
        basic = np.isin(kind, BASIC_KINDS)
        book_of = pc.fill_null(projects.column("book").take(indicators.column("project")), "")
        suffix = pc.if_else(pc.equal(book_of, ""), "", pc.binary_join_element_wise(":", book_of, ""))
        unit_book = pc.binary_join_element_wise("U:", region, ":", unit_code, suffix, "")
        ind_book = pc.binary_join_element_wise("IND:", region, "")
        tr_book = pc.binary_join_element_wise("TR:", region, "")
        expenditure = np.where(unit_type == "ADMIN", "7101", "7201").astype(object)
        treasury_code = np.vectorize(lambda f: TREASURY_EXPENDITURE.get(int(f), "5001"), otypes=[object])(
            fund
        )

        def keys(*parts: Any) -> np.ndarray:
            joined = pc.binary_join_element_wise(*map(_text, parts), "")
            return f.book.account_index(joined.to_pylist()).astype(np.int32)

        def books(keys: pa.Array) -> np.ndarray:
            return f.book.book_index(keys.to_pylist())

        ledgers = _Ledgers(
            count=indicators.num_rows,
            ind_book=books(ind_book),
            tr_book=books(tr_book),
            unit_book=books(unit_book),
            available=keys(ind_book, "|IU210|", bgt),
            executed=keys(ind_book, "|IU230|", bgt),
            treasury_expenditure=keys(tr_book, "|", treasury_code, "|", project),
            treasury_deposit=keys(tr_book, "|1001"),
            fa_debit=np.stack([keys(unit_book, "|" + code) for code in FA_DEBITS], axis=1),
            fa_credit=keys(unit_book, "|4001"),
            ba_debit=keys(
                unit_book,
                "|",
                expenditure,
                np.where(basic, "01", "02").astype(object),
                np.where(basic, "", "|").astype(object),
                np.where(basic, "", project.to_numpy(zero_copy_only=False)).astype(object),
            ),
            ba_credit=keys(
                unit_book,
                "|",
                np.where(basic, "600101", "600102").astype(object),
                np.where(basic, "", "|").astype(object),
                np.where(basic, "", project.to_numpy(zero_copy_only=False)).astype(object),
            ),
            dims=np.stack(
                [
                    indicators.column("func_code").to_numpy(),
                    np.zeros(indicators.num_rows, np.int64),  # the payment's economic code, at settle
                    fund,
                    indicators.column("project").to_numpy(),
                ],
                axis=1,
            ).astype(np.int32),
        )
        missing = [
            name
            for name in (
                "available",
                "executed",
                "treasury_expenditure",
                "treasury_deposit",
                "fa_debit",
                "fa_credit",
                "ba_debit",
                "ba_credit",
            )
            if (getattr(ledgers, name) < 0).any()
        ]
        if missing:
            raise InvalidInput(f"payments: accounts missing for some indicators ({', '.join(missing)})")
        self._ledgers = ledgers
        return ledgers

    def apply(self, payments: pa.Table) -> pa.Table:
        """Payment applications: each freezes its amount on its indicator (a pending entry
        Dr IU230 / Cr IU210: what is frozen is no longer available), after its keys were
        checked against the indicator's (INV-I2: region, year, unit, project, fund type,
        functional class and the economic class). Returns pay_cert_no and code per row."""
        p = _columns(payments, PAYMENT_COLUMNS, "payments")
        f = self.fiscal
        indicators = f.table(ft.indicators)
        n = p.num_rows
        if not indicators.num_rows or not n:
            return pa.table(
                {
                    "pay_cert_no": p.column("pay_cert_no"),
                    "code": pa.array(["indicator_not_found"] * n, pa.string()),
                }
            )
        ledgers = self.ledgers()
        reason = np.full(n, "", dtype=object)
        found = pc.fill_null(
            pc.index_in(p.column("bgt_id"), value_set=_array(indicators.column("bgt_id"))), -1
        ).to_numpy(zero_copy_only=False)
        reason[found < 0] = "indicator_not_found"
        at = np.maximum(found, 0)
        regions = f.table(ft.regions).column("code")
        units, projects = f.table(ft.units), f.table(ft.projects)
        expected = {
            "region": regions.take(indicators.column("region").take(pa.array(at))),
            "year": indicators.column("year").take(pa.array(at)),
            "unit": units.column("code").take(indicators.column("unit").take(pa.array(at))),
            "project": projects.column("code").take(indicators.column("project").take(pa.array(at))),
            "fund_type": indicators.column("fund_type").take(pa.array(at)),
            "func_code": indicators.column("func_code").take(pa.array(at)),
        }
        for name, want in expected.items():
            given = p.column(name)
            if pa.types.is_integer(given.type):
                given = given.cast(pa.int64())
            same = pc.fill_null(pc.equal(given, want), False).to_numpy(zero_copy_only=False)
            reason[(reason == "") & ~same] = f"keys_mismatch:{name}"
        eco = p.column("eco_code").to_numpy().astype(np.int64)
        wanted = indicators.column("eco_code").to_numpy()[at]
        same_class = (wanted == 0) | (eco // 100 == wanted // 100)  # at least the class (§5.5)
        reason[(reason == "") & ((eco < 10_000) | (eco > 99_999))] = "eco_code_invalid"
        reason[(reason == "") & ~same_class] = "keys_mismatch:eco_code"
        amount = p.column("amount").to_numpy().astype(np.int64)
        reason[(reason == "") & (amount <= 0)] = "amount_invalid"
        keys = event_keys(p, "pay")
        go = np.flatnonzero(reason == "")
        codes = np.zeros(0, np.uint8)
        if len(go):
            k = ledgers.available[at[go]]
            accounts = np.empty(2 * len(go), np.int32)
            accounts[0::2], accounts[1::2] = ledgers.executed[at[go]], k
            amounts = np.empty(2 * len(go), np.int64)
            amounts[0::2], amounts[1::2] = amount[go], -amount[go]
            codes = f.book.post_columns(
                keys[go],
                np.arange(0, 2 * len(go) + 1, 2, dtype=np.int64),
                accounts,
                amounts,
                flags=np.full(len(go), ENTRY_PENDING, np.uint16),
                dates=_days(p.column("date"))[go],
                books=ledgers.ind_book[at[go]].astype(np.int32),
            )
            reason[go] = _reasons(codes)
        fresh = go[codes == Code.ok] if len(go) else go
        if len(go):  # posted before but not recorded (a call cut short between the two): record now
            again = go[codes == Code.exists]
            if len(again):
                recorded, _ = self._find(p.take(pa.array(again)))
                fresh = np.sort(np.concatenate([fresh, _once(again[recorded < 0], keys, fresh)]))
        if len(fresh):
            f._append_table(
                ft.payments,
                pa.table(
                    {
                        "key": pa.array(keys[fresh]),
                        "pay_cert_no": p.column("pay_cert_no").take(pa.array(fresh)),
                        "region": indicators.column("region").take(pa.array(at[fresh])),
                        "year": p.column("year").take(pa.array(fresh)).cast(pa.int64()),
                        "indicator": pa.array(at[fresh].astype(np.int64)),
                        "amount": pa.array(amount[fresh]),
                        "eco_code": pa.array(eco[fresh]),
                        "date": pa.array(_days(p.column("date"))[fresh].astype(np.int64)),
                    }
                ),
            )
        return pa.table(
            {"pay_cert_no": p.column("pay_cert_no"), "code": pa.array(reason.tolist(), pa.string())}
        )

    def _find(self, p: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        """(payment idx or -1, freeze key) of each row's (region, year, pay_cert_no)."""
        payments = self.fiscal.table(ft.payments)
        known = 0 if self._keys is None else self._keys[0]
        if self._keys is None or known > payments.num_rows:
            self._keys, known = (0, np.zeros(0, np.int64), np.zeros(0, np.int64)), 0
        if known < payments.num_rows:  # merge the keys appended since, not sort them all again
            _, ordered, order = self._keys
            new = payments.column("key").slice(known).to_numpy()
            by_key = np.argsort(new, kind="stable")
            at = np.searchsorted(ordered, new[by_key])
            self._keys = (
                payments.num_rows,
                np.insert(ordered, at, new[by_key]),
                np.insert(order, at, np.arange(known, payments.num_rows, dtype=np.int64)[by_key]),
            )
        _, ordered, order = self._keys
        keys = event_keys(p, "pay")
        at = np.minimum(np.searchsorted(ordered, keys), max(len(ordered) - 1, 0))
        hit = (ordered[at] == keys) if len(ordered) else np.zeros(len(keys), bool)
        return np.where(hit, order[at] if len(ordered) else -1, -1), keys

    def settle(self, results: pa.Table) -> pa.Table:
        """The bank's results: OK executes the payment in one linked chain — the freeze
        posted (IU210 → IU230), the treasury's own-level expenditure (Dr 5001|project / Cr
        1001) and the unit's dual-basis voucher (FA Dr by economic class / Cr 4001; BA Dr
        7101/7201 / Cr 6001) — all or nothing; FAIL voids the freeze. Idempotent by the
        payment's keys: a result given twice answers `exists`."""
        p = _columns(results, SETTLE_COLUMNS, "bank results")
        f = self.fiscal
        ledgers = self.ledgers()
        index, keys = self._find(p)
        reason = np.where(index < 0, "payment_not_found", "").astype(object)
        status = p.column("status").to_numpy(zero_copy_only=False)
        reason[(reason == "") & ~np.isin(status, ["OK", "FAIL"])] = "status_invalid"
        payments = f.table(ft.payments)
        dates = _days(p.column("date"))
        ok = np.flatnonzero((reason == "") & (status == "OK"))
        fail = np.flatnonzero((reason == "") & (status == "FAIL"))
        indicator = payments.column("indicator").to_numpy()
        amount_all = payments.column("amount").to_numpy()
        if len(ok):
            i = indicator[index[ok]]
            a = amount_all[index[ok]]
            eco = payments.column("eco_code").to_numpy()[index[ok]]
            fa_debit = ledgers.fa_debit[i, _fa_debit(eco)]
            line_dims = ledgers.dims[i].copy()
            line_dims[:, 1] = eco
            m = len(ok)
            # three entries per payment: post (no lines), treasury (2 lines), unit (4 lines)
            counts = np.tile(np.array([0, 2, 4], np.int64), m)
            offsets = np.zeros(3 * m + 1, np.int64)
            np.cumsum(counts, out=offsets[1:])
            accounts = (
                np.stack(
                    [
                        ledgers.treasury_expenditure[i],
                        ledgers.treasury_deposit[i],
                        fa_debit,
                        ledgers.fa_credit[i],
                        ledgers.ba_debit[i],
                        ledgers.ba_credit[i],
                    ],
                    axis=1,
                )
                .reshape(-1)
                .astype(np.int32)
            )
            amounts = np.stack([a, -a, a, -a, a, -a], axis=1).reshape(-1)
            dims = np.repeat(line_dims, 6, axis=0)
            entry_keys = (keys[ok][:, None] + np.array([1, 2, 3])).reshape(-1)
            flags = np.tile(np.array([ENTRY_POST_PENDING | ENTRY_LINKED, ENTRY_LINKED, 0], np.uint16), m)
            pending = np.stack([keys[ok], np.zeros(m, np.int64), np.zeros(m, np.int64)], axis=1).reshape(-1)
            books = np.stack([ledgers.ind_book[i], ledgers.tr_book[i], ledgers.unit_book[i]], axis=1).reshape(
                -1
            )
            codes = f.book.post_columns(
                entry_keys,
                offsets,
                accounts,
                amounts,
                flags=flags,
                dates=np.repeat(dates[ok], 3),
                pending=pending,
                books=books.astype(np.int32),
                dims=dims,
            ).reshape(m, 3)
            reason[ok] = _chain_reasons(codes)
        if len(fail):
            codes = f.book.post_columns(
                keys[fail] + 1,
                np.zeros(len(fail) + 1, np.int64),
                np.zeros(0, np.int32),
                np.zeros(0, np.int64),
                flags=np.full(len(fail), ENTRY_VOID_PENDING, np.uint16),
                dates=dates[fail],
                pending=keys[fail],
                books=ledgers.ind_book[indicator[index[fail]]].astype(np.int32),
            )
            reason[fail] = _reasons(codes)
        done = np.flatnonzero(reason == "ok")
        again = np.flatnonzero(reason == "exists")  # settled before but not recorded: record now
        if len(again):
            recorded = self.settled()[index[again]] != 0
            done = np.sort(np.concatenate([done, _once(again[~recorded], index, done)]))
        if len(done):
            settled = {
                "payment": pa.array(index[done].astype(np.int64)),
                "status": pa.array(status[done].tolist(), pa.string()),
                "date": pa.array(dates[done].astype(np.int64)),
            }
            f._append_table(ft.settlements, pa.table(settled))
        return pa.table(
            {"pay_cert_no": p.column("pay_cert_no"), "code": pa.array(reason.tolist(), pa.string())}
        )

    def settled(self) -> np.ndarray:
        """Each payment's settlement: 1 executed, -1 failed, 0 not yet (by payment idx; a
        read-only array, kept and extended by what was settled since the last call)."""
        f = self.fiscal
        count = f.table(ft.payments).num_rows
        rows = f.table(ft.settlements)
        out, seen = self._settled
        if seen > rows.num_rows or len(out) > count:  # tables read anew: start again
            out, seen = np.zeros(0, np.int8), 0
        if len(out) < count:
            out = np.concatenate([out, np.zeros(count - len(out), np.int8)])
        new = rows.slice(seen)
        ok = new.column("status").to_numpy(zero_copy_only=False) == "OK"
        out[new.column("payment").to_numpy()] = np.where(ok, 1, -1)
        self._settled = (out, rows.num_rows)
        view = out.view()
        view.flags.writeable = False
        return view

    def refund(self, refunds: pa.Table) -> pa.Table:
        """Refunds after a successful payment (one per payment): one linked chain restoring the
        indicator (Dr IU210 / Cr IU230: never more than was executed) and reversing the
        treasury and unit entries by the refunded amount."""
        p = _columns(refunds, REFUND_COLUMNS, "refunds")
        f = self.fiscal
        ledgers = self.ledgers()
        index, _ = self._find(p)
        reason = np.where(index < 0, "payment_not_found", "").astype(object)
        amount = p.column("amount").to_numpy().astype(np.int64)
        reason[(reason == "") & (amount <= 0)] = "amount_invalid"
        settled = self.settled()[np.maximum(index, 0)] if len(index) else np.zeros(0, np.int8)
        reason[(reason == "") & (settled != 1)] = "not_executed"
        paid = (
            f.table(ft.payments).column("amount").to_numpy()[np.maximum(index, 0)] if len(index) else amount
        )
        reason[(reason == "") & (amount > paid)] = "exceeds_payment"
        go = np.flatnonzero(reason == "")
        if len(go):
            payments = f.table(ft.payments)
            i = payments.column("indicator").to_numpy()[index[go]]
            eco = payments.column("eco_code").to_numpy()[index[go]]
            fa_debit = ledgers.fa_debit[i, _fa_debit(eco)]
            line_dims = ledgers.dims[i].copy()
            line_dims[:, 1] = eco
            a = amount[go]
            m = len(go)
            keys = event_keys(p.take(pa.array(go)), "refund")
            offsets = np.zeros(3 * m + 1, np.int64)
            np.cumsum(np.tile(np.array([2, 2, 4], np.int64), m), out=offsets[1:])
            accounts = (
                np.stack(
                    [
                        ledgers.available[i],
                        ledgers.executed[i],
                        ledgers.treasury_deposit[i],
                        ledgers.treasury_expenditure[i],
                        ledgers.fa_credit[i],
                        fa_debit,
                        ledgers.ba_credit[i],
                        ledgers.ba_debit[i],
                    ],
                    axis=1,
                )
                .reshape(-1)
                .astype(np.int32)
            )
            amounts = np.stack([a, -a] * 4, axis=1).reshape(-1)
            dims = np.concatenate(
                [np.zeros((m, 2, 4), np.int32), np.repeat(line_dims[:, None, :], 6, axis=1)], axis=1
            ).reshape(-1, 4)
            codes = f.book.post_columns(
                (keys[:, None] + np.array([0, 1, 2])).reshape(-1),
                offsets,
                accounts,
                amounts,
                flags=np.tile(np.array([ENTRY_LINKED, ENTRY_LINKED, 0], np.uint16), m),
                dates=np.repeat(_days(p.column("date"))[go], 3),
                books=np.stack([ledgers.ind_book[i], ledgers.tr_book[i], ledgers.unit_book[i]], axis=1)
                .reshape(-1)
                .astype(np.int32),
                dims=dims,
            ).reshape(m, 3)
            reason[go] = _chain_reasons(codes)
        done = np.flatnonzero(reason == "ok")
        again = np.flatnonzero(reason == "exists")  # refunded before but not recorded: record now
        if len(again):
            recorded = self.refunded()[index[again]] != 0
            done = np.sort(np.concatenate([done, _once(again[~recorded], index, done)]))
        if len(done):
            f._append_table(
                ft.refunds,
                pa.table(
                    {
                        "payment": pa.array(index[done].astype(np.int64)),
                        "amount": pa.array(amount[done]),
                        "date": pa.array(_days(p.column("date"))[done].astype(np.int64)),
                    }
                ),
            )
        return pa.table(
            {"pay_cert_no": p.column("pay_cert_no"), "code": pa.array(reason.tolist(), pa.string())}
        )

    def refunded(self) -> np.ndarray:
        """Each payment's refunded amount in fen (0: none), by payment idx."""
        f = self.fiscal
        out = np.zeros(f.table(ft.payments).num_rows, np.int64)
        rows = f.table(ft.refunds)
        out[rows.column("payment").to_numpy()] = rows.column("amount").to_numpy()
        return out


def unit_books(region: str, unit: str, count: int) -> list[str]:
    """The keys of a unit's books: its book, and its capital-construction book when it has two."""
    main = f"U:{region}:{unit}"
    return [main, main + CAPITAL_BOOK] if count == 2 else [main]


def movement_key(region: str, key: int) -> int:
    """The entry key of movement `key` of a region: movement ids are the region's own, so
    they are scoped by it (and kept apart from any other entry's key)."""
    return entry_key(0, "move", region, key)


def event_keys(table: pa.Table, kind: str) -> np.ndarray:
    """The entry key of each row's event (its first entry's; kind 0 of entry_key's layout):
    a 64-bit FNV-1a hash of `kind`, region, year and payment certificate number (INV-L5:
    one event, one set of entries), computed over the Arrow strings column by column of
    bytes, with no Python per row."""
    joined = pc.binary_join_element_wise(
        pa.scalar(kind),
        table.column("region").cast(pa.string()),
        table.column("year").cast(pa.string()),
        table.column("pay_cert_no").cast(pa.string()),
        "\x1f",
    )
    joined = _array(joined)
    digest = _fnv1a(joined)
    return ((digest >> np.uint64(4)) | np.uint64(1)).astype(np.int64) * 4


def _once(rows: np.ndarray, ids: np.ndarray, taken: np.ndarray) -> np.ndarray:
    """Of `rows` (answered `exists`, not recorded yet), those to record: one per id, none whose
    id a row of `taken` records already (a call that names one event twice records it once)."""
    rows = rows[~np.isin(ids[rows], ids[taken])]
    _, first = np.unique(ids[rows], return_index=True)
    return rows[np.sort(first)]


def _array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _fnv1a(strings: pa.Array) -> np.ndarray:
    """FNV-1a (64-bit) of each string of an Arrow string array (uint64), a byte position at a
    time for all strings at once."""
    offsets = np.frombuffer(strings.buffers()[1], np.int32, len(strings) + 1, strings.offset * 4)
    data = np.frombuffer(strings.buffers()[2], np.uint8) if len(strings) else np.zeros(0, np.uint8)
    starts, lengths = offsets[:-1].astype(np.int64), np.diff(offsets).astype(np.int64)
    digest = np.full(len(strings), 0xCBF29CE484222325, np.uint64)
    prime = np.uint64(0x100000001B3)
    for position in range(int(lengths.max()) if len(lengths) else 0):
        live = np.flatnonzero(lengths > position)
        digest[live] = (digest[live] ^ data[starts[live] + position].astype(np.uint64)) * prime
    return digest


_PROJECT_SCHEMA = pa.schema(
    [
        ("region", pa.string()),
        ("code", pa.string()),
        ("unit", pa.string()),
        ("kind", pa.string()),
        ("name", pa.string()),
        ("capital", pa.bool_()),
    ]
)


INDICATOR_SCHEMA = pa.schema(
    [
        ("bgt_id", pa.string()),
        ("region", pa.string()),
        ("year", pa.int64()),
        ("unit", pa.string()),
        ("project", pa.string()),
        ("fund_type", pa.int64()),
        ("func_code", pa.int64()),
        ("eco_code", pa.int64()),
        ("amount", pa.int64()),
        ("source", pa.string()),
        ("parent", pa.string()),
        ("doc_no", pa.string()),
        ("date", pa.int32()),
        ("direct", pa.bool_()),
    ]
)


def _grown(known: pa.Table, new: pa.Table) -> pa.Table:
    """`known` with `new` appended: chunks kept (no copy of what is there), combined now and
    then so that their number stays small."""
    grown = pa.concat_tables([known, new])
    return grown.combine_chunks() if grown.column(0).num_chunks > 64 else grown


def _positions(values: Any, among: Any) -> np.ndarray:
    """int64 position of each value among `among` (-1 where absent)."""
    if not len(among):
        return np.full(len(values), -1, np.int64)
    found = pc.index_in(
        values, value_set=among.combine_chunks() if isinstance(among, pa.ChunkedArray) else among
    )
    return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def _repeated(keys: Any) -> np.ndarray:
    """True for each row whose key an earlier row has."""
    values = keys.to_numpy(zero_copy_only=False) if not isinstance(keys, np.ndarray) else keys
    _, first = np.unique(values, return_index=True)
    out = np.ones(len(values), bool)
    out[first] = False
    return out


def _text(part: Any) -> Any:
    """A part of a joined key: a string as a scalar, columns as Arrow strings."""
    if isinstance(part, str):
        return pa.scalar(part, pa.string())
    if isinstance(part, pa.Array | pa.ChunkedArray):
        return part.cast(pa.string())
    return pa.array(np.asarray(part).tolist(), pa.string())


def _columns(table: pa.Table, names: Sequence[str], what: str) -> pa.Table:
    if not isinstance(table, pa.Table):
        raise InvalidInput(f"{what}: expected a pyarrow.Table with columns {', '.join(names)}")
    missing = [name for name in names if name not in table.column_names]
    if missing:
        raise InvalidInput(f"{what}: missing columns {', '.join(missing)}")
    if table.num_rows and any(table.column(name).null_count for name in names):
        raise InvalidInput(f"{what}: a value is missing (null)")
    columns = []
    for name in names:
        values = table.column(name)
        kind = _COLUMN_KINDS.get(name, "string")
        ok = (
            pa.types.is_integer(values.type)
            if kind == "integer"
            else pa.types.is_date(values.type) or pa.types.is_int32(values.type)
            if kind == "date"
            else pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
        )
        if not ok:
            expected = {"integer": "integers", "date": "dates (date32)", "string": "strings"}[kind]
            raise InvalidInput(f"{what}: column {name}: expected {expected}, got {values.type}")
        if kind == "integer":
            try:
                values = values.cast(pa.int64())  # safe: a uint64 beyond int64 is refused
            except pa.ArrowException:
                raise InvalidInput(f"{what}: column {name}: a value beyond int64") from None
        if name == "pay_cert_no" and len(values) and pc.max(pc.utf8_length(values)).as_py() > 40:
            raise InvalidInput(f"{what}: column pay_cert_no: at most 40 characters")
        columns.append(values)
    return pa.table(dict(zip(names, columns, strict=True)))


_COLUMN_KINDS = dict.fromkeys(("year", "fund_type", "func_code", "eco_code", "amount"), "integer") | {
    "date": "date"
}


def _days(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """int32 days since 1970-01-01 of a date32 column (or one of day numbers)."""
    if pa.types.is_date(column.type):
        column = column.cast(pa.date32()).cast(pa.int32())
    return np.asarray(column.to_numpy(), np.int32)


def _reasons(codes: np.ndarray) -> list[str]:
    names = {int(c): _REASONS.get(c, c.name) for c in Code}
    names[int(Code.ok)] = "ok"
    names[int(Code.exists)] = "exists"
    return [names[c] for c in codes.tolist()]


def _chain_reasons(codes: np.ndarray) -> list[str]:
    """One reason per chain of entries (all or nothing): ok when every entry was posted;
    exists when the chain was posted before (an entry already there fails a linked chain, so
    its others say linked_event_failed); else the first entry's own failure."""
    out = []
    for row in codes.tolist():
        if all(c == Code.ok for c in row):
            out.append("ok")
            continue
        failed = [c for c in row if c not in (Code.ok, Code.exists, Code.linked_event_failed)]
        if failed:
            out.append(_reasons(np.array([failed[0]]))[0])
        else:
            out.append("exists" if Code.exists in row else "chain_failed")
    return out


def _unique(accounts: list[Account]) -> list[Account]:
    """Each account once (several indicators of one project share its treasury account)."""
    return list({account.key: account for account in accounts}.values())


def _expenditure(unit_type: str) -> str:
    """The budget-basis expenditure account of a unit type: 7101 administrative, 7201 service."""
    return "7101" if unit_type == "ADMIN" else "7201"


def _decimal(minor: int) -> Decimal:
    """Minor units (fen) as yuan."""
    return Decimal(minor).scaleb(-2)


def _validated(model: type[Any], items: Iterable[Any], what: str) -> list[Any]:
    from ledger.records import validated

    return validated(model, items, what)


__all__ = [
    "PAYMENT_COLUMNS",
    "RECONCILIATION",
    "YearEnd",
    "Payments",
    "Department",
    "Fiscal",
    "Indicator",
    "Movement",
    "Outcome",
    "Project",
    "Region",
    "Unit",
    "entry_key",
]
