"""The invariants of DOMAIN §9 that one ledger must hold, checked on a whole province at once.

`check(fiscal, year)` answers one row per invariant: how many items it checked, how many break
it, the first of those in words, and how long the check took. Every check runs over whole
columns (numpy, pyarrow: the domain's tables, every account's balance, the year's trial
balances), never a Python loop per payment or account, so that a province at scale 1 (2.5 M
accounts, 700 k payments a month) is checked in seconds. What the checks read:

- INV-L1 every book balances per balance group (FA and BA legs apart) in the year's trial
  balances, and the core's `verify()` finds every table intact (the hash chain over entries and
  lines, the monthly sums the trial balances are read from).
- INV-L3 every account with a posting (posted or pending) is one of its book's chart (a unit
  book GOV-UNIT-2019, a treasury book TREASURY-2016, an indicator book INDICATOR-P1) under the
  basis of its balance group: FA 1xxx-5xxx, BA 6xxx-8xxx, IND the indicator chart's. The code
  is the one in the account's key (`<book>|<code>[|<sub-ledger>]`, as the domain names every
  account).
- INV-L5 a source event is recorded once: a payment's PAY_CERT_NO per region and year in
  fiscal_payments, a unit-funds voucher's per region, year and direction, one bank result and
  at most one refund per payment. (That an event makes one set of entries is the core's: entry
  keys are unique.)
- INV-I1 per indicator of the year: available (IU210 less what is frozen) >= 0, executed
  (IU230) >= 0, what is frozen for payments (IU230 pending) is exactly the amounts of its
  applications without a bank result, and what movements froze (the rest of IU210 pending) is
  >= 0. Conservation itself is the balance identity of the indicator's IU accounts, which
  double entry keeps; INV-I4 checks the flows that change them.
- INV-I2 every payment of the year references an existing indicator of its region, of its
  economic class (unit, project, fund type and functional class are the indicator's: a payment
  row records none of its own, its postings take them from the indicator). Its year is INV-T1.
  No expenditure without an indicator: the indicator books have no account outside their
  chart (INV-L3), hence no 无指标支出 account, and what was executed is what was paid (INV-I5).
- INV-I3 every indicator of the year has a parent chain (ORI_BGT_ID) that ends at a root with a
  source (annual budget, transfer, carry-over, reserve) and a document; the children issued
  from a parent sum to no more than it was issued (its amount at creation: a top-up it got
  later does not count).
- INV-I4 per region, what moved between indicators nets to zero and what entered or left them
  went through a typed movement: Σ over its indicators of IU210 and IU230 (posted) = the
  roots issued from the annual budget, transfers and carry-over (fiscal_indicators) + IS140
  (reserve-funded roots, top-ups less cuts) + IS130 (adjustments) - IU240 (recovered) - IU250
  (carried) - IU260 (sent down). Allocations, reallocations, payments and refunds move amounts
  between indicators and between IU210 and IU230 only.
- INV-I5, INV-X1, INV-U6 are the pairs R5, R4 and U6 of the nightly reconciliation
  (ledger.fiscal.reconcile), run once without bank files: INV-I5 per indicator of the year,
  INV-X1 and INV-U6 in the regions whose year is still open (the closing entries empty 6001
  and the year's budget and financial accounts). Its time counts on INV-I5, the first of them.
- INV-X2 per treasury expenditure account (5001/5002/5003 per project and fund type): the
  treasury's own-level expenditure = Σ executed (IU230) of the indicators that pay from it.
- INV-U1 per unit book: 8001 资金结存 sub-accounts = their financial-basis counterparts:
  800101 = 1011, 800102 = 1001 + 1002 + 1021, 800103 = 1201 (each with its sub-accounts; the
  one side summed over the book's BA accounts, the other over its FA accounts).
- INV-U2, INV-U3, INV-U4 after the year end (the regions whose year is closed), by the balances
  at its end: 4xxx-7xxx and 3301 are zero; 8001 = 8101 + … + 8701 (Σ of 8xxx is zero); under
  zero carry-over fiscal 8101 + 8102 and 1201 are zero and no indicator of the year has
  anything left (IU210).
- INV-U7 7101 has postings only in ADMIN units' books, 7201 only in public institutions' (and
  OTHER units', the configured exception: the domain books their expenditure on 7201).
- INV-T1 every payment of year Y references a year-Y indicator and is applied and settled in Y
  or in the January clean-up window of Y + 1.

Not checked here, and why:
- INV-L2 (a BA leg iff budget-managed cash or quota moves) and INV-L4 (the dimensions of 6001,
  7101, 7201 lines): the Ledger reads an entry's lines back only as sums (rollups), which cannot
  tell one event from another, and a unit-funds payment's 7101/7201 line carries no fiscal
  dimensions by design. A cash entry without its BA leg leaves INV-U1 or INV-U6 broken.
- INV-L6 (closed periods immutable): the core refuses a posting into a closed month
  (period_closed); an edit behind its back is what verify() finds (INV-L1).
- INV-I4's authorities: move() refuses a top-up, cut, adjustment or reallocation without the
  authority of its kind; the authority is kept in the entry's reference, which the Ledger does
  not read back.
- INV-U5 follows from INV-X1 and INV-X2 (per project, treasury = unit 6001 = executed), summed
  per unit: it cannot fail alone.
- INV-X3 (transfers between regions: no region sends indicators to a lower one yet, IU260 and
  IS110 are not paired), INV-X4 and INV-X5 (the agent banks' and the PBOC's statements are
  not generated; R1 of the nightly reconciliation matches the banks' receipts), INV-T2
  (unit-funds statements are files the nightly reconciliation matches, R6, not in the ledger).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ledger.errors import InvalidInput
from ledger.fiscal import tables as ft
from ledger.fiscal.charts import chart, group_key
from ledger.fiscal.domain import BASIC_KINDS, SOURCES, Fiscal
from ledger.fiscal.reconcile import PAIRS, Run, reconcile

SCHEMA = pa.schema(
    [
        ("invariant", pa.string()),
        ("title", pa.string()),
        ("checked", pa.int64()),
        ("failures", pa.int64()),
        ("example", pa.string()),
        ("seconds", pa.float64()),
    ]
)
# The chart of each kind of book (the prefix of its key), as Fiscal creates them.
BOOK_CHARTS = {"U": "GOV-UNIT-2019", "TR": "TREASURY-2016", "IND": "INDICATOR-P1"}
# INV-U7: the unit types whose books may have postings on each budget expenditure account.
EXPENDITURE_UNIT_TYPES = {
    "7101": ("ADMIN",),
    "7201": ("PUBLIC_INST_FULL", "PUBLIC_INST_PARTIAL", "OTHER"),
}
# INV-U1: each 8001 sub-account and the financial-basis accounts it mirrors (code prefixes).
FUND_BALANCES = {"800101": ("1011",), "800102": ("1001", "1002", "1021"), "800103": ("1201",)}
# INV-I4: the sources of the roots fiscal_indicators records (IS100, IS110, IS120; a reserve-
# funded root is credited to IS140 with the top-ups), and the accounts a typed movement moves
# an indicator's amount to or from: reserve (top-ups, cuts), adjustments, recovered, carried,
# sent to a lower region.
_ROOT_SOURCES = ("ANNUAL", "TRANSFER", "CARRY")
_MOVEMENT_ACCOUNTS = ("IS140", "IS130", "IU240", "IU250", "IU260")
_EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class _Found:
    """What one check found: the items it checked, how many of them fail, the first in words."""

    checked: int
    failures: int
    example: str = ""


def check(fiscal: Fiscal, year: int) -> pa.Table:
    """Check every invariant of the module docstring on `fiscal`'s ledger for fiscal `year`:
    one row per invariant (SCHEMA: invariant, title, checked, failures, example, seconds).
    A check's seconds include loading what it is the first to read (balances, accounts, the
    domain's tables, the reconciliation run)."""
    if isinstance(year, bool) or not isinstance(year, int) or not 1900 <= year <= 9999:
        raise InvalidInput(f"invariants: year {year!r}: expected a fiscal year")
    province = _Province(fiscal, year)
    rows = []
    for invariant, title, run in CHECKS:
        started = time.perf_counter()
        found = run(province)
        rows.append(
            {
                "invariant": invariant,
                "title": title,
                "checked": found.checked,
                "failures": found.failures,
                "example": found.example,
                "seconds": time.perf_counter() - started,
            }
        )
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def failures(table: pa.Table) -> list[str]:
    """One line per invariant that does not hold ("INV-I1: 2 of 774 fail, e.g. …"); empty
    when every one holds."""
    return [
        f"{row['invariant']}: {row['failures']:,} of {row['checked']:,} fail, e.g. {row['example']}"
        for row in table.to_pylist()
        if row["failures"]
    ]


