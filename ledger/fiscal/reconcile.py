"""The nightly reconciliation of a province (DESIGN §5, DOMAIN §6.4–§6.5, §9): every pair of
ledgers that must agree, region by region, down to the payment, with the kernel of
ledger.match.

The pairs, for a cut-off day D of fiscal year Y:
- R1 payment vouchers ↔ agent-bank receipts, by PAY_CERT_NO: the vouchers the ledger executed
  by D against the banks' OK receipts dated up to D + window (the T+1 files of the days after
  D have come in when the run is made). Kernel types, refined: a pair whose later date is
  after D was in transit at the cut-off (`in_transit`, aged by its days apart); one whose dates
  both lie by D has cleared (not a finding); a date mismatch across a year end is `cross_year`;
  a voucher the bank's file lacks is `failure_not_reversed` when the bank reported it FAIL, and
  `in_transit` (awaiting the bank) while the bank's files do not yet reach the business day
  after the voucher's (T+1).
- R1R refunds posted ↔ the banks' REFUND receipts; a refund the ledger lacks is
  `refund_not_reflected`.
- R6 unit-funds vouchers (ledger.fiscal.unitfunds) ↔ the lines of the units' own bank
  accounts, T+1, as R1; a line no voucher explains is `unexplained_flow`.
- R4 treasury own-level expenditure ↔ the unit's budget-basis appropriation revenue
  (INV-X1): per project for project expenditure, per unit for basic expenditure.
- R5 indicator executed (IU230) ↔ Σ executed payments − Σ refunds per indicator (INV-I5).
- C1 the treasury deposit account paid out (1001, control) ↔ the rollup of its expenditure
  sub-ledgers (5001/5002/5003 per project).
- U6 the basis reconciliation of every unit book (INV-U6): what no category explains.
R4, R5, C1 and U6 compare the ledgers' balances as they are (the job runs after the day's
posting); R1 and R1R the records up to the cut-off.

Each region is an independent task (the unit a later scale-out distributes). A run is data:
`store_run` keeps it (the run, its totals per region and pair, every finding) in the ledger's
own database, ages what the previous run also found (`first_seen`) and counts what it no
longer finds (`closed`); `export` writes it as CSV/Parquet with its HTML report.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ledger import match as matching
from ledger.errors import InvalidInput
from ledger.fiscal import files as fiscal_files
from ledger.fiscal import tables as ft
from ledger.fiscal.domain import Fiscal
from ledger.periods import EPOCH, days, next_business_days

PAIRS: dict[str, tuple[str, str, str]] = {
    "R1": ("payment vouchers ↔ bank receipts", "vouchers executed", "agent-bank receipts"),
    "R1R": ("refunds ↔ bank refund receipts", "refunds posted", "bank refunds"),
    "R6": ("unit funds ↔ bank statement lines (T+1)", "unit-funds vouchers", "statement lines"),
    "R4": (
        "treasury expenditure ↔ unit appropriation revenue (INV-X1)",
        "treasury 5001/5002/5003",
        "unit 6001",
    ),
    "R5": ("indicator executed ↔ payments net of refunds (INV-I5)", "indicator IU230", "payments − refunds"),
    "C1": ("treasury deposits paid out ↔ expenditure sub-ledgers", "treasury 1001", "Σ 500x per project"),
    "U6": ("basis reconciliation per unit book (INV-U6)", "surplus", "budget difference + categories"),
}
# The kernel's types, then the fiscal refinements (DOMAIN §6.5); the ground truth of
# `ledger synth` names its faults by these.
TYPES = (*matching.TYPES, "failure_not_reversed", "refund_not_reflected", "cross_year", "unexplained_flow")
BANK_PAIRS = ("R1", "R1R", "R6")  # the pairs of the banks' files (the ground truth of synth is of these)
WINDOW = 3  # calendar days: Friday's payment the bank reports on Monday is in transit
FINDING_COLUMNS = (
    "pair",
    "type",
    "key",
    "region",
    "unit",
    "project",
    "bgt_id",
    "amount_a",
    "amount_b",
    "date_a",
    "date_b",
    "age_days",
)


@dataclass
class Run:
    """One reconciliation run: its totals per region and pair, every finding, and how long
    each stage took. `first_seen` and `closed` come from the runs stored before it."""

    date: int  # the cut-off, days since 1970-01-01
    year: int  # the fiscal year reconciled
    regions: list[str]
    pairs: pa.Table  # region, pair, total_a, total_b, difference, items
    findings: pa.Table  # FINDING_COLUMNS (+ first_seen once aged)
    region_stats: pa.Table  # region, name, indicator_total, executed, payments
    cleared: int = 0  # payments and unit-funds items in transit (R1, R6) both sides now hold
    closed: int = 0  # findings of the previous run not found again
    run_id: str = ""
    created: str = ""
    stages: list[tuple[str, float, int]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Findings per type (every type, zeros included)."""
        found = self.findings.column("type").to_numpy(zero_copy_only=False)
        return {t: int((found == t).sum()) for t in TYPES}

    @property
    def day(self) -> dt.date:
        return EPOCH + dt.timedelta(days=self.date)


@dataclass
class _Province:
    """What every region's task reads, loaded once."""

    date: int
    year: int
    window: int
    regions: pa.Array  # codes by region idx
    names: pa.Array
    unit_code: pa.Array
    project_code: pa.Array
    project_unit: np.ndarray
    project_kind: np.ndarray
    indicator: pa.Table
    payments: pa.Table
    settled: np.ndarray  # per payment: 1 executed, -1 failed, 0 not yet
    settle_date: np.ndarray
    refund_amount: np.ndarray  # per refund row
    refund_payment: np.ndarray
    refund_date: np.ndarray
    net: np.ndarray  # per account: debits posted − credits posted
    ledgers: Any
    payments_by_region: list[np.ndarray]
    indicators_by_region: list[np.ndarray]
    bank: pa.Table | None
    bank_by_region: list[np.ndarray]
    basis: pa.Table | None
    vouchers: pa.Table  # unit-funds vouchers
    vouchers_by_region: list[np.ndarray]
    statements: pa.Table | None
    statements_by_region: list[np.ndarray]
    bank_through: int  # the last day the banks' receipts reach (their files as a whole)
    statements_through: int
    closed: np.ndarray  # per region: its fiscal year is closed (R4 and U6 left out)


