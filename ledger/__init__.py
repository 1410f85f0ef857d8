"""ledger — a double-entry ledger core for public finance.

    import ledger
    with ledger.open() as book:
        book.create_groups([ledger.Group(key="CNY")])
        ...

The public surface is exactly ``__all__``; everything else lives in private modules.
"""

from ledger.codes import Code
from ledger.errors import (
    AmountError,
    CommitUnknown,
    FileFormatError,
    InvalidInput,
    LedgerError,
    LimitExceeded,
    NotFound,
    SchemaVersionError,
    StoreError,
    TotalOverflow,
)
from ledger.rollups import TrialBalance
from ledger.schemas import Account, AccountFlag, Balance, Book, Entry, EntryFlag, Group, Line, Node, Result
from ledger.service import Ledger, open
from ledger.verify import Finding

__version__ = "0.1.0"

__all__ = [
    "Account",
    "AccountFlag",
    "AmountError",
    "Balance",
    "Book",
    "Code",
    "CommitUnknown",
    "Entry",
    "EntryFlag",
    "FileFormatError",
    "Finding",
    "Group",
    "InvalidInput",
    "Ledger",
    "LedgerError",
    "LimitExceeded",
    "Line",
    "Node",
    "NotFound",
    "Result",
    "SchemaVersionError",
    "StoreError",
    "TotalOverflow",
    "TrialBalance",
    "open",
]
