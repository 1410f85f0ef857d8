"""The nightly reconciliation on generated provinces, on every store: every injected fault is
found with its type and nothing else (precision and recall 100 % per type), a sound ledger's
own pairs are clean and a posting behind the domain's back is found, runs are stored and age
across month and year ends, the report's totals equal the sum of its items, and the command's
exit codes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from typer.testing import CliRunner

import ledger
from ledger.cli import app
from ledger.fiscal import Fiscal, synth
from ledger.fiscal import reconcile as job
from ledger.fiscal import tables as ft
from ledger.periods import days

SCALE = 0.004
JANUARY = (dt.date(2026, 1, 1), dt.date(2026, 1, 30))  # the 30th is a Friday: in transit over a weekend
DECEMBER = (dt.date(2026, 12, 1), dt.date(2026, 12, 31))  # the 31st is a Thursday: in transit into 2027


def province(book: ledger.Ledger, span: tuple[dt.date, dt.date], seed: int = 4) -> synth.Summary:
    """A small province with the fault rates x150 (seed 4: at least two of every kind)."""
    return synth.synthesize(Fiscal(book), scale=SCALE, seed=seed, start=span[0], end=span[1], faults=150)


def truth_keys(summary: synth.Summary) -> set[tuple[str, str]]:
    assert summary.ground_truth is not None
    t = summary.ground_truth
    return set(zip(t.column("type").to_pylist(), t.column("pay_cert_no").to_pylist(), strict=True))


def found_keys(run: job.Run) -> set[tuple[str, str]]:
    f = run.findings.filter(pc.is_in(run.findings.column("pair"), value_set=pa.array(job.BANK_PAIRS)))
    return set(zip(f.column("type").to_pylist(), f.column("key").to_pylist(), strict=True))


def ledger_side(run: job.Run) -> pa.Table:
    return run.findings.filter(
        pc.invert(pc.is_in(run.findings.column("pair"), value_set=pa.array(job.BANK_PAIRS)))
    )


def test_every_injected_fault_is_found_with_its_type_and_nothing_else(any_store: str | None) -> None:
    with ledger.open(any_store) as book:
        summary = province(book, JANUARY)
        run = job.reconcile(
            Fiscal(book),
            JANUARY[1],
            bank_receipts=summary.bank_receipts,
            unit_statements=summary.unit_statements,
        )
        truth = truth_keys(summary)
        kinds = {kind for kind, _ in truth}
        # every type the generator injects in January, each more than once
        assert kinds == set(job.TYPES) - {"date_mismatch", "duplicate_a"}, kinds
        r6 = {kind for kind, key in truth if key.startswith(("U", "XU"))}
        assert r6 == {"unexplained_flow", "missing_b", "amount_mismatch"}, r6
        assert found_keys(run) == truth
        scored = job.score(run.findings, summary.ground_truth)  # type: ignore[arg-type]
        assert set(scored.column("precision").to_pylist()) == {1000}
        assert set(scored.column("recall").to_pylist()) == {1000}
        assert ledger_side(run).num_rows == 0  # the ledger's own pairs agree
        assert set(run.pairs.column("pair").to_pylist()) == set(job.PAIRS)
        assert run.cleared == 0  # the bank dates in-transit payments after the cut-off only
        stats = run.region_stats
        assert pc.sum(stats.column("payments")).as_py() == summary.counts["executed"]


def test_totals_equal_the_sum_of_their_items() -> None:
    with ledger.open() as book:
        summary = province(book, JANUARY, seed=11)
        run = job.reconcile(
            Fiscal(book),
            JANUARY[1],
            bank_receipts=summary.bank_receipts,
            unit_statements=summary.unit_statements,
        )
        f = run.findings
        for row in run.pairs.to_pylist():
            mine = pc.and_(
                pc.equal(f.column("pair"), row["pair"]), pc.equal(f.column("region"), row["region"])
            )
            items = f.filter(mine)
            difference = pc.sum(pc.subtract(items.column("amount_a"), items.column("amount_b"))).as_py() or 0
            assert row["difference"] == difference == row["total_a"] - row["total_b"], row
            assert row["items"] == items.num_rows
        report = job.to_report(run)
        assert sum(p.items for p in report.pairs) == report.total_items == f.num_rows
        assert sum(sum(r.findings_by_type.values()) for r in report.regions) == f.num_rows


def test_a_posting_behind_the_domain_is_found_by_the_ledger_pairs() -> None:
    with ledger.open() as book:
        province(book, (dt.date(2026, 3, 2), dt.date(2026, 3, 6)))
        fiscal = Fiscal(book)
        region = fiscal.table(ft.regions).column("code")[1].as_py()
        accounts = book.accounts_table().column("key").to_pylist()
        treasury = next(a for a in accounts if a.startswith(f"TR:{region}|5001|"))
        # the treasury pays a project without its unit voucher, and without a payment
        results = book.post(
            [
                ledger.Entry(
                    key=9_000_000_000_001,
                    book=f"TR:{region}",
                    date=dt.date(2026, 3, 6),
                    lines=[
                        ledger.Line(account=treasury, debit="1234.56"),
                        ledger.Line(account=f"TR:{region}|1001", credit="1234.56"),
                    ],
                )
            ]
        )
        assert results[0].code == ledger.Code.ok
        run = job.reconcile(fiscal, dt.date(2026, 3, 6))
        found = ledger_side(run)
        assert found.column("pair").to_pylist() == ["R4"]
        assert found.column("type").to_pylist() == ["amount_mismatch"]
        assert found.column("key").to_pylist() == [treasury.rsplit("|", 1)[1]]
        row = found.to_pylist()[0]
        assert row["amount_a"] - row["amount_b"] == 123456
        assert row["region"] == region


def test_runs_are_stored_and_age_across_a_month_end(any_store: str | None, tmp_path: Path) -> None:
    with ledger.open(any_store) as book:
        summary = province(book, JANUARY)
        fiscal = Fiscal(book)
        bank = summary.bank_receipts
        assert bank is not None
        friday = JANUARY[1]
        # Friday night: the bank's files reach Friday; what it pays on Monday is in transit
        seen = bank.filter(pc.less_equal(bank.column("date"), days(friday)))
        first = job.store_run(fiscal, job.reconcile(fiscal, friday, bank_receipts=seen))
        transit = first.findings.filter(pc.equal(first.findings.column("type"), "in_transit"))
        truth = summary.ground_truth
        assert truth is not None
        paid_monday = truth.filter(pc.equal(truth.column("type"), "in_transit"))
        # in transit: what the bank pays on Monday, and what its files lack from Friday
        # (awaiting the bank: its Monday file has not come in)
        awaiting = truth.filter(
            pc.and_(pc.equal(truth.column("type"), "missing_b"), pc.equal(truth.column("date"), days(friday)))
        )
        assert paid_monday.num_rows > 0 and awaiting.num_rows > 0
        assert set(transit.column("key").to_pylist()) == set(
            paid_monday.column("pay_cert_no").to_pylist()
        ) | set(awaiting.column("pay_cert_no").to_pylist())
        assert set(transit.column("age_days").to_pylist()) == {0}
        # Monday night: Monday's file came; the in-transit payments clear, the rest age
        monday = dt.date(2026, 2, 2)
        second = job.store_run(fiscal, job.reconcile(fiscal, monday, bank_receipts=bank, year=2026))
        assert second.cleared == paid_monday.num_rows
        assert second.closed == paid_monday.num_rows
        assert "in_transit" not in second.findings.column("type").to_pylist()
        assert set(second.findings.column("first_seen").to_pylist()) == {days(friday)}
        assert second.findings.num_rows == first.findings.num_rows - paid_monday.num_rows
        later = second.findings.filter(
            pc.is_in(second.findings.column("key"), value_set=awaiting.column("pay_cert_no"))
        )
        assert set(later.column("type").to_pylist()) == {"missing_b"}
        runs = fiscal.table(ft.recon_runs)
        assert runs.column("run_id").to_pylist() == [first.run_id, second.run_id]
        assert runs.column("closed").to_pylist() == [0, paid_monday.num_rows]
        stored = fiscal.table(ft.recon_findings)
        assert stored.num_rows == first.findings.num_rows + second.findings.num_rows
        assert fiscal.table(ft.recon_pairs).num_rows == first.pairs.num_rows + second.pairs.num_rows
        written = job.export(second, tmp_path / "run", summary.ground_truth)
        assert {p.name for p in written} == {"findings.csv", "findings.parquet", "pairs.csv", "report.html"}


def test_in_transit_across_a_year_end() -> None:
    with ledger.open() as book:
        summary = province(book, DECEMBER, seed=5)
        fiscal = Fiscal(book)
        bank = summary.bank_receipts
        assert bank is not None
        run = job.store_run(fiscal, job.reconcile(fiscal, DECEMBER[1], bank_receipts=bank))
        transit = run.findings.filter(
            pc.and_(
                pc.equal(run.findings.column("type"), "in_transit"),
                pc.greater_equal(run.findings.column("date_b"), 0),
            )
        )  # paid by the bank on the first business day of 2027 (the others await the bank)
        assert transit.num_rows > 0
        assert set(transit.column("date_b").to_pylist()) == {days(dt.date(2027, 1, 1))}
        assert set(transit.column("age_days").to_pylist()) == {1}
        # the January clean-up: the run of 4 January 2027 reconciles fiscal 2026
        after = job.store_run(
            fiscal, job.reconcile(fiscal, dt.date(2027, 1, 4), bank_receipts=bank, year=2026)
        )
        assert after.cleared == transit.num_rows and after.closed == transit.num_rows
        open_now = after.findings.column("type").to_pylist()
        assert "in_transit" not in open_now and "cross_year" not in open_now


def test_reconcile_refuses_bad_arguments() -> None:
    with ledger.open() as book:
        province(book, (dt.date(2026, 3, 2), dt.date(2026, 3, 3)))
        fiscal = Fiscal(book)
        for kwargs, message in (
            ({"regions": ["999999999"]}, "does not exist"),
            ({"window": -1}, "window"),
            ({"year": 12}, "year"),
            ({"bank_receipts": pa.table({"pay_cert_no": ["1"]})}, "lack column"),
        ):
            with pytest.raises(ledger.InvalidInput, match=message):
                job.reconcile(fiscal, dt.date(2026, 3, 3), **kwargs)  # type: ignore[arg-type]
        with pytest.raises(ledger.InvalidInput, match="date"):
            job.reconcile(fiscal, "2026-03-03")  # type: ignore[arg-type]


def test_one_region_is_a_task_of_its_own() -> None:
    with ledger.open() as book:
        summary = province(book, JANUARY, seed=13)
        fiscal = Fiscal(book)
        whole = job.reconcile(fiscal, JANUARY[1], bank_receipts=summary.bank_receipts)
        region = whole.findings.column("region")[0].as_py()
        alone = job.reconcile(fiscal, JANUARY[1], regions=[region], bank_receipts=summary.bank_receipts)
        assert alone.regions == [region]
        assert alone.findings.equals(whole.findings.filter(pc.equal(whole.findings.column("region"), region)))


def test_reconcile_command(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'l.db'}"
    with ledger.open(db) as book:
        summary = province(book, JANUARY)
    synth.write_files(summary, tmp_path / "bank")
    runner = CliRunner()
    args = ["reconcile", "--db", db, "--date", "2026-01-30", "--out", str(tmp_path / "out")]
    clean = runner.invoke(app, args)  # no bank files: the ledger's own pairs only
    assert clean.exit_code == 0, clean.output
    found = runner.invoke(app, [*args, "--bank-files", str(tmp_path / "bank")])
    assert found.exit_code == 2, found.output
    for kind in ("in_transit", "missing_a", "cross_year"):
        assert kind in found.output
    assert (tmp_path / "out" / "report.html").exists()
    bad = runner.invoke(app, ["reconcile", "--db", db, "--date", "2026-13-01", "--out", str(tmp_path)])
    assert bad.exit_code == 1 and "--date" in bad.output
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = runner.invoke(app, [*args, "--bank-files", str(empty)])
    assert missing.exit_code == 1 and "bank_receipts" in missing.output
    with ledger.open(db) as book:
        assert Fiscal(book).table(ft.recon_runs).num_rows == 2
    assert {p.name for p in (tmp_path / "out").iterdir()} >= {"findings.csv", "pairs.csv", "report.html"}


def test_a_cut_off_before_the_files_end_finds_only_what_is_due_by_then() -> None:
    with ledger.open() as book:
        summary = province(book, (dt.date(2026, 1, 5), dt.date(2026, 1, 23)))
        cut_off = dt.date(2026, 1, 15)
        run = job.reconcile(
            Fiscal(book),
            cut_off,
            bank_receipts=summary.bank_receipts,
            unit_statements=summary.unit_statements,
        )
        truth = summary.ground_truth
        assert truth is not None
        due = truth.filter(pc.less_equal(truth.column("date"), days(cut_off)))
        expected = set(
            zip(due.column("type").to_pylist(), due.column("pay_cert_no").to_pylist(), strict=True)
        )
        # a cross-year receipt is dated in December: by the 15th the bank has it, the ledger not yet
        early = truth.filter(
            pc.and_(
                pc.equal(truth.column("type"), "cross_year"), pc.greater(truth.column("date"), days(cut_off))
            )
        )
        expected |= {("missing_a", key) for key in early.column("pay_cert_no").to_pylist()}
        assert (
            due.num_rows and found_keys(run) == expected
        )  # what the ledger records after the 15th is not missing


def test_ageing_is_per_region_and_fiscal_year() -> None:
    with ledger.open() as book:
        summary = province(book, JANUARY)
        fiscal = Fiscal(book)
        files = {"bank_receipts": summary.bank_receipts, "unit_statements": summary.unit_statements}
        first = job.store_run(fiscal, job.reconcile(fiscal, JANUARY[1], **files))
        region = first.findings.column("region")[0].as_py()
        saturday = dt.date(2026, 1, 31)  # nothing clears before Monday
        alone = job.store_run(fiscal, job.reconcile(fiscal, saturday, regions=[region], **files))
        assert alone.closed == 0  # the other regions were not in its scope: nothing of theirs closed
        other_year = job.store_run(fiscal, job.reconcile(fiscal, saturday, year=2027, **files))
        assert other_year.closed == 0 and other_year.findings.num_rows == 0  # fiscal 2027 has nothing yet
        whole = job.store_run(fiscal, job.reconcile(fiscal, saturday, **files))
        assert whole.closed == 0 and whole.findings.num_rows == first.findings.num_rows
        assert set(whole.findings.column("first_seen").to_pylist()) == {days(JANUARY[1])}


def test_the_banks_files_must_be_whole_and_in_fen() -> None:
    with ledger.open() as book:
        summary = province(book, (dt.date(2026, 3, 2), dt.date(2026, 3, 3)))
        bank = summary.bank_receipts
        assert bank is not None
        fiscal = Fiscal(book)
        empty = bank.set_column(
            1, "pay_cert_no", pc.if_else(pc.equal(pa.array(range(bank.num_rows)), 0), None, bank.column(1))
        )
        with pytest.raises(ledger.InvalidInput, match="empty 'pay_cert_no'"):
            job.reconcile(fiscal, dt.date(2026, 3, 3), bank_receipts=empty)
        yuan = bank.set_column(
            bank.schema.get_field_index("amount"), "amount", bank.column("amount").cast(pa.float64())
        )
        with pytest.raises(ledger.InvalidInput, match="integer fen"):
            job.reconcile(fiscal, dt.date(2026, 3, 3), bank_receipts=yuan)