def reconcile(
    fiscal: Fiscal,
    date: dt.date,
    *,
    regions: Iterable[str] | None = None,
    bank_receipts: pa.Table | None = None,
    unit_statements: pa.Table | None = None,
    window: int = WINDOW,
    year: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Run:
    """Reconcile every pair for the cut-off `date`, region by region (all regions, or those
    named), for fiscal `year` (default the cut-off's: a run in the January clean-up period
    names the year before). `bank_receipts` are the agent banks' receipts (layout
    `bank_receipts` of schemas/fiscal/files.json), `unit_statements` the lines of the units'
    own accounts (layout `unit_statements`); without them R1 and R1R, or R6, are left out."""
    if not isinstance(date, dt.date) or isinstance(date, dt.datetime):
        raise InvalidInput(f"reconcile: date {date!r}: expected a date")
    if isinstance(window, bool) or not isinstance(window, int) or window < 0:
        raise InvalidInput(f"reconcile: window {window!r}: expected whole days >= 0")
    stages: list[tuple[str, float, int]] = []
    started = time.perf_counter()
    if year is not None and (isinstance(year, bool) or not isinstance(year, int) or not 1900 <= year <= 9999):
        raise InvalidInput(f"reconcile: year {year!r}: expected a fiscal year")
    if progress is not None:
        progress("load", 0, 1)
    province = _load(
        fiscal, date, date.year if year is None else year, window, bank_receipts, unit_statements
    )
    stages.append(("load", time.perf_counter() - started, province.payments.num_rows))
    if progress is not None:
        progress("load", 1, 1)
    codes = province.regions.to_pylist()
    if regions is None:
        chosen = list(range(len(codes)))
    else:
        wanted = list(dict.fromkeys(regions))
        unknown = [r for r in wanted if r not in codes]
        if unknown:
            raise InvalidInput(f"reconcile: region {unknown[0]!r} does not exist")
        chosen = sorted(codes.index(r) for r in wanted)
    started = time.perf_counter()
    pairs, findings, cleared, records = [], [], 0, 0
    for done, r in enumerate(chosen):
        region_pairs, region_findings, region_cleared, region_records = _region(province, r)
        pairs += region_pairs
        findings.append(region_findings)
        cleared += region_cleared
        records += region_records
        if progress is not None:
            progress("reconcile", done + 1, len(chosen))
    stages.append(("reconcile", time.perf_counter() - started, records))
    return Run(
        date=province.date,
        year=province.year,
        regions=[codes[r] for r in chosen],
        pairs=pa.Table.from_pylist(pairs, schema=_PAIR_SCHEMA),
        findings=pa.concat_tables(findings) if findings else _findings({}),
        region_stats=_region_stats(province, chosen),
        cleared=cleared,
        stages=stages,
    )


# --- loading --------------------------------------------------------------------------------


def _load(
    fiscal: Fiscal, date: dt.date, year: int, window: int, bank: pa.Table | None, statements: pa.Table | None
) -> _Province:
    book = fiscal.book
    regions = fiscal.table(ft.regions)
    units, projects = fiscal.table(ft.units), fiscal.table(ft.projects)
    indicators = fiscal.table(ft.indicators)
    payments = fiscal.table(ft.payments)
    settlements = fiscal.table(ft.settlements)
    refunds = fiscal.table(ft.refunds)
    balances = book.balances()
    settle_date = np.full(payments.num_rows, -1, np.int64)
    settle_date[settlements.column("payment").to_numpy()] = settlements.column("date").to_numpy()
    n_regions = regions.num_rows
    by_region = _split(payments.column("region").to_numpy(), n_regions)
    bank_split: list[np.ndarray] = [np.zeros(0, np.int64)] * n_regions
    if bank is not None:
        bank = _bank_table(bank)
        at = pc.fill_null(pc.index_in(bank.column("region"), value_set=regions.column("code")), n_regions)
        bank_split = _split(at.to_numpy().astype(np.int64), n_regions)  # other regions' rows left out
    basis = fiscal.basis_reconciliation(None, year) if regions.num_rows else None
    lines_split: list[np.ndarray] = [np.zeros(0, np.int64)] * n_regions
    if statements is not None:
        statements = _statement_table(statements)
        at = pc.fill_null(
            pc.index_in(statements.column("region"), value_set=regions.column("code")), n_regions
        )
        lines_split = _split(at.to_numpy().astype(np.int64), n_regions)
    vouchers = fiscal.table(ft.unit_vouchers)
    return _Province(
        date=days(date),
        year=year,
        window=window,
        regions=regions.column("code").combine_chunks(),
        names=regions.column("name").combine_chunks(),
        unit_code=units.column("code").combine_chunks(),
        project_code=projects.column("code").combine_chunks(),
        project_unit=projects.column("unit").to_numpy(),
        project_kind=projects.column("kind").to_numpy(zero_copy_only=False),
        indicator=indicators,
        payments=payments,
        settled=fiscal.payments.settled(),
        settle_date=settle_date,
        refund_amount=refunds.column("amount").to_numpy(),
        refund_payment=refunds.column("payment").to_numpy(),
        refund_date=refunds.column("date").to_numpy(),
        net=balances["debits_posted"] - balances["credits_posted"],
        ledgers=fiscal.payments.ledgers() if indicators.num_rows else None,
        payments_by_region=by_region,
        indicators_by_region=_split(indicators.column("region").to_numpy(), n_regions),
        bank=bank,
        bank_by_region=bank_split,
        basis=basis,
        vouchers=vouchers,
        vouchers_by_region=_split(vouchers.column("region").to_numpy(), n_regions),
        statements=statements,
        statements_by_region=lines_split,
        bank_through=_through(bank),
        statements_through=_through(statements),
        closed=np.array([fiscal._year_closed(c, year) for c in regions.column("code").to_pylist()], bool),
    )


def _bank_table(bank: pa.Table) -> pa.Table:
    need = ("pay_cert_no", "region", "year", "bgt_id", "project", "amount", "date", "status")
    return _files_table(bank, "bank_receipts", need, "bank receipts")


def _statement_table(lines: pa.Table) -> pa.Table:
    return _files_table(
        lines,
        "unit_statements",
        ("pay_cert_no", "region", "unit", "year", "amount", "date"),
        "unit statements",
    )


def _files_table(table: pa.Table, kind: str, need: tuple[str, ...], what: str) -> pa.Table:
    """The columns a pair reads of the banks' files (layout `kind`), checked whole and typed,
    dates as int32 days."""
    missing = [c for c in need if c not in table.column_names]
    if missing:
        raise InvalidInput(f"reconcile: the {what} lack column {missing[0]!r}")
    table = table.select(list(need))
    _refuse_bad(table, what)
    at = need.index("date")
    if pa.types.is_date(table.column("date").type):
        table = table.set_column(at, "date", table.column("date").cast(pa.date32()).cast(pa.int32()))
    return table.cast(fiscal_files.arrow_schema(kind, need))


def _refuse_bad(table: pa.Table, what: str) -> None:
    """The files' columns must be whole: no empty value, amounts in integer fen (no float)."""
    for name in table.column_names:
        if table.column(name).null_count:
            raise InvalidInput(f"reconcile: the {what} have an empty {name!r}")
    kind = table.column("amount").type
    if not pa.types.is_integer(kind):
        raise InvalidInput(f"reconcile: the {what} have amounts of {kind}: expected integer fen")


def _through(files: pa.Table | None) -> int:
    """The last day a set of the banks' files reaches (their latest row's date)."""
    if files is None or not files.num_rows:
        return -(2**31)
    return int(pc.max(files.column("date")).as_py())


def _split(owner: np.ndarray, count: int) -> list[np.ndarray]:
    """Row numbers per owner 0..count-1 (in row order); owners outside that range dropped."""
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(count + 1))
    return [order[bounds[i] : bounds[i + 1]] for i in range(count)]


