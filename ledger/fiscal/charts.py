"""Charts of accounts as versioned data files (ledger/fiscal/charts/*.csv).

A chart is a table of code, name (Chinese), name_en, basis and side (the normal balance). The
basis names the balance group an account of it belongs to, so a voucher balances per basis
(INV-L1) and a line can only use accounts of its basis (INV-L3):

- FA: the unit's financial accounting (财务会计, accrual), GOV-UNIT-2019 codes 1xxx-5xxx;
- BA: the unit's budgetary accounting (预算会计, cash), GOV-UNIT-2019 codes 6xxx-8xxx;
- TR: the treasury general accounting (财政总会计), TREASURY-2016;
- IND: the indicator ledger (预算指标账), INDICATOR-P1: sources IS1x0, uses IU2x0.

Charts are data with a version tag, not code (DOMAIN §3.3): a new chart is a new file.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ledger.errors import InvalidInput

BASES = {
    "FA": "financial accounting (财务会计), accrual basis",
    "BA": "budgetary accounting (预算会计), cash basis",
    "TR": "treasury general accounting (财政总会计)",
    "IND": "indicator ledger (预算指标账)",
}
# chart name -> (code layout, the bases its accounts may have)
CHARTS = {
    "GOV-UNIT-2019": ("4-2-2-2-2", ("FA", "BA")),
    "TREASURY-2016": ("4-2-2-2-2", ("TR",)),
    "INDICATOR-P1": ("2-3", ("IND",)),
}
CURRENCY = "CNY"


@dataclass(frozen=True, slots=True)
class Chart:
    """A chart of accounts: its name (with the version), code layout and rows."""

    name: str
    layout: str
    rows: pa.Table  # code, name, name_en, basis, side

    def codes(self, basis: str | None = None) -> list[str]:
        rows = self.rows if basis is None else self.rows.filter(pc.equal(self.rows.column("basis"), basis))
        return [str(code) for code in rows.column("code").to_pylist()]

    def row(self, code: str) -> dict[str, str]:
        found = pc.index(self.rows.column("code"), code).as_py()
        if found is None or found < 0:
            raise InvalidInput(f"chart {self.name}: no account {code!r}")
        return dict(self.rows.slice(found, 1).to_pylist()[0])


def group_key(basis: str, currency: str = CURRENCY) -> str:
    """The balance group of a basis: one per currency and basis (CNY-FA, CNY-BA, …)."""
    if basis not in BASES:
        raise InvalidInput(f"basis {basis!r}: expected one of {', '.join(BASES)}")
    return f"{currency}-{basis}"


@functools.cache
def chart(name: str) -> Chart:
    """The chart shipped under `name` (see CHARTS), checked: codes unique and of letters and
    digits, bases of the chart, sides debit or credit, a sub-account under an account of the
    same basis."""
    if name not in CHARTS:
        raise InvalidInput(f"chart {name!r}: expected one of {', '.join(CHARTS)}")
    layout, bases = CHARTS[name]
    data = resources.files("ledger.fiscal").joinpath("charts", f"{name}.csv").read_bytes()
    types = {column: pa.string() for column in ("code", "name", "name_en", "basis", "side")}
    rows = pacsv.read_csv(pa.py_buffer(data), convert_options=pacsv.ConvertOptions(column_types=types))
    codes = rows.column("code").to_pylist()
    problems = []
    if len(set(codes)) != len(codes):
        problems.append("a code appears twice")
    if not all(isinstance(c, str) and c.isascii() and c.isalnum() for c in codes):
        problems.append("a code is not letters and digits")
    if not pc.all(pc.is_in(rows.column("basis"), pa.array(bases))).as_py():
        problems.append(f"a basis is not one of {bases}")
    if not pc.all(pc.is_in(rows.column("side"), pa.array(["debit", "credit"]))).as_py():
        problems.append("a side is not debit or credit")
    by_code = dict(zip(codes, rows.column("basis").to_pylist(), strict=True))
    for code, basis in by_code.items():
        heads = [code[:n] for n in np.cumsum([int(w) for w in layout.split("-")]).tolist() if n < len(code)]
        if heads and heads[-1] in by_code and by_code[heads[-1]] != basis:
            problems.append(f"{code} is under {heads[-1]} of another basis")
    if problems:
        raise InvalidInput(f"chart {name}: {'; '.join(problems)}")
    return Chart(name, layout, rows)


__all__ = ["BASES", "CHARTS", "CURRENCY", "Chart", "chart", "group_key"]
