"""What an installed ledger ships besides its code: type information, and test helpers that
import without the `testing` extra (hypothesis)."""

from __future__ import annotations

import ast
import fnmatch
import inspect
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

import ledger
from ledger._native import copyfmt, posting

PACKAGE = Path(ledger.__file__).parent
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

# Run in a fresh interpreter in which hypothesis cannot be imported (None in sys.modules makes
# every import of it fail, as on an install without the `testing` extra).
WITHOUT_HYPOTHESIS = """
import sys

sys.modules["hypothesis"] = None

import numpy as np

import ledger.testing as t
from ledger.posting import kernel

assert "hypothesis" not in {name.split(".")[0] for name, m in sys.modules.items() if m is not None}

# The in-memory helpers: the auditor, seeded batches, the kernel's columns and state.
chooser = t.NumpyChooser(np.random.default_rng(3))
auditor = t.Auditor()
layout = [(book, group, 0) for book in range(len(t.BOOKS)) for group in range(len(t.GROUPS))]
for account in layout:
    auditor.add_account(*account)
state = t.KernelState(layout, groups_count=len(t.GROUPS))
for _ in range(20):
    batch = t.random_batch(chooser, auditor, 12)
    codes = state.post(kernel, t.to_columns(batch))
    assert [int(c) for c in codes] == [int(c) for c in auditor.post(batch)]
assert (state.balance_rows() == auditor.balance_rows()).all()

# The strategies and the state machine: a clear ImportError when used.
uses = {
    "account_layouts": lambda: t.account_layouts().example(),
    "batches": lambda: t.batches(auditor),
    "LedgerMachine": lambda: t.LedgerMachine(),
    "LedgerMachine.TestCase": lambda: t.LedgerMachine.TestCase,
}
for name, use in uses.items():
    try:
        use()
    except ImportError as error:
        assert "pip install ledger[testing]" in str(error), (name, str(error))
    else:
        raise AssertionError(f"{name} worked without hypothesis")
print("ok")
"""


def test_testing_imports_and_its_helpers_work_without_hypothesis():
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_HYPOTHESIS], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ok"]


def test_hypothesis_is_the_testing_extra():
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    assert extras["testing"] == ["hypothesis>=6.100"]
    assert "hypothesis>=6.100" in extras["dev"]


@pytest.mark.parametrize(
    ("package", "name"),
    [("ledger", "py.typed"), ("ledger._native", "posting.pyi"), ("ledger._native", "copyfmt.pyi")],
)
def test_type_information_is_installed_and_declared_as_package_data(package: str, name: str):
    directory = PACKAGE.joinpath(*package.split(".")[1:])
    assert (directory / name).is_file(), f"{name} is not in the installed {package}"
    patterns = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-data"][package]
    assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), (package, name, patterns)


def _stub_signatures(stub: Path) -> dict[str, list[str]]:
    tree = ast.parse(stub.read_text())
    return {
        node.name: [arg.arg for arg in node.args.posonlyargs + node.args.args + node.args.kwonlyargs]
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
    }


def _compiled_signatures(module: ModuleType) -> dict[str, list[str]]:
    return {
        name: list(inspect.signature(value).parameters)
        for name, value in vars(module).items()
        if not name.startswith("_") and callable(value) and not isinstance(value, type | ModuleType)
    }


@pytest.mark.parametrize("module", [posting, copyfmt], ids=["posting", "copyfmt"])
def test_stub_matches_every_function_of_the_compiled_module(module: ModuleType):
    stub = Path(module.__file__).parent / f"{module.__name__.rsplit('.', 1)[1]}.pyi"
    assert _stub_signatures(stub) == _compiled_signatures(module)