# --- one region -----------------------------------------------------------------------------


def _region(p: _Province, r: int) -> tuple[list[dict[str, Any]], pa.Table, int, int]:
    code = p.regions[r].as_py()
    pairs: list[dict[str, Any]] = []
    parts: list[pa.Table] = []
    cleared = records = 0
    if p.bank is not None:
        table, totals, cleared, n = _vouchers(p, r)
        parts.append(table)
        pairs.append({"region": code, "pair": "R1", **totals})
        records += n
        table, totals, n = _refunds(p, r)
        parts.append(table)
        pairs.append({"region": code, "pair": "R1R", **totals})
        records += n
    if p.statements is not None:
        table, totals, cleared_here, n = _unit_funds(p, r)
        parts.append(table)
        pairs.append({"region": code, "pair": "R6", **totals})
        cleared += cleared_here
        records += n
    if p.ledgers is not None:
        builds = (("R4", _appropriations), ("R5", _executed), ("C1", _control))
        for name, build in builds[1:] if p.closed[r] else builds:  # closed: 6001 is in 8101 now
            table, totals, n = build(p, r)
            parts.append(table)
            pairs.append({"region": code, "pair": name, **totals})
            records += n
    if p.basis is not None and p.basis.num_rows and not p.closed[r]:
        table, totals, n = _basis(p, r)
        parts.append(table)
        pairs.append({"region": code, "pair": "U6", **totals})
        records += n
    return pairs, pa.concat_tables(parts) if parts else _findings({}), cleared, records


def _vouchers(p: _Province, r: int) -> tuple[pa.Table, dict[str, int], int, int]:
    """R1 for region r (see the module docstring)."""
    rows = p.payments_by_region[r]
    pay = p.payments
    rows = rows[
        (pay.column("year").to_numpy()[rows] == p.year)
        & (p.settled[rows] == 1)
        & (p.settle_date[rows] <= p.date)
    ]
    bank_rows = p.bank_by_region[r]
    assert p.bank is not None
    bank = p.bank.take(pa.array(bank_rows, pa.int64()))
    status = bank.column("status").to_numpy(zero_copy_only=False)
    bank_date = bank.column("date").to_numpy()
    in_year = bank.column("year").to_numpy() == p.year
    a_key = pay.column("pay_cert_no").take(pa.array(rows, pa.int64()))
    by_cut_off = _by_cut_off(p, bank_date, bank.column("pay_cert_no"), a_key)
    ok = np.flatnonzero(in_year & (status == "OK") & by_cut_off)
    failed = bank.column("pay_cert_no").filter(pa.array(in_year & (status == "FAIL")))
    indicator = pay.column("indicator").to_numpy()[rows]
    ind_project = p.indicator.column("project").to_numpy()
    a_group = p.project_code.take(pa.array(ind_project[indicator]))
    b = bank.take(pa.array(ok, pa.int64()))
    keys, key_values = _codes(a_key, b.column("pay_cert_no"))
    groups, group_values = _codes(a_group, b.column("project"))
    n = len(rows)
    found = matching.match(
        matching.Side(
            key=keys[:n],
            amount=pay.column("amount").to_numpy()[rows],
            date=p.settle_date[rows].astype(np.int32),
            group=groups[:n],
        ),
        matching.Side(
            key=keys[n:],
            amount=b.column("amount").to_numpy(),
            date=b.column("date").to_numpy().astype(np.int32),
            group=groups[n:],
        ),
        window=p.window,
        as_of=p.date,
    )
    items = _items(found)
    kind = items["type"]
    date_a, date_b = items["date_a"], items["date_b"]
    key_text = key_values.take(pa.array(items["key"]))
    # dated in another year: beyond the window, or the bank's date before the ledger's (what
    # the bank pays after the ledger across a year end is in transit)
    across = _year_of(date_a) != _year_of(date_b)
    kind[across & ((kind == "date_mismatch") | ((kind == "in_transit") & (date_b < date_a)))] = "cross_year"
    done = (kind == "in_transit") & (np.maximum(date_a, date_b) <= p.date)
    absent = kind == "missing_b"
    fail = absent & pc.is_in(key_text, value_set=failed).to_numpy(zero_copy_only=False)
    kind[fail] = "failure_not_reversed"
    awaiting = absent & ~fail & (p.bank_through < next_business_days(date_a))  # the bank pays T+1
    kind[awaiting] = "in_transit"
    keep = np.flatnonzero(~done)
    row_a, row_b = items["row_a"][keep], items["row_b"][keep]
    payment = np.where(row_a >= 0, rows[np.maximum(row_a, 0)] if n else -1, -1)
    indicator = np.where(payment >= 0, pay.column("indicator").to_numpy()[np.maximum(payment, 0)], -1)
    if b.num_rows:  # what only the bank has: its indicator by the BGT_ID it names
        named = _indicator_of(p, b.column("bgt_id").take(pa.array(np.maximum(row_b, 0))))
        indicator = np.where(indicator >= 0, indicator, named)
    group = np.where(items["group_a"] >= 0, items["group_a"], items["group_b"])[keep]
    table = _findings(
        {
            "pair": "R1",
            "type": kind[keep],
            "key": key_text.take(pa.array(keep, pa.int64())),
            "region": p.regions[r].as_py(),
            "indicator": indicator,
            "project": group_values.take(pa.array(group)),
            "amount_a": items["amount_a"][keep],
            "amount_b": items["amount_b"][keep],
            "date_a": date_a[keep],
            "date_b": date_b[keep],
            "age_days": items["age_days"][keep],
        },
        p,
    )
    return table, _totals(found, table), int(done.sum()), n + b.num_rows


