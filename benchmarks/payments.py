"""A day's payments through the fiscal domain's bulk path, on SQLite and PostgreSQL: apply
(check the keys against the indicator, freeze), the bank's results (execute into the
indicator, treasury and unit ledgers as one linked chain, or void), refunds; then the
invariant checks.

    PYTHONPATH=. python -m benchmarks.payments [--store sqlite,postgresql] [--payments 1000000]
        [--regions 5] [--units 500] [--projects 5000] [--indicators 10000] [--batch 100000]
        [--seed 3] [--postgres-url URL] [--workdir DIR] [--out PATH]

Set-up (regions, units with their GOV-UNIT-2019 books, projects, indicators issued from the
annual budget) goes through the record paths and is timed apart. Payments are generated with
numpy: an indicator at random, an amount well inside what it has, a department economic code
of its class; 0.3 % of bank results fail, 0.1 % of payments are refunded (half their amount).
Reported: the time of each stage, payments/s, and the checks (INV-I5 executed = paid −
refunded per indicator; INV-X1 treasury expenditure = the units' appropriation revenue per
project; INV-I1 issued = available + executed; every book balanced per basis). Target (issue
11): 1 M payments (apply + settle) in ≤ 60 s on SQLite and ≤ 40 s on PostgreSQL.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.table import Table

import ledger
from benchmarks.durable import drop_postgres, each_store, fresh_postgres
from ledger.fiscal import Department, Fiscal, Indicator, Project, Region, Unit

POSTGRES_URL = os.environ.get(
    "LEDGER_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TARGET_S = {"sqlite": 60.0, "postgresql": 40.0}
DAY = dt.date(2026, 6, 15)


def progress(message: str) -> None:
    if sys.stderr.isatty():
        print(f"\r\033[K{message}", end="", file=sys.stderr, flush=True)


def setup(fiscal: Fiscal, args: argparse.Namespace) -> dict[str, Any]:
    rng = np.random.default_rng(args.seed)
    regions = [f"5001{r:02d}000" for r in range(args.regions)]
    fiscal.create_regions(
        [Region(code="500000000", level="PROVINCE_CITY_LEVEL")]
        + [Region(code=r, parent="500000000") for r in regions]
    )
    fiscal.create_departments([Department(region=r, code="101") for r in regions])
    unit_region = [regions[u % len(regions)] for u in range(args.units)]
    kinds = ["ADMIN", "PUBLIC_INST_FULL"]
    fiscal.create_units(
        [
            Unit(region=unit_region[u], code=f"{u:06d}", department="101", unit_type=kinds[u % 2])
            for u in range(args.units)
        ]
    )
    project_unit = rng.integers(0, args.units, args.projects)
    project_kind = rng.choice(["1", "21", "22", "3"], args.projects, p=[0.05, 0.12, 0.13, 0.70])
    fiscal.create_projects(
        [
            Project(region=unit_region[u], code=f"P{p:08d}", unit=f"{u:06d}", kind=str(k))
            for p, (u, k) in enumerate(zip(project_unit.tolist(), project_kind.tolist(), strict=True))
        ]
    )
    indicator_project = np.concatenate(
        [np.arange(args.projects), rng.integers(0, args.projects, args.indicators - args.projects)]
    )
    amount = (10**7 * args.payments // args.indicators) * 100  # fen: about 100x what its payments take
    indicators = []
    for i, p in enumerate(indicator_project.tolist()):
        u = int(project_unit[p])
        indicators.append(
            Indicator(
                bgt_id=f"BGT{i:08d}",
                region=unit_region[u],
                year=2026,
                unit=f"{u:06d}",
                project=f"P{p:08d}",
                fund_type=11,
                func_code=2050203,
                eco_code=30200 + (i % 99) if i % 3 else None,
                amount=amount,
                source="ANNUAL",
                doc_no="渝财预〔2026〕1号",
                date=dt.date(2026, 1, 5),
            )
        )
    for start in range(0, len(indicators), 20_000):
        results = fiscal.create_indicators(indicators[start : start + 20_000])
        assert all(r.code == "ok" for r in results), [r for r in results if r.code != "ok"][:3]
    return {
        "regions": regions,
        "unit_region": unit_region,
        "project_unit": project_unit,
        "indicator_project": indicator_project,
        "amount": amount,
    }


def generate(world: dict[str, Any], args: argparse.Namespace) -> pa.Table:
    rng = np.random.default_rng(args.seed + 1)
    n = args.payments
    indicator = rng.integers(0, args.indicators, n)
    project = world["indicator_project"][indicator]
    unit = world["project_unit"][project]
    region = np.array(world["unit_region"], dtype=object)[unit]
    eco = np.where(indicator % 3 != 0, 30200 + (indicator % 99), rng.choice([30101, 30213, 31002, 30305], n))
    amount = rng.lognormal(np.log(5000_00), 1.0, n).astype(np.int64).clip(1, world["amount"] // 200)
    return pa.table(
        {
            "pay_cert_no": pa.array([f"PC{k:010d}" for k in range(n)]),
            "region": pa.array(region.tolist(), pa.string()),
            "year": pa.array(np.full(n, 2026, np.int64)),
            "bgt_id": pa.array([f"BGT{i:08d}" for i in indicator.tolist()]),
            "unit": pa.array([f"{u:06d}" for u in unit.tolist()]),
            "project": pa.array([f"P{p:08d}" for p in project.tolist()]),
            "fund_type": pa.array(np.full(n, 11, np.int64)),
            "func_code": pa.array(np.full(n, 2050203, np.int64)),
            "eco_code": pa.array(eco.astype(np.int64)),
            "amount": pa.array(amount),
            "date": pa.array(np.full(n, (DAY - dt.date(1970, 1, 1)).days, np.int32)).cast(pa.date32()),
        }
    )


def run_store(kind: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    schema = f"bench_pay_{os.getpid()}"
    url = (
        f"sqlite:///{workdir / 'ledger.db'}"
        if kind == "sqlite"
        else fresh_postgres(args.postgres_url, schema)
    )
    out: dict[str, Any] = {}
    try:
        with ledger.open(url) as book:
            fiscal = Fiscal(book)
            start = time.perf_counter()
            world = setup(fiscal, args)
            out["setup_s"] = time.perf_counter() - start
            out["accounts"] = book.accounts_count
            payments = generate(world, args)
            rng = np.random.default_rng(args.seed + 2)
            status = np.where(rng.random(args.payments) < 0.003, "FAIL", "OK")
            times = {"apply": 0.0, "settle": 0.0, "refund": 0.0}
            applied_ok = np.zeros(args.payments, bool)
            for first in range(0, args.payments, args.batch):
                part = payments.slice(first, args.batch)
                start = time.perf_counter()
                codes = np.array(fiscal.payments.apply(part).column("code").to_pylist(), dtype=object)
                times["apply"] += time.perf_counter() - start
                applied_ok[first : first + part.num_rows] = codes == "ok"
                results = pa.table(
                    {
                        "pay_cert_no": part.column("pay_cert_no"),
                        "region": part.column("region"),
                        "year": part.column("year"),
                        "status": pa.array(status[first : first + part.num_rows].tolist()),
                        "date": part.column("date"),
                    }
                )
                start = time.perf_counter()
                settled = np.array(fiscal.payments.settle(results).column("code").to_pylist(), dtype=object)
                times["settle"] += time.perf_counter() - start
                assert (settled[codes == "ok"] == "ok").all()
                progress(f"{kind}: {first + part.num_rows:,} payments")
            executed = applied_ok & (status == "OK")
            chosen = np.flatnonzero(executed)[:: max(1, int(1 / 0.001))]
            refunds = pa.table(
                {
                    "pay_cert_no": payments.column("pay_cert_no").take(pa.array(chosen)),
                    "region": payments.column("region").take(pa.array(chosen)),
                    "year": payments.column("year").take(pa.array(chosen)),
                    "amount": pa.array(payments.column("amount").to_numpy()[chosen] // 2 + 1),
                    "date": payments.column("date").take(pa.array(chosen)),
                }
            )
            start = time.perf_counter()
            refunded = fiscal.payments.refund(refunds).column("code").to_pylist()
            times["refund"] = time.perf_counter() - start
            assert set(refunded) == {"ok"}, set(refunded)
            out.update({f"{k}_s": v for k, v in times.items()})
            out["payments"] = args.payments
            out["applied"] = int(applied_ok.sum())
            out["executed"] = int(executed.sum())
            out["refunds"] = len(chosen)
            out["payments_per_s"] = args.payments / (times["apply"] + times["settle"])
            start = time.perf_counter()
            out["checks"] = checks(fiscal, payments, executed, chosen, refunds, world)
            out["checks_s"] = time.perf_counter() - start
    finally:
        if kind != "sqlite":
            drop_postgres(args.postgres_url, schema)
    progress("")
    return out


def checks(
    fiscal: Fiscal,
    payments: pa.Table,
    executed: np.ndarray,
    chosen: np.ndarray,
    refunds: pa.Table,
    world: dict[str, Any],
) -> dict[str, bool]:
    """The invariants, from the ledger's balances against what the benchmark sent."""
    book = fiscal.book
    amount = payments.column("amount").to_numpy()
    paid = amount * executed
    paid[chosen] -= refunds.column("amount").to_numpy()
    bgt = np.array([int(b[3:]) for b in payments.column("bgt_id").to_pylist()])
    per_indicator = np.bincount(bgt, weights=None, minlength=len(world["indicator_project"])) * 0
    np.add.at(per_indicator, bgt, paid)
    balances = book.balances()
    keys = book.accounts_table().column("key")
    index = {k: i for i, k in enumerate(keys.to_pylist()) if "|IU2" in k or "|5001|" in k or "|600102|" in k}

    def net(key: str) -> int:
        i = index[key]
        return int(balances["debits_posted"][i] - balances["credits_posted"][i])

    regions = world["unit_region"]
    sample = np.unique(np.random.default_rng(0).integers(0, len(per_indicator), 2000))
    i5 = all(
        net(f"IND:{regions[world['project_unit'][world['indicator_project'][i]]]}|IU230|BGT{i:08d}")
        == per_indicator[i]
        for i in sample.tolist()
    )
    i1 = all(
        net(f"IND:{regions[world['project_unit'][world['indicator_project'][i]]]}|IU210|BGT{i:08d}")
        + per_indicator[i]
        == world["amount"]
        for i in sample.tolist()
    )
    treasury = sum(v for k, i in index.items() if "|5001|" in k for v in [net(k)])
    revenue = -sum(v for k, i in index.items() if "|600102|" in k for v in [net(k)])
    units_basic = -sum(
        int(balances["debits_posted"][i] - balances["credits_posted"][i])
        for k, i in {k: i for i, k in enumerate(keys.to_pylist()) if k.endswith("|600101")}.items()
    )
    x1 = treasury == revenue + units_basic == int(paid.sum())
    balanced = book.trial_balances(period="2026").balanced
    return {
        "INV-I5 executed = paid - refunded": i5,
        "INV-I1 issued = available + executed": i1,
        "INV-X1 treasury = units' appropriation revenue": bool(x1),
        "INV-L1 every book balanced": balanced,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.payments", description=__doc__.split("\n")[0])
    parser.add_argument("--store", default="sqlite,postgresql")
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--regions", type=int, default=5)
    parser.add_argument("--units", type=int, default=500)
    parser.add_argument("--projects", type=int, default=5000)
    parser.add_argument("--indicators", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    results = each_store(
        args.store, args.workdir, "ledger-pay-", lambda kind, workdir: run_store(kind, args, workdir)
    )
    table = Table(title=f"{args.payments:,} payments through the fiscal bulk path")
    table.add_column("")
    for kind in results:
        table.add_column(kind, justify="right")
    rows = [
        (
            "set-up (regions, units, projects, indicators)",
            lambda r: f"{r['setup_s']:.1f} s ({r['accounts']:,} accounts)",
        ),
        ("apply (keys, freeze)", lambda r: f"{r['apply_s']:.1f} s ({r['applied']:,} frozen)"),
        ("bank results (execute / void)", lambda r: f"{r['settle_s']:.1f} s ({r['executed']:,} executed)"),
        (
            "apply + results",
            lambda r: f"{r['apply_s'] + r['settle_s']:.1f} s, {r['payments_per_s']:,.0f} payments/s",
        ),
        ("refunds", lambda r: f"{r['refund_s']:.2f} s ({r['refunds']:,})"),
        (
            "invariant checks",
            lambda r: ", ".join(k.split()[0] + (" ok" if v else " FAILED") for k, v in r["checks"].items()),
        ),
    ]
    for name, cell in rows:
        table.add_row(name, *(cell(r) for r in results.values()))
    Console(width=180).print(table)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    met = all(
        r["apply_s"] + r["settle_s"] <= TARGET_S.get(k, 60.0) * args.payments / 1_000_000
        and all(r["checks"].values())
        for k, r in results.items()
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
