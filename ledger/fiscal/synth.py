"""`ledger synth`: a synthetic Chongqing-sized province, generated column by column (numpy)
and written through the fiscal domain's bulk paths (DOMAIN §7, §8.2).

At scale S = 1: 42 regions (the city level, 38 districts and counties, 3 functional zones),
departments per region, 18,000 units spread heavy-tailed over the regions (Pareto), one
dual-basis book each and one unit in eighteen a capital-construction book too (19,000 books,
40 % of those units' specific-purpose projects kept in it), 628,000 projects (personnel 5 %,
operating 12 %, specific-purpose 83 % by count), indicators for 40 % of the projects (1.5 per
funded project, log-normal amounts around ¥100 k, a fifth from transfers, a tenth of those
direct-reach funds), a quarter of them reallocated or topped up in January, and payments on
business days: about 8 M a year, monthly weights rising to December's peak, payroll days,
the last three business days of a month doubled, December's last ten days five times,
early January at a third; log-normal amounts around ¥5 k, never more than 95 % of what an
indicator has; 0.3 % of bank results fail, 0.1 % of payments are refunded. Any S > 0 scales
every count (the regions too, at least three).

Deterministic: every stage draws from its own generator seeded by (seed, stage), so the
same profile, scale, seed and dates give the same ledger whatever ran before.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ledger.errors import InvalidInput
from ledger.fiscal import files
from ledger.fiscal.domain import Department, Fiscal, Movement, Unit
from ledger.fiscal.unitfunds import UnitFunds
from ledger.periods import next_business_days

# §8.2 monthly weights of payment counts, January to December (they sum to 1)
MONTH_WEIGHTS = np.array([4, 6, 7.5, 7.8, 8, 8.2, 8, 8, 8.2, 8.3, 8.5, 14], np.float64)
MONTH_WEIGHTS /= MONTH_WEIGHTS.sum()
PROFILES = ("chongqing",)
# Log-normal spreads (§8.2): indicators around a median of ¥100 k with a mean of about ¥1.25 m
# (≈ ¥500 bn over 400 k), payments around ¥5 k with a mean of about ¥60 k.
INDICATOR_SIGMA = 2.25
PAYMENT_SIGMA = 2.23
# What §7 and §8.2 say the distributions should look like, beside what came out (Summary).
TARGETS = {
    "units per region (min, median, max)": "city level about 2,000; districts 150-800 (Pareto, alpha 1.2)",
    "projects per unit (median, p99)": "about 35 on average",
    "project kinds 1 / 21 / 3 (share)": "0.05 / 0.12 / 0.83",
    "payment amount yuan (p50, p90, p99, p99.9)": "median about 5,000; p99.9 about 20,000,000",
    "payments by month": "January 4 %, February 6 %, March-November 7.5-8.5 %, December 14 %",
    "indicator total yuan": "about 500 bn at S = 1",
    "faults by type": "in transit 1 % of a month's last business day; amount mismatch 0.05 %; missing 0.02 %"
    " (both sides); duplicate 0.01 %; of the 0.3 % bank failures and the 0.1 % refunds, 10 % not carried into"
    " the ledger; key mismatch 0.05 %; cross-year 0.1 % of January",
}


@dataclass(frozen=True, slots=True)
class Targets:
    """The counts of §7 and §8.2 at S = 1."""

    regions: int = 42
    units: int = 18_000
    books: int = 19_000
    projects: int = 628_000
    funded: float = 0.40
    indicators_per_funded: float = 1.5
    payments_per_year: int = 8_000_000
    moved: float = 0.25
    failed: float = 0.003
    refunded: float = 0.001


@dataclass
class Summary:
    """What came out, stage by stage (counts, and the distributions beside their targets)."""

    scale: float
    seed: int
    counts: dict[str, int] = field(default_factory=dict)
    distributions: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    bank_receipts: pa.Table | None = None  # as the banks send them, with the injected faults
    unit_statements: pa.Table | None = None  # units' own bank accounts, line by line (T+1)
    ground_truth: pa.Table | None = None  # every injected fault: type, keys, amounts, dates


def _rng(seed: int, stage: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, sum(map(ord, stage)) * 7919 + len(stage)]))


def region_codes(count: int) -> tuple[list[str], list[str]]:
    """MOF_DIV_CODEs and levels: the city level, districts and counties, and zones (the
    last three digits extend a code for a zone)."""
    zones = max(1, round(count * 3 / 42))
    districts = max(1, count - 1 - zones)
    codes = ["500000000"] + [
        f"5001{d + 1:02d}000" if d < 99 else f"5002{d - 98:02d}000" for d in range(districts)
    ]
    codes += [f"500000{z + 1:03d}" for z in range(zones)]
    levels = ["PROVINCE_CITY_LEVEL"] + ["DISTRICT"] * districts + ["ZONE"] * zones
    return codes, levels


def business_days(start: dt.date, end: dt.date) -> np.ndarray:
    """Monday-to-Friday days from start to end (int32 days since 1970-01-01)."""
    first = (start - dt.date(1970, 1, 1)).days
    days = np.arange(first, (end - dt.date(1970, 1, 1)).days + 1, dtype=np.int64)
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday
    return days[weekday < 5].astype(np.int32)


def day_weights(days: np.ndarray) -> np.ndarray:
    """Each business day's share of the year's payments: within a month, payroll day (the
    15th) 2.5x, the last three business days 2x, December's last ten 5x and January's first
    ten days 0.3x; each month's days together take its §8.2 weight."""
    dates = days.astype("datetime64[D]")
    months = dates.astype("datetime64[M]")
    month_index = (months.astype(np.int64) % 12).astype(np.int64)
    day_of_month = (dates - months.astype("datetime64[D]")).astype(np.int64) + 1
    left = np.zeros(len(days), np.int64)  # business days left in the month after this one
    for m in np.unique(months):
        mine = np.flatnonzero(months == m)
        left[mine] = np.arange(len(mine))[::-1]
    weights = np.ones(len(days), np.float64)
    weights[day_of_month == 15] *= 2.5
    weights[left < 3] *= 2.0
    weights[(month_index == 11) & (left < 10)] = 5.0
    weights[(month_index == 0) & (day_of_month <= 10)] *= 0.3
    for m in np.unique(months):
        mine = months == m
        weights[mine] *= MONTH_WEIGHTS[int(month_index[mine][0])] / weights[mine].sum()
    return weights