def _unit_funds(p: _Province, r: int) -> tuple[pa.Table, dict[str, int], int, int]:
    """R6 for region r: unit-funds vouchers posted by the cut-off ↔ the statement lines of the
    units' own accounts (the T+1 files), by PAY_CERT_NO, grouped by unit."""
    v = p.vouchers
    rows = p.vouchers_by_region[r]
    rows = rows[(v.column("year").to_numpy()[rows] == p.year) & (v.column("date").to_numpy()[rows] <= p.date)]
    assert p.statements is not None
    lines = p.statements.take(pa.array(p.statements_by_region[r], pa.int64()))
    line_date = lines.column("date").to_numpy()
    a_key = v.column("pay_cert_no").take(pa.array(rows, pa.int64()))
    in_year = lines.column("year").to_numpy() == p.year
    b = lines.filter(pa.array(in_year & _by_cut_off(p, line_date, lines.column("pay_cert_no"), a_key)))
    a_unit = p.unit_code.take(pa.array(v.column("unit").to_numpy()[rows]))
    keys, values = _codes(a_key, b.column("pay_cert_no"))
    groups, group_values = _codes(a_unit, b.column("unit"))
    n = len(rows)
    found = matching.match(
        matching.Side(
            key=keys[:n],
            amount=v.column("amount").to_numpy()[rows],
            date=v.column("date").to_numpy()[rows].astype(np.int32),
            group=groups[:n],
        ),
        matching.Side(
            key=keys[n:],
            amount=b.column("amount").to_numpy(),
            date=b.column("date").to_numpy(),
            group=groups[n:],
        ),
        window=p.window,
        as_of=p.date,
    )
    items = _items(found)
    kind = items["type"]
    done = (kind == "in_transit") & (np.maximum(items["date_a"], items["date_b"]) <= p.date)
    # a line is dated the day of its voucher: awaited while the files do not reach that day
    kind[(kind == "missing_b") & (p.statements_through < items["date_a"])] = "in_transit"
    kind[kind == "missing_a"] = "unexplained_flow"
    keep = np.flatnonzero(~done)
    group = np.where(items["group_a"] >= 0, items["group_a"], items["group_b"])[keep]
    table = _findings(
        {
            "pair": "R6",
            "type": kind[keep],
            "key": values.take(pa.array(items["key"][keep])),
            "region": p.regions[r].as_py(),
            "indicator": np.full(len(keep), -1, np.int64),
            "unit": group_values.take(pa.array(group)),
            "amount_a": items["amount_a"][keep],
            "amount_b": items["amount_b"][keep],
            "date_a": items["date_a"][keep],
            "date_b": items["date_b"][keep],
            "age_days": items["age_days"][keep],
        },
        p,
    )
    return table, _totals(found, table), int(done.sum()), n + b.num_rows


def _refunds(p: _Province, r: int) -> tuple[pa.Table, dict[str, int], int]:
    """R1R for region r: refunds posted by the cut-off ↔ the banks' REFUND receipts."""
    pay = p.payments
    region_of = pay.column("region").to_numpy()[p.refund_payment]
    year_of = pay.column("year").to_numpy()[p.refund_payment]
    mine = np.flatnonzero((region_of == r) & (year_of == p.year) & (p.refund_date <= p.date))
    assert p.bank is not None
    bank = p.bank.take(pa.array(p.bank_by_region[r], pa.int64()))
    status = bank.column("status").to_numpy(zero_copy_only=False)
    payment = p.refund_payment[mine]
    a_key = pay.column("pay_cert_no").take(pa.array(payment, pa.int64()))
    b_rows = np.flatnonzero(
        (status == "REFUND")
        & (bank.column("year").to_numpy() == p.year)
        & _by_cut_off(p, bank.column("date").to_numpy(), bank.column("pay_cert_no"), a_key)
    )
    b = bank.take(pa.array(b_rows, pa.int64()))
    keys, values = _codes(a_key, b.column("pay_cert_no"))
    n = len(mine)
    found = matching.match(
        matching.Side(key=keys[:n], amount=p.refund_amount[mine], date=p.refund_date[mine].astype(np.int32)),
        matching.Side(key=keys[n:], amount=b.column("amount").to_numpy(), date=b.column("date").to_numpy()),
        window=p.window,
        as_of=p.date,
    )
    items = _items(found)
    kind = items["type"]
    done = (kind == "in_transit") & (np.maximum(items["date_a"], items["date_b"]) <= p.date)
    kind[kind == "missing_a"] = "refund_not_reflected"
    keep = np.flatnonzero(~done)
    row_a, row_b = items["row_a"][keep], items["row_b"][keep]
    indicator = np.full(len(keep), -1, np.int64)
    if n:
        paid = pay.column("indicator").to_numpy()[payment[np.maximum(row_a, 0)]]
        indicator = np.where(row_a >= 0, paid, -1)
    if b.num_rows:
        named = _indicator_of(p, b.column("bgt_id").take(pa.array(np.maximum(row_b, 0))))
        indicator = np.where(indicator >= 0, indicator, named)
    table = _findings(
        {
            "pair": "R1R",
            "type": kind[keep],
            "key": values.take(pa.array(items["key"][keep])),
            "region": p.regions[r].as_py(),
            "indicator": indicator,
            "amount_a": items["amount_a"][keep],
            "amount_b": items["amount_b"][keep],
            "date_a": items["date_a"][keep],
            "date_b": items["date_b"][keep],
            "age_days": items["age_days"][keep],
        },
        p,
    )
    return table, _totals(found, table), n + b.num_rows


