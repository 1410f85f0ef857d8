"""Two-sided matching of the nightly reconciliation: ledger.match beside DuckDB SQL and polars,
on the same arrays, in one run.

    python -m benchmarks.match [--records 2000000] [--repeat 5] [--seed N] [--no-check]

The data (numpy, deterministic from the seed): `records` payments on each side (the treasury's
and the bank's), keys distinct payment ids in random row order, each in one of ~600,000
projects (0.3 per record) with an economic code, an amount in fen and a day of 2026. At 0.1 %
of the keys one fault is injected, the faults spread evenly over the eight types: the bank's
date later by 1..window days (in_transit) or by more (date_mismatch), its amount off
(amount_mismatch), its project or code another (key_mismatch), the payment absent on one side
(missing_a, missing_b) or recorded twice (duplicate_a, duplicate_b: a copy in the same project).

Each round times, in an order that rotates from round to round:
 - ledger: ledger.match.match(Side, Side, window=3) (the public path: checks, the kernel, the
   items and groups as Arrow tables);
 - duckdb: SQL over the same arrays (as Arrow tables, no copy), what a user would write: per-key
   aggregates of each side, FULL OUTER JOIN, CASE for the type in the same priority, into a
   temporary table; then the findings sorted by key and GROUP BY project for the totals and
   the counts per type (default threads);
 - polars: the same in lazy polars, collected once, then the findings and the totals;
 - the kernel alone, on the same arrays without the wrapper (for reference).
All must give the same findings (key and type) and the same group totals and counts; the
ledger's findings are scored against the injected faults (precision and recall per type).
Reported: each way's median time and the ledger's speed-up over each peer; the target is
>= 3x DuckDB.

Exit status: 0 when the target is met (or --no-check), 1 when it is missed, 2 when the results
differ or the compiled kernel is not in use.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from ledger import match as match_module
from ledger.match import TYPES, Side, match

WINDOW = 3
FAULT_RATE = 0.001
GROUPS_PER_RECORD = 0.3
KEY_BASE = 2026_0000_0000
KEY_SPREAD = 4  # keys drawn from KEY_BASE + [0, KEY_SPREAD * records)
FIRST_DAY = 20454  # 2026-01-01
AMOUNT_FEN_MAX = 10_000_000

LEDGER = "ledger.match"
KERNEL = "kernel alone"
DUCKDB = "duckdb"
POLARS = "polars"
# The target: how many times faster than each peer the ledger must be (None: no target).
SPEEDUP_MIN: dict[str, float | None] = {DUCKDB: 3.0, POLARS: None}
COLUMNS = ("key", "group", "attr", "amount", "date")


@dataclass(frozen=True)
class Data:
    """Both sides' columns and, per type, the keys where that fault was injected."""

    a: dict[str, np.ndarray]
    b: dict[str, np.ndarray]
    truth: dict[str, np.ndarray]
    groups_count: int


@dataclass(frozen=True)
class Result:
    """What every way must agree on: the findings (key, type code) by key, and per group
    (ascending) group, total_a, total_b, difference and the count of each type."""

    keys: np.ndarray
    types: np.ndarray
    groups: np.ndarray  # int64 [groups, 4 + types]

    def same_as(self, other: Result) -> bool:
        return all(
            np.array_equal(mine, theirs)
            for mine, theirs in (
                (self.keys, other.keys),
                (self.types, other.types),
                (self.groups, other.groups),
            )
        )


def build(records: int, seed: int) -> Data:
    """The two sides (see the module docstring), the same for the same arguments."""
    rng = np.random.default_rng(seed)
    groups_count = max(2, round(records * GROUPS_PER_RECORD))
    key = KEY_BASE + rng.choice(KEY_SPREAD * records, records, replace=False).astype(np.int64)
    base = {
        "key": key,
        "group": rng.integers(0, groups_count, records).astype(np.int64),
        "attr": rng.integers(30101, 30300, records).astype(np.int64),
        "amount": rng.integers(1, AMOUNT_FEN_MAX + 1, records).astype(np.int64),
        "date": (FIRST_DAY + rng.integers(0, 365, records)).astype(np.int32),
    }
    faulted = rng.choice(records, max(len(TYPES), round(records * FAULT_RATE)), replace=False)
    fault = np.full(records, -1, np.int8)
    fault[faulted] = np.arange(len(faulted)) % len(TYPES)
    at = {name: fault == code for code, name in enumerate(TYPES)}
    a = {name: column.copy() for name, column in base.items()}
    b = {name: column.copy() for name, column in base.items()}
    b["date"][at["in_transit"]] += rng.integers(1, WINDOW + 1, at["in_transit"].sum()).astype(np.int32)
    b["date"][at["date_mismatch"]] += rng.integers(WINDOW + 1, 40, at["date_mismatch"].sum()).astype(np.int32)
    b["amount"][at["amount_mismatch"]] += rng.integers(1, 100_00, at["amount_mismatch"].sum())
    other = np.flatnonzero(at["key_mismatch"])
    project, code = other[::2], other[1::2]
    b["group"][project] = (b["group"][project] + 1) % groups_count
    b["attr"][code] += 1
    a = _with(a, keep=~at["missing_a"], again=at["duplicate_a"], rng=rng)
    b = _with(b, keep=~at["missing_b"], again=at["duplicate_b"], rng=rng)
    truth = {name: np.sort(key[mask]) for name, mask in at.items()}
    return Data(a, b, truth, groups_count)


