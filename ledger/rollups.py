"""Rollups and trial balances, from the monthly sums.

Every figure here is a sum of posted amounts (pending never counts) per account and month:
the monthly sums `verify` covers, folded at checkpoints, plus what the batches after the
checkpoint posted. A `Rollups` holds them for one ledger as columns, with the accounts'
codes, sub-ledgers and names, built on the first query and kept current by adding the
monthly sums of the batches committed since (by any process), so a query never scans the
history: one book's trial balance reads the rows of its accounts, every book's the rows of
the months from the first one asked for.

For a period range first..last (yyyymm), each account has four non-negative figures:
debits and credits posted up to the end of `last` (its posted balance now, less what was
posted in later months) and its debit and credit turnover in the range. They roll up any
tree (ledger.trees) with ledger.rollup's kernel, and a node's opening and closing balances
are its debit minus credit figures, shown on the side of their sign (试算平衡表: 期初 /
本期发生 / 期末). Debits equal credits in every balance group of a book, so the totals of
a trial balance balance per group; `TrialBalance.balanced` says whether they do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ledger.errors import InvalidInput, NotFound
from ledger.rollup import rollup as kernel_rollup
from ledger.trees import DEFAULT_LAYOUT, Scoped, Tree, chart_tree, dimension_tree, parse_layout, scoped_tree

# Columns of every rollup and trial balance, in minor units.
FIGURES = ("opening_debit", "opening_credit", "debit", "credit", "closing_debit", "closing_credit")
_MERGE_FRACTION = 8  # merge the recent monthly sums into the base at 1/8 of its rows


def period_range(period: str | int, to: str | int | None = None) -> tuple[int, int]:
    """(first, last) yyyymm of a period and an optional end: "2026-03", "2026" (the year) or
    yyyymm; `to` ends the range (its last month)."""
    first, _ = _period_bounds(period)
    _, last = _period_bounds(period if to is None else to)
    if last < first:
        raise InvalidInput(f"period range {period}..{to} ends before it starts")
    return first, last


def _period_bounds(period: str | int) -> tuple[int, int]:
    text = str(period).strip()
    try:
        if len(text) == 4 and text.isdigit():
            return int(text) * 100 + 1, int(text) * 100 + 12
        if len(text) == 7 and text[4] == "-":
            number = int(text[:4]) * 100 + int(text[5:])
        elif len(text) == 6 and text.isdigit():
            number = int(text)
        else:
            raise ValueError
    except ValueError:
        raise InvalidInput(f"period {period!r}: expected YYYY-MM or YYYY") from None
    if not (1 <= number // 100 <= 9999 and 1 <= number % 100 <= 12):
        raise InvalidInput(f"period {period!r} is not a month")
    return number, number


def month_label(month: int) -> str:
    return f"{month // 100:04d}-{month % 100:02d}"


def month_days(first: int, last: int) -> tuple[int, int]:
    """The first day of month `first` and the last day of month `last`, as int32 day numbers."""
    start = np.datetime64(f"{first // 100:04d}-{first % 100:02d}", "M")
    end = np.datetime64(f"{last // 100:04d}-{last % 100:02d}", "M") + 1
    return int(start.astype("datetime64[D]").astype(np.int64)), int(
        end.astype("datetime64[D]").astype(np.int64)
    ) - 1


def months_between(first: int, last: int) -> list[int]:
    """The yyyymm months first..last."""
    out, month = [], first
    while month <= last:
        out.append(month)
        month = month + 1 if month % 100 < 12 else (month // 100 + 1) * 100 + 1
    return out


@dataclass(slots=True)
class MonthlyTurnover:
    """Posted debits and credits per (account, month) of every batch up to `batch`: a base
    sorted by account then month, and the sums of later batches beside it until they are
    worth merging. Rows of one (account, month) may repeat: they add up."""

    batch: int
    account: np.ndarray  # int32
    period: np.ndarray  # int32 yyyymm
    sums: np.ndarray  # int64 [rows, 2]: debits, credits
    recent: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)

    @classmethod
    def of(cls, batch: int, rows: dict[str, np.ndarray]) -> MonthlyTurnover:
        account, period, sums = _posted(rows)
        order = np.lexsort((period, account))
        return cls(batch, account[order], period[order], np.ascontiguousarray(sums[order]))

    def add(self, batch: int, rows: dict[str, np.ndarray]) -> None:
        """Add the sums of the batches after self.batch up to `batch`."""
        part = _posted(rows)
        if len(part[0]):
            self.recent.append(part)
        self.batch = batch
        if sum(len(p[0]) for p in self.recent) * _MERGE_FRACTION > max(len(self.account), 1 << 16):
            merged = MonthlyTurnover.of(
                batch,
                {
                    "account": np.concatenate([self.account, *(p[0] for p in self.recent)]),
                    "period": np.concatenate([self.period, *(p[1] for p in self.recent)]),
                    "dp": np.concatenate([self.sums[:, 0], *(p[2][:, 0] for p in self.recent)]),
                    "cp": np.concatenate([self.sums[:, 1], *(p[2][:, 1] for p in self.recent)]),
                },
            )
            self.account, self.period, self.sums, self.recent = merged.account, merged.period, merged.sums, []

    def rows(self, accounts: np.ndarray | None, first: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(account, period, sums) of the rows of `accounts` (sorted int64; None: all) in
        months from `first` on."""
        if accounts is None:
            keep = self.period >= first
            parts = [(self.account[keep], self.period[keep], self.sums[keep])]
        else:
            wanted = accounts.astype(self.account.dtype)  # the haystack's type: no copy of it per call
            starts = np.searchsorted(self.account, wanted, side="left")
            ends = np.searchsorted(self.account, wanted, side="right")
            counts = ends - starts
            index = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
            picked = index[self.period[index] >= first]
            parts = [(self.account[picked], self.period[picked], self.sums[picked])]
        for account, period, sums in self.recent:
            keep = period >= first
            if accounts is not None:
                keep &= np.isin(account, accounts)
            parts.append((account[keep], period[keep], sums[keep]))
        return (
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]),
        )

    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.account, self.period, self.sums)) + sum(
            sum(a.nbytes for a in part) for part in self.recent
        )