def _balanced_pair(
    p: _Province,
    r: int,
    pair: str,
    key: np.ndarray,
    key_text: pa.Array,
    a: np.ndarray,
    b: np.ndarray,
    indicator: np.ndarray,
) -> tuple[pa.Table, dict[str, int], int]:
    """A pair of balances per key (one record a side): amount mismatches only."""
    keep = np.flatnonzero((a != 0) | (b != 0))
    found = matching.match(
        matching.Side(key=key[keep], amount=a[keep], date=np.full(len(keep), p.date, np.int32)),
        matching.Side(key=key[keep], amount=b[keep], date=np.full(len(keep), p.date, np.int32)),
        as_of=p.date,
    )
    items = _items(found)
    at = keep[items["row_a"]]
    table = _findings(
        {
            "pair": pair,
            "type": items["type"],
            "key": key_text.take(pa.array(at, pa.int64())),
            "region": p.regions[r].as_py(),
            "indicator": indicator[at],
            "amount_a": items["amount_a"],
            "amount_b": items["amount_b"],
            "date_a": items["date_a"],
            "date_b": items["date_b"],
            "age_days": np.zeros(len(at), np.int64),
        },
        p,
    )
    return table, _totals(found, table), 2 * len(keep)


def _appropriations(p: _Province, r: int) -> tuple[pa.Table, dict[str, int], int]:
    """R4: treasury expenditure per project (basic expenditure: per unit) ↔ the unit's 6001."""
    mine = p.indicators_by_region[r]
    led = p.ledgers
    project = p.indicator.column("project").to_numpy()[mine]
    basic = np.isin(p.project_kind[project], ("1", "21"))
    unit = p.indicator.column("unit").to_numpy()[mine]
    n_projects = len(p.project_code)
    key = np.where(basic, n_projects + unit, project)
    treasury = _sum_accounts(key, led.treasury_expenditure[mine], p.net)
    unit_side = _sum_accounts(key, led.ba_credit[mine], -p.net)
    keys = np.unique(key)
    first = np.searchsorted(np.sort(key), keys)
    order = np.argsort(key, kind="stable")
    text = pc.if_else(
        pa.array(basic[order[first]]),
        pc.binary_join_element_wise("basic:", p.unit_code.take(pa.array(unit[order[first]])), ""),
        p.project_code.take(pa.array(project[order[first]])),
    )
    table, totals, n = _balanced_pair(
        p, r, "R4", keys, text, treasury.get_many(keys), unit_side.get_many(keys), mine[order[first]]
    )
    # a key covers every indicator of its project (of its unit's basic expenditure: no project)
    basic_key = pc.starts_with(table.column("key"), "basic:")
    table = table.set_column(
        table.schema.get_field_index("bgt_id"), "bgt_id", pa.array([""] * table.num_rows, pa.string())
    )
    project = pc.if_else(basic_key, "", table.column("project"))
    return table.set_column(table.schema.get_field_index("project"), "project", project), totals, n


def _executed(p: _Province, r: int) -> tuple[pa.Table, dict[str, int], int]:
    """R5: IU230 per indicator ↔ its executed payments less their refunds."""
    mine = p.indicators_by_region[r]
    ledger_side = p.net[p.ledgers.executed[mine]]
    pay = p.payments
    rows = p.payments_by_region[r]
    executed = rows[p.settled[rows] == 1]
    paid = np.zeros(p.indicator.num_rows, np.int64)
    np.add.at(paid, pay.column("indicator").to_numpy()[executed], pay.column("amount").to_numpy()[executed])
    back = p.refund_payment
    region_of = pay.column("region").to_numpy()[back]
    np.subtract.at(
        paid, pay.column("indicator").to_numpy()[back[region_of == r]], p.refund_amount[region_of == r]
    )
    return _balanced_pair(
        p,
        r,
        "R5",
        mine.astype(np.int64),
        p.indicator.column("bgt_id").take(pa.array(mine, pa.int64())),
        ledger_side,
        paid[mine],
        mine,
    )


def _control(p: _Province, r: int) -> tuple[pa.Table, dict[str, int], int]:
    """C1: the treasury's deposits paid out (1001, net credits) ↔ Σ its expenditure
    sub-ledgers (net debits), one record a side per region."""
    mine = p.indicators_by_region[r]
    if not len(mine):
        return _findings({}), {"total_a": 0, "total_b": 0, "difference": 0, "items": 0}, 0
    deposit = np.unique(p.ledgers.treasury_deposit[mine])
    expenditure = np.unique(p.ledgers.treasury_expenditure[mine])
    a = np.array([-int(p.net[deposit].sum())], np.int64)
    b = np.array([int(p.net[expenditure].sum())], np.int64)
    text = pa.array([f"TR:{p.regions[r].as_py()}|1001"], pa.string())
    return _balanced_pair(p, r, "C1", np.array([r], np.int64), text, a, b, np.array([-1], np.int64))


def _basis(p: _Province, r: int) -> tuple[pa.Table, dict[str, int], int]:
    """U6: each unit book whose surplus the budget difference and the categories do not
    explain (amount_a the surplus, amount_b what explains it)."""
    assert p.basis is not None
    rows = p.basis.filter(pc.starts_with(p.basis.column("book"), f"U:{p.regions[r].as_py()}:"))
    surplus = rows.column("surplus").to_numpy().astype(np.int64)
    unexplained = rows.column("unexplained").to_numpy().astype(np.int64)
    bad = np.flatnonzero(unexplained != 0)
    table = _findings(
        {
            "pair": "U6",
            "type": np.full(len(bad), "amount_mismatch", dtype=object),
            "key": rows.column("book").take(pa.array(bad, pa.int64())),
            "unit": pc.list_element(
                pc.split_pattern(rows.column("book").take(pa.array(bad, pa.int64())), ":"), 2
            ),
            "region": p.regions[r].as_py(),
            "indicator": np.full(len(bad), -1, np.int64),
            "amount_a": surplus[bad],
            "amount_b": (surplus - unexplained)[bad],
            "date_a": np.full(len(bad), p.date, np.int64),
            "date_b": np.full(len(bad), p.date, np.int64),
            "age_days": np.zeros(len(bad), np.int64),
        },
        p,
    )
    totals = {
        "total_a": int(surplus.sum()),
        "total_b": int((surplus - unexplained).sum()),
        "difference": int(unexplained.sum()),
        "items": len(bad),
    }
    return table, totals, rows.num_rows


