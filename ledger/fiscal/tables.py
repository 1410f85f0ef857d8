"""The fiscal domain's tables, beside the core's in the ledger's database (created on first
use by Store.ensure_tables; the in-memory store keeps them as Arrow tables).

Each table is append-only and keyed by a dense `idx` (0, 1, 2… in creation order), like the
core's catalog; references between them are idx values. What moves money is never here: it
is in the ledger's books, as postings (indicator movements, payments).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, Text, UniqueConstraint

metadata = MetaData()

regions = Table(
    "fiscal_regions",
    metadata,
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("code", String(9), nullable=False, unique=True),  # MOF_DIV_CODE
    Column("name", Text),
    Column("level", String(24), nullable=False),  # PROVINCE_CITY_LEVEL, DISTRICT, ZONE
    Column("parent", Integer),
    Column("regime", String(16), nullable=False),  # integrated, legacy_quota
    Column("zero_carryover", Integer, nullable=False),  # 1: unspent indicators are recovered at year end
)

departments = Table(
    "fiscal_departments",
    metadata,
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("region", Integer, nullable=False),
    Column("code", String(16), nullable=False),
    Column("name", Text),
    UniqueConstraint("region", "code"),
)

units = Table(
    "fiscal_units",
    metadata,
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("region", Integer, nullable=False),
    Column("code", String(16), nullable=False),  # AGENCY_CODE
    Column("department", Integer),
    Column("unit_type", String(24), nullable=False),
    Column("name", Text),
    Column("books", Integer),  # 2: a capital-construction book `U:<region>:<unit>:J` besides its book
    UniqueConstraint("region", "code"),
)

projects = Table(
    "fiscal_projects",
    metadata,
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("region", Integer, nullable=False),
    Column("code", String(22), nullable=False),  # PRO_CODE
    Column("unit", Integer, nullable=False),
    Column(
        "kind", String(2), nullable=False
    ),  # 1 personnel, 21 operating, 22 other operating, 3 specific-purpose
    Column("name", Text),
    Column("book", String(4)),  # J: kept in the unit's capital-construction book; NULL: its book
    UniqueConstraint("region", "code"),
)

indicators = Table(
    "fiscal_indicators",
    metadata,
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("bgt_id", String(40), nullable=False, unique=True),
    Column("region", Integer, nullable=False),
    Column("year", Integer, nullable=False),
    Column("unit", Integer, nullable=False),
    Column("project", Integer, nullable=False),
    Column("fund_type", Integer, nullable=False),
    Column("func_code", Integer, nullable=False),  # EXP_FUNC_CODE, 7 digits
    Column("eco_code", Integer, nullable=False),  # DEP_BGT_ECO_CODE, 5 digits
    Column("source", String(16), nullable=False),  # ANNUAL, TRANSFER, CARRY, RESERVE; ALLOCATED (from parent)
    Column("parent", Integer),  # ORI_BGT_ID as idx
    Column("doc_no", String(64), nullable=False),
    Column("amount", BigInteger, nullable=False),  # issued or allocated at creation, minor units
    Column("direct", Integer),  # 1: direct-reach funds (直达资金), tracked to the payment; NULL: not
)

# A payment application (国库集中支付申请) as applied: its freeze is entry key * 4 in the
# indicator book; the bank's result executes it (key * 4 + 1..3: the linked chain through
# the indicator, treasury and unit books) or voids it; a refund restores (refund_key).
payments = Table(
    "fiscal_payments",
    metadata,
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("key", BigInteger, nullable=False, unique=True),  # entry_key base of the freeze
    Column("pay_cert_no", String(40), nullable=False),
    Column("region", Integer, nullable=False),
    Column("year", Integer, nullable=False),
    Column("indicator", Integer, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("eco_code", Integer, nullable=False),
    Column("date", Integer, nullable=False),  # applied, days since 1970-01-01
)

# The bank's result of a payment as settled: OK executed it, FAIL voided its freeze.
settlements = Table(
    "fiscal_settlements",
    metadata,
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("payment", Integer, nullable=False, unique=True),
    Column("status", String(4), nullable=False),
    Column("date", Integer, nullable=False),
)

# A refund after a successful payment, as posted (one per payment): the indicator restored,
# the treasury and unit entries reversed by `amount`.
refunds = Table(
    "fiscal_refunds",
    metadata,
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("payment", Integer, nullable=False, unique=True),
    Column("amount", BigInteger, nullable=False),
    Column("date", Integer, nullable=False),
)

# A unit-funds voucher as posted in the unit's book (ledger.fiscal.unitfunds): money into (+)
# or out of (−) the unit's own bank account, matched each night to the bank's statement lines.
unit_vouchers = Table(
    "fiscal_unit_vouchers",
    metadata,
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("key", BigInteger, nullable=False, unique=True),  # entry key
    Column("pay_cert_no", String(40), nullable=False),
    Column("region", Integer, nullable=False),
    Column("year", Integer, nullable=False),
    Column("unit", Integer, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("date", Integer, nullable=False),
)

# The nightly reconciliation's runs (ledger.fiscal.reconcile): one row per run, its totals per
# pair, and every finding, so that the next run ages what is still open and closes the rest.
recon_runs = Table(
    "fiscal_recon_runs",
    metadata,
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("run_id", String(40), nullable=False, unique=True),
    Column("date", Integer, nullable=False),  # the cut-off day, days since 1970-01-01
    Column("year", Integer),  # the fiscal year reconciled
    Column("scope", Text, nullable=False),  # the regions reconciled, comma-separated
    Column("created", String(32), nullable=False),  # ISO timestamp, UTC
    Column("findings", BigInteger, nullable=False),
    Column("closed", BigInteger, nullable=False),  # findings of the run before that are gone
)

recon_pairs = Table(
    "fiscal_recon_pairs",
    metadata,
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("run", Integer, nullable=False),
    Column("region", String(9), nullable=False),
    Column("pair", String(8), nullable=False),
    Column("total_a", BigInteger, nullable=False),
    Column("total_b", BigInteger, nullable=False),
    Column("difference", BigInteger, nullable=False),
    Column("items", BigInteger, nullable=False),
    UniqueConstraint("run", "region", "pair"),
)

recon_findings = Table(
    "fiscal_recon_findings",
    metadata,
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("run", Integer, nullable=False),
    Column("pair", String(8), nullable=False),
    Column("type", String(24), nullable=False),
    Column("key", String(64), nullable=False),  # the payment's pay_cert_no, or the group's key
    Column("region", String(9), nullable=False),
    Column("unit", String(16), nullable=False),
    Column("project", String(24), nullable=False),
    Column("bgt_id", String(40), nullable=False),
    Column("amount_a", BigInteger, nullable=False),  # fen; 0 when side A has none
    Column("amount_b", BigInteger, nullable=False),
    Column("date_a", Integer, nullable=False),  # days since 1970-01-01; -1 when side A has none
    Column("date_b", Integer, nullable=False),
    Column("age_days", Integer, nullable=False),
    Column("first_seen", Integer, nullable=False),  # the cut-off of the first run that found it
)

TABLES = (regions, departments, units, projects, indicators, payments, settlements, refunds, unit_vouchers)
RECONCILIATION_TABLES = (recon_runs, recon_pairs, recon_findings)

__all__ = [
    "RECONCILIATION_TABLES",
    "TABLES",
    "departments",
    "indicators",
    "metadata",
    "payments",
    "projects",
    "recon_findings",
    "recon_pairs",
    "recon_runs",
    "refunds",
    "regions",
    "settlements",
    "unit_vouchers",
    "units",
]
