"""Trees as data: a parent-index array over dense node ids, children after parents.

A tree (or a forest) is a `Tree`: `parent[i]` is the node above node i (-1 for a root) and
always a smaller id, so one pass from the last node to the first adds every node into its
parent (ledger.rollup). Its nodes carry a `label` (a chart code prefix, an organisation
node's key, "2026-Q1"…) and a `level` (1 for a root). Things that are counted — accounts,
lines, months — sit at a leaf of each tree: an int32 array `leaf` maps each of them to its
node, and a node may be both a leaf of some things and the parent of others (an account on
chart node 1002 beside accounts on 100201 and 100202).

The trees of a ledger:
- the chart tree, from account codes and a code layout such as 4-2-2-2-2 (the first level
  4 digits, then 2 per level): chart_tree;
- the organisation tree of the ledger's nodes (region → department → unit → book), stored
  in the ledger (Ledger.create_nodes; ledger.rollups.Organisation reads it), each book's
  accounts grouped by sub-ledger below it by the rollups;
- dimension trees over int32 line codes by their decimal digits (functional classification
  3-2-2): dimension_tree;
- periods, month → quarter → year: period_tree.

`scoped_tree` makes one copy of a tree per scope (a book, a balance group, an organisation
node) holding only the nodes the scope uses: the chart of every book at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ledger.errors import InvalidInput

DEFAULT_LAYOUT = (4, 2, 2, 2, 2)
_CODE_LENGTH_MAX = 32  # schemas.ChartCode


@dataclass(frozen=True, slots=True)
class Tree:
    """A forest over dense node ids: parent (int32, -1 for a root, always a smaller id),
    level (int16, 1 for a root) and label (Arrow strings) of every node."""

    parent: np.ndarray
    level: np.ndarray
    label: pa.Array

    def __len__(self) -> int:
        return len(self.parent)


def parse_layout(layout: str | Sequence[int] | None) -> tuple[int, ...]:
    """A code layout as digits per level: "4-2-2-2-2" or (4, 2, 2, 2, 2); None: the default."""
    if layout is None:
        return DEFAULT_LAYOUT
    if isinstance(layout, str):
        parts = layout.split("-")
        if not all(part.isdigit() for part in parts):
            raise InvalidInput(f"code layout {layout!r}: expected digits per level, e.g. 4-2-2-2-2")
        widths = tuple(int(part) for part in parts)
    else:
        widths = tuple(layout)
        if not all(isinstance(width, int) and not isinstance(width, bool) for width in widths):
            raise InvalidInput(f"code layout {layout!r}: expected whole numbers of digits per level")
    if not widths or any(width < 1 for width in widths) or sum(widths) > _CODE_LENGTH_MAX:
        raise InvalidInput(
            f"code layout {layout!r}: at least one level, each at least 1 digit, at most"
            f" {_CODE_LENGTH_MAX} digits in all"
        )
    return widths


def format_layout(layout: Sequence[int]) -> str:
    return "-".join(str(width) for width in layout)


def chart_tree(
    codes: pa.Array | Sequence[str], layout: str | Sequence[int] | None = None
) -> tuple[Tree, np.ndarray]:
    """The tree of account codes under `layout`, and the node of each code (int32).

    Nodes are every prefix of a code that ends on a level boundary (4, 6, 8… digits under
    4-2-2-2-2) and every code itself: a code that ends between two boundaries, or beyond
    the last, is its own node below its longest boundary prefix. A node's level counts the
    boundaries before its end, plus one; nodes are ordered by length, then code, so a
    parent (always shorter) comes first.
    """
    widths = parse_layout(layout)
    values = pa.array(codes, pa.string()) if not isinstance(codes, pa.Array) else codes.cast(pa.string())
    if values.null_count:
        raise InvalidInput("chart codes: a code is missing (null)")
    bounds = np.cumsum(widths)
    unique = pc.unique(values)
    lengths = pc.utf8_length(unique).to_numpy(zero_copy_only=False)
    candidates = [unique]
    for bound in bounds.tolist():
        longer = pc.filter(unique, pa.array(lengths > bound))
        if len(longer):
            candidates.append(pc.utf8_slice_codeunits(longer, 0, bound))
    labels = pc.unique(pa.concat_arrays(candidates))
    table = pa.table({"length": pc.utf8_length(labels), "label": labels}).sort_by(
        [("length", "ascending"), ("label", "ascending")]
    )
    label = table.column("label").combine_chunks()
    length = table.column("length").to_numpy().astype(np.int64)
    # per label: the longest boundary shorter than it (0: a root), and its level
    below = np.searchsorted(bounds, length, side="left")  # boundaries strictly shorter
    level = (below + 1).astype(np.int16)
    parent = np.full(len(label), -1, np.int32)
    for count in np.unique(below[below > 0]).tolist():
        rows = np.flatnonzero(below == count)
        prefixes = pc.utf8_slice_codeunits(label.take(pa.array(rows)), 0, int(bounds[count - 1]))
        parent[rows] = _positions(prefixes, label)
    return Tree(parent, level, label), _positions(values, label)


def dimension_tree(codes: np.ndarray, layout: str | Sequence[int]) -> tuple[Tree, np.ndarray]:
    """The tree of int32 dimension codes by their decimal digits under `layout` (e.g. 3-2-2
    for a functional classification: 201 → 20101 → 2010101), and the node of each code.
    Code 0 means "none": its node is -1."""
    values = np.asarray(codes)
    if values.dtype.kind not in "iu":
        raise InvalidInput(f"dimension codes: expected integers, got {values.dtype}")
    if len(values) and int(values.min()) < 0:
        raise InvalidInput("dimension codes: expected codes >= 0 (0 for none)")
    present = values != 0
    tree, leaf = chart_tree(pa.array(values[present].astype(np.int64)).cast(pa.string()), layout)
    out = np.full(len(values), -1, np.int32)
    out[present] = leaf
    return tree, out


def period_tree(months: np.ndarray) -> tuple[Tree, np.ndarray]:
    """Years → quarters → months of yyyymm values, and the node of each month."""
    values = np.asarray(months, np.int64)
    present = np.unique(values)
    years = np.unique(present // 100)
    quarters = np.unique((present // 100) * 10 + (present % 100 - 1) // 3 + 1)
    # ids: years first, then quarters, then months, each in order
    year_id = {int(y): i for i, y in enumerate(years.tolist())}
    quarter_id = {int(q): len(years) + i for i, q in enumerate(quarters.tolist())}
    parent = [-1] * len(years)
    parent += [year_id[q // 10] for q in quarters.tolist()]
    parent += [quarter_id[(m // 100) * 10 + (m % 100 - 1) // 3 + 1] for m in present.tolist()]
    labels = [f"{y:04d}" for y in years.tolist()]
    labels += [f"{q // 10:04d}-Q{q % 10}" for q in quarters.tolist()]
    labels += [f"{m // 100:04d}-{m % 100:02d}" for m in present.tolist()]
    level = [1] * len(years) + [2] * len(quarters) + [3] * len(present)
    tree = Tree(np.array(parent, np.int32), np.array(level, np.int16), pa.array(labels, pa.string()))
    leaf = np.searchsorted(present, values).astype(np.int32) + len(years) + len(quarters)
    return tree, leaf


@dataclass(frozen=True, slots=True)
class Scoped:
    """scoped_tree's result: the forest, each node's scope and node in the original tree
    (int64), and the scoped node of each thing (int32, -1 for none)."""

    tree: Tree
    scope: np.ndarray
    node: np.ndarray
    leaf: np.ndarray


def scoped_tree(tree: Tree, leaf: np.ndarray, scope: np.ndarray) -> Scoped:
    """One copy of `tree` per scope, with the nodes the scope's things reach and no others.

    Thing i sits at node leaf[i] (-1: nowhere) in scope scope[i] (int, >= 0). Nodes are
    ordered by scope, then by their node in `tree`, so parents stay first.
    """
    leaf = np.asarray(leaf, np.int64)
    scope = np.asarray(scope, np.int64)
    if leaf.shape != scope.shape:
        raise InvalidInput("scoped_tree: one scope per leaf")
    n = max(len(tree), 1)
    placed = leaf >= 0
    reached = []
    current = np.where(placed, leaf, -1)
    while True:
        live = current >= 0
        if not live.any():
            break
        reached.append(scope[live] * n + current[live])
        current = np.where(live, tree.parent[np.maximum(current, 0)], -1)
    keys = np.unique(np.concatenate(reached)) if reached else np.zeros(0, np.int64)
    nodes = keys % n
    scopes = keys // n
    up = tree.parent[nodes].astype(np.int64) if len(nodes) else np.zeros(0, np.int64)
    parent = np.full(len(keys), -1, np.int32)
    has = up >= 0
    parent[has] = np.searchsorted(keys, scopes[has] * n + up[has])
    out = np.full(len(leaf), -1, np.int32)
    out[placed] = np.searchsorted(keys, scope[placed] * n + leaf[placed])
    scoped = Tree(parent, tree.level[nodes], tree.label.take(pa.array(nodes)))
    return Scoped(scoped, scopes, nodes, out)


def descendants(tree: Tree, node: int) -> np.ndarray:
    """Whether each node is `node` or below it (bool)."""
    inside = np.zeros(len(tree), bool)
    inside[node] = True
    for i in range(node + 1, len(tree)):  # children after parents: one pass
        p = tree.parent[i]
        if p >= 0 and inside[p]:
            inside[i] = True
    return inside


def _positions(values: pa.Array, labels: pa.Array) -> np.ndarray:
    """int32 position of each value among the labels (every value is one of them)."""
    found = pc.index_in(values, value_set=labels)
    return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int32)


__all__ = [
    "DEFAULT_LAYOUT",
    "Scoped",
    "Tree",
    "chart_tree",
    "descendants",
    "dimension_tree",
    "format_layout",
    "parse_layout",
    "period_tree",
    "scoped_tree",
]