def _with(side: dict[str, np.ndarray], keep: np.ndarray, again: np.ndarray, rng: np.random.Generator) -> dict:
    """The side without the rows not kept, plus a second record (same key and project, the
    next day) of the rows `again`, its rows shuffled."""
    extra = {name: column[again].copy() for name, column in side.items()}
    extra["date"] += 1
    out = {name: np.concatenate([column[keep], extra[name]]) for name, column in side.items()}
    order = rng.permutation(len(out["key"]))
    return {name: np.ascontiguousarray(column[order]) for name, column in out.items()}


# --- the ways -----------------------------------------------------------------------------


def ledger_match(data: Data) -> match_module.Matched:
    sides = [
        Side(s["key"], s["amount"], s["date"], group=s["group"], attr=s["attr"]) for s in (data.a, data.b)
    ]
    return match(sides[0], sides[1], window=WINDOW)


def ledger_result(matched: match_module.Matched) -> Result:
    codes = {name: code for code, name in enumerate(TYPES)}
    types = np.array([codes[name] for name in matched.items.column("type").to_pylist()], np.int64)
    groups = np.column_stack([matched.groups.column(name).to_numpy() for name in matched.groups.column_names])
    return Result(matched.items.column("key").to_numpy(), types, groups)


def kernel_match(data: Data) -> tuple[np.ndarray, np.ndarray]:
    """The compiled kernel on the arrays as they are (dense groups), without the wrapper."""
    items = np.empty((len(data.a["key"]) + len(data.b["key"]), 13), np.int64)
    groups = np.zeros((4 + len(TYPES), data.groups_count), np.int64)
    a, b = ([s[name] for name in ("key", "group", "attr", "amount", "date")] for s in (data.a, data.b))
    items_count, groups_found, status, _ = match_module.kernel.match(*a, *b, WINDOW, None, items, groups)
    assert status == 0
    return items[:items_count], groups[:, :groups_found]


def kernel_result(out: tuple[np.ndarray, np.ndarray]) -> Result:
    items, groups = out
    return Result(items[:, 0].copy(), items[:, 1].copy(), np.ascontiguousarray(groups.T))


def duckdb_connection(data: Data) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with tables a and b over the sides' arrays (Arrow, no copy)."""
    con = duckdb.connect()
    con.register("a", pa.table({name: data.a[name] for name in COLUMNS}))
    con.register("b", pa.table({name: data.b[name] for name in COLUMNS}))
    return con


def _side_sql(side: str) -> str:
    return (
        f'SELECT key, count(*) AS c_{side}, sum(amount) AS amount_{side}, min("group") AS group_{side},'
        f" min(attr) AS attr_{side}, min(date) AS date_{side} FROM {side} GROUP BY key"
    )


# The type codes are the indices of TYPES: 0 in_transit ... 7 duplicate_b.
CLASSIFY_SQL = f"""
CREATE OR REPLACE TEMP TABLE classified AS
SELECT coalesce(sa.key, sb.key) AS key, group_a, group_b, amount_a, amount_b,
    CASE WHEN c_a > 1 THEN 6 WHEN c_b > 1 THEN 7
         WHEN c_a IS NULL THEN 4 WHEN c_b IS NULL THEN 5
         WHEN group_a <> group_b OR attr_a <> attr_b THEN 3
         WHEN amount_a <> amount_b THEN 2
         WHEN date_a <> date_b THEN CASE WHEN abs(date_b - date_a) <= {WINDOW} THEN 0 ELSE 1 END
    END AS type
FROM ({_side_sql("a")}) AS sa FULL OUTER JOIN ({_side_sql("b")}) AS sb ON sa.key = sb.key
"""
ITEMS_SQL = "SELECT key, type FROM classified WHERE type IS NOT NULL ORDER BY key"
GROUPS_SQL = f"""
SELECT g AS "group", sum(total_a)::BIGINT AS total_a, sum(total_b)::BIGINT AS total_b,
    (sum(total_a) - sum(total_b))::BIGINT AS difference,
    {", ".join(f"count(*) FILTER (WHERE t = {code}) AS {name}" for code, name in enumerate(TYPES))}
FROM (
    SELECT group_a AS g, amount_a AS total_a, 0 AS total_b, type AS t
    FROM classified WHERE group_a IS NOT NULL
    UNION ALL
    SELECT group_b, 0, amount_b, CASE WHEN group_a IS NULL OR (type = 3 AND group_a <> group_b) THEN type END
    FROM classified WHERE group_b IS NOT NULL
)
GROUP BY g ORDER BY g
"""


