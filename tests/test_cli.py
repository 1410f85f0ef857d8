"""The `ledger` command as a scheduler runs it: --help of every command, exit codes, an empty
daily extract, and messages that stay on one line when the output is not a terminal."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ledger.cli import app

COMMANDS = [command.name or command.callback.__name__ for command in app.registered_commands]  # type: ignore[union-attr]
ENTRIES_HEADER = "entry,book,date,account,debit,credit\n"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    code, stdout, _ = run(command, "--help")
    assert code == 0
    assert "Usage" in stdout


def test_a_header_only_file_is_an_empty_batch(tmp_path: Path) -> None:
    """An empty daily extract posts nothing and exits 0."""
    db = f"sqlite:///{tmp_path / 'l.db'}"
    (tmp_path / "accounts.csv").write_text("account,book,group,code\n")
    (tmp_path / "entries.csv").write_text(ENTRIES_HEADER)
    code, stdout, _ = run("post", "--db", db, str(tmp_path / "accounts.csv"), str(tmp_path / "entries.csv"))
    assert code == 0
    assert "0 entries, 0 lines: 0 posted" in stdout


def test_exit_codes_say_clean_rejected_and_error(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'l.db'}"
    (tmp_path / "accounts.csv").write_text("account,book,group,code\ncash,U1,CNY,1001\nfees,U1,CNY,5001\n")
    (tmp_path / "good.csv").write_text(
        ENTRIES_HEADER + "1,U1,2026-03-02,fees,10.00,\n1,U1,2026-03-02,cash,,10.00\n"
    )
    (tmp_path / "bad.csv").write_text(
        ENTRIES_HEADER + "2,U1,2026-03-02,fees,10.00,\n2,U1,2026-03-02,cash,,9.00\n"
    )
    assert run("post", "--db", db, str(tmp_path / "accounts.csv"), str(tmp_path / "good.csv"))[0] == 0
    assert run("post", "--db", db, str(tmp_path / "bad.csv"))[0] == 2
    assert run("post", "--db", db, str(tmp_path / "missing.csv"))[0] == 1
    assert run("verify", "--db", db)[0] == 0


def test_messages_are_not_wrapped_when_not_a_terminal(tmp_path: Path) -> None:
    deep = tmp_path / ("a-directory-with-a-rather-long-name-" * 3)
    deep.mkdir()
    code, _, stderr = run("post", "--db", f"sqlite:///{tmp_path / 'l.db'}", str(deep / "missing-file.csv"))
    assert code == 1
    message = stderr.strip()
    assert "\n" not in message and len(message) > 120
    assert message.endswith("cannot read the file: No such file or directory")


def test_trial_balance_and_rollup_commands(tmp_path: Path) -> None:
    """trial-balance writes exactly the documented columns, amounts as decimal strings; the
    table names the balanced totals; rollup and nodes files work the same way."""
    db = f"sqlite:///{tmp_path / 'l.db'}"
    (tmp_path / "accounts.csv").write_text(
        "account,book,group,code,name\ncash,U1,CNY,1001,库存现金\nbank,U1,CNY,100201,工行\nfees,U1,CNY,5001,支出\n"
    )
    (tmp_path / "nodes.csv").write_text("node,parent,book,name,layout\nCQ,,,重庆,4-2\nu1,CQ,U1,单位,\n")
    (tmp_path / "entries.csv").write_text(
        ENTRIES_HEADER
        + "1,U1,2026-01-05,bank,100.00,\n1,U1,2026-01-05,cash,,100.00\n"
        + "2,U1,2026-02-05,fees,30.50,\n2,U1,2026-02-05,bank,,30.50\n"
    )
    files = [str(tmp_path / name) for name in ("accounts.csv", "nodes.csv", "entries.csv")]
    assert run("post", "--db", db, *files)[0] == 0
    out = tmp_path / "tb.csv"
    code, _, _ = run(
        "trial-balance",
        "--db",
        db,
        "--book",
        "U1",
        "--period",
        "2026-02",
        "--format",
        "csv",
        "--out",
        str(out),
    )
    assert code == 0
    lines = out.read_text().splitlines()
    assert lines[0] == (
        '"code","name","group","level","opening_debit","opening_credit","debit","credit",'
        '"closing_debit","closing_credit"'
    )
    assert '"1002",,"CNY",1,"100.00","0.00","0.00","30.50","69.50","0.00"' in lines
    assert '"5001","支出","CNY",1,"0.00","0.00","30.50","0.00","30.50","0.00"' in lines
    code, stdout, _ = run("trial-balance", "--db", db, "--node", "CQ", "--period", "2026")
    assert code == 0 and "balanced" in stdout and "100.00" in stdout
    code, stdout, _ = run("rollup", "--db", db, "--by", "node", "--period", "2026", "--format", "csv")
    assert code == 0 and stdout.splitlines()[1].startswith(
        '"CQ","重庆","CNY",1,"0.00","0.00","130.50","130.50"'
    )
    parquet = tmp_path / "r.parquet"
    assert (
        run(
            "rollup",
            "--db",
            db,
            "--by",
            "code:1",
            "--period",
            "2026-02",
            "--format",
            "parquet",
            "--out",
            str(parquet),
        )[0]
        == 0
    )
    import pyarrow.parquet as pq

    assert pq.read_table(parquet).column("key").to_pylist() == ["1001", "1002", "5001"]
    assert run("trial-balance", "--db", db, "--period", "2026")[0] == 1  # neither --book nor --node
    assert run("trial-balance", "--db", db, "--book", "nope", "--period", "2026")[0] == 1
    assert run("trial-balance", "--db", db, "--book", "U1", "--period", "2026-13")[0] == 1
    assert run("rollup", "--db", db, "--by", "x", "--period", "2026")[0] == 1
    assert run("rollup", "--db", db, "--by", "book", "--period", "2026", "--format", "xml")[0] == 1
    assert run("migrate", "--db", db) == (0, "schema version 5: up to date\n", "")


def test_fiscal_command_loads_master_data_and_payments(tmp_path: Path) -> None:
    """`ledger fiscal` takes the kinds in order whatever the argument order; a bad file is
    refused with its column named."""
    db = f"sqlite:///{tmp_path / 'l.db'}"
    files = {
        "payments.csv": "pay_cert_no,region,year,bgt_id,unit,project,fund_type,func_code,eco_code,amount,"
        "date\n"
        "C1,500103000,2026,B1,101001,P,11,2050203,30213,30000000,2026-03-02\n"
        "C2,500103000,2026,B1,101002,P,11,2050203,30213,100,2026-03-02\n",
        "bank_results.csv": "pay_cert_no,region,year,status,date\nC1,500103000,2026,OK,2026-03-03\n",
        "regions.csv": "code,name,level\n500103000,渝中区,DISTRICT\n",
        "units.csv": "region,code,unit_type,name\n500103000,101001,PUBLIC_INST_FULL,初中\n"
        "500103000,101002,ADMIN,\n",
        "projects.csv": "region,code,unit,kind\n500103000,P,101001,3\n",
        "indicators.csv": "bgt_id,region,year,unit,project,fund_type,func_code,eco_code,amount,source,parent,"
        "doc_no,date\n"
        "B1,500103000,2026,101001,P,11,2050203,,100000000,ANNUAL,,渝中财预1号,2026-01-05\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    code, stdout, _ = run("fiscal", "--db", db, *(str(tmp_path / name) for name in files))
    assert code == 2  # C2 names another unit than its indicator's
    lines = stdout.splitlines()
    assert lines[0].endswith("regions: 1 ok") and lines[3].endswith("indicators: 1 ok")
    assert lines[4].endswith("payments: 1 keys_mismatch:unit, 1 ok") and lines[5].endswith(
        "bank_results: 1 ok"
    )
    code, stdout, _ = run("fiscal", "--db", db, str(tmp_path / "bank_results.csv"))
    assert code == 0 and stdout.strip().endswith("bank_results: 1 exists")
    (tmp_path / "units-bad.csv").write_text("region,code,colour\n500103000,9,red\n")
    code, _, stderr = run("fiscal", "--db", db, str(tmp_path / "units-bad.csv"))
    assert code == 1 and "colour" in stderr
    code, _, stderr = run("fiscal", "--db", db, str(tmp_path / "other.csv"))
    assert code == 1 and "does not start with a kind" in stderr
