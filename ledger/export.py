"""The generated interchange schemas: what ``schemas/`` at the repository root contains.

Invariant: ``schemas/`` is a pure function of the code. Every file in it is produced, byte for
byte, by a registered exporter (JSON with sorted keys, two-space indent and a trailing newline),
and nothing else is in it. ``python -m ledger.export`` rewrites it; ``--check`` lists the stale
files and exits 1; tests/test_export.py fails while it is stale.

An exporter is a function returning ``{path relative to schemas/: text}``, registered under a
name with ``@exporter(name)``. The JSON Schema of the pydantic models and the column layout of
the interchange files are registered here; the SQL DDL of each store dialect (say
``sql/<dialect>.sql``) is one more registered function.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ledger import files, schemas

Exporter = Callable[[], dict[str, str]]
EXPORTERS: dict[str, Exporter] = {}
SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
MODELS: tuple[type[BaseModel], ...] = (
    schemas.Group,
    schemas.Book,
    schemas.Account,
    schemas.Line,
    schemas.Entry,
    schemas.Balance,
)


def exporter(name: str) -> Callable[[Exporter], Exporter]:
    """Register an exporter under `name` (a name is registered once)."""

    def register(function: Exporter) -> Exporter:
        if name in EXPORTERS:
            raise ValueError(f"exporter {name!r} is registered twice")
        EXPORTERS[name] = function
        return function

    return register


def dumps(value: Any) -> str:
    """The canonical JSON text of `value`: sorted keys, two-space indent, trailing newline."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@exporter("json-schema")
def model_schemas() -> dict[str, str]:
    """<model>.schema.json: the JSON Schema of each pydantic model at the edge."""
    out = {}
    for model in MODELS:
        # Balance is what the ledger returns; the others are what callers send.
        if model is schemas.Balance:
            body = model.model_json_schema(mode="serialization")
        else:
            body = model.model_json_schema(mode="validation")
        schema = {"$schema": JSON_SCHEMA_DIALECT, **body}
        out[f"{model.__name__.lower()}.schema.json"] = dumps(schema)
    return out


@exporter("files")
def file_layouts() -> dict[str, str]:
    """files.json: the format and column layout of the groups/accounts/entries/... files."""
    return {"files.json": dumps(files.layout_description())}


def render() -> dict[str, str]:
    """Every generated file: {path relative to schemas/: text}, sorted by path."""
    out: dict[str, str] = {}
    for name in sorted(EXPORTERS):
        for relative, text in EXPORTERS[name]().items():
            if relative in out:
                raise ValueError(f"{relative} is produced by two exporters")
            out[relative] = text
    return dict(sorted(out.items()))


def _present(directory: Path) -> dict[str, Path]:
    if not directory.is_dir():
        return {}
    return {path.relative_to(directory).as_posix(): path for path in directory.rglob("*") if path.is_file()}


def stale(directory: Path = SCHEMAS_DIR) -> list[str]:
    """Relative paths in `directory` that differ from, are missing from or are extra to render()."""
    wanted, present = render(), _present(directory)
    out = []
    for relative in sorted(wanted.keys() | present.keys()):
        path = present.get(relative)
        if path is None or relative not in wanted or path.read_bytes() != wanted[relative].encode():
            out.append(relative)
    return out


def write(directory: Path = SCHEMAS_DIR) -> list[str]:
    """Make `directory` exactly render(): write what differs, delete what is not generated."""
    wanted, present = render(), _present(directory)
    changed = stale(directory)
    for relative in changed:
        if relative in wanted:
            path = directory / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(wanted[relative].encode())
        else:
            present[relative].unlink()
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m ledger.export [--check] [--dir DIR]`; exit 1 when --check finds stale files."""
    parser = argparse.ArgumentParser(prog="python -m ledger.export", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="list stale files and exit 1 if any; write nothing"
    )
    parser.add_argument(
        "--dir", type=Path, default=SCHEMAS_DIR, help="the schemas directory (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    if args.check:
        outdated = stale(args.dir)
        for relative in outdated:
            print(f"stale: {args.dir / relative}", file=sys.stderr)
        if outdated:
            print("regenerate with: python -m ledger.export", file=sys.stderr)
        return 1 if outdated else 0
    for relative in write(args.dir):
        done = "wrote" if (args.dir / relative).exists() else "removed"
        print(f"{done}: {args.dir / relative}")
    return 0


__all__ = [
    "EXPORTERS",
    "JSON_SCHEMA_DIALECT",
    "MODELS",
    "SCHEMAS_DIR",
    "dumps",
    "exporter",
    "file_layouts",
    "main",
    "model_schemas",
    "render",
    "stale",
    "write",
]


if __name__ == "__main__":
    raise SystemExit(main())