class _Province:
    """What the checks read, each loaded on first use and kept."""

    def __init__(self, fiscal: Fiscal, year: int) -> None:
        self.fiscal = fiscal
        self.book = fiscal.book
        self.year = year

    # --- the domain's tables ---------------------------------------------------------------

    @cached_property
    def regions(self) -> pa.Table:
        return self.fiscal.table(ft.regions)

    @cached_property
    def units(self) -> pa.Table:
        return self.fiscal.table(ft.units)

    @cached_property
    def indicators(self) -> pa.Table:
        return self.fiscal.table(ft.indicators)

    @cached_property
    def payments(self) -> pa.Table:
        return self.fiscal.table(ft.payments)

    @cached_property
    def year_indicators(self) -> np.ndarray:
        return np.flatnonzero(_ints(self.indicators, "year") == self.year)

    @cached_property
    def year_payments(self) -> np.ndarray:
        return np.flatnonzero(_ints(self.payments, "year") == self.year)

    @cached_property
    def ledgers(self) -> Any:
        """Per indicator, the accounts its payments post to (Payments.ledgers)."""
        return self.fiscal.payments.ledgers()

    @cached_property
    def closed(self) -> np.ndarray:
        """By region idx: whether its year end closed the year (its indicator book's December)."""
        month = f"{self.year:04d}-12"
        codes = self.regions.column("code").to_pylist()
        return np.array([month in self.book.closed_periods(f"IND:{code}") for code in codes], bool)

    # --- the ledger ------------------------------------------------------------------------

    @cached_property
    def balances(self) -> dict[str, np.ndarray]:
        return self.book.balances()

    @cached_property
    def net(self) -> np.ndarray:
        """Posted debits less posted credits, per account."""
        return self.balances["debits_posted"] - self.balances["credits_posted"]

    @cached_property
    def accounts(self) -> pa.Table:
        return self.book.accounts_table()

    @cached_property
    def posted(self) -> pa.Table:
        """The accounts with a posting (posted or pending): key, book, group, index, the kind
        of their book (U, TR, IND) and their code (read from the key)."""
        b = self.balances
        touched = b["debits_posted"] | b["credits_posted"] | b["debits_pending"] | b["credits_pending"]
        index = np.flatnonzero(touched != 0)
        rows = self.accounts.take(pa.array(index)).select(["key", "book", "group"])
        code = pc.struct_field(pc.extract_regex(rows.column("key"), r"^[^|]*\|(?P<code>[^|]*)"), [0])
        kind = pc.struct_field(pc.extract_regex(rows.column("book"), r"^(?P<kind>[A-Z]+):"), [0])
        rows = rows.append_column("index", pa.array(index))
        return rows.append_column("kind", kind).append_column("code", code)

    @cached_property
    def in_unit_books(self) -> tuple[pa.Table, np.ndarray, np.ndarray]:
        """The posted accounts of unit books, and the region idx and unit idx of each one's
        book (`U:<region>:<unit>[:J]`; -1 where it is no known unit's)."""
        rows = self.posted.filter(pc.equal(self.posted.column("kind"), "U"))
        parts = pc.extract_regex(rows.column("book"), r"^U:(?P<region>[0-9]{9}):(?P<unit>[^:]+)")
        wanted = pc.binary_join_element_wise(pc.struct_field(parts, [0]), pc.struct_field(parts, [1]), "|")
        codes = self.regions.column("code")
        known = pc.binary_join_element_wise(
            codes.take(self.units.column("region")), self.units.column("code"), "|"
        )
        unit = _positions(wanted, known)
        region = _ints(self.units, "region")[np.maximum(unit, 0)] if len(self.units) else unit
        return rows, np.where(unit >= 0, region, -1), unit

    @cached_property
    def after_closing(self) -> tuple[pa.Table, np.ndarray, np.ndarray]:
        """The posted accounts of the unit books of regions whose year is closed, their balance
        (debit - credit) at the year's end, and their region idx."""
        if not self.closed.any():
            empty = np.zeros(0, np.int64)
            return self.posted.slice(0, 0), empty, empty
        rows, region, _ = self.in_unit_books
        keep = np.flatnonzero((region >= 0) & self.closed[np.maximum(region, 0)])
        rows = rows.take(pa.array(keep, pa.int64()))
        at_end = self.book.balances_at(str(self.year))
        net = (at_end["debits_posted"] - at_end["credits_posted"])[rows.column("index").to_numpy()]
        return rows, net, region[keep]

    @cached_property
    def run(self) -> Run:
        """The nightly reconciliation of the year, without bank files: pairs R4, R5, C1, U6."""
        return reconcile(self.fiscal, dt.date(self.year, 12, 31), year=self.year)


