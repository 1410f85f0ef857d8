"""The one exception tree of ledger.

Expected failures of individual entries are result codes (ledger.Code), never exceptions.
Exceptions are for calls that cannot be carried out at all::

    LedgerError                    base: the CLI catches only this
    ├── InvalidInput               malformed call: wrong type, shape, dtype or value at the edge
    │   └── AmountError            an amount that is not a valid Decimal for its group's scale
    ├── LimitExceeded              a batch or table larger than ledger.limits allows
    ├── NotFound                   a read named a book, group or account that does not exist
    └── StoreError                 the durable store refused or failed (schema, I/O, lock)
        └── SchemaVersionError     the database was made by another schema version

A call that raises has changed nothing.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every error raised by ledger."""


class InvalidInput(LedgerError, ValueError):
    """Raised when a call's arguments are malformed (type, shape, dtype, value)."""


class AmountError(InvalidInput):
    """Raised when an amount is not a valid decimal for its balance group's scale."""


class LimitExceeded(LedgerError):
    """Raised when a batch or a table would exceed a limit in ledger.limits."""


class NotFound(LedgerError, KeyError):
    """Raised when a read names a book, group or account that does not exist."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


class StoreError(LedgerError):
    """Raised when the durable store fails or refuses an operation."""


class SchemaVersionError(StoreError):
    """Raised when a database was created by a different schema version."""


__all__ = [
    "AmountError",
    "InvalidInput",
    "LedgerError",
    "LimitExceeded",
    "NotFound",
    "SchemaVersionError",
    "StoreError",
]