def synthesize(
    fiscal: Fiscal,
    *,
    profile: str = "chongqing",
    scale: float = 1.0,
    seed: int = 0,
    start: dt.date = dt.date(2026, 1, 1),
    end: dt.date = dt.date(2026, 12, 31),
    progress: Callable[[str, int, int], None] | None = None,
    faults: float = 1.0,
) -> Summary:
    """Generate a province into `fiscal`'s ledger (see the module docstring). `faults`
    multiplies every fault rate of §8.2 (each capped at one half): more faults to find in a
    small test province."""
    if profile not in PROFILES:
        raise InvalidInput(f"synth: profile {profile!r}: expected one of {', '.join(PROFILES)}")
    if not scale > 0:
        raise InvalidInput(f"synth: scale {scale!r}: expected a number > 0")
    if not 0 <= faults <= 1000:
        raise InvalidInput(f"synth: faults {faults!r}: expected a multiplier of the rates, 0 to 1000")
    if end < start or start.year != end.year:
        raise InvalidInput("synth: the dates must be in order and within one fiscal year")
    t = Targets()
    out = Summary(scale, seed)
    year = start.year

    def tick(stage: str, done: int, total: int) -> None:
        if progress is not None:
            progress(stage, done, total)

    # --- master data ----------------------------------------------------------------------
    rng = _rng(seed, "regions")
    codes, levels = region_codes(max(3, round(t.regions * scale)))
    fiscal.create_regions(
        [{"code": c, "level": lv, "name": f"区县 {c}"} for c, lv in zip(codes, levels, strict=True)]
    )
    departments_per = rng.integers(60, 121, len(codes))
    departments_per = np.maximum(2, np.round(departments_per * min(1.0, scale * 10)).astype(np.int64))
    fiscal.create_departments(
        [
            Department(region=c, code=f"{k:03d}")
            for c, n in zip(codes, departments_per.tolist(), strict=True)
            for k in range(n)
        ]
    )
    tick("regions", len(codes), len(codes))
    rng = _rng(seed, "units")
    units = max(len(codes), round(t.units * scale))
    share = rng.pareto(1.2, len(codes)) + 1.0
    share[0] = share.max() * 1.5  # the city level has the most
    per_region = np.maximum(1, np.floor(share / share.sum() * units).astype(np.int64))
    per_region[0] += units - per_region.sum()
    unit_region = np.repeat(np.arange(len(codes)), per_region)
    unit_code = np.concatenate([np.arange(n) for n in per_region.tolist()])
    unit_department = np.array([rng.integers(0, departments_per[r]) for r in unit_region.tolist()], np.int64)
    unit_type = rng.choice(
        ["ADMIN", "PUBLIC_INST_FULL", "PUBLIC_INST_PARTIAL"], len(unit_region), p=[0.35, 0.5, 0.15]
    )
    # 19,000 books for 18,000 units: one unit in eighteen keeps a capital-construction book too
    two_books = np.zeros(units, bool)
    two_books[rng.choice(units, round(units * (t.books - t.units) / t.units), replace=False)] = True
    fiscal.create_units(
        [
            Unit(
                region=codes[r],
                code=f"{u:06d}",
                department=f"{d:03d}",
                unit_type=ty,  # type: ignore[arg-type]
                capital_book=c,
            )
            for r, u, d, ty, c in zip(
                unit_region.tolist(),
                unit_code.tolist(),
                unit_department.tolist(),
                unit_type.tolist(),
                two_books.tolist(),
                strict=True,
            )
        ]
    )
    tick("units", units, units)
    rng = _rng(seed, "projects")
    projects = max(units, round(t.projects * scale))
    project_unit = rng.integers(0, units, projects)
    kinds = rng.choice(["1", "21", "3"], projects, p=[0.05, 0.12, 0.83])
    # specific-purpose projects of a unit with a capital-construction book: 40 % kept in it
    capital = two_books[project_unit] & (kinds == "3") & (rng.random(projects) < 0.4)
    region_of = np.array(codes, dtype=object)[unit_region[project_unit]]
    project_code = np.array([f"{year % 100:02d}{k:08d}" for k in range(projects)], dtype=object)
    result = fiscal.create_projects_columns(
        pa.table(
            {
                "region": pa.array(region_of.tolist(), pa.string()),
                "code": pa.array(project_code.tolist(), pa.string()),
                "unit": pa.array([f"{u:06d}" for u in unit_code[project_unit].tolist()], pa.string()),
                "kind": pa.array(kinds.tolist(), pa.string()),
                "capital": pa.array(capital),
            }
        )
    )
    _all_ok(result, "projects")
    tick("projects", projects, projects)
    rng = _rng(seed, "indicators")
    funded = np.flatnonzero(rng.random(projects) < t.funded)
    per_project = 1 + (rng.random(len(funded)) < (t.indicators_per_funded - 1)).astype(np.int64)
    indicator_project = np.repeat(funded, per_project)
    n_ind = len(indicator_project)
    drawn = np.exp(rng.normal(np.log(100_000_00), INDICATOR_SIGMA, n_ind))
    amount = np.clip(drawn, 1_000_00, 5_000_000_000_00).astype(np.int64)
    source = rng.choice(["ANNUAL", "TRANSFER"], n_ind, p=[0.8, 0.2])
    direct = (source == "TRANSFER") & (rng.random(n_ind) < 0.10)  # §8.2: direct-reach funds
    eco_class = np.where(kinds[indicator_project] == "1", 301, np.where(rng.random(n_ind) < 0.8, 302, 310))
    eco = np.where(rng.random(n_ind) < 0.5, eco_class * 100 + rng.integers(1, 30, n_ind), -1)
    func = rng.choice([2010101, 2050203, 2080501, 2100201, 2120101, 2130101], n_ind)
    fund = rng.choice([11, 12], n_ind, p=[0.9, 0.1])
    bgt = np.array([f"{year}{k:09d}" for k in range(n_ind)], dtype=object)
    result = fiscal.create_indicators_columns(
        pa.table(
            {
                "bgt_id": pa.array(bgt.tolist(), pa.string()),
                "region": pa.array(region_of[indicator_project].tolist(), pa.string()),
                "year": pa.array(np.full(n_ind, year, np.int64)),
                "unit": pa.array(
                    [f"{u:06d}" for u in unit_code[project_unit[indicator_project]].tolist()], pa.string()
                ),
                "project": pa.array(project_code[indicator_project].tolist(), pa.string()),
                "fund_type": pa.array(fund.astype(np.int64)),
                "func_code": pa.array(func.astype(np.int64)),
                "eco_code": pa.array(eco, pa.int64(), mask=eco < 0),
                "amount": pa.array(amount),
                "source": pa.array(source.tolist(), pa.string()),
                "doc_no": pa.array([f"渝财预〔{year}〕{k % 997 + 1}号" for k in range(n_ind)], pa.string()),
                "date": pa.array(np.full(n_ind, (start - dt.date(1970, 1, 1)).days, np.int32)),
                "direct": pa.array(direct),
            }
        )
    )
    _all_ok(result, "indicators")
    tick("indicators", n_ind, n_ind)
    # --- movements: a quarter of the indicators topped up or reallocated in January --------
    rng = _rng(seed, "movements")
    moved = np.flatnonzero(rng.random(n_ind) < t.moved)
    first_day = start
    movements = []
    for k, i in enumerate(moved.tolist()):
        if rng.random() < 0.5:
            movements.append(
                Movement(
                    key=10**12 + k,
                    kind="TOPUP",
                    bgt_id=bgt[i],
                    amount=int(amount[i] // 20) + 1,
                    date=first_day,
                    authority="FINANCE_APPROVAL",
                    doc_no=f"追加{k}",
                )
            )
        else:
            j = int(rng.integers(0, n_ind))
            if j == i:
                continue
            same_unit = project_unit[indicator_project[i]] == project_unit[indicator_project[j]]
            same_region = (
                unit_region[project_unit[indicator_project[i]]]
                == unit_region[project_unit[indicator_project[j]]]
            )
            if not same_region:
                continue
            movements.append(
                Movement(
                    key=10**12 + k,
                    kind="REALLOC",
                    bgt_id=bgt[i],
                    to=bgt[j],
                    amount=int(amount[i] // 50) + 1,
                    date=first_day,
                    authority="FILING" if same_unit else "FINANCE_APPROVAL",
                    doc_no=f"调剂{k}",
                )
            )
    outcomes = fiscal.move(movements)
    moved_ok = sum(o.code == "ok" for o in outcomes)
    tick("movements", len(movements), len(movements))
    # --- payments, day by day ---------------------------------------------------------------
    rng = _rng(seed, "payments")
    days = business_days(start, end)
    weights = day_weights(business_days(dt.date(year, 1, 1), dt.date(year, 12, 31)))
    year_days = business_days(dt.date(year, 1, 1), dt.date(year, 12, 31))
    weights = weights[np.isin(year_days, days)]
    total = round(t.payments_per_year * scale * weights.sum())
    per_day = rng.multinomial(total, weights / weights.sum()) if len(days) else np.zeros(0, np.int64)
    # each payment's indicator, drawn by amount; amounts log-normal, scaled so that no
    # indicator pays more than 95 % of what it was issued less what it gave away
    chosen = rng.choice(n_ind, total, p=amount / amount.sum()) if total else np.zeros(0, np.int64)
    pay = np.clip(np.exp(rng.normal(np.log(5_000_00), PAYMENT_SIGMA, total)), 1_00, None).astype(np.int64)
    spendable = (amount - amount // 50) * 95 // 100  # after at most one reallocation out
    sums = np.zeros(n_ind, np.int64)
    np.add.at(sums, chosen, pay)
    factor = np.minimum(1.0, spendable[chosen] / np.maximum(sums[chosen], 1))
    pay = np.maximum(1, np.floor(pay * factor).astype(np.int64))
    status = np.where(rng.random(total) < t.failed, "FAIL", "OK")
    refund = rng.random(total) < t.refunded
    fault_of = draw_faults(_rng(seed, "faults"), total, status, refund, days, per_day, faults)
    eco_pay = np.where(eco[chosen] > 0, eco[chosen], eco_class[chosen] * 100 + rng.integers(1, 30, total))
    offsets = np.concatenate([[0], np.cumsum(per_day)])
    applied = executed = refunded = 0
    receipts: list[pa.Table] = []
    truths: list[pa.Table] = []
    statements: list[pa.Table] = []
    funds = UnitFunds(fiscal)
    unit_rng, unit_faults = _rng(seed, "unit funds"), _rng(seed, "unit faults")
    unit_codes = pa.array([f"{u:06d}" for u in unit_code.tolist()], pa.string())
    unit_regions = pa.array(codes, pa.string()).take(pa.array(unit_region))
    if len(days):  # each unit's own account opened with what it will pay from it
        opening = pa.table(
            {
                "pay_cert_no": pa.array([f"UO{int(days[0])}{u:06d}" for u in range(units)], pa.string()),
                "region": unit_regions,
                "year": pa.array(np.full(units, year, np.int64)),
                "unit": unit_codes,
                "amount": pa.array(np.full(units, UNIT_OPENING, np.int64)),
                "date": pa.array(np.full(units, days[0], np.int32)).cast(pa.date32()),
            }
        )
        _all_ok(funds.receive(opening), "unit-funds receipts")
        statements.append(_statement_lines(opening, int(days[0]), 1, np.full(units, "", dtype=object)))
    month = days.astype("datetime64[D]").astype("datetime64[M]")
    for d, day in enumerate(days.tolist()):
        lo, hi = int(offsets[d]), int(offsets[d + 1])
        if hi == lo:
            continue
        rows = np.arange(lo, hi)
        picked = chosen[rows]
        certs = pa.array([f"{day}{k:08d}" for k in range(hi - lo)], pa.string())
        region = pa.array(region_of[indicator_project[picked]].tolist(), pa.string())
        table = pa.table(
            {
                "pay_cert_no": certs,
                "region": region,
                "year": pa.array(np.full(len(rows), year, np.int64)),
                "bgt_id": pa.array(bgt[picked].tolist(), pa.string()),
                "unit": pa.array(
                    [f"{u:06d}" for u in unit_code[project_unit[indicator_project[picked]]].tolist()],
                    pa.string(),
                ),
                "project": pa.array(project_code[indicator_project[picked]].tolist(), pa.string()),
                "fund_type": pa.array(fund[picked].astype(np.int64)),
                "func_code": pa.array(func[picked].astype(np.int64)),
                "eco_code": pa.array(eco_pay[rows].astype(np.int64)),
                "amount": pa.array(pay[rows]),
                "date": pa.array(np.full(len(rows), day, np.int32)).cast(pa.date32()),
            }
        )
        answers = fiscal.payments.apply(table).column("code").to_numpy(zero_copy_only=False)
        applied += int((answers == "ok").sum())
        fault = fault_of[rows]
        # what the ledger hears: nothing for a payment missing on its side; OK for a bank
        # failure that was never reversed
        ledger_status = np.where(fault == "failure_not_reversed", "OK", status[rows])
        heard = np.flatnonzero(fault != "missing_a")
        results = pa.table(
            {
                "pay_cert_no": certs.take(pa.array(heard)),
                "region": region.take(pa.array(heard)),
                "year": table.column("year").take(pa.array(heard)),
                "status": pa.array(ledger_status[heard].tolist(), pa.string()),
                "date": table.column("date").take(pa.array(heard)),
            }
        )
        settled = np.full(len(rows), "not_heard", dtype=object)
        settled[heard] = fiscal.payments.settle(results).column("code").to_numpy(zero_copy_only=False)
        executed += int(((settled == "ok") & (ledger_status == "OK")).sum())
        day_bank, day_truth = bank_receipts(
            day,
            rows,
            certs,
            region,
            year,
            project_code[indicator_project[picked]],
            bgt[picked],
            pay[rows],
            status[rows],
            refund[rows],
            fault,
            days,
        )
        receipts.append(day_bank)
        truths.append(day_truth)
        lines, truth_lines = unit_payments(
            funds,
            unit_rng,
            unit_faults,
            faults,
            day,
            year,
            round((hi - lo) * UNIT_SHARE),
            unit_regions,
            unit_codes,
        )
        statements.append(lines)
        truths.append(truth_lines)
        back = np.flatnonzero(
            refund[rows] & (status[rows] == "OK") & (settled == "ok") & (fault != "refund_not_reflected")
        )
        if len(back):
            refunds = pa.table(
                {
                    "pay_cert_no": certs.take(pa.array(back)),
                    "region": region.take(pa.array(back)),
                    "year": table.column("year").take(pa.array(back)),
                    "amount": pa.array(pay[rows][back] // 2 + 1),
                    "date": table.column("date").take(pa.array(back)),
                }
            )
            refunded += int(
                (fiscal.payments.refund(refunds).column("code").to_numpy(zero_copy_only=False) == "ok").sum()
            )
        tick("payments", hi, total)
        if d + 1 == len(days) or month[d + 1] != month[d]:
            fiscal.book.checkpoint()  # a month's postings folded, as a nightly job would
    bank = pa.concat_tables(receipts).drop_columns(["fault"]) if receipts else None
    truth = pa.concat_tables(truths) if truths else None
    out.bank_receipts, out.ground_truth = bank, truth
    out.unit_statements = pa.concat_tables(statements) if statements else None
    injected = truth.column("type").to_numpy(zero_copy_only=False) if truth is not None else np.zeros(0)
    out.distributions["faults by type"] = {
        str(k): int(v) for k, v in zip(*np.unique(injected, return_counts=True), strict=True)
    }
    months = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12 + 1
    out.counts = {
        "regions": len(codes),
        "departments": int(departments_per.sum()),
        "units": units,
        "books": units + int(two_books.sum()),
        "projects": projects,
        "indicators": n_ind,
        "direct-reach indicators": int(direct.sum()),
        "movements": moved_ok,
        "payments": int(total),
        "applied": applied,
        "executed": executed,
        "refunded": refunded,
    }
    out.distributions |= {
        "units per region (min, median, max)": [
            int(per_region.min()),
            float(np.median(per_region)),
            int(per_region.max()),
        ],
        "projects per unit (median, p99)": [
            float(np.median(np.bincount(project_unit, minlength=units))),
            float(np.percentile(np.bincount(project_unit, minlength=units), 99)),
        ],
        "project kinds 1 / 21 / 3 (share)": [round(float((kinds == k).mean()), 3) for k in ("1", "21", "3")],
        "payment amount yuan (p50, p90, p99, p99.9)": [
            round(float(np.percentile(pay, q)) / 100) for q in (50, 90, 99, 99.9)
        ]
        if total
        else [],
        "payments by month": np.bincount(months, weights=per_day, minlength=13)[1:].astype(np.int64).tolist()
        if total
        else [],
        "indicator total yuan": int(amount.sum() // 100),
    }
    return out


# §8.2 fault rates (of all payments unless said otherwise)
FAULT_RATES = {
    "amount_mismatch": 0.0005,
    "missing_a": 0.0001,  # the bank paid; the ledger never heard of it
    "missing_b": 0.0001,  # the ledger executed it; the bank's file lacks it
    "duplicate_b": 0.0001,  # the bank's file has it twice
    "key_mismatch": 0.0005,  # the bank's receipt names another project
}
IN_TRANSIT = 0.01  # of the last business day of a month: paid on the next business day
CROSS_YEAR = 0.001  # of January's payments: the bank dates them in December of the year before
NOT_REVERSED = 0.1  # of bank failures: the ledger executed it anyway
NOT_REFLECTED = 0.1  # of refunds: the bank refunded, the ledger did not


def draw_faults(
    rng: np.random.Generator,
    total: int,
    status: np.ndarray,
    refund: np.ndarray,
    days: np.ndarray,
    per_day: np.ndarray,
    times: float = 1.0,
) -> np.ndarray:
    """One fault type per payment ("" for none), at the §8.2 rates times `times` (each at
    most one half); at most one each."""

    def rate(base: float) -> float:
        return min(0.5, base * times)

    fault = np.full(total, "", dtype=object)
    draw = rng.random(total)
    edge = 0.0
    for name, base in FAULT_RATES.items():  # adjacent slices of one draw: one type at most
        fault[(draw >= edge) & (draw < edge + rate(base)) & (status == "OK")] = name
        edge += rate(base)
    second = rng.random(total)
    fault[(fault == "") & (status == "FAIL") & (second < rate(NOT_REVERSED))] = "failure_not_reversed"
    fault[(fault == "") & refund & (status == "OK") & (second < rate(NOT_REFLECTED))] = "refund_not_reflected"
    day_of = np.repeat(days, per_day)
    month = day_of.astype("datetime64[D]").astype("datetime64[M]")
    last = np.zeros(len(days), bool)
    day_month = days.astype("datetime64[D]").astype("datetime64[M]")
    last[:-1] = day_month[1:] != day_month[:-1]
    last[-1:] = True
    on_last = np.repeat(last, per_day)
    third = rng.random(total)
    fault[(fault == "") & on_last & (status == "OK") & (third < rate(IN_TRANSIT))] = "in_transit"
    january = (month.astype(np.int64) % 12) == 0
    fault[(fault == "") & january & (status == "OK") & (third > 1 - rate(CROSS_YEAR))] = "cross_year"
    return fault


def bank_receipts(
    day: int,
    rows: np.ndarray,
    certs: pa.Array,
    region: pa.Array,
    year: int,
    project: np.ndarray,
    bgt: np.ndarray,
    amount: np.ndarray,
    status: np.ndarray,
    refund: np.ndarray,
    fault: np.ndarray,
    days: np.ndarray,
) -> tuple[pa.Table, pa.Table]:
    """A day's receipts as the agent bank sends them: one per payment (OK or FAIL) and one per
    refund (REFUND, half the amount and one fen), the injected faults applied."""
    n = len(rows)
    serial = np.array([f"AB{day}{k:07d}" for k in range(n)], dtype=object)
    bank_day = np.full(n, day, np.int64)
    later = np.append(days[days > day], next_business_days(np.array([day])))  # the range's, or beyond it
    bank_day[fault == "in_transit"] = int(later[0])
    # in December of the year before (its last days): the bank booked it against that year
    december = (dt.date(year - 1, 12, 31) - dt.date(1970, 1, 1)).days - day % 5
    bank_day[fault == "cross_year"] = december
    bank_amount = amount.copy()
    bank_amount[fault == "amount_mismatch"] += 1_00
    bank_project = project.copy()
    bank_project[fault == "key_mismatch"] = "00" + bank_project[fault == "key_mismatch"].astype(str).astype(
        object
    )
    keep = fault != "missing_b"
    parts = {
        "agent_business_no": serial,
        "pay_cert_no": np.array(certs.to_pylist(), dtype=object),
        "region": np.array(region.to_pylist(), dtype=object),
        "year": np.full(n, year, np.int64),
        "bgt_id": bgt,
        "project": bank_project,
        "amount": bank_amount,
        "date": bank_day,
        "status": status.astype(object),
        "fault": fault,
    }
    take = np.concatenate([np.flatnonzero(keep), np.flatnonzero(fault == "duplicate_b")])
    # a refund's receipt: the day the ledger refunds it, the payment's own project; none for a
    # payment the ledger never heard of (it cannot refund what it did not execute)
    refunds = np.flatnonzero(refund & (status == "OK") & (fault != "missing_a"))
    columns = {k: np.concatenate([v[take], v[refunds]]) for k, v in parts.items()}
    columns["agent_business_no"][len(take) :] = np.array([s + "R" for s in serial[refunds]], dtype=object)
    columns["amount"][len(take) :] = amount[refunds] // 2 + 1
    columns["date"][len(take) :] = day
    columns["project"][len(take) :] = project[refunds]
    columns["status"][len(take) :] = "REFUND"
    columns["fault"][len(take) :] = np.where(
        fault[refunds] == "refund_not_reflected", "refund_not_reflected", ""
    )
    columns["date"] = columns["date"].astype(np.int32)
    table = pa.table({k: pa.array(v.tolist(), _BANK_TYPES[k]) for k, v in columns.items() if k != "fault"})
    table = table.append_column("fault", pa.array(columns["fault"].tolist(), pa.string()))
    faulted = np.flatnonzero(fault != "")
    missing = fault[faulted] == "missing_b"
    truth = pa.table(
        {
            "type": pa.array(fault[faulted].tolist(), pa.string()),
            "pay_cert_no": pa.array(parts["pay_cert_no"][faulted].tolist(), pa.string()),
            "region": pa.array(parts["region"][faulted].tolist(), pa.string()),
            "year": pa.array(np.full(len(faulted), year, np.int64)),
            "bgt_id": pa.array(bgt[faulted].tolist(), pa.string()),
            "project": pa.array(project[faulted].tolist(), pa.string()),
            "amount": pa.array(amount[faulted]),
            "date": pa.array(np.full(len(faulted), day, np.int32)),
            "bank_project": pa.array(bank_project[faulted].tolist(), pa.string()),
            "bank_amount": pa.array(
                np.where(
                    fault[faulted] == "refund_not_reflected", amount[faulted] // 2 + 1, bank_amount[faulted]
                ),
                pa.int64(),
                mask=missing,
            ),
            "bank_date": pa.array(bank_day[faulted].astype(np.int32), pa.int32(), mask=missing),
        }
    )
    return table, truth


_BANK_TYPES = {field.name: field.type for field in files.arrow_schema("bank_receipts")}


def write_files(summary: Summary, directory: Path) -> list[Path]:
    """The bank's receipts (Parquet and CSV, dates as YYYY-MM-DD) and the ground truth (CSV)
    of a synthesis, as schemas/fiscal/files.json lays them out."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in (
        ("bank_receipts", summary.bank_receipts),
        ("unit_statements", summary.unit_statements),
        ("ground_truth", summary.ground_truth),
    ):
        if table is None:
            continue
        for column in ("date", "bank_date"):
            if column in table.column_names:
                at = table.schema.get_field_index(column)
                table = table.set_column(at, column, table.column(column).cast(pa.date32()))
        if name != "ground_truth":
            pq.write_table(table, directory / f"{name}.parquet")
            written.append(directory / f"{name}.parquet")
        pacsv.write_csv(table, directory / f"{name}.csv")
        written.append(directory / f"{name}.csv")
    return written


# Unit funds: payments from units' own accounts, a tenth of the fiscal payments' count, each
# account opened with ¥10 m on the first day; the faults of the T+1 statements (§6.4 R6):
# an outflow without its voucher, a voucher without its line, a line of another amount.
UNIT_SHARE = 0.1
UNIT_OPENING = 10_000_000_00
UNIT_FAULT_RATES = {"unexplained_flow": 0.0005, "missing_b": 0.0002, "amount_mismatch": 0.0005}


def unit_payments(
    funds: UnitFunds,
    rng: np.random.Generator,
    fault_rng: np.random.Generator,
    times: float,
    day: int,
    year: int,
    count: int,
    unit_regions: pa.Array,
    unit_codes: pa.Array,
) -> tuple[pa.Table, pa.Table]:
    """A day's unit-funds payments, posted; their statement lines as the banks send them the
    next day, with the faults injected; and the ground truth of those faults."""
    if count <= 0:
        return _statement_lines(None, day, -1, np.zeros(0, dtype=object)), _TRUTH.empty_table()
    who = pa.array(rng.integers(0, len(unit_codes), count))
    amount = np.clip(np.exp(rng.normal(np.log(2_000_00), 1.5, count)), 1_00, 500_000_00).astype(np.int64)
    vouchers = pa.table(
        {
            "pay_cert_no": pa.array([f"U{day}{k:07d}" for k in range(count)], pa.string()),
            "region": unit_regions.take(who),
            "year": pa.array(np.full(count, year, np.int64)),
            "unit": unit_codes.take(who),
            "amount": pa.array(amount),
            "date": pa.array(np.full(count, day, np.int32)).cast(pa.date32()),
        }
    )
    _all_ok(funds.pay(vouchers), "unit-funds payments")
    draw = fault_rng.random(count)
    fault = np.full(count, "", dtype=object)
    edge = 0.0
    for name, base in UNIT_FAULT_RATES.items():
        rate = min(0.5, base * times)
        fault[(draw >= edge) & (draw < edge + rate)] = name
        edge += rate
    lines = _statement_lines(vouchers, day, -1, fault)
    hit = np.flatnonzero(fault != "")
    n = len(hit)
    truth = pa.table(
        {
            "type": pa.array(fault[hit].tolist(), pa.string()),
            "pay_cert_no": pc.if_else(
                pa.array(fault[hit] == "unexplained_flow"),
                pc.binary_join_element_wise("X", vouchers.column("pay_cert_no").take(pa.array(hit)), ""),
                vouchers.column("pay_cert_no").take(pa.array(hit)),
            ),
            "region": vouchers.column("region").take(pa.array(hit)),
            "year": pa.array(np.full(n, year, np.int64)),
            "bgt_id": pa.array([""] * n, pa.string()),
            "project": pa.array([""] * n, pa.string()),
            "amount": pa.array(amount[hit]),
            "date": pa.array(np.full(n, day, np.int32)),
            "bank_project": pa.array([""] * n, pa.string()),
            "bank_amount": pa.array(
                np.where(fault[hit] == "amount_mismatch", amount[hit] + 1_00, amount[hit]),
                pa.int64(),
                mask=fault[hit] == "missing_b",
            ),
            "bank_date": pa.array(np.full(n, day, np.int32), pa.int32(), mask=fault[hit] == "missing_b"),
        },
        schema=_TRUTH,
    )
    return lines, truth


def _statement_lines(vouchers: pa.Table | None, day: int, sign: int, fault: np.ndarray) -> pa.Table:
    """The bank's lines of `vouchers` (signed: + into the account, − out), with `fault` applied
    per voucher: unexplained_flow adds a line no voucher explains (its reference X + the
    voucher's), missing_b drops the line, amount_mismatch moves its amount by ¥1."""
    if vouchers is None or not vouchers.num_rows:
        return _STATEMENT.empty_table()
    amount = vouchers.column("amount").to_numpy() * sign
    amount = np.where(fault == "amount_mismatch", amount - 1_00 * (sign < 0) + 1_00 * (sign > 0), amount)
    keep = np.flatnonzero(fault != "missing_b")
    extra = np.flatnonzero(fault == "unexplained_flow")
    reference = vouchers.column("pay_cert_no")
    rows = np.concatenate([keep, extra])
    n = len(rows)
    return pa.table(
        {
            "serial": pa.array([f"ST{day}{k:07d}" for k in range(n)], pa.string()),
            "region": vouchers.column("region").take(pa.array(rows)),
            "unit": vouchers.column("unit").take(pa.array(rows)),
            "year": vouchers.column("year").take(pa.array(rows)),
            "pay_cert_no": pa.concat_arrays(
                [
                    _plain(reference.take(pa.array(keep))),
                    _plain(pc.binary_join_element_wise("X", reference.take(pa.array(extra)), "")),
                ]
            ),
            "amount": pa.array(np.concatenate([amount[keep], amount[extra]])),
            "date": pa.array(np.full(n, day, np.int32)),
        },
        schema=_STATEMENT,
    )


def _plain(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


_STATEMENT = pa.schema(
    [
        ("serial", pa.string()),
        ("region", pa.string()),
        ("unit", pa.string()),
        ("year", pa.int64()),
        ("pay_cert_no", pa.string()),
        ("amount", pa.int64()),
        ("date", pa.int32()),
    ]
)
_TRUTH = pa.schema(
    [
        ("type", pa.string()),
        ("pay_cert_no", pa.string()),
        ("region", pa.string()),
        ("year", pa.int64()),
        ("bgt_id", pa.string()),
        ("project", pa.string()),
        ("amount", pa.int64()),
        ("date", pa.int32()),
        ("bank_project", pa.string()),
        ("bank_amount", pa.int64()),
        ("bank_date", pa.int32()),
    ]
)


def _all_ok(result: pa.Table, what: str) -> None:
    codes = result.column("code").to_pylist()
    bad = [c for c in codes if c != "ok"]
    if bad:
        raise InvalidInput(f"synth: {len(bad)} {what} refused (first: {bad[0]})")


__all__ = [
    "TARGETS",
    "MONTH_WEIGHTS",
    "PROFILES",
    "Summary",
    "Targets",
    "business_days",
    "day_weights",
    "region_codes",
    "synthesize",
]
