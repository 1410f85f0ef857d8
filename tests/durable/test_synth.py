"""`ledger synth` at a small scale: the counts scale, the calendar holds, the same seed gives
the same ledger, and every book balances per basis afterwards."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import ledger
from ledger.cli import app
from ledger.fiscal import Fiscal
from ledger.fiscal import tables as ft
from ledger.fiscal.synth import MONTH_WEIGHTS, business_days, day_weights, region_codes, synthesize

SCALE = 0.002
MARCH = (dt.date(2026, 3, 1), dt.date(2026, 3, 31))


def contents(book: ledger.Ledger) -> tuple[object, ...]:
    balances = book.balances()
    fiscal = Fiscal(book)
    return (
        tuple(np.asarray(balances[k]).tobytes() for k in sorted(balances)),
        book.accounts_table().column("key").to_pylist(),
        tuple(fiscal.table(t).to_pylist().__repr__() for t in ft.TABLES),
    )


def test_synth_is_deterministic_and_balanced(any_store: str | None, tmp_path: Path) -> None:
    with ledger.open(any_store) as book:
        summary = synthesize(Fiscal(book), scale=SCALE, seed=7, start=MARCH[0], end=MARCH[1])
        counts = summary.counts
        assert counts["regions"] == 3 and counts["units"] == 36 and counts["projects"] == 1256
        unit_books = {b for b in book.accounts_table().column("book").to_pylist() if b.startswith("U:")}
        assert counts["books"] == len(unit_books) == 38  # two units of 36 keep a capital-construction book
        assert counts["payments"] == round(8_000_000 * SCALE * MONTH_WEIGHTS[2])
        assert counts["applied"] == counts["payments"]  # no payment beyond its indicator
        assert book.trial_balances(period="2026-03").balanced
        assert book.verify() is None
        first = contents(book)
    with ledger.open() as again:
        synthesize(Fiscal(again), scale=SCALE, seed=7, start=MARCH[0], end=MARCH[1])
        assert contents(again) == first
    with ledger.open() as other:
        synthesize(Fiscal(other), scale=SCALE, seed=8, start=MARCH[0], end=MARCH[1])
        assert contents(other) != first


def test_calendar_and_codes() -> None:
    days = business_days(dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    assert len(days) == 261 and all(dt.date(1970, 1, 1) + dt.timedelta(int(d)) for d in days)
    assert all((dt.date(1970, 1, 1) + dt.timedelta(int(d))).weekday() < 5 for d in days)
    weights = day_weights(days)
    months = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12
    assert np.allclose(np.bincount(months, weights=weights), MONTH_WEIGHTS)
    december = weights[months == 11]
    assert december[-1] > 4 * np.median(december[:-10])  # the last ten days of December
    codes, levels = region_codes(42)
    assert len(codes) == 42 and levels.count("DISTRICT") == 38 and levels.count("ZONE") == 3
    assert codes[0] == "500000000" and all(len(c) == 9 and c.isdigit() for c in codes)


def test_synth_refuses_bad_arguments() -> None:
    with ledger.open() as book:
        for kwargs in (
            {"scale": 0},
            {"profile": "beijing"},
            {"start": dt.date(2026, 5, 1), "end": dt.date(2026, 4, 1)},
        ):
            with pytest.raises(ledger.InvalidInput):
                synthesize(Fiscal(book), **kwargs)  # type: ignore[arg-type]


def test_synth_command(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'l.db'}"
    result = CliRunner().invoke(
        app,
        [
            "synth",
            "--db",
            db,
            "--scale",
            "0.001",
            "--seed",
            "3",
            "--from",
            "2026-03-02",
            "--to",
            "2026-03-06",
        ],
    )
    assert result.exit_code == 0, result.output
    assert '"regions": 3' in result.stdout and '"payments by month"' in result.stdout
    files = CliRunner().invoke(
        app,
        [
            "synth",
            "--scale",
            "0.001",
            "--from",
            "2026-03-02",
            "--to",
            "2026-03-06",
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert files.exit_code == 0, files.output
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "bank_receipts.parquet",
        "bank_receipts.csv",
        "unit_statements.parquet",
        "unit_statements.csv",
        "ground_truth.csv",
    }
    assert CliRunner().invoke(app, ["synth", "--db", db, "--from", "2026-13-01"]).exit_code == 1


def test_faults_are_in_the_bank_file_and_the_ground_truth_lists_each(tmp_path: Path) -> None:
    """Every injected fault is in the ground truth once and nothing else is; the bank's file
    shows each as a bank would; the files are byte-identical for the same seed."""
    from ledger.fiscal.synth import write_files

    with ledger.open() as book:
        summary = synthesize(
            Fiscal(book), scale=0.005, seed=11, start=dt.date(2026, 1, 1), end=dt.date(2026, 12, 31)
        )
        paths = write_files(summary, tmp_path / "a")
    truth, bank = summary.ground_truth, summary.bank_receipts
    assert truth is not None and bank is not None
    kinds = truth.column("type").to_pylist()
    assert dict(sorted((k, kinds.count(k)) for k in set(kinds))) == summary.distributions["faults by type"]
    assert len(set(zip(kinds, truth.column("pay_cert_no").to_pylist(), strict=True))) == len(kinds)
    paid = [
        c
        for c, s in zip(
            bank.column("pay_cert_no").to_pylist(), bank.column("status").to_pylist(), strict=True
        )
        if s != "REFUND"
    ]
    rows = truth.to_pylist()
    for row in rows:
        cert = row["pay_cert_no"]
        if row["type"] == "missing_b":
            assert cert not in paid and row["bank_amount"] is None
        elif row["type"] == "duplicate_b":
            assert paid.count(cert) == 2
        elif row["type"] == "amount_mismatch":
            assert row["bank_amount"] == row["amount"] + 1_00
        elif row["type"] == "key_mismatch":
            assert row["bank_project"] != row["project"]
        elif row["type"] in ("in_transit", "cross_year"):
            assert row["bank_date"] != row["date"]
    assert {"in_transit", "amount_mismatch", "key_mismatch"} <= set(kinds)
    with ledger.open() as again:
        summary2 = synthesize(
            Fiscal(again), scale=0.005, seed=11, start=dt.date(2026, 1, 1), end=dt.date(2026, 12, 31)
        )
        paths2 = write_files(summary2, tmp_path / "b")
    assert [p.read_bytes() for p in paths] == [p.read_bytes() for p in paths2]


def test_synth_benchmark_runs_at_a_tiny_size(tmp_path: Path) -> None:
    """`python -m benchmarks.synth` end to end (the figures are not checked)."""
    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "synth.json"
    command = [
        sys.executable,
        "-m",
        "benchmarks.synth",
        "--store",
        "sqlite",
        "--scale",
        "0.001",
        "--from",
        "2026-03-02",
        "--to",
        "2026-03-03",
        "--workdir",
        str(tmp_path),
        "--out",
        str(out),
    ]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"balanced": true' in out.read_text()
