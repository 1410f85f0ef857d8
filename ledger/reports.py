"""Rollups and trial balances for people and files: amounts as decimal strings at each row's
scale, the accountant's table (期初 / 本期发生 / 期末) with totals, CSV and Parquet.

The file layout of a trial balance is fixed (schemas/trial_balance.md): code, name, group,
level, opening_debit, opening_credit, debit, credit, closing_debit, closing_credit, one row
per chart node and balance group, amounts as decimal strings at the group's scale (a
`book` column first when it holds every book).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from ledger.rollups import FIGURES, TrialBalance

TRIAL_BALANCE_COLUMNS = ("code", "name", "group", "level", *FIGURES)
_PIPE_WIDTH = 240
_HEADERS = {
    "opening_debit": "期初借方\nopening Dr",
    "opening_credit": "期初贷方\nopening Cr",
    "debit": "本期借方\ndebit",
    "credit": "本期贷方\ncredit",
    "closing_debit": "期末借方\nclosing Dr",
    "closing_credit": "期末贷方\nclosing Cr",
    "code": "科目编码\ncode",
    "name": "科目名称\nname",
}


def decimal_strings(amounts: pa.Array | pa.ChunkedArray | np.ndarray, scales: Any) -> pa.Array:
    """Minor units (int64, or exact decimal128 integers) as decimal strings at each row's
    scale: 12345 at scale 2 → "123.45", -5 → "-0.05"."""
    values = pa.array(amounts) if isinstance(amounts, np.ndarray) else amounts
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    scale = np.asarray(scales.to_numpy() if hasattr(scales, "to_numpy") else scales, np.int64)
    magnitude = pc.abs_checked(values) if pa.types.is_integer(values.type) else pc.abs(values)
    text = pc.cast(pc.cast(magnitude, pa.decimal128(38, 0)), pa.string())
    negative = pc.less(values, pa.scalar(0, values.type)).to_numpy(zero_copy_only=False)
    out = np.empty(len(values), dtype=object)
    for s in np.unique(scale).tolist():
        rows = np.flatnonzero(scale == s)
        part = text.take(pa.array(rows))
        if s > 0:
            padded = pc.utf8_lpad(part, width=s + 1, padding="0")
            length = pc.utf8_length(padded).to_numpy(zero_copy_only=False)
            whole = [t[: n - s] for t, n in zip(padded.to_pylist(), length.tolist(), strict=True)]
            fraction = pc.utf8_slice_codeunits(padded, -s).to_pylist()
            part_text = [f"{w}.{f}" for w, f in zip(whole, fraction, strict=True)]
        else:
            part_text = part.to_pylist()
        out[rows] = part_text
    out[negative] = ["-" + t for t in out[negative]]
    return pa.array(out.tolist(), pa.string())


def decimal_columns(table: pa.Table) -> pa.Table:
    """A rollup with its FIGURES as decimal strings at its `scale` column (which it drops)."""
    scales = table.column("scale")
    for name in FIGURES:
        if name in table.column_names:
            index = table.schema.get_field_index(name)
            table = table.set_column(index, name, decimal_strings(table.column(name), scales))
    return table.drop_columns(["scale"])


def trial_balance_rows(rows: pa.Table) -> pa.Table:
    """A trial balance's rows in the file layout (TRIAL_BALANCE_COLUMNS, a `book` first
    when there is one), amounts as decimal strings."""
    names = (["book"] if "book" in rows.column_names else []) + list(TRIAL_BALANCE_COLUMNS)
    return decimal_columns(rows.select([*names, "scale"]))


def write(table: pa.Table, format: str, output: Path | None, stdout: TextIO) -> None:
    """CSV (to `output`, or `stdout` when None) or Parquet (to `output`)."""
    if format == "parquet":
        assert output is not None, "parquet needs a path"
        pq.write_table(table, output)
        return
    if output is not None:
        pacsv.write_csv(table, output)
        return
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink)
    stdout.write(sink.getvalue().to_pybytes().decode())


def print_table(console: Console, table: pa.Table, title: str, result: object = None) -> None:
    """The rows as an accountant reads them, zero rows left out, with the totals per group
    of a trial balance and whether they balance."""
    shown = Table(title=title, show_lines=False)
    figure_names = [name for name in FIGURES if name in table.column_names]
    for name in table.column_names:
        shown.add_column(_HEADERS.get(name, name), justify="right" if name in FIGURES else "left")
    zero = {"0", "0.0", "0.00", "0.000", "0.0000"}
    for row in table.to_pylist():
        if figure_names and all(
            str(row[name]) in zero or str(row[name]).strip("0.") == "" for name in figure_names
        ):
            continue
        shown.add_row(*("" if row[name] is None else str(row[name]) for name in table.column_names))
    if not console.is_terminal:  # a pipe gets whole rows, not rows squeezed into 80 columns
        console = Console(file=console.file, width=_PIPE_WIDTH, soft_wrap=True)
    console.print(shown)
    if isinstance(result, TrialBalance):
        totals = result.totals
        scales = totals.column("scale")
        summary = Table(title="合计 totals by balance group")
        keys = [name for name in ("book", "group") if name in totals.column_names]
        for name in (*keys, *FIGURES, "balanced"):
            summary.add_column(_HEADERS.get(name, name), justify="right" if name in FIGURES else "left")
        columns = {name: decimal_strings(totals.column(name), scales).to_pylist() for name in FIGURES}
        for i, row in enumerate(totals.to_pylist()):
            mark = "[green]借贷平衡 balanced[/]" if row["balanced"] else "[bold red]不平衡 NOT balanced[/]"
            summary.add_row(*(str(row[k]) for k in keys), *(columns[name][i] for name in FIGURES), mark)
        console.print(summary)


__all__ = [
    "TRIAL_BALANCE_COLUMNS",
    "decimal_columns",
    "decimal_strings",
    "print_table",
    "trial_balance_rows",
    "write",
]