def _posted(rows: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows with posted sums: account, period (int32), sums [n, 2] (debits, credits)."""
    debits, credits = np.asarray(rows["dp"], np.int64), np.asarray(rows["cp"], np.int64)
    keep = (debits != 0) | (credits != 0)
    return (
        np.asarray(rows["account"])[keep].astype(np.int32),
        np.asarray(rows["period"])[keep].astype(np.int32),
        np.ascontiguousarray(np.stack([debits[keep], credits[keep]], axis=1)),
    )


@dataclass(frozen=True, slots=True)
class Organisation:
    """The organisation tree as rollups use it: nodes by idx, each book's node (-1 when not
    placed) and each book's chart layout (inherited down the tree)."""

    tree: Tree
    names: list[str | None]
    book_node: np.ndarray  # int32 by book index
    book_layout: list[tuple[int, ...]]  # by book index

    @classmethod
    def of(cls, rows: pa.Table, books_count: int) -> Organisation:
        parent = np.array([-1 if p is None else p for p in rows.column("parent").to_pylist()], np.int32)
        level = np.ones(len(parent), np.int16)
        layouts: list[tuple[int, ...]] = []
        for i, (p, own) in enumerate(zip(parent.tolist(), rows.column("layout").to_pylist(), strict=True)):
            if p >= 0:
                level[i] = level[p] + 1
            layouts.append(parse_layout(own) if own else (layouts[p] if p >= 0 else DEFAULT_LAYOUT))
        book_node = np.full(books_count, -1, np.int32)
        book_layout: list[tuple[int, ...]] = [DEFAULT_LAYOUT] * books_count
        for i, book in enumerate(rows.column("book").to_pylist()):
            if book is not None and book < books_count:
                book_node[book] = i
                book_layout[book] = layouts[i]
        tree = Tree(parent, level, rows.column("key").combine_chunks().cast(pa.string()))
        return cls(tree, rows.column("name").to_pylist(), book_node, book_layout)


