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
