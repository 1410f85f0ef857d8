"""Rollup of a province's lines to every node of two trees: ledger.rollup beside DuckDB SQL
and numpy.add.at, on the same arrays, in one run.

    python -m benchmarks.rollup [--lines 10000000] [--accounts 2500000] [--repeat 5] [--seed N]
                                [--no-check]

The province (numpy, deterministic from the seed): accounts in ~19,000 books (~132 each),
each account in a project sub-ledger (~628,000) of its book; books under units, departments,
42 regions and the province root: one organisation tree, account → sub-ledger → book → unit
→ department → region → root. A second tree is the chart of accounts, layout 4-2-2 (~100
first-level codes, sub-codes under them); an account sits on a code of any level, so a code
can hold accounts and have sub-codes. Lines: an account (uniform at random) and a signed
amount in fen (debit > 0, credit < 0). Every node of both trees gets its debit and credit
totals.

Each round times, in an order that rotates from round to round:
 - ledger: ledger.rollup.rollup(signed=True) over both trees (the public path: checks, the
   zeroed totals, the kernel);
 - duckdb: SQL over the same arrays (as Arrow tables, no copy), what a user would write:
   lines joined to an account table carrying every ancestor, GROUP BY GROUPING SETS of each
   level, fetched and scattered into the same [nodes, 2] array (default threads);
 - duckdb, per account first: the same after summing the lines per account (no target; a
   stronger peer, for honesty);
 - numpy add.at: into the accounts, then level by level up both trees;
 - the kernel alone, on the same arrays without the wrapper's checks (for reference).
All results must be identical. Reported: the median lines/s of each, and the ratios of the
ledger's rate to the others'; the issue's targets are >= 10x duckdb and >= 3x numpy add.at.

Exit status: 0 when the targets are met (or --no-check), 1 when one is missed, 2 when the
results differ or the compiled kernel is not in use.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from ledger import rollup as rollup_module
from ledger.rollup import rollup

# The shape of the province, per 2.5 M accounts (scaled down with --accounts).
REGIONS = 42
BOOKS_PER_UNIT = 11
UNITS_PER_DEPARTMENT = 4
BOOKS_PER_2_5M_ACCOUNTS = 19_000
SUBLEDGERS_PER_2_5M_ACCOUNTS = 628_000
# The chart: first-level codes, and how many sub-codes a code has at most, per level below.
CHART_ROOTS = 100
CHART_CHILDREN_MAX = (8, 6)
AMOUNT_FEN_MAX = 10_000_000  # 100,000.00 yuan

LEDGER = "ledger.rollup"
KERNEL = "kernel alone"
DUCKDB = "duckdb"
DUCKDB_PER_ACCOUNT = "duckdb, per account first"
NUMPY = "numpy add.at"

# The targets: how many times the ledger's rate must exceed each peer's (None: none).
SPEEDUP_MIN: dict[str, float | None] = {DUCKDB: 10.0, NUMPY: 3.0, DUCKDB_PER_ACCOUNT: None}

# The organisation levels below the root, top first, as the account table names them.
ORG_LEVELS = ("region", "dept", "unit", "book", "subledger", "account")
CHART_LEVELS = ("c1", "c2", "c3")
LEVELS = ORG_LEVELS + CHART_LEVELS
# Levels whose nodes are roots (nothing above them to add into).
ROOT_LEVELS = ("root", "c1")


@dataclass(frozen=True)
class Province:
    """The two trees as one parent array, and the lines.

    Nodes are laid out level by level (root, regions, departments, units, books,
    sub-ledgers, accounts, then the chart's three levels), each level's nodes grouped by
    parent: `levels` holds each level's (name, first node, end).
    """

    parent: np.ndarray  # int32 [nodes]
    key_leaf: np.ndarray  # int32 [2, accounts]: the account's node, its chart code's node
    levels: tuple[tuple[str, int, int], ...]
    ancestors: dict[str, np.ndarray]  # per account: its node on each level (-1: none)
    keys: np.ndarray  # int32 [lines]: account index
    amounts: np.ndarray  # int64 [lines]: fen, debit > 0, credit < 0

    @property
    def nodes_count(self) -> int:
        return len(self.parent)

    @property
    def lines_count(self) -> int:
        return len(self.keys)


def _grouped(rng: np.random.Generator, count: int, parents: int) -> np.ndarray:
    """A parent (0..parents-1) for each of `count` nodes, sorted: siblings are adjacent."""
    return np.sort(rng.integers(0, parents, count, dtype=np.int32))


def build_province(lines: int, accounts: int, seed: int) -> Province:
    """The synthetic province (see the module docstring), the same for the same arguments."""
    rng = np.random.default_rng(seed)
    books = max(1, round(accounts * BOOKS_PER_2_5M_ACCOUNTS / 2_500_000))
    units = max(1, round(books / BOOKS_PER_UNIT))
    counts = {
        "region": REGIONS,
        "dept": max(1, round(units / UNITS_PER_DEPARTMENT)),
        "unit": units,
        "book": books,
        "subledger": max(books, round(accounts * SUBLEDGERS_PER_2_5M_ACCOUNTS / 2_500_000)),
        "account": accounts,
    }
    parents = [np.array([-1], np.int32)]
    levels = [("root", 0, 1)]
    start, above = 1, 0  # first node of this level, of the level above
    for name in ORG_LEVELS:
        count = counts[name]
        parents.append(above + _grouped(rng, count, levels[-1][2] - levels[-1][1]))
        levels.append((name, start, start + count))
        above, start = start, start + count
    chart_up = [np.full(CHART_ROOTS, -1, np.int32)]
    chart_first = start
    levels.append(("c1", start, start + CHART_ROOTS))
    above, start = start, start + CHART_ROOTS
    for name, children_max in zip(CHART_LEVELS[1:], CHART_CHILDREN_MAX, strict=True):
        above_count = levels[-1][2] - levels[-1][1]
        per_parent = rng.integers(0, children_max + 1, above_count)
        up = (above + np.repeat(np.arange(above_count), per_parent)).astype(np.int32)
        chart_up.append(up)
        levels.append((name, start, start + len(up)))
        above, start = start, start + len(up)
    parent = np.concatenate(parents + chart_up).astype(np.int32)
    account_first = levels[ORG_LEVELS.index("account") + 1][1]
    account_nodes = np.arange(account_first, account_first + accounts, dtype=np.int32)
    chart_nodes = rng.integers(chart_first, start, accounts, dtype=np.int32)
    key_leaf = np.stack([account_nodes, chart_nodes])
    keys = rng.integers(0, accounts, lines, dtype=np.int32)
    magnitudes = rng.integers(1, AMOUNT_FEN_MAX + 1, lines, dtype=np.int64)
    amounts = np.where(rng.random(lines) < 0.5, magnitudes, -magnitudes)
    return Province(
        parent=parent,
        key_leaf=key_leaf,
        levels=tuple(levels),
        ancestors=_ancestors(parent, account_nodes, chart_nodes, tuple(levels)),
        keys=keys,
        amounts=amounts,
    )


def _ancestors(
    parent: np.ndarray, account_nodes: np.ndarray, chart_nodes: np.ndarray, levels: tuple
) -> dict[str, np.ndarray]:
    """Each account's node on every level of both trees (-1 where its code is shallower)."""
    bounds = {name: (first, end) for name, first, end in levels}
    out = {"account": account_nodes}
    node = account_nodes
    for name in reversed(ORG_LEVELS[:-1]):
        node = parent[node]
        out[name] = node
    for name in CHART_LEVELS:
        out[name] = np.full(len(chart_nodes), -1, np.int32)
    node = chart_nodes
    while True:  # walk each code up to its first level, noting the node on each level
        for name in CHART_LEVELS:
            first, end = bounds[name]
            here = (node >= first) & (node < end)
            out[name][here] = node[here]
        up = parent[node]
        if (up < 0).all():
            return out
        node = np.where(up >= 0, up, node)


# --- the ways -----------------------------------------------------------------------------


def ledger_totals(p: Province) -> np.ndarray:
    return rollup(p.keys, p.amounts, p.key_leaf, p.parent, signed=True)


def kernel_totals(p: Province) -> np.ndarray:
    """The compiled kernel on arrays already in its dtypes, without the wrapper's checks."""
    totals = np.zeros((p.nodes_count, 2), np.int64)
    node = rollup_module.kernel.rollup(p.keys, p.amounts.reshape(-1, 1), True, p.key_leaf, p.parent, totals)
    assert node == -1
    return totals


def duckdb_connection(p: Province) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with `lines` and `accounts` over the province's arrays (Arrow
    tables over the numpy buffers: no copy); chart levels an account lacks are NULL."""
    con = duckdb.connect()
    lines = pa.table({"account_id": p.keys, "amount": p.amounts})
    columns = {"account_id": np.arange(len(p.ancestors["account"]), dtype=np.int32)}
    columns.update(p.ancestors)
    accounts = pa.table({name: pa.array(values, mask=values < 0) for name, values in columns.items()})
    con.register("lines", lines)
    con.register("accounts", accounts)
    return con


# What a user would write: every line joined to its account's ancestors, one grouping set per
# level of each tree, plus the grand total (the province root, node 0).
DUCKDB_SQL = f"""
SELECT node, debit, credit FROM (
    SELECT
        CASE WHEN GROUPING({", ".join(LEVELS)}) = {2 ** len(LEVELS) - 1}  -- the grand total
             THEN 0 ELSE COALESCE({", ".join(LEVELS)}) END AS node,
        SUM(CASE WHEN l.amount > 0 THEN l.amount ELSE 0 END)::BIGINT AS debit,
        SUM(CASE WHEN l.amount < 0 THEN -l.amount ELSE 0 END)::BIGINT AS credit
    FROM lines AS l JOIN accounts AS a USING (account_id)
    GROUP BY GROUPING SETS ({", ".join(f"({name})" for name in LEVELS)}, ())
)
WHERE node IS NOT NULL
"""


# The same, written by someone who knows the data: lines summed per account first, so that
# the join and the grouping sets see 2.5 M accounts rather than 10 M lines.
DUCKDB_PER_ACCOUNT_SQL = f"""
WITH per_account AS (
    SELECT
        account_id,
        SUM(CASE WHEN amount > 0 THEN amount ELSE 0 END) AS debit,
        SUM(CASE WHEN amount < 0 THEN -amount ELSE 0 END) AS credit
    FROM lines GROUP BY account_id
)
SELECT node, debit, credit FROM (
    SELECT
        CASE WHEN GROUPING({", ".join(LEVELS)}) = {2 ** len(LEVELS) - 1}
             THEN 0 ELSE COALESCE({", ".join(LEVELS)}) END AS node,
        SUM(p.debit)::BIGINT AS debit,
        SUM(p.credit)::BIGINT AS credit
    FROM per_account AS p JOIN accounts AS a USING (account_id)
    GROUP BY GROUPING SETS ({", ".join(f"({name})" for name in LEVELS)}, ())
)
WHERE node IS NOT NULL
"""


def duckdb_totals(p: Province, con: duckdb.DuckDBPyConnection, sql: str = DUCKDB_SQL) -> np.ndarray:
    result = con.execute(sql).fetchnumpy()
    totals = np.zeros((p.nodes_count, 2), np.int64)
    node = np.asarray(result["node"], np.int64)
    totals[node, 0] = result["debit"]
    totals[node, 1] = result["credit"]
    return totals


def numpy_totals(p: Province) -> np.ndarray:
    """np.add.at into the accounts, the accounts into their chart codes, then each level
    into the one above, deepest first, in both trees."""
    totals = np.zeros((p.nodes_count, 2), np.int64)
    accounts = p.key_leaf[0]
    np.add.at(totals[:, 0], accounts[p.keys], np.maximum(p.amounts, 0))
    np.add.at(totals[:, 1], accounts[p.keys], np.maximum(-p.amounts, 0))
    np.add.at(totals, p.key_leaf[1], totals[accounts])
    for name, first, end in reversed(p.levels):
        if name not in ROOT_LEVELS:
            np.add.at(totals, p.parent[first:end], totals[first:end])
    return totals


# --- timing and report --------------------------------------------------------------------


def timed(call: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        result = call()
        return time.perf_counter() - start, result
    finally:
        gc.enable()


def measure(ways: dict[str, Callable[[], np.ndarray]], repeat: int) -> tuple[dict[str, list[float]], bool]:
    """Runs every way `repeat` times, interleaved in a rotating order after one untimed
    warm-up round; returns the times and whether all results were identical."""
    times: dict[str, list[float]] = {name: [] for name in ways}
    names = list(ways)
    expected: np.ndarray | None = None
    same = True
    for position in range(-1, repeat):
        shift = position % len(names)
        for name in names[shift:] + names[:shift]:
            seconds, result = timed(ways[name])
            if expected is None:
                expected = result
            same &= result.shape == expected.shape and bool(np.array_equal(result, expected))
            if position >= 0:
                times[name].append(seconds)
            del result
    return times, same


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rollup", description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--accounts", type=int, default=2_500_000)
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds of each way (median)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-check", action="store_true", help="exit 0 even when a target is missed")
    args = parser.parse_args(argv)
    if args.lines < 0 or args.accounts < 1 or args.repeat < 1:
        parser.error("--lines must be at least 0, --accounts and --repeat at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    p = build_province(args.lines, args.accounts, args.seed)
    sizes = {name: end - first for name, first, end in p.levels}
    print(
        f"province: {p.lines_count:,} lines over {sizes['account']:,} accounts, {sizes['subledger']:,}"
        f" sub-ledgers, {sizes['book']:,} books, {sizes['unit']:,} units, {sizes['dept']:,} departments,"
        f" {sizes['region']} regions; chart 4-2-2 of {sizes['c1']}/{sizes['c2']}/{sizes['c3']} codes;"
        f" {p.nodes_count:,} nodes (built in {time.perf_counter() - start:.1f} s)"
    )
    con = duckdb_connection(p)
    ways = {
        LEDGER: lambda: ledger_totals(p),
        DUCKDB: lambda: duckdb_totals(p, con),
        DUCKDB_PER_ACCOUNT: lambda: duckdb_totals(p, con, DUCKDB_PER_ACCOUNT_SQL),
        NUMPY: lambda: numpy_totals(p),
    }
    if rollup_module.NATIVE:
        ways[KERNEL] = lambda: kernel_totals(p)
    times, same = measure(ways, args.repeat)
    print(f"median of {args.repeat} rounds each, interleaved; duckdb threads: {_duckdb_threads(con)}")
    con.close()
    met = report(times, p.lines_count)
    if not same:
        print("FAILED: the totals differ between the ways", file=sys.stderr)
        return 2
    print("all totals identical; targets " + ("met" if met else "MISSED"))
    if not rollup_module.NATIVE:
        print("the compiled kernel is not in use (LEDGER_NO_EXTENSIONS=1?)", file=sys.stderr)
        return 0 if args.no_check else 2
    return 0 if met or args.no_check else 1


def report(times: dict[str, list[float]], lines: int) -> bool:
    """Prints each way's median rate and the ledger's speed-up over each peer; returns
    whether every target was met."""
    medians = {name: statistics.median(seconds) for name, seconds in times.items()}
    for name, seconds in medians.items():
        print(f"  {name:<26} {lines / seconds / 1e6:9.2f} M lines/s  ({seconds * 1e3:8.1f} ms)")
    met = True
    for peer, target in SPEEDUP_MIN.items():
        speedup = medians[peer] / medians[LEDGER]
        met &= target is None or speedup >= target
        wanted = "no target" if target is None else f"target >= {target:g}x"
        print(f"  {LEDGER} over {peer:<26} {speedup:7.2f}x  ({wanted})")
    return met


def _duckdb_threads(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute("SELECT current_setting('threads')").fetchone()
    return int(row[0]) if row else 0


if __name__ == "__main__":
    sys.exit(main())