# --- balance and structure ------------------------------------------------------------------


def _balanced(p: _Province) -> _Found:
    totals = p.book.trial_balances(period=str(p.year), depth=1).totals
    bad = np.flatnonzero(~totals.column("balanced").to_numpy(zero_copy_only=False))
    finding = p.book.verify()
    example = ""
    if len(bad):
        row = totals.slice(int(bad[0]), 1).to_pylist()[0]
        example = (
            f"{row['book']} {row['group']}: turnover Dr {row['debit']} / Cr {row['credit']}, closing"
            f" Dr {row['closing_debit']} / Cr {row['closing_credit']}"
        )
    elif finding is not None:
        example = f"verify: {finding}"
    return _Found(totals.num_rows + 1, len(bad) + (finding is not None), example)


def _bases(p: _Province) -> _Found:
    rows = p.posted
    allowed = [
        "\x1f".join((kind, group_key(basis, p.fiscal.currency), code))
        for kind, name in BOOK_CHARTS.items()
        for code, basis in zip(chart(name).codes(), chart(name).rows.column("basis").to_pylist(), strict=True)
    ]
    joined = pc.binary_join_element_wise(
        rows.column("kind"), rows.column("group"), rows.column("code"), "\x1f"
    )
    ok = pc.fill_null(pc.is_in(joined, value_set=pa.array(allowed, pa.string())), False)

    def say(i: int) -> str:
        key, group, code = (rows.column(c)[i].as_py() for c in ("key", "group", "code"))
        return f"{key} ({group}): {code!r} is not an account of that basis in its book's chart"

    return _Found(rows.num_rows, *_first(~ok.to_numpy(zero_copy_only=False), say))


