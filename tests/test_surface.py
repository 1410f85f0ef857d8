"""The public surface is exactly `ledger.__all__`, sorted, and every name in it resolves."""

from __future__ import annotations

from types import ModuleType

import ledger
import ledger.testing

EXPECTED = [
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


def test_all_is_exactly_the_expected_sorted_list():
    assert ledger.__all__ == EXPECTED
    assert sorted(EXPECTED) == EXPECTED


def test_every_public_name_resolves():
    for name in ledger.__all__:
        assert getattr(ledger, name) is not None, name
    namespace: dict[str, object] = {}
    exec("from ledger import *", namespace)
    assert sorted(name for name in namespace if name != "__builtins__") == EXPECTED


def test_nothing_else_looks_public():
    """Every other attribute of the package is private (_name) or a submodule."""
    public = {
        name
        for name, value in vars(ledger).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert public == set(EXPECTED)


def test_exceptions_form_one_tree():
    for name in (
        "AmountError",
        "CommitUnknown",
        "InvalidInput",
        "LimitExceeded",
        "NotFound",
        "SchemaVersionError",
        "StoreError",
        "TotalOverflow",
    ):
        assert issubclass(getattr(ledger, name), ledger.LedgerError), name


def test_testing_helpers_surface_is_sorted_and_resolves():
    assert ledger.testing.__all__ == sorted(ledger.testing.__all__)
    for name in ledger.testing.__all__:
        assert hasattr(ledger.testing, name), name