def duckdb_match(con: duckdb.DuckDBPyConnection) -> tuple[dict[str, Any], dict[str, Any]]:
    con.execute(CLASSIFY_SQL)
    return con.execute(ITEMS_SQL).fetchnumpy(), con.execute(GROUPS_SQL).fetchnumpy()


def duckdb_result(out: tuple[dict[str, Any], dict[str, Any]]) -> Result:
    items, groups = out
    columns = [
        np.asarray(groups[name], np.int64) for name in ("group", "total_a", "total_b", "difference", *TYPES)
    ]
    return Result(
        np.asarray(items["key"], np.int64), np.asarray(items["type"], np.int64), np.column_stack(columns)
    )


def polars_frames(data: Data) -> tuple[pl.DataFrame, pl.DataFrame]:
    return pl.DataFrame({n: data.a[n] for n in COLUMNS}), pl.DataFrame({n: data.b[n] for n in COLUMNS})


def _per_key(frame: pl.DataFrame, side: str) -> pl.LazyFrame:
    return (
        frame.lazy()
        .group_by("key")
        .agg(
            pl.len().alias(f"c_{side}"),
            pl.col("amount").sum().alias(f"amount_{side}"),
            pl.col("group").min().alias(f"group_{side}"),
            pl.col("attr").min().alias(f"attr_{side}"),
            pl.col("date").min().alias(f"date_{side}"),
        )
    )


def polars_match(frames: tuple[pl.DataFrame, pl.DataFrame]) -> tuple[pl.DataFrame, pl.DataFrame]:
    col = pl.col
    kind = (
        pl.when(col("c_a") > 1).then(6).when(col("c_b") > 1).then(7)
        .when(col("c_a").is_null()).then(4).when(col("c_b").is_null()).then(5)
        .when((col("group_a") != col("group_b")) | (col("attr_a") != col("attr_b"))).then(3)
        .when(col("amount_a") != col("amount_b")).then(2)
        .when(col("date_a") != col("date_b"))
        .then(pl.when((col("date_b") - col("date_a")).abs() <= WINDOW).then(0).otherwise(1))
    )  # fmt: skip
    classified = (
        _per_key(frames[0], "a")
        .join(_per_key(frames[1], "b"), on="key", how="full", coalesce=True)
        .with_columns(kind.alias("type"))
        .collect()
    )
    items = classified.filter(col("type").is_not_null()).select("key", "type").sort("key")
    b_counts = pl.when(col("group_a").is_null() | ((col("type") == 3) & (col("group_a") != col("group_b"))))
    contributions = pl.concat(
        [
            classified.filter(col("group_a").is_not_null()).select(
                col("group_a").alias("group"), col("amount_a").alias("total_a"),
                pl.lit(0, pl.Int64).alias("total_b"), col("type"),
            ),
            classified.filter(col("group_b").is_not_null()).select(
                col("group_b").alias("group"), pl.lit(0, pl.Int64).alias("total_a"),
                col("amount_b").alias("total_b"), b_counts.then(col("type")).alias("type"),
            ),
        ]
    )  # fmt: skip
    groups = (
        contributions.group_by("group")
        .agg(
            col("total_a").sum(),
            col("total_b").sum(),
            *((col("type") == code).sum().alias(name) for code, name in enumerate(TYPES)),
        )
        .with_columns((col("total_a") - col("total_b")).alias("difference"))
        .sort("group")
    )
    return items, groups


def polars_result(out: tuple[pl.DataFrame, pl.DataFrame]) -> Result:
    items, groups = out
    columns = [
        groups[name].to_numpy().astype(np.int64)
        for name in ("group", "total_a", "total_b", "difference", *TYPES)
    ]
    return Result(
        items["key"].to_numpy(), items["type"].to_numpy().astype(np.int64), np.column_stack(columns)
    )


# --- timing and report --------------------------------------------------------------------