def _once(p: _Province) -> _Found:
    pay = p.payments.take(pa.array(p.year_payments, pa.int64()))
    vouchers = p.fiscal.table(ft.unit_vouchers)
    vouchers = vouchers.filter(pc.equal(vouchers.column("year"), p.year))
    mine = np.zeros(p.payments.num_rows, bool)
    mine[p.year_payments] = True
    direction = pc.if_else(pc.greater(vouchers.column("amount"), 0), "in", "out")
    codes = p.regions.column("code")
    sources = [
        ("payment", [codes.take(pay.column("region")), pay.column("year"), pay.column("pay_cert_no")]),
        (
            "unit-funds voucher",
            [
                codes.take(vouchers.column("region")),
                vouchers.column("year"),
                direction,
                vouchers.column("pay_cert_no"),
            ],
        ),
        ("bank result of payment", [_of_payments(p.fiscal.table(ft.settlements), mine)]),
        ("refund of payment", [_of_payments(p.fiscal.table(ft.refunds), mine)]),
    ]
    checked = failed = 0
    example = ""
    for what, columns in sources:
        again = _repeated(columns)
        checked += len(again)
        failed += int(again.sum())
        if again.any() and not example:
            first = int(np.argmax(again))
            example = f"{what} {' '.join(str(c[first].as_py()) for c in columns)} is recorded more than once"
    return _Found(checked, failed, example)


# --- the indicator ledger -------------------------------------------------------------------


def _conserved(p: _Province) -> _Found:
    mine = p.year_indicators
    if not len(mine):
        return _Found(0, 0)
    b = p.balances
    available, executed = p.ledgers.available[mine], p.ledgers.executed[mine]
    frozen = b["credits_pending"][available]
    left = p.net[available] - frozen
    for_payments = b["debits_pending"][executed]
    spent = p.net[executed]
    waiting = np.flatnonzero(p.fiscal.payments.settled() == 0)  # applied, no bank result yet
    indicator = _ints(p.payments, "indicator")[waiting]
    known = (indicator >= 0) & (indicator < p.indicators.num_rows)
    in_flight = np.zeros(p.indicators.num_rows, np.int64)
    np.add.at(in_flight, indicator[known], _ints(p.payments, "amount")[waiting][known])
    in_flight = in_flight[mine]
    bad = (left < 0) | (spent < 0) | (for_payments != in_flight) | (frozen < for_payments)

    def say(i: int) -> str:
        return (
            f"{_bgt(p, mine[i])}: available {left[i]}, frozen {frozen[i]} of which for payments"
            f" {for_payments[i]} (applications without a bank result: {in_flight[i]}), executed {spent[i]}"
        )

    return _Found(len(mine), *_first(bad, say))


