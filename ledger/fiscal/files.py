"""The fiscal domain's interchange files: master data (regions, departments, units, projects,
indicators), indicator movements, payment applications, bank results and refunds, as CSV or
Parquet (told by the content), one row per item. Their layouts are exported to
schemas/fiscal/files.json; a file missing a required column, or with one it does not know,
is refused whole with FileFormatError.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ledger.errors import FileFormatError
from ledger.files import (
    Column,  # name, type (string, integer, int64 minor units, date, bool), required, meaning
)

_TYPES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "int64": pa.int64(),
    "date": pa.date32(),
    "bool": pa.bool_(),
}
_REGION = Column("region", "string", True, "fiscal region code (MOF_DIV_CODE, 9 digits)")
_DATE = Column("date", "date", True, "accounting date, YYYY-MM-DD")
LAYOUTS: dict[str, tuple[Column, ...]] = {
    "regions": (
        Column("code", "string", True, "fiscal region code (MOF_DIV_CODE, 9 digits)"),
        Column("name", "string", False, "name"),
        Column("level", "string", False, "PROVINCE_CITY_LEVEL, DISTRICT or ZONE (default DISTRICT)"),
        Column("parent", "string", False, "code of the parent region, in an earlier row or created already"),
        Column("regime", "string", False, "integrated or legacy_quota (default integrated)"),
        Column(
            "zero_carryover", "bool", False, "unspent indicators are recovered at year end (default true)"
        ),
    ),
    "departments": (
        _REGION,
        Column("code", "string", True, "department code"),
        Column("name", "string", False, ""),
    ),
    "units": (
        _REGION,
        Column("code", "string", True, "unit code (AGENCY_CODE) within the region"),
        Column("department", "string", False, "department code"),
        Column("unit_type", "string", False, "ADMIN, PUBLIC_INST_FULL, PUBLIC_INST_PARTIAL or OTHER"),
        Column("name", "string", False, ""),
        Column(
            "capital_book", "bool", False, "the unit keeps a capital-construction book too (default false)"
        ),
    ),
    "projects": (
        _REGION,
        Column("code", "string", True, "project code (PRO_CODE) within the region"),
        Column("unit", "string", True, "unit code"),
        Column("kind", "string", True, "1 personnel, 21 operating, 22 other operating, 3 specific-purpose"),
        Column("name", "string", False, ""),
        Column("capital", "bool", False, "kept in the unit's capital-construction book (kinds 22 and 3)"),
    ),
    "indicators": (
        Column("bgt_id", "string", True, "indicator key (BGT_ID)"),
        _REGION,
        Column("year", "integer", True, "fiscal year"),
        Column("unit", "string", True, "unit code"),
        Column("project", "string", True, "project code"),
        Column("fund_type", "integer", True, "fund type (11 general public budget, 12 fund budget, ...)"),
        Column("func_code", "integer", True, "functional classification, 7 digits"),
        Column("eco_code", "integer", False, "department economic classification, 5 digits; empty: any"),
        Column("amount", "int64", True, "issued or allocated amount, fen"),
        Column(
            "source",
            "string",
            False,
            "ANNUAL, TRANSFER, CARRY or RESERVE; empty when allocated from a parent",
        ),
        Column("parent", "string", False, "BGT_ID of the indicator it is allocated from"),
        Column("doc_no", "string", True, "the document that issues or allocates it"),
        _DATE,
        Column(
            "direct", "bool", False, "direct-reach funds (直达资金), tracked to the payment (default false)"
        ),
    ),
    "payments": (
        Column("pay_cert_no", "string", True, "payment certificate number (the key, per region and year)"),
        _REGION,
        Column("year", "integer", True, "fiscal year"),
        Column("bgt_id", "string", True, "the indicator paid from"),
        Column("unit", "string", True, "unit code: must be the indicator's"),
        Column("project", "string", True, "project code: must be the indicator's"),
        Column("fund_type", "integer", True, "must be the indicator's"),
        Column("func_code", "integer", True, "must be the indicator's"),
        Column("eco_code", "integer", True, "department economic code: its class must be the indicator's"),
        Column("amount", "int64", True, "fen, > 0"),
        _DATE,
    ),
    "bank_results": (
        Column("pay_cert_no", "string", True, "the payment"),
        _REGION,
        Column("year", "integer", True, "fiscal year"),
        Column("status", "string", True, "OK (paid: executed) or FAIL (the freeze is released)"),
        _DATE,
    ),
    "bank_receipts": (
        Column("agent_business_no", "string", True, "the bank's transaction serial"),
        Column("pay_cert_no", "string", True, "the payment certificate number"),
        _REGION,
        Column("year", "integer", True, "fiscal year"),
        Column("bgt_id", "string", True, "the indicator"),
        Column("project", "string", True, "the project code the bank received"),
        Column("amount", "int64", True, "fen paid (or refunded)"),
        Column("date", "date", True, "the day the bank paid (or refunded)"),
        Column("status", "string", True, "OK, FAIL or REFUND"),
    ),
    "unit_statements": (
        Column("serial", "string", True, "the bank's line serial"),
        _REGION,
        Column("unit", "string", True, "the unit whose own account it is"),
        Column("year", "integer", True, "fiscal year"),
        Column("pay_cert_no", "string", True, "the unit-funds voucher the line refers to"),
        Column("amount", "int64", True, "fen, signed: + into the account, − out of it"),
        Column("date", "date", True, "the day of the line (sent the next day)"),
    ),
    "ground_truth": (
        Column(
            "type",
            "string",
            True,
            "the fault injected: in_transit, amount_mismatch, missing_a, missing_b, "
            "duplicate_b, failure_not_reversed, refund_not_reflected, key_mismatch, cross_year,"
            " unexplained_flow (a unit's statement line without its voucher)",
        ),
        Column("pay_cert_no", "string", True, "the payment"),
        _REGION,
        Column("year", "integer", True, "fiscal year"),
        Column("bgt_id", "string", True, "the indicator"),
        Column("project", "string", True, "the project in the ledger"),
        Column("amount", "int64", True, "fen in the ledger"),
        Column("date", "date", True, "the day in the ledger"),
        Column("bank_project", "string", True, "the project the bank received"),
        Column("bank_amount", "int64", False, "fen at the bank (empty: missing there)"),
        Column("bank_date", "date", False, "the day at the bank (empty: missing there)"),
    ),
    "refunds": (
        Column("pay_cert_no", "string", True, "the payment refunded (one refund per payment)"),
        _REGION,
        Column("year", "integer", True, "fiscal year"),
        Column("amount", "int64", True, "fen, at most what was paid"),
        _DATE,
    ),
}


def arrow_schema(kind: str, names: Sequence[str] | None = None) -> pa.Schema:
    """The Arrow schema of a layout's columns (all, or `names` in that order) as the domain
    holds them in memory: dates as int32 days since 1970-01-01."""
    layout = {c.name: c for c in LAYOUTS[kind]}
    chosen = list(layout) if names is None else list(names)
    return pa.schema(
        [(n, pa.int32() if layout[n].type == "date" else _TYPES[layout[n].type]) for n in chosen]
    )


def layout_description() -> dict[str, Any]:
    return {
        "format": "CSV (UTF-8, header on line 1, columns in any order) or Parquet with these column names",
        "files": {kind: [asdict(c) for c in columns] for kind, columns in LAYOUTS.items()},
    }


def read(path: str | os.PathLike[str], kind: str) -> pa.Table:
    """A fiscal file as an Arrow table of its layout's columns (optional ones absent when the
    file has none), typed; FileFormatError for a missing or unknown column or a bad value."""
    path = Path(path)
    layout = {c.name: c for c in LAYOUTS[kind]}
    try:
        if path.read_bytes()[:4] == b"PAR1":
            table = pq.read_table(path)
        else:
            names = pacsv.read_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 16)).column_names
            types = {n: _TYPES[layout[n].type] for n in names if n in layout}
            table = pacsv.read_csv(
                path, convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True)
            )
    except (OSError, pa.ArrowException) as error:
        raise FileFormatError(path, None, None, f"unreadable {kind} file: {error}") from None
    unknown = [n for n in table.column_names if n not in layout]
    if unknown:
        raise FileFormatError(path, 1, unknown[0], f"not a column of a {kind} file")
    missing = [c.name for c in layout.values() if c.required and c.name not in table.column_names]
    if missing:
        raise FileFormatError(path, 1, missing[0], f"a {kind} file needs this column")
    try:
        return table.cast(pa.schema([(n, _TYPES[layout[n].type]) for n in table.column_names]))
    except pa.ArrowException as error:
        raise FileFormatError(path, None, None, f"a value does not fit its column: {error}") from None


def records(table: pa.Table) -> list[dict[str, Any]]:
    """Rows as dicts for the record paths, empty values left out (their defaults apply)."""
    return [{k: v for k, v in row.items() if v is not None and v != ""} for row in table.to_pylist()]


__all__ = ["LAYOUTS", "arrow_schema", "layout_description", "read", "records"]
