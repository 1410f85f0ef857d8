"""The one exception tree of ledger.

Expected failures of individual entries are result codes (ledger.Code), never exceptions.
Exceptions are for calls that cannot be carried out at all::

    LedgerError                    base: the CLI catches only this
    ├── InvalidInput               malformed call: wrong type, shape, dtype or value at the edge
    │   ├── AmountError            an amount that is not a valid Decimal for its group's scale
    │   └── FileFormatError        a malformed interchange file (names file, line and column)
    ├── LimitExceeded              a batch or table larger than ledger.limits allows
    ├── NotFound                   a read named a book, group or account that does not exist
    └── StoreError                 the durable store refused or failed (schema, I/O, lock)
        ├── CommitUnknown          the connection was lost during COMMIT: committed or not, unknown
        └── SchemaVersionError     the database was made by another schema version

A call that raises has changed nothing, with one exception: CommitUnknown, raised when the
connection to the database was lost while COMMIT was in flight and the ledger could not read
back whether it had been carried out. Retrying the same call with the same keys is safe then:
keys are idempotent, so whatever the lost COMMIT did write (entries, groups, books, accounts)
comes back as `exists`, and whatever it did not write is written once.
"""

from __future__ import annotations

import os
from pathlib import Path


class LedgerError(Exception):
    """Base of every error raised by ledger."""


class InvalidInput(LedgerError, ValueError):
    """Raised when a call's arguments are malformed (type, shape, dtype, value)."""


class AmountError(InvalidInput):
    """Raised when an amount is not a valid decimal for its balance group's scale."""


class FileFormatError(InvalidInput):
    """Raised when an interchange file is malformed; names the file, the line and the column.

    `line` is the physical line of a CSV file (the header is line 1) or, with `unit` "row",
    the row of a Parquet file (from 1); None when the problem is the whole file. `column` is
    None when no one column is at fault (a row with too many fields, an unreadable file).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        line: int | None,
        column: str | None,
        message: str,
        unit: str = "line",
    ) -> None:
        super().__init__(path, line, column, message, unit)
        self.path = Path(path)
        self.line = line
        self.column = column
        self.message = message
        self.unit = unit

    def __str__(self) -> str:
        where = str(self.path)
        if self.line is not None:
            where += f":{self.line}" if self.unit == "line" else f": row {self.line}"
        column = "" if self.column is None else f" column {self.column!r}:"
        return f"{where}:{column} {self.message}"


class LimitExceeded(LedgerError):
    """Raised when a batch or a table would exceed a limit in ledger.limits."""


class TotalOverflow(LedgerError, ArithmeticError):
    """Raised when a total (a rollup node, a trial balance line) would leave the int64 range
    of minor units: totals are exact or not given, never wrapped."""


class NotFound(LedgerError, KeyError):
    """Raised when a read names a book, group or account that does not exist."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


class StoreError(LedgerError):
    """Raised when the durable store fails or refuses an operation."""


class CommitUnknown(StoreError):
    """Raised when the connection was lost while COMMIT was in flight (or its reply was lost)
    and reading the database back could not tell whether the write was committed.

    The only error after which something may have changed. The message says what to do:
    retry the same call with the same keys (see the module docstring). The ledger's memory
    is back at the last commit it knows of and catches up on the next call.
    """


class SchemaVersionError(StoreError):
    """Raised when a database was created by a different schema version."""


__all__ = [
    "AmountError",
    "CommitUnknown",
    "FileFormatError",
    "InvalidInput",
    "LedgerError",
    "LimitExceeded",
    "NotFound",
    "SchemaVersionError",
    "StoreError",
    "TotalOverflow",
]