def _paying(p: _Province) -> _Found:
    rows = p.year_payments
    pay, ind = p.payments, p.indicators
    indicator = _ints(pay, "indicator")[rows]
    exists = (indicator >= 0) & (indicator < ind.num_rows)
    at = np.where(exists, indicator, 0)
    region = _ints(ind, "region")[at] if ind.num_rows else np.full(len(rows), -1, np.int64)
    eco = _ints(pay, "eco_code")[rows]
    wanted = _ints(ind, "eco_code")[at] if ind.num_rows else np.zeros(len(rows), np.int64)
    same_region = _ints(pay, "region")[rows] == region
    same_class = (eco >= 10_000) & (eco <= 99_999) & ((wanted <= 0) | (eco // 100 == wanted // 100))
    bad = ~exists | ~same_region | ~same_class

    def say(i: int) -> str:
        payment = f"payment {pay.column('pay_cert_no')[int(rows[i])].as_py()}"
        if not exists[i]:
            return f"{payment}: its indicator (idx {indicator[i]}) does not exist"
        if not same_region[i]:
            return f"{payment}: its indicator {_bgt(p, at[i])} is of another region"
        return f"{payment}: economic code {eco[i]}, its indicator {_bgt(p, at[i])}'s {wanted[i]}"

    return _Found(len(rows), *_first(bad, say))


def _sourced(p: _Province) -> _Found:
    ind = p.indicators
    mine = p.year_indicators
    n = ind.num_rows
    parent, amount = _ints(ind, "parent"), _ints(ind, "amount")
    is_root = parent < 0
    up = np.where(is_root | (parent >= n), np.arange(n), parent)  # at a root or a dangling parent: stay
    for _ in range(n.bit_length()):  # pointer doubling: after k rounds, 2^k steps up (or the top)
        up = up[up]
    source = pc.is_in(ind.column("source"), value_set=pa.array(list(SOURCES))).to_numpy(zero_copy_only=False)
    documented = pc.greater(pc.utf8_length(ind.column("doc_no")), 0).to_numpy(zero_copy_only=False)
    ends_well = (is_root & source & documented)[up]
    children = np.zeros(n, np.int64)
    inside = (parent >= 0) & (parent < n)
    np.add.at(children, parent[inside], amount[inside])
    bad = ~ends_well[mine] | (children[mine] > amount[mine])

    def say(i: int) -> str:
        at = mine[i]
        if not ends_well[at]:
            return f"{_bgt(p, at)}: its parent chain does not end at a root with a source and a document"
        return f"{_bgt(p, at)}: its children were issued {children[at]}, more than its own {amount[at]}"

    return _Found(len(mine), *_first(bad, say))


def _moved(p: _Province) -> _Found:
    ind = p.indicators
    codes = p.regions.column("code").to_pylist()
    region = _ints(ind, "region")
    held = np.zeros(len(codes), np.int64)
    if ind.num_rows:
        np.add.at(held, region, p.net[p.ledgers.available] + p.net[p.ledgers.executed])
    roots = (_ints(ind, "parent") < 0) & pc.is_in(
        ind.column("source"), value_set=pa.array(list(_ROOT_SOURCES))
    ).to_numpy(zero_copy_only=False)
    explained = np.zeros(len(codes), np.int64)
    np.add.at(explained, region[roots], _ints(ind, "amount")[roots])
    # IS140 and IS130 credited (debit - credit < 0) gave to the indicators, IU240, IU250 and
    # IU260 debited took from them: either way, less their balance
    index = p.book.account_index([f"IND:{c}|{code}" for code in _MOVEMENT_ACCOUNTS for c in codes])
    moved = np.where(index >= 0, p.net[index], 0).reshape(len(_MOVEMENT_ACCOUNTS), len(codes))
    explained -= moved.sum(axis=0)

    def say(r: int) -> str:
        return f"IND:{codes[r]}: its indicators hold {held[r]}, the movements explain {explained[r]}"

    return _Found(len(codes), *_first(held != explained, say))


def _paid(p: _Province) -> _Found:
    findings = _pair(p, "R5")
    at = np.maximum(_positions(findings.column("bgt_id"), p.indicators.column("bgt_id")), 0)
    of_year = _ints(p.indicators, "year")[at] == p.year if len(at) else np.zeros(0, bool)
    return _pair_found(findings.filter(pa.array(of_year)), len(p.year_indicators), "R5")


# --- cross-ledger ---------------------------------------------------------------------------


def _appropriated(p: _Province) -> _Found:
    ind = p.indicators
    open_regions = np.flatnonzero(~p.closed)
    rows = np.flatnonzero(np.isin(_ints(ind, "region"), open_regions))
    kinds = p.fiscal.table(ft.projects).column("kind").to_numpy(zero_copy_only=False)
    project = _ints(ind, "project")[rows]
    basic = np.isin(kinds[project], BASIC_KINDS) if len(rows) else np.zeros(0, bool)
    keys = np.unique(np.where(basic, -1 - _ints(ind, "unit")[rows], project))  # R4's: per unit when basic
    findings = _pair(p, "R4")
    codes = p.regions.column("code").take(pa.array(open_regions, pa.int64()))
    return _pair_found(findings.filter(pc.is_in(findings.column("region"), value_set=codes)), len(keys), "R4")


def _treasury(p: _Province) -> _Found:
    if not p.indicators.num_rows:
        return _Found(0, 0)
    accounts, at = np.unique(p.ledgers.treasury_expenditure, return_inverse=True)
    executed = np.zeros(len(accounts), np.int64)
    np.add.at(executed, at, p.net[p.ledgers.executed])
    treasury = p.net[accounts]

    def say(i: int) -> str:
        key = p.accounts.column("key")[int(accounts[i])].as_py()
        return f"{key}: treasury expenditure {treasury[i]}, its indicators executed {executed[i]}"

    return _Found(len(accounts), *_first(treasury != executed, say))


# --- unit books -----------------------------------------------------------------------------


def _fund_balances(p: _Province) -> _Found:
    rows, _, _ = p.in_unit_books
    books, book = _dense(rows.column("book"))
    net = p.net[rows.column("index").to_numpy()]
    code = rows.column("code")
    budget, financial = (
        pc.equal(rows.column("group"), group_key(basis, p.fiscal.currency)).to_numpy(zero_copy_only=False)
        for basis in ("BA", "FA")
    )
    sides = {
        sub: (
            _sums(book, net, budget & _starts(code, (sub,)), len(books)),
            _sums(book, net, financial & _starts(code, mirrored), len(books)),
        )
        for sub, mirrored in FUND_BALANCES.items()
    }
    bad = np.zeros(len(books), bool)
    for ba, fa in sides.values():
        bad |= ba != fa

    def say(i: int) -> str:
        sub, (ba, fa) = next((sub, pair) for sub, pair in sides.items() if pair[0][i] != pair[1][i])
        return f"{books[i]}: {sub} {ba[i]} ≠ {' + '.join(FUND_BALANCES[sub])} {fa[i]}"

    return _Found(len(books), *_first(bad, say))


def _emptied(p: _Province) -> _Found:
    rows, net, _ = p.after_closing
    closing = np.flatnonzero(_starts(rows.column("code"), ("4", "5", "6", "7", "3301")))

    def say(i: int) -> str:
        return f"{rows.column('key')[int(closing[i])].as_py()}: {net[closing[i]]} left after closing"

    return _Found(len(closing), *_first(net[closing] != 0, say))


def _fund_balance_closed(p: _Province) -> _Found:
    rows, net, _ = p.after_closing
    books, book = _dense(rows.column("book"))
    left = _sums(book, net, _starts(rows.column("code"), ("8",)), len(books))

    def say(i: int) -> str:
        return f"{books[i]}: 8001 less 8101 … 8701 is {left[i]} after closing"

    return _Found(len(books), *_first(left != 0, say))


def _zero_carryover(p: _Province) -> _Found:
    rows, net, region = p.after_closing
    zero = _ints(p.regions, "zero_carryover") == 1
    rows, net = rows.filter(pa.array(zero[region])), net[zero[region]]
    books, book = _dense(rows.column("book"))
    fiscal_left = _sums(book, net, _starts(rows.column("code"), ("8101", "8102")), len(books))
    returnable = _sums(book, net, _starts(rows.column("code"), ("1201",)), len(books))
    mine = p.year_indicators[(zero & p.closed)[_ints(p.indicators, "region")[p.year_indicators]]]
    left = np.zeros(0, np.int64)
    if len(mine):
        at_end = p.book.balances_at(str(p.year))
        left = (at_end["debits_posted"] - at_end["credits_posted"])[p.ledgers.available[mine]]
    bad = np.concatenate([(fiscal_left != 0) | (returnable != 0), left != 0])

    def say(i: int) -> str:
        if i < len(books):
            return f"{books[i]}: fiscal 8101 + 8102 {fiscal_left[i]}, 1201 {returnable[i]} after the year end"
        return f"{_bgt(p, mine[i - len(books)])}: {left[i - len(books)]} left on IU210 after the year end"

    return _Found(len(bad), *_first(bad, say))


def _reconciled(p: _Province) -> _Found:
    books = np.maximum(_ints(p.units, "books"), 1)  # NULL (-1): its own book only
    open_units = ~p.closed[_ints(p.units, "region")] if len(books) else np.zeros(0, bool)
    return _pair_found(_pair(p, "U6"), int(books[open_units].sum()), "U6")


def _expenditure_types(p: _Province) -> _Found:
    rows, _, unit = p.in_unit_books
    spending = np.flatnonzero(_starts(rows.column("code"), tuple(EXPENDITURE_UNIT_TYPES)))
    rows, unit = rows.take(pa.array(spending, pa.int64())), unit[spending]
    types = p.units.column("unit_type").take(pa.array(np.maximum(unit, 0))).to_numpy(zero_copy_only=False)
    ok = np.zeros(len(unit), bool)
    for head, allowed in EXPENDITURE_UNIT_TYPES.items():
        ok |= _starts(rows.column("code"), (head,)) & np.isin(types, allowed) & (unit >= 0)

    def say(i: int) -> str:
        owner = f"a unit of type {types[i]}" if unit[i] >= 0 else "no known unit"
        return f"{rows.column('key')[i].as_py()}: a posting in the book of {owner}"

    return _Found(len(unit), *_first(~ok, say))


# --- time -----------------------------------------------------------------------------------


def _in_year(p: _Province) -> _Found:
    pay, ind = p.payments, p.indicators
    indicator = _ints(pay, "indicator")[p.year_payments]
    known = (indicator >= 0) & (indicator < ind.num_rows)  # INV-I2 counts the others
    rows, indicator = p.year_payments[known], indicator[known]
    indicator_year = _ints(ind, "year")[indicator]
    settlements = p.fiscal.table(ft.settlements)
    settled_on = np.full(pay.num_rows, -1, np.int64)
    settled_on[_ints(settlements, "payment")] = _ints(settlements, "date")
    first = (dt.date(p.year, 1, 1) - _EPOCH).days
    last = (dt.date(p.year + 1, 1, 31) - _EPOCH).days  # the end of the January clean-up window
    applied, settled = _ints(pay, "date")[rows], settled_on[rows]
    outside = (applied < first) | (applied > last) | ((settled >= 0) & ((settled < first) | (settled > last)))
    bad = (indicator_year != p.year) | outside

    def say(i: int) -> str:
        return (
            f"payment {pay.column('pay_cert_no')[int(rows[i])].as_py()} of {p.year}: indicator"
            f" {_bgt(p, indicator[i])} of {indicator_year[i]}, applied {_iso(applied[i])}, settled"
            f" {_iso(settled[i])}"
        )

    return _Found(len(rows), *_first(bad, say))


# --- the pairs of the nightly reconciliation -------------------------------------------------


def _pair(p: _Province, name: str) -> pa.Table:
    findings = p.run.findings
    return findings.filter(pc.equal(findings.column("pair"), name))


def _pair_found(findings: pa.Table, checked: int, name: str) -> _Found:
    if not findings.num_rows:
        return _Found(checked, 0)
    row = findings.slice(0, 1).to_pylist()[0]
    _, side_a, side_b = PAIRS[name]
    return _Found(
        checked,
        findings.num_rows,
        f"{row['key']} ({row['region']}): {side_a} {row['amount_a']} ≠ {side_b} {row['amount_b']}",
    )


# --- helpers --------------------------------------------------------------------------------


def _first(bad: np.ndarray, say: Callable[[int], str]) -> tuple[int, str]:
    """How many fail, and the first of them in words ("" when none)."""
    count = int(np.count_nonzero(bad))
    return count, say(int(np.argmax(bad))) if count else ""


def _ints(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table.column(name).to_numpy(), np.int64)


def _bgt(p: _Province, indicator: int) -> str:
    return str(p.indicators.column("bgt_id")[int(indicator)].as_py())


def _positions(values: pa.Array | pa.ChunkedArray, among: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The position of each value among `among` (-1 where absent)."""
    if isinstance(among, pa.ChunkedArray):
        among = among.combine_chunks()
    found = pc.fill_null(pc.index_in(values, value_set=among), -1)
    return np.asarray(found.to_numpy(zero_copy_only=False), np.int64)


def _dense(values: pa.Array | pa.ChunkedArray) -> tuple[list[str], np.ndarray]:
    """The distinct values, and each row's position among them."""
    encoded = pc.dictionary_encode(values)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    return encoded.dictionary.to_pylist(), np.asarray(encoded.indices.to_numpy(), np.int64)


def _repeated(columns: list[pa.Array | pa.ChunkedArray]) -> np.ndarray:
    """True for each row whose key (the columns together) an earlier row has."""
    _, codes = _dense(pc.binary_join_element_wise(*(c.cast(pa.string()) for c in columns), "\x1f"))
    _, first = np.unique(codes, return_index=True)
    again = np.ones(len(codes), bool)
    again[first] = False
    return again


def _of_payments(rows: pa.Table, mine: np.ndarray) -> pa.ChunkedArray:
    """The `payment` column of the rows that name one of the payments `mine` marks."""
    payment = _ints(rows, "payment")
    inside = (payment >= 0) & (payment < len(mine))
    return rows.column("payment").filter(pa.array(inside & mine[np.where(inside, payment, 0)]))


def _starts(codes: pa.Array | pa.ChunkedArray, prefixes: tuple[str, ...]) -> np.ndarray:
    """Whether each code starts with one of the prefixes."""
    hit = np.zeros(len(codes), bool)
    for prefix in prefixes:
        hit |= pc.fill_null(pc.starts_with(codes, prefix), False).to_numpy(zero_copy_only=False)
    return hit


def _sums(book: np.ndarray, net: np.ndarray, where: np.ndarray, count: int) -> np.ndarray:
    """Σ net per book of the rows `where` marks."""
    out = np.zeros(count, np.int64)
    np.add.at(out, book[where], net[where])
    return out


def _iso(day: int) -> str:
    return "not yet" if day < 0 else (_EPOCH + dt.timedelta(days=int(day))).isoformat()


CHECKS: tuple[tuple[str, str, Callable[[_Province], _Found]], ...] = (
    (
        "INV-L1",
        "every book balances per balance group in the year's trial balance; verify() intact",
        _balanced,
    ),
    ("INV-L3", "every account posted to is of its book's chart, under its group's basis", _bases),
    ("INV-L5", "each source event recorded once (PAY_CERT_NO, voucher, bank result, refund)", _once),
    ("INV-I1", "per indicator: available >= 0, frozen = applications in flight, executed >= 0", _conserved),
    ("INV-I2", "every payment references an existing indicator of its region and economic class", _paying),
    ("INV-I3", "every indicator's chain ends at a documented source; children <= parent issued", _sourced),
    ("INV-I4", "per region, indicators change only by typed movements (between them: zero-sum)", _moved),
    ("INV-I5", "indicator executed = payments - refunds (pair R5)", _paid),
    ("INV-X1", "treasury own-level expenditure = unit 6001 (pair R4)", _appropriated),
    ("INV-X2", "treasury own-level expenditure = indicators executed, per project and fund type", _treasury),
    ("INV-U1", "8001 sub-accounts = 1011, 1001 + 1002 + 1021, 1201 in every unit book", _fund_balances),
    ("INV-U2", "after the year end: 4xxx-7xxx and 3301 are zero", _emptied),
    ("INV-U3", "after the year end: 8001 = 8101 + ... + 8701", _fund_balance_closed),
    ("INV-U4", "after a zero carry-over year end: 8101 + 8102, 1201 and IU210 are zero", _zero_carryover),
    ("INV-U6", "budget difference + reconciling categories = surplus (pair U6)", _reconciled),
    ("INV-U7", "7101 only in ADMIN units' books, 7201 only in public institutions'", _expenditure_types),
    (
        "INV-T1",
        "payments of year Y reference year-Y indicators, dated in Y or its January clean-up",
        _in_year,
    ),
)
INVARIANTS = tuple(name for name, _, _ in CHECKS)

__all__ = [
    "BOOK_CHARTS",
    "CHECKS",
    "EXPENDITURE_UNIT_TYPES",
    "FUND_BALANCES",
    "INVARIANTS",
    "SCHEMA",
    "check",
    "failures",
]