# --- helpers --------------------------------------------------------------------------------


class _Sums:
    """Sums per key, read back for any keys (0 for a key without any)."""

    def __init__(self, keys: np.ndarray, sums: np.ndarray) -> None:
        self.keys, self.sums = keys, sums

    def get_many(self, keys: np.ndarray) -> np.ndarray:
        at = np.minimum(np.searchsorted(self.keys, keys), max(len(self.keys) - 1, 0))
        hit = self.keys[at] == keys if len(self.keys) else np.zeros(len(keys), bool)
        return np.where(hit, self.sums[at] if len(self.keys) else 0, 0).astype(np.int64)


def _sum_accounts(key: np.ndarray, account: np.ndarray, value: np.ndarray) -> _Sums:
    """Σ value[account] per key, each distinct (key, account) counted once (indicators of
    one project share its accounts)."""
    pairs = np.unique(np.stack([key, account.astype(np.int64)], axis=1), axis=0)
    keys, at = np.unique(pairs[:, 0], return_inverse=True)
    sums = np.zeros(len(keys), np.int64)
    np.add.at(sums, at, value[pairs[:, 1]])
    return _Sums(keys, sums)


def _codes(a: pa.Array | pa.ChunkedArray, b: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Dense int64 codes of both sides' values, jointly (exact: no hashing), and the values."""
    both = pa.chunked_array([_chunk(a), _chunk(b)], pa.string()).combine_chunks()
    encoded = both.dictionary_encode()
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), encoded.dictionary


def _chunk(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    return values.cast(pa.string())


def _by_cut_off(
    p: _Province, dates: np.ndarray, keys: pa.Array | pa.ChunkedArray, ledger_keys: pa.Array
) -> np.ndarray:
    """Which of the files' rows a run with cut-off D reads: those dated by D, and those dated
    within the window after it whose key the ledger has by D (in transit at the cut-off);
    what the ledger records only after D is the next run's."""
    later = (dates > p.date) & (dates <= p.date + p.window)
    known = pc.is_in(keys, value_set=ledger_keys).to_numpy(zero_copy_only=False)
    return (dates <= p.date) | (later & known)


def _items(found: matching.Matched) -> dict[str, np.ndarray]:
    """The kernel's findings as numpy columns: types as objects (to refine), absent dates
    and groups as -1."""
    items = found.items
    out = {
        name: pc.fill_null(items.column(name), -1).to_numpy().astype(np.int64)
        for name in ("key", "group_a", "group_b", "amount_a", "amount_b", "date_a", "date_b", "age_days")
    }
    out["row_a"] = items.column("row_a").to_numpy().astype(np.int64)
    out["row_b"] = items.column("row_b").to_numpy().astype(np.int64)
    out["type"] = items.column("type").to_numpy(zero_copy_only=False).astype(object)
    return out


def _indicator_of(p: _Province, bgt_id: pa.Array) -> np.ndarray:
    """Indicator idx of each BGT_ID (-1: none such)."""
    found = pc.fill_null(pc.index_in(bgt_id, value_set=p.indicator.column("bgt_id")), -1)
    return found.to_numpy().astype(np.int64)


def _year_of(day: np.ndarray) -> np.ndarray:
    return np.asarray(day, np.int64).astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64)


_PAIR_SCHEMA = pa.schema(
    [
        ("region", pa.string()),
        ("pair", pa.string()),
        ("total_a", pa.int64()),
        ("total_b", pa.int64()),
        ("difference", pa.int64()),
        ("items", pa.int64()),
    ]
)
_FINDING_SCHEMA = pa.schema(
    [
        ("pair", pa.string()),
        ("type", pa.string()),
        ("key", pa.string()),
        ("region", pa.string()),
        ("unit", pa.string()),
        ("project", pa.string()),
        ("bgt_id", pa.string()),
        ("amount_a", pa.int64()),
        ("amount_b", pa.int64()),
        ("date_a", pa.int32()),
        ("date_b", pa.int32()),
        ("age_days", pa.int32()),
    ]
)


def _findings(columns: dict[str, Any], p: _Province | None = None) -> pa.Table:
    """A findings table from a pair's columns: the indicator (idx, -1 unknown) resolved to its
    unit, project and BGT_ID; a project given by the pair wins over the indicator's."""
    if not columns:
        return _FINDING_SCHEMA.empty_table()
    n = len(columns["type"])
    assert p is not None
    ind = np.asarray(columns["indicator"], np.int64)
    known = ind >= 0
    safe = pa.array(np.where(known, ind, 0))
    mask = pa.array(~known)
    if p.indicator.num_rows:
        unit = p.unit_code.take(p.indicator.column("unit").take(safe))
        project = p.project_code.take(p.indicator.column("project").take(safe))
        bgt = p.indicator.column("bgt_id").take(safe)
        unit, bgt = (pc.if_else(mask, "", unit), pc.if_else(mask, "", bgt))
        project = pc.if_else(mask, "", project)
    else:
        unit = project = bgt = pa.array([""] * n, pa.string())
    if columns.get("project") is not None:
        project = pc.coalesce(columns["project"], project)
    if columns.get("unit") is not None:
        unit = columns["unit"]
    out = {
        "pair": pa.array([columns["pair"]] * n, pa.string()),
        "type": pa.array(list(columns["type"]), pa.string()),
        "key": columns["key"],
        "region": pa.array([columns["region"]] * n, pa.string()),
        "unit": unit,
        "project": project,
        "bgt_id": bgt,
        "amount_a": pa.array(np.asarray(columns["amount_a"], np.int64)),
        "amount_b": pa.array(np.asarray(columns["amount_b"], np.int64)),
        "date_a": pa.array(np.asarray(columns["date_a"], np.int64).astype(np.int32)),
        "date_b": pa.array(np.asarray(columns["date_b"], np.int64).astype(np.int32)),
        "age_days": pa.array(np.asarray(columns["age_days"], np.int64).astype(np.int32)),
    }
    return pa.table(out).cast(_FINDING_SCHEMA)


