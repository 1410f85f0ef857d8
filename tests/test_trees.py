"""Trees as data (ledger.trees): chart, dimension, period and scoped trees."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import InvalidInput
from ledger.trees import (
    DEFAULT_LAYOUT,
    chart_tree,
    descendants,
    dimension_tree,
    parse_layout,
    period_tree,
    scoped_tree,
)

codes = st.lists(st.text(alphabet="0123", min_size=1, max_size=12), min_size=1, max_size=40)
layouts = st.lists(st.integers(1, 4), min_size=1, max_size=5)


def check_forest(parent: np.ndarray) -> None:
    assert parent.dtype == np.int32
    assert all(-1 <= p < i for i, p in enumerate(parent.tolist()))


@settings(max_examples=150, deadline=None)
@given(codes, layouts)
def test_chart_tree_nodes_are_prefixes_on_boundaries(values: list[str], layout: list[int]) -> None:
    """Every code is a node; every other node is a prefix ending on a level boundary; a node's
    parent is its longest boundary prefix; parents come first; levels count boundaries."""
    tree, leaf = chart_tree(values, layout)
    check_forest(tree.parent)
    labels = tree.label.to_pylist()
    bounds = np.cumsum(layout).tolist()
    assert [labels[i] for i in leaf.tolist()] == values
    assert len(set(labels)) == len(labels)
    for i, label in enumerate(labels):
        shorter = [b for b in bounds if b < len(label)]
        assert tree.level[i] == len(shorter) + 1
        if label not in values:
            assert len(label) in bounds
            assert any(v.startswith(label) and len(v) > len(label) for v in values)
        if shorter:
            assert labels[tree.parent[i]] == label[: shorter[-1]]
        else:
            assert tree.parent[i] == -1


def test_chart_tree_account_on_a_node_with_children() -> None:
    tree, leaf = chart_tree(["1002", "100201", "100202", "10020301"], "4-2-2")
    labels = tree.label.to_pylist()
    assert labels[leaf[0]] == "1002"
    assert labels[tree.parent[leaf[1]]] == "1002"
    assert labels[tree.parent[leaf[3]]] == "100203"  # a heading no account sits on
    assert labels[tree.parent[tree.parent[leaf[3]]]] == "1002"


def test_chart_tree_codes_between_and_beyond_boundaries() -> None:
    tree, leaf = chart_tree(["10", "10015", "1001012345"], "4-2")
    labels = tree.label.to_pylist()
    assert tree.parent[leaf[0]] == -1 and tree.level[leaf[0]] == 1  # shorter than the first level
    assert labels[tree.parent[leaf[1]]] == "1001" and tree.level[leaf[1]] == 2
    assert labels[tree.parent[leaf[2]]] == "100101" and tree.level[leaf[2]] == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [("4-2-2-2-2", (4, 2, 2, 2, 2)), ("3", (3,)), (None, DEFAULT_LAYOUT), ((3, 2, 2), (3, 2, 2))],
)
def test_parse_layout(text: object, expected: tuple[int, ...]) -> None:
    assert parse_layout(text) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["", "4--2", "4-x", "0-2", "30-3", (4, True), (4, 0), "-4"])
def test_parse_layout_refuses(text: object) -> None:
    with pytest.raises(InvalidInput, match="code layout"):
        parse_layout(text)  # type: ignore[arg-type]


def test_chart_tree_refuses_missing_codes() -> None:
    with pytest.raises(InvalidInput, match="missing"):
        chart_tree(pa.array(["1001", None]))


def test_dimension_tree_by_digits() -> None:
    tree, leaf = dimension_tree(np.array([2010101, 0, 20101, 2010102], np.int32), "3-2-2")
    labels = tree.label.to_pylist()
    assert leaf[1] == -1
    assert labels[leaf[0]] == "2010101" and labels[tree.parent[leaf[0]]] == "20101"
    assert labels[tree.parent[tree.parent[leaf[0]]]] == "201"
    assert tree.parent[leaf[3]] == tree.parent[leaf[0]]
    with pytest.raises(InvalidInput):
        dimension_tree(np.array([-1]), "3-2-2")
    with pytest.raises(InvalidInput):
        dimension_tree(np.array([1.5]), "3-2-2")


def test_period_tree_months_quarters_years() -> None:
    tree, leaf = period_tree(np.array([202603, 202512, 202601, 202603]))
    labels = tree.label.to_pylist()
    check_forest(tree.parent)
    assert [labels[i] for i in leaf.tolist()] == ["2026-03", "2025-12", "2026-01", "2026-03"]
    assert labels[tree.parent[leaf[0]]] == "2026-Q1"
    assert labels[tree.parent[tree.parent[leaf[0]]]] == "2026"
    assert labels[tree.parent[leaf[1]]] == "2025-Q4"
    assert tree.level.tolist() == [1, 1, 2, 2, 3, 3, 3]


@settings(max_examples=100, deadline=None)
@given(codes, st.lists(st.integers(0, 3), min_size=40, max_size=40))
def test_scoped_tree_copies_what_each_scope_reaches(values: list[str], scopes: list[int]) -> None:
    tree, leaf = chart_tree(values)
    scope = np.array(scopes[: len(values)], np.int64)
    result = scoped_tree(tree, leaf, scope)
    check_forest(result.tree.parent)
    for i in range(len(values)):
        node = result.leaf[i]
        assert result.scope[node] == scope[i] and result.node[node] == leaf[i]
    for j in range(len(result.node)):  # every node is reached by a thing of its scope
        base = int(result.node[j])
        mine = [leaf[i] for i in range(len(values)) if scope[i] == result.scope[j]]
        assert any(descendants(tree, base)[m] for m in mine)
        if result.tree.parent[j] >= 0:
            assert result.node[result.tree.parent[j]] == tree.parent[base]
            assert result.scope[result.tree.parent[j]] == result.scope[j]
