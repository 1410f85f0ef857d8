"""The public-finance domain (预算管理一体化) on the ledger: charts of accounts as data, fiscal
regions, departments, units, projects and indicators, indicator movements and payments that
keep the indicator, treasury and unit ledgers, each as postings of the core (DOMAIN.md).

    from ledger.fiscal import Fiscal, Region, Unit, Project, Indicator, Movement
    fiscal = Fiscal(ledger.open(url))
    fiscal.create_regions([Region(code="500103000", name="渝中区")])
    ...
    fiscal.payments.apply(payments); fiscal.payments.settle(bank_results)

Nothing below this package knows of it (DESIGN §1): it uses Ledger's public methods and the
store's tables for a domain (Ledger.insert_rows / read_rows).
"""

from ledger.fiscal.charts import BASES, CHARTS, Chart, chart, group_key
from ledger.fiscal.domain import (
    PAYMENT_COLUMNS,
    Department,
    Fiscal,
    Indicator,
    Movement,
    Outcome,
    Payments,
    Project,
    Region,
    Unit,
    entry_key,
)
from ledger.fiscal.unitfunds import UnitFunds

__all__ = [
    "BASES",
    "CHARTS",
    "PAYMENT_COLUMNS",
    "Chart",
    "Department",
    "Fiscal",
    "Indicator",
    "Movement",
    "Outcome",
    "Payments",
    "Project",
    "Region",
    "Unit",
    "UnitFunds",
    "chart",
    "entry_key",
    "group_key",
]