def _totals(found: matching.Matched, findings: pa.Table) -> dict[str, int]:
    groups = found.groups
    a = int(pc.sum(groups.column("total_a")).as_py() or 0)
    b = int(pc.sum(groups.column("total_b")).as_py() or 0)
    return {"total_a": a, "total_b": b, "difference": a - b, "items": findings.num_rows}


def _region_stats(p: _Province, chosen: list[int]) -> pa.Table:
    """Per region: indicators issued, executed (IU230), and payments executed by the cut-off."""
    issued = p.indicator.column("amount").to_numpy()
    out: dict[str, list[Any]] = {k: [] for k in ("region", "name", "indicator_total", "executed", "payments")}
    for r in chosen:
        mine = p.indicators_by_region[r]
        rows = p.payments_by_region[r]
        out["region"].append(p.regions[r].as_py())
        out["name"].append(p.names[r].as_py() or "")
        out["indicator_total"].append(int(issued[mine].sum()))
        out["executed"].append(int(p.net[p.ledgers.executed[mine]].sum()) if p.ledgers is not None else 0)
        out["payments"].append(int(((p.settled[rows] == 1) & (p.settle_date[rows] <= p.date)).sum()))
    return pa.table(out, schema=_STATS_SCHEMA)


_STATS_SCHEMA = pa.schema(
    [
        ("region", pa.string()),
        ("name", pa.string()),
        ("indicator_total", pa.int64()),
        ("executed", pa.int64()),
        ("payments", pa.int64()),
    ]
)


# --- runs as data ---------------------------------------------------------------------------


def store_run(fiscal: Fiscal, run: Run, created: dt.datetime | None = None) -> Run:
    """Keep `run` in the ledger's database, aged region by region against the last run stored
    before it (same cut-off or earlier) of the same fiscal year that covered the region: a
    finding (region, pair, key) that run had keeps its `first_seen`, one it lacks is first
    seen now, and what that run found in the region and this one does not is `closed`. Sets
    run_id, created, first_seen and closed on `run` and returns it."""
    runs = fiscal.table(ft.recon_runs)
    idx = runs.num_rows
    first_seen = np.full(run.findings.num_rows, run.date, np.int64)
    closed = 0
    now = _finding_keys(run.findings)
    region_of = run.findings.column("region")
    by_previous: dict[int, list[str]] = {}
    for region in run.regions:
        previous = _previous(runs, run.date, run.year, region)
        if previous is not None:
            by_previous.setdefault(previous, []).append(region)
    for previous, regions in by_previous.items():
        before = _run_findings(fiscal, previous)
        before = before.filter(pc.is_in(before.column("region"), value_set=pa.array(regions)))
        then = _finding_keys(before)
        mine = pc.is_in(region_of, value_set=pa.array(regions)).to_numpy(zero_copy_only=False)
        at = pc.fill_null(pc.index_in(now, value_set=then), -1).to_numpy().astype(np.int64)
        seen = before.column("first_seen").to_numpy().astype(np.int64)
        carried = mine & (at >= 0)
        first_seen[carried] = seen[at[carried]]
        closed += int((~pc.is_in(then, value_set=now).to_numpy(zero_copy_only=False)).sum())
    created = created or dt.datetime.now(dt.UTC)
    run.run_id = f"{run.day:%Y%m%d}-{idx:04d}"
    run.created = created.isoformat(timespec="seconds")
    run.closed = closed
    run.findings = _with_column(run.findings, "first_seen", pa.array(first_seen.astype(np.int32)))
    fiscal._append_table(
        ft.recon_runs,
        pa.table(
            {
                "run_id": [run.run_id],
                "date": pa.array([run.date], pa.int64()),
                "year": pa.array([run.year], pa.int64()),
                "scope": [",".join(run.regions)],
                "created": [run.created],
                "findings": pa.array([run.findings.num_rows], pa.int64()),
                "closed": pa.array([closed], pa.int64()),
            }
        ),
    )
    fiscal._append_table(
        ft.recon_pairs, run.pairs.add_column(0, "run", pa.array([idx] * run.pairs.num_rows, pa.int64()))
    )
    fiscal._append_table(
        ft.recon_findings,
        run.findings.add_column(0, "run", pa.array(np.full(run.findings.num_rows, idx, np.int64))),
    )
    return run


def _previous(runs: pa.Table, date: int, year: int, region: str) -> int | None:
    """The idx of the last run of fiscal `year` stored with a cut-off on or before `date`
    whose scope held `region` (None: none)."""
    best: tuple[int, int] | None = None
    for i, (day, of_year, scope) in enumerate(
        zip(
            runs.column("date").to_pylist(),
            runs.column("year").to_pylist(),
            runs.column("scope").to_pylist(),
            strict=True,
        )
    ):
        if (
            of_year == year
            and day <= date
            and region in scope.split(",")
            and (best is None or day >= best[0])
        ):
            best = (day, i)
    return None if best is None else best[1]


def _run_findings(fiscal: Fiscal, run: int) -> pa.Table:
    rows = fiscal.table(ft.recon_findings)
    return rows.filter(pc.equal(rows.column("run"), run))