@dataclass(frozen=True, slots=True)
class TrialBalance:
    """A trial balance: one row per chart node and balance group (`rows`), the totals per
    group of its first-level nodes (`totals`), and whether debits equal credits in each."""

    rows: pa.Table
    totals: pa.Table

    @property
    def balanced(self) -> bool:
        return bool(pc.all(self.totals.column("balanced")).as_py()) if self.totals.num_rows else True


class Rollups:
    """The monthly sums and account fields a ledger's rollups read (see the module docstring)."""

    def __init__(self) -> None:
        self.turnover: MonthlyTurnover | None = None
        self.accounts = pa.table({"code": pa.array([], pa.string()), "subledger": pa.array([], pa.string()),
                                  "name": pa.array([], pa.string())})  # fmt: skip
        self.organisation: Organisation | None = None
        self._nodes_count = -1
        self._charts: dict[tuple[int, ...], tuple[Tree, np.ndarray, list[str | None]]] = {}
        # every book's chart, scoped by book and group: (tree, names, scoped) by levels
        self.every_book: dict[str | None, tuple[Tree, list[str | None], Scoped]] = {}
        self._book_order: tuple[np.ndarray, np.ndarray] | None = None

    # --- keeping current ---------------------------------------------------------------------

    def refresh(self, store: Any, conn: Any, last_batch: int, accounts_count: int, books_count: int) -> None:
        """Bring the sums and fields up to the store's state as of `last_batch` (read in the
        reader transaction `conn`, in which the caller's replica is synced to it)."""
        if self.turnover is None:
            self.turnover = MonthlyTurnover.of(last_batch, store.month_sums(conn))
        elif last_batch > self.turnover.batch:
            self.turnover.add(last_batch, store.period_sums(conn, self.turnover.batch, last_batch))
        known = self.accounts.num_rows
        if accounts_count > known:
            new = store.read_accounts(conn, known, ("code", "subledger", "name")).select(
                ["code", "subledger", "name"]
            )
            self.accounts = pa.concat_tables([self.accounts, new]).combine_chunks()
            self._charts.clear()
            self.every_book.clear()
            self._book_order = None
        count = store.nodes_count(conn)  # nodes are only ever appended: the count tells
        if (
            count != self._nodes_count
            or self.organisation is None
            or len(self.organisation.book_node) != books_count
        ):
            self.organisation = Organisation.of(store.node_rows(conn), books_count)
            self._nodes_count = count
            self.every_book.clear()  # a book's layout comes from its node

    # --- scopes ------------------------------------------------------------------------------

    def book_accounts(self, books: np.ndarray, account_books: np.ndarray) -> np.ndarray:
        """The accounts (sorted int64 indices) of the given books."""
        if self._book_order is None or len(self._book_order[0]) != len(account_books):
            order = np.argsort(account_books, kind="stable")
            self._book_order = (order, account_books[order])
        order, sorted_books = self._book_order
        wanted = np.asarray(books).astype(sorted_books.dtype)  # the haystack's type: no copy of it
        starts = np.searchsorted(sorted_books, wanted, side="left")
        ends = np.searchsorted(sorted_books, wanted, side="right")
        parts = [order[s:e] for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]
        return np.sort(np.concatenate(parts)).astype(np.int64) if parts else np.zeros(0, np.int64)

    def chart(self, layout: tuple[int, ...]) -> tuple[Tree, np.ndarray, list[str | None]]:
        """The chart tree of every account's code under `layout`, each account's node, and
        each node's name (the first account's whose code is the node's)."""
        cached = self._charts.get(layout)
        if cached is None:
            tree, leaf = chart_tree(self.accounts.column("code").combine_chunks(), layout)
            names: list[str | None] = [None] * len(tree)
            nodes, first = np.unique(leaf, return_index=True)
            account_names = self.accounts.column("name").take(pa.array(first)).to_pylist()
            for node, name in zip(nodes.tolist(), account_names, strict=True):
                names[node] = name
            cached = self._charts[layout] = (tree, leaf, names)
        return cached

    # --- figures -----------------------------------------------------------------------------

    def account_figures(
        self, rows: np.ndarray, accounts: np.ndarray | None, first: int, last: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(accounts, figures [n, 4]) for first..last: debits and credits posted up to the end
        of `last`, debit and credit turnover in the range (all >= 0). `rows` is the engine's
        account rows; `accounts` sorted int64 indices, or None for every account."""
        assert self.turnover is not None, "refresh first"
        every = accounts is None
        if accounts is None:
            accounts = np.arange(len(rows), dtype=np.int64)
        account, period, sums = self.turnover.rows(None if every else accounts, first)
        local = account if every else np.searchsorted(accounts, account).astype(np.int32)
        # months after the range (to take off the balance now) and in it (the turnover): the
        # kernel sums each per account, as two trees over the same rows
        later = period > last
        identity = np.arange(len(accounts), dtype=np.int32)
        none = np.full(len(accounts), -1, np.int32)
        figures = np.empty((len(accounts), 4), np.int64)
        after = kernel_rollup(np.where(later, local, -1).astype(np.int32), sums, identity, none)
        figures[:, 2:4] = kernel_rollup(np.where(later, -1, local).astype(np.int32), sums, identity, none)
        figures[:, 0] = rows["debits_posted"][accounts] - after[:, 0]
        figures[:, 1] = rows["credits_posted"][accounts] - after[:, 1]
        return accounts, figures


def node_figures(figures: np.ndarray, leaf: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """The four figures of every node: each thing's figures at its leaf, rolled up."""
    keys = np.arange(len(figures), dtype=np.int32)
    return kernel_rollup(keys, figures, np.asarray(leaf, np.int32), np.asarray(parent, np.int32))


def balances(totals: np.ndarray) -> dict[str, np.ndarray]:
    """FIGURES from the four rolled-up figures: opening and closing on the side of their
    sign (debit minus credit), turnover as it is."""
    closing = totals[:, 0] - totals[:, 1]
    opening = (totals[:, 0] - totals[:, 2]) - (totals[:, 1] - totals[:, 3])
    return {
        "opening_debit": np.maximum(opening, 0),
        "opening_credit": np.maximum(-opening, 0),
        "debit": totals[:, 2].copy(),
        "credit": totals[:, 3].copy(),
        "closing_debit": np.maximum(closing, 0),
        "closing_credit": np.maximum(-closing, 0),
    }


def chart_of(
    rollups: Rollups, accounts: np.ndarray, account_books: np.ndarray
) -> tuple[Tree, np.ndarray, list[str | None]]:
    """The chart forest the accounts' codes make under their books' layouts (one tree per
    layout in use), each account's node in it, and the nodes' names."""
    organisation = rollups.organisation
    assert organisation is not None, "refresh first"
    layouts = [organisation.book_layout[b] for b in np.unique(account_books[accounts]).tolist()]
    distinct = sorted(set(layouts)) or [DEFAULT_LAYOUT]
    if len(distinct) == 1:
        tree, leaf, names = rollups.chart(distinct[0])
        return tree, leaf[accounts], names
    parents, levels, labels, names_all = [], [], [], []
    leaf = np.full(len(accounts), -1, np.int32)
    book_layout = np.array([distinct.index(layout) if layout in distinct else -1
                            for layout in organisation.book_layout], np.int32)  # fmt: skip
    which = book_layout[account_books[accounts]]
    offset = 0
    for position, layout in enumerate(distinct):
        tree, account_leaf, names = rollups.chart(layout)
        parents.append(np.where(tree.parent >= 0, tree.parent + offset, -1).astype(np.int32))
        levels.append(tree.level)
        labels.append(tree.label)
        names_all += names
        mine = which == position
        leaf[mine] = account_leaf[accounts[mine]] + offset
        offset += len(tree)
    forest = Tree(np.concatenate(parents), np.concatenate(levels), pa.concat_arrays(labels))
    return forest, leaf, names_all


def trial_balance_table(
    tree: Tree,
    names: list[str | None],
    scoped: Any,
    totals: np.ndarray,
    depth: int | None,
    group_keys: list[str],
    scales: np.ndarray,
    groups_count: int,
    scope_keys: list[str] | None,
) -> TrialBalance:
    """The rows (chart nodes down to `depth`, by book key, group key, then code as a string:
    the order an accountant reads) and the per-group totals of the first-level nodes."""
    figures = balances(totals)
    node, scope, level = scoped.node, scoped.scope, scoped.tree.level
    group = (scope % groups_count).astype(np.int64)
    outer = scope // groups_count
    keep = np.flatnonzero(np.ones(len(node), bool) if depth is None else level <= depth)
    code_rank = _ranks(tree.label)
    group_rank = _ranks(pa.array(group_keys, pa.string()))
    order_keys = [code_rank[node[keep]], group_rank[group[keep]]]
    if scope_keys is not None:
        order_keys.append(_ranks(pa.array(scope_keys, pa.string()))[outer[keep]])
    rows_at = keep[np.lexsort(order_keys)]
    take = pa.array(rows_at)
    columns: dict[str, Any] = {}
    if scope_keys is not None:
        columns["book"] = pa.array(scope_keys, pa.string()).take(pa.array(outer[rows_at]))
    columns["code"] = scoped.tree.label.take(take)
    columns["name"] = pa.array(names, pa.string()).take(pa.array(node[rows_at]))
    columns["group"] = pa.array(group_keys, pa.string()).take(pa.array(group[rows_at]))
    columns["level"] = pa.array(level[rows_at].astype(np.int16))
    for name in FIGURES:
        columns[name] = pa.array(figures[name][rows_at])
    columns["scale"] = pa.array(scales[group[rows_at]].astype(np.int8))
    return TrialBalance(
        pa.table(columns), _group_totals(totals, scoped, outer, group, group_keys, scales, scope_keys)
    )


def _ranks(labels: pa.Array) -> np.ndarray:
    """The position of each label in the labels' sorted order (int64)."""
    order = pc.sort_indices(labels).to_numpy()
    ranks = np.empty(len(order), np.int64)
    ranks[order] = np.arange(len(order))
    return ranks


def _group_totals(
    totals: np.ndarray,
    scoped: Any,
    outer: np.ndarray,
    group: np.ndarray,
    group_keys: list[str],
    scales: np.ndarray,
    scope_keys: list[str] | None,
) -> pa.Table:
    """Per book (when there are several) and group: the sums of the first-level nodes'
    figures and whether opening, turnover and closing balance, debits against credits."""
    roots = np.flatnonzero(scoped.tree.parent < 0)
    pair = outer[roots] * max(1, len(group_keys)) + group[roots]
    unique, leaf = np.unique(pair, return_inverse=True)
    # per root: its net on the side of its sign; summed, debit sides against credit sides
    root_figures = balances(totals[roots])
    sided = kernel_rollup(
        np.arange(len(roots), dtype=np.int32),
        np.stack([root_figures[name] for name in FIGURES], axis=1),
        leaf.astype(np.int32),
        np.full(len(unique), -1, np.int32),
    )
    g = unique % max(1, len(group_keys))
    columns: dict[str, Any] = {}
    if scope_keys is not None:
        columns["book"] = pa.array(scope_keys, pa.string()).take(pa.array(unique // max(1, len(group_keys))))
    columns["group"] = pa.array(group_keys, pa.string()).take(pa.array(g))
    for i, name in enumerate(FIGURES):
        columns[name] = pa.array(sided[:, i])
    columns["scale"] = pa.array(scales[g].astype(np.int8))
    columns["balanced"] = pa.array(
        (sided[:, 0] == sided[:, 1]) & (sided[:, 2] == sided[:, 3]) & (sided[:, 4] == sided[:, 5])
    )
    return pa.table(columns)


def scope_of(rollups: Rollups, book: int | None, node: int | None, books_count: int) -> np.ndarray:
    """The books (int64) of a trial balance's scope: one book, or the books at and below an
    organisation node."""
    organisation = rollups.organisation
    assert organisation is not None
    if book is not None:
        return np.array([book], np.int64)
    assert node is not None
    inside = np.zeros(len(organisation.tree), bool)
    inside[node] = True
    parent = organisation.tree.parent
    for i in range(node + 1, len(parent)):
        if parent[i] >= 0 and inside[parent[i]]:
            inside[i] = True
    placed = organisation.book_node
    return np.flatnonzero((placed >= 0) & inside[np.maximum(placed, 0)]).astype(np.int64)


def require_node(rollups: Rollups, key: str) -> int:
    organisation = rollups.organisation
    assert organisation is not None
    found = pc.index(organisation.tree.label, pa.scalar(key, pa.string())).as_py()
    if found is None or found < 0:
        raise NotFound(f"organisation node {key!r} does not exist")
    return int(found)


@dataclass(frozen=True, slots=True)
class Names:
    """The catalog's keys and scales a result is labelled with."""

    groups: list[str]
    scales: np.ndarray  # int8 by group index
    books: list[str]


def trial_balance(
    rollups: Rollups,
    rows: np.ndarray,
    names: Names,
    books: np.ndarray | None,
    first: int,
    last: int,
    depth: int | None = None,
    levels: str | None = None,
) -> TrialBalance:
    """The trial balance of `books` taken together (None: every book, each apart) for the
    months first..last, down to chart level `depth`, under `levels` (None: each book's
    layout)."""
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
        raise InvalidInput(f"depth {depth!r}: expected a chart level >= 1")
    account_books = rows["book"]
    accounts = None if books is None else rollups.book_accounts(books, account_books)
    accounts, figures = rollups.account_figures(rows, accounts, first, last)
    groups_count = max(1, len(names.groups))
    cached = rollups.every_book.get(levels) if books is None else None
    if cached is not None:
        tree, node_names, tree_scoped = cached
    else:
        if levels is not None:
            tree, leaf, node_names = rollups.chart(parse_layout(levels))
            leaf = leaf[accounts]
        else:
            tree, leaf, node_names = chart_of(rollups, accounts, account_books)
        scope = rows["group"][accounts].astype(np.int64)
        if books is None:
            scope += account_books[accounts].astype(np.int64) * groups_count
        tree_scoped = scoped_tree(tree, leaf, scope)
        if books is None:
            rollups.every_book[levels] = (tree, node_names, tree_scoped)
    totals = node_figures(figures, tree_scoped.leaf, tree_scoped.tree.parent)
    return trial_balance_table(
        tree, node_names, tree_scoped, totals, depth, names.groups, names.scales, groups_count,
        names.books if books is None else None,
    )  # fmt: skip


def rollup_by(
    rollups: Rollups,
    rows: np.ndarray,
    names: Names,
    by: str,
    first: int,
    last: int,
    code: str | None = None,
    levels: str | None = None,
) -> pa.Table:
    """Totals per book, organisation node, sub-ledger (book, sub-ledger key) or chart node
    (`code:N`, chart levels 1..N) and balance group, for the months first..last, of the
    accounts whose code starts with `code` (None: all)."""
    if by.startswith("dim:"):
        raise InvalidInput("rollup by dim:K reads lines: use dimension_rollup")
    accounts = np.arange(len(rows), dtype=np.int64)
    if code is not None:
        codes = rollups.accounts.column("code")
        accounts = np.flatnonzero(pc.starts_with(codes, code).to_numpy(zero_copy_only=False)).astype(np.int64)
    accounts, figures = rollups.account_figures(rows, accounts, first, last)
    account_books = rows["book"][accounts].astype(np.int64)
    group = rows["group"][accounts].astype(np.int64)
    keys: dict[str, Any] = {}
    if by == "book":
        tree = Tree(
            np.full(len(names.books), -1, np.int32), np.ones(len(names.books), np.int16),
            pa.array(names.books, pa.string()),
        )  # fmt: skip
        leaf = account_books
    elif by == "node":
        organisation = rollups.organisation
        assert organisation is not None
        tree, leaf = organisation.tree, organisation.book_node[account_books]
    elif by == "subledger":
        subledgers = rollups.accounts.column("subledger").take(pa.array(accounts)).combine_chunks()
        encoded = pc.dictionary_encode(subledgers)
        index = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        width = max(1, len(encoded.dictionary))
        pair = np.where(index >= 0, account_books * width + index, -1)
        unique, leaf = np.unique(pair[pair >= 0], return_inverse=True)
        full_leaf = np.full(len(pair), -1, np.int64)
        full_leaf[pair >= 0] = leaf
        leaf = full_leaf
        book_of, sub_of = unique // width, unique % width
        keys["book"] = pa.array(np.asarray(names.books, dtype=object)[book_of].tolist(), pa.string())
        labels = encoded.dictionary.take(pa.array(sub_of))
        tree = Tree(np.full(len(unique), -1, np.int32), np.ones(len(unique), np.int16), labels)
    elif by.startswith("code:"):
        level = by.partition(":")[2]
        if not level.isdigit() or int(level) < 1:
            raise InvalidInput(f"rollup by {by!r}: expected code:N with a chart level N >= 1")
        tree, leaf_all, _ = rollups.chart(parse_layout(levels))
        leaf = leaf_all[accounts]
    else:
        raise InvalidInput(f"rollup by {by!r}: expected book, node, subledger, code:N or dim:K")
    result = scoped_tree(tree, leaf, group)
    totals = node_figures(figures, result.leaf, result.tree.parent)
    figures_out = balances(totals)
    keep = np.ones(len(result.node), bool)
    if by.startswith("code:"):
        keep = result.tree.level <= int(by.partition(":")[2])
    columns: dict[str, Any] = {}
    if "book" in keys:
        columns["book"] = keys["book"].take(pa.array(result.node[keep]))
    columns["key"] = result.tree.label.filter(pa.array(keep))
    if by == "node":
        organisation = rollups.organisation
        assert organisation is not None
        node_names = np.asarray(organisation.names, dtype=object)
        columns["name"] = pa.array(node_names[result.node[keep]].tolist(), pa.string())
    g = result.scope[keep]
    columns["group"] = pa.array(np.asarray(names.groups, dtype=object)[g].tolist(), pa.string())
    columns["level"] = pa.array(result.tree.level[keep].astype(np.int16))
    for name in FIGURES:
        columns[name] = pa.array(figures_out[name][keep])
    columns["scale"] = pa.array(names.scales[g].astype(np.int8))
    return pa.table(columns)


def dimension_rollup(
    rollups: Rollups,
    rows: np.ndarray,
    names: Names,
    lines: dict[str, np.ndarray],
    code: str | None,
    layout: str | None,
) -> pa.Table:
    """Debit and credit turnover per node of a dimension's code tree (by decimal digits under
    `layout`, default 3-2-2) and balance group, of posted `lines` (account, code, amount) of
    accounts whose chart code starts with `code` (None: all); lines without a code are left
    out. Balances are kept per account, not per dimension code: turnover only."""
    account, values, amount = lines["account"], lines["code"], lines["amount"]
    keep = values != 0
    if code is not None:
        chosen = pc.starts_with(rollups.accounts.column("code"), code).to_numpy(zero_copy_only=False)
        keep &= chosen[account]
    account, values, amount = account[keep], values[keep], amount[keep]
    if len(values) and (int(values.min()) < 0 or int(values.max()) >= 2**31):
        raise InvalidInput("dimension codes of the lines are not int32 codes >= 0")
    tree, leaf = dimension_tree(values.astype(np.int64), layout or "3-2-2")
    result = scoped_tree(tree, leaf, rows["group"][account].astype(np.int64))
    keys = np.arange(len(amount), dtype=np.int32)
    totals = kernel_rollup(keys, amount.reshape(-1, 1), result.leaf, result.tree.parent, signed=True)
    return pa.table(
        {
            "key": result.tree.label,
            "group": pa.array(names.groups, pa.string()).take(pa.array(result.scope)),
            "level": pa.array(result.tree.level.astype(np.int16)),
            "debit": pa.array(totals[:, 0]),
            "credit": pa.array(totals[:, 1]),
            "scale": pa.array(names.scales[result.scope].astype(np.int8)),
        }
    )


__all__ = [
    "FIGURES",
    "MonthlyTurnover",
    "Organisation",
    "Rollups",
    "Names",
    "TrialBalance",
    "balances",
    "chart_of",
    "dimension_rollup",
    "month_days",
    "month_label",
    "months_between",
    "require_node",
    "node_figures",
    "period_range",
    "rollup_by",
    "scope_of",
    "trial_balance",
    "trial_balance_table",
]
