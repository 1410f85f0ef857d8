"""schemas/ is generated: regenerating it must reproduce the committed files exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger import export, files


def test_committed_schemas_are_current(tmp_path: Path) -> None:
    export.write(tmp_path)
    generated = {
        p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()
    }
    committed = {
        p.relative_to(export.SCHEMAS_DIR).as_posix(): p.read_bytes()
        for p in export.SCHEMAS_DIR.rglob("*")
        if p.is_file()
    }
    stale = sorted(
        name for name in generated.keys() | committed.keys() if generated.get(name) != committed.get(name)
    )
    assert not stale, f"schemas/ is stale ({', '.join(stale)}): run `python -m ledger.export`"


def test_export_covers_every_model_and_file_kind() -> None:
    rendered = export.render()
    for name in ("group", "book", "account", "node", "line", "entry", "balance"):
        schema = json.loads(rendered[f"{name}.schema.json"])
        assert schema["$schema"] == export.JSON_SCHEMA_DIALECT
        assert schema["title"].lower() == name
    layouts = json.loads(rendered["files.json"])["files"]
    assert set(layouts) == {
        "groups", "accounts", "nodes", "entries", "rejected", "balances", "trial_balance", "rollup",
    }  # fmt: skip
    trial = [c["name"] for c in layouts["trial_balance"]["columns"]]
    assert trial == [
        "code", "name", "group", "level", "opening_debit", "opening_credit", "debit", "credit",
        "closing_debit", "closing_credit",
    ]  # fmt: skip
    entries = {c["name"]: c for c in layouts["entries"]["columns"]}
    assert [n for n, c in entries.items() if c["required"]] == [
        "entry",
        "book",
        "date",
        "account",
        "debit",
        "credit",
    ]
    assert set(entries) >= {"kind", "reference", "flags", "pending", "dim1", "dim4"}
    assert layouts == files.layout_description()["files"]


def test_output_is_deterministic_and_canonical() -> None:
    first, second = export.render(), export.render()
    assert first == second
    for path, text in first.items():
        if path.endswith(".json"):
            assert text.endswith("}\n")
            assert export.dumps(json.loads(text)) == text
        else:
            assert path.startswith("sql/") and text.endswith(";\n\n")


def test_sql_export_is_what_each_store_runs() -> None:
    from ledger.store.postgres import PostgresStore
    from ledger.store.sqlite import SQLiteStore

    rendered = export.render()
    for name, store in (("sqlite", SQLiteStore), ("postgresql", PostgresStore)):
        text = rendered[f"sql/{name}.sql"]
        for statement in store.schema_ddl():
            assert f"{statement};\n" in text
        assert "CREATE TABLE entries" in text
        # PostgreSQL keeps the lines in the entry rows and shows them through a view
        assert ("CREATE VIEW lines" if name == "postgresql" else "CREATE TABLE lines") in text


def test_check_reports_stale_missing_and_extra_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert export.main(["--dir", str(tmp_path)]) == 0
    assert export.main(["--check", "--dir", str(tmp_path)]) == 0
    (tmp_path / "files.json").write_text("{}\n")
    (tmp_path / "group.schema.json").unlink()
    (tmp_path / "old.json").write_text("{}\n")
    capsys.readouterr()
    assert export.main(["--check", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert all(name in err for name in ("files.json", "group.schema.json", "old.json"))
    assert export.stale(tmp_path) == ["files.json", "group.schema.json", "old.json"]
    assert export.main(["--dir", str(tmp_path)]) == 0
    assert export.stale(tmp_path) == []
    assert not (tmp_path / "old.json").exists()


def test_exporters_register_once() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        export.exporter("files")(export.file_layouts)