def _finding_keys(findings: pa.Table) -> pa.Array:
    """(region, pair, key) of each finding as one string, for ageing across runs."""
    joined = pc.binary_join_element_wise(
        findings.column("region"), findings.column("pair"), findings.column("key"), "\x1f"
    )
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def _with_column(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    if name in table.column_names:
        return table.set_column(table.schema.get_field_index(name), name, values)
    return table.append_column(name, values)


def score(findings: pa.Table, truth: pa.Table) -> pa.Table:
    """Findings against a ground truth (`ledger synth`'s): per type, how many were injected,
    found, found right (same type and payment), and precision and recall in per mille
    (integers). Only the pairs of the banks' files (R1, R1R, R6) are scored: the truth is
    about what the banks send."""
    ours = findings.filter(pc.is_in(findings.column("pair"), value_set=pa.array(BANK_PAIRS)))
    got = pc.binary_join_element_wise(ours.column("type"), ours.column("key"), "\x1f")
    want = pc.binary_join_element_wise(truth.column("type"), truth.column("pay_cert_no"), "\x1f")
    hit = pc.is_in(got, value_set=want).to_numpy(zero_copy_only=False)
    got_type = ours.column("type").to_numpy(zero_copy_only=False)
    want_type = truth.column("type").to_numpy(zero_copy_only=False)
    out: dict[str, list[Any]] = {k: [] for k in ("type", "injected", "found", "right", "precision", "recall")}
    for kind in TYPES:
        injected = int((want_type == kind).sum())
        found = int((got_type == kind).sum())
        right = int(((got_type == kind) & hit).sum())
        if not injected and not found:
            continue
        out["type"].append(kind)
        out["injected"].append(injected)
        out["found"].append(found)
        out["right"].append(right)
        out["precision"].append(1000 * right // found if found else 1000)
        out["recall"].append(1000 * right // injected if injected else 1000)
    return pa.table(out)


def export(run: Run, directory: Path, truth: pa.Table | None = None) -> list[Path]:
    """Write a run: findings.csv and findings.parquet (amounts in fen, dates YYYY-MM-DD),
    pairs.csv, and report.html (ledger.fiscal.report)."""
    from ledger.fiscal import report as page

    directory.mkdir(parents=True, exist_ok=True)
    findings = run.findings
    for name in ("date_a", "date_b", "first_seen"):
        if name in findings.column_names:
            values = findings.column(name)
            dates = pc.if_else(pc.less(values, 0), None, values).cast(pa.int32()).cast(pa.date32())
            findings = _with_column(
                findings, name, dates.combine_chunks() if isinstance(dates, pa.ChunkedArray) else dates
            )
    written = [directory / "findings.parquet", directory / "findings.csv", directory / "pairs.csv"]
    pq.write_table(findings, written[0])
    pacsv.write_csv(findings, written[1])
    pacsv.write_csv(run.pairs, written[2])
    written.append(page.write(to_report(run, truth), directory / "report.html"))
    return written


def to_report(run: Run, truth: pa.Table | None = None, top: int = 200) -> Any:
    """The run as ledger.fiscal.report's RunReport: totals per pair, per region, the ageing of
    what is in transit, and the `top` items by the size of their difference."""
    from ledger.fiscal import report as page

    f = run.findings
    kinds = f.column("type").to_numpy(zero_copy_only=False)
    pair_of = f.column("pair").to_numpy(zero_copy_only=False)
    region_of = f.column("region").to_numpy(zero_copy_only=False)
    signed = f.column("amount_a").to_numpy() - f.column("amount_b").to_numpy()  # A − B
    diff = np.abs(signed)
    pairs = []
    totals = run.pairs
    for name, (title, side_a, side_b) in PAIRS.items():
        mine = pc.equal(totals.column("pair"), name).to_numpy(zero_copy_only=False)
        if not mine.any():
            continue
        of = pair_of == name
        pairs.append(
            page.PairTotal(
                pair=name,
                title=title,
                side_a=side_a,
                side_b=side_b,
                total_a=int(totals.column("total_a").to_numpy()[mine].sum()),
                total_b=int(totals.column("total_b").to_numpy()[mine].sum()),
                difference=int(totals.column("difference").to_numpy()[mine].sum()),
                items=int(of.sum()),
                by_type={t: int((of & (kinds == t)).sum()) for t in TYPES if (of & (kinds == t)).any()},
                amount_by_type={
                    t: int(signed[of & (kinds == t)].sum()) for t in TYPES if (of & (kinds == t)).any()
                },
            )
        )
    regions = [
        page.RegionRow(
            region=row["region"],
            name=row["name"],
            findings_by_type={
                t: int(((region_of == row["region"]) & (kinds == t)).sum())
                for t in TYPES
                if ((region_of == row["region"]) & (kinds == t)).any()
            },
            amount_by_type={
                t: int(signed[(region_of == row["region"]) & (kinds == t)].sum())
                for t in TYPES
                if ((region_of == row["region"]) & (kinds == t)).any()
            },
            indicator_total=row["indicator_total"],
            executed=row["executed"],
            payments=row["payments"],
        )
        for row in run.region_stats.to_pylist()
    ]
    transit = kinds == "in_transit"
    # what is in transit is the amount on its way (the two sides agree on it, or B has none yet)
    held = np.maximum(np.abs(f.column("amount_a").to_numpy()), np.abs(f.column("amount_b").to_numpy()))
    age = f.column("age_days").to_numpy()
    ageing = []
    for label, lo, hi in (("0–1 d", 0, 1), ("2–5 d", 2, 5), ("6–30 d", 6, 30), (">30 d", 31, 1 << 30)):
        inside = transit & (np.abs(age) >= lo) & (np.abs(age) <= hi)
        ageing.append((label, int(inside.sum()), int(held[inside].sum())))
    order = np.lexsort((f.column("key").to_numpy(zero_copy_only=False), -diff))[:top]
    rows = f.take(pa.array(order, pa.int64())).to_pylist()
    items = [
        page.Item(
            pair=row["pair"],
            type=row["type"],
            key=row["key"],
            region=row["region"],
            unit=row["unit"],
            project=row["project"],
            bgt_id=row["bgt_id"],
            amount_a=row["amount_a"] if row["date_a"] >= 0 else None,
            amount_b=row["amount_b"] if row["date_b"] >= 0 else None,
            date_a=_iso(row["date_a"]),
            date_b=_iso(row["date_b"]),
            age_days=row["age_days"],
            first_seen=_iso(row.get("first_seen", -1)),
        )
        for row in rows
    ]
    injected = None
    if truth is not None:
        kinds_true = truth.column("type").to_numpy(zero_copy_only=False)
        injected = {t: int((kinds_true == t).sum()) for t in TYPES if (kinds_true == t).any()}
    return page.RunReport(
        run_id=run.run_id or f"{run.day:%Y%m%d}",
        date=run.day.isoformat(),
        scope=f"{len(run.regions)} regions",
        created=run.created,
        pairs=pairs,
        regions=regions,
        ageing=ageing,
        items=items,
        total_items=f.num_rows,
        closed_since_last=run.closed,
        stages=[page.Stage(name, seconds, rows) for name, seconds, rows in run.stages],
        ground_truth=injected,
    )


def _iso(day: int | None) -> str | None:
    if day is None or day < 0:
        return None
    return (EPOCH + dt.timedelta(days=int(day))).isoformat()


__all__ = [
    "BANK_PAIRS",
    "FINDING_COLUMNS",
    "PAIRS",
    "TYPES",
    "WINDOW",
    "Run",
    "export",
    "reconcile",
    "score",
    "store_run",
    "to_report",
]