@dataclass(frozen=True)
class Way:
    call: Callable[[], Any]
    result: Callable[[Any], Result]  # the way's output in the common form (not timed)


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        out = call()
        return time.perf_counter() - start, out
    finally:
        gc.enable()


def measure(ways: dict[str, Way], repeat: int) -> tuple[dict[str, list[float]], dict[str, Result], bool]:
    """Runs every way `repeat` times, interleaved in a rotating order after one untimed
    warm-up round; returns the times, each way's last result and whether all were identical."""
    times: dict[str, list[float]] = {name: [] for name in ways}
    results: dict[str, Result] = {}
    names = list(ways)
    same = True
    for position in range(-1, repeat):
        shift = position % len(names)
        for name in names[shift:] + names[:shift]:
            seconds, out = timed(ways[name].call)
            results[name] = ways[name].result(out)
            same &= results[name].same_as(next(iter(results.values())))
            if position >= 0:
                times[name].append(seconds)
            del out
    return times, results, same


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.match", description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=2_000_000, help="payments on each side")
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds of each way (median)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-check", action="store_true", help="exit 0 even when the target is missed")
    args = parser.parse_args(argv)
    if args.records < len(TYPES) or args.repeat < 1:
        parser.error(f"--records must be at least {len(TYPES)}, --repeat at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    data = build(args.records, args.seed)
    faults = sum(len(keys) for keys in data.truth.values())
    print(
        f"sides: {len(data.a['key']):,} + {len(data.b['key']):,} records, keys in random order over"
        f" {data.groups_count:,} projects; {faults:,} faults injected ({faults // len(TYPES):,} or so of each"
        f" type); window {WINDOW} days (built in {time.perf_counter() - start:.1f} s)"
    )
    con = duckdb_connection(data)
    frames = polars_frames(data)
    ways = {
        LEDGER: Way(lambda: ledger_match(data), ledger_result),
        DUCKDB: Way(lambda: duckdb_match(con), duckdb_result),
        POLARS: Way(lambda: polars_match(frames), polars_result),
    }
    if match_module.NATIVE:
        ways[KERNEL] = Way(lambda: kernel_match(data), kernel_result)
    times, results, same = measure(ways, args.repeat)
    print(f"median of {args.repeat} rounds each, interleaved; duckdb threads: {_duckdb_threads(con)},"
          f" polars threads: {pl.thread_pool_size()}")  # fmt: skip
    con.close()
    met = report(times, len(data.a["key"]) + len(data.b["key"]))
    scored = score(results[LEDGER], data.truth)
    if not same:
        print("FAILED: the findings or the group totals differ between the ways", file=sys.stderr)
        return 2
    print("all findings, counts and group totals identical; target " + ("met" if met else "MISSED"))
    if not scored:
        print("FAILED: the findings are not exactly the injected faults", file=sys.stderr)
        return 2
    if not match_module.NATIVE:
        print("the compiled kernel is not in use (LEDGER_NO_EXTENSIONS=1?)", file=sys.stderr)
        return 0 if args.no_check else 2
    return 0 if met or args.no_check else 1


def report(times: dict[str, list[float]], records: int) -> bool:
    """Prints each way's median time and the ledger's speed-up over each peer; returns
    whether every target was met."""
    medians = {name: statistics.median(seconds) for name, seconds in times.items()}
    for name, seconds in medians.items():
        print(f"  {name:<14} {seconds * 1e3:8.1f} ms  ({records / seconds / 1e6:6.1f} M records/s)")
    met = True
    for peer, target in SPEEDUP_MIN.items():
        speedup = medians[peer] / medians[LEDGER]
        met &= target is None or speedup >= target
        wanted = "no target" if target is None else f"target >= {target:g}x"
        print(f"  {LEDGER} over {peer:<8} {speedup:6.2f}x  ({wanted})")
    return met


def score(result: Result, truth: dict[str, np.ndarray]) -> bool:
    """Prints precision and recall of the findings against the injected faults, per type;
    returns whether both are 100 % for every type."""
    perfect = True
    for code, name in enumerate(TYPES):
        found = result.keys[result.types == code]
        hits = len(np.intersect1d(found, truth[name]))
        precision = hits / len(found) if len(found) else 1.0
        recall = hits / len(truth[name]) if len(truth[name]) else 1.0
        perfect &= precision == recall == 1.0
        print(f"  {name:<16} found {len(found):6,}  injected {len(truth[name]):6,}  precision"
              f" {precision:7.2%}  recall {recall:7.2%}")  # fmt: skip
    return perfect


def _duckdb_threads(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute("SELECT current_setting('threads')").fetchone()
    return int(row[0]) if row else 0


if __name__ == "__main__":
    sys.exit(main())
