"""Durable posting, the raw COPY ceiling, checkpoint and open, as pytest-benchmark benchmarks.

    pytest benchmarks/test_durable.py --benchmark-only

The size comes from the environment and defaults to a smoke run:
LEDGER_DURABLE_LINES (default 400,000), LEDGER_DURABLE_ACCOUNTS (default a quarter of the
lines, the issue's proportion), LEDGER_DURABLE_BATCH (lines per call, default 100,000),
LEDGER_DURABLE_ROUNDS (default 3) and LEDGER_BENCH_POSTGRES_URL (default the local test
database; the PostgreSQL benchmarks are skipped when it does not answer). The issue's size
is LEDGER_DURABLE_LINES=10000000.

The timed work and its checks are those of `python -m benchmarks.durable` (the same
functions): every round writes the whole workload, batch after batch, each batch one
committed transaction, into a database set up before the round and not timed (a new schema
or SQLite file, one group, one book, the accounts). A refused entry fails the benchmark.
pytest-benchmark runs the benchmarks one after another, so ratios between them are not
paired; the runner interleaves durable and raw batches, checks the issue's targets and
breaks the posting time down by step.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ledger
from benchmarks.durable import (
    LINE_NAMES,
    POSTGRES_URL_DEFAULT,
    RAW_NARROW,
    RawCopy,
    RawExecutemany,
    Slice,
    balance_check,
    create_accounts,
    drop_postgres,
    fresh_postgres,
    line_columns,
    post_slice,
    postgres_conninfo,
    slices,
    time_open,
)
from benchmarks.workload import Workload, transfers

LINES = int(os.environ.get("LEDGER_DURABLE_LINES", "400000"))
ACCOUNTS = int(os.environ.get("LEDGER_DURABLE_ACCOUNTS", str(max(2, LINES // 4))))
BATCH_LINES = int(os.environ.get("LEDGER_DURABLE_BATCH", "100000"))
ROUNDS = int(os.environ.get("LEDGER_DURABLE_ROUNDS", "3"))
POSTGRES_URL = os.environ.get("LEDGER_BENCH_POSTGRES_URL", POSTGRES_URL_DEFAULT)
SCHEMA = "bench_durable_pytest"
STORES = ("postgresql", "sqlite")


@pytest.fixture(scope="module")
def durable_workload() -> Workload:
    return transfers(LINES, ACCOUNTS)


@pytest.fixture(scope="module")
def postgres_reachable() -> Iterator[None]:
    """Skips when the PostgreSQL server does not answer; drops the benchmark schema after."""
    import psycopg

    try:
        psycopg.connect(postgres_conninfo(POSTGRES_URL), connect_timeout=3).close()
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} does not answer: {error}")
    yield
    drop_postgres(POSTGRES_URL, SCHEMA)


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Callable[[], str]:
    """A factory of fresh, empty ledger databases of the parametrized store (their URLs)."""
    if request.param == "postgresql":
        request.getfixturevalue("postgres_reachable")
        return functools.partial(fresh_postgres, POSTGRES_URL, SCHEMA)
    return lambda: f"sqlite:///{tmp_path_factory.mktemp('durable') / 'ledger.db'}"


def fresh_ledger(new_database: Callable[[], str], workload: Workload) -> tuple[str, np.ndarray]:
    """A new database with the workload's accounts: its URL and the accounts' indices."""
    url = new_database()
    _, index = create_accounts(url, workload.accounts_count)
    return url, index


def post_all(book: ledger.Ledger, parts: list[Slice]) -> None:
    for part in parts:
        post_slice(book, part)


def describe(benchmark: Any, workload: Workload, kind: str) -> None:
    benchmark.group = f"durable: {workload.lines_count:,} lines over {workload.accounts_count:,} accounts"
    benchmark.extra_info.update(
        store=kind, lines=workload.lines_count, entries=workload.entries_count,
        accounts=workload.accounts_count, batch_lines=BATCH_LINES,
    )  # fmt: skip


def record_rate(benchmark: Any, workload: Workload) -> None:
    if benchmark.stats is not None:
        median = benchmark.stats.stats.median
        benchmark.extra_info["lines_per_s_median"] = round(workload.lines_count / median)


def test_durable_post_columns(benchmark, durable_workload, store, request):
    """post_columns of consecutive ~BATCH_LINES-line slices, each a committed transaction;
    the reopened ledger's balances must equal numpy's turnover of the same lines."""
    workload = durable_workload
    describe(benchmark, workload, request.node.callspec.params["store"])
    urls: list[tuple[str, np.ndarray]] = []

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        url, index = fresh_ledger(store, workload)
        urls.append((url, index))
        return (ledger.open(url), slices(workload, index[workload.accounts], BATCH_LINES)), {}

    benchmark.pedantic(post_all, setup=setup, teardown=lambda book, _: book.close(), rounds=ROUNDS)
    record_rate(benchmark, workload)
    url, index = urls[-1]
    time_open(url, 1, balance_check(workload, index))


def test_durable_checkpoint(benchmark, durable_workload, store, request):
    """checkpoint() after the whole workload was posted: folding every line into the
    monthly balances (deferred work a reader would otherwise pay)."""
    workload = durable_workload
    describe(benchmark, workload, request.node.callspec.params["store"])

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        url, index = fresh_ledger(store, workload)
        book = ledger.open(url)
        post_all(book, slices(workload, index[workload.accounts], BATCH_LINES))
        return (book,), {}

    def checkpoint(book: ledger.Ledger) -> None:
        assert book.checkpoint() > 0

    benchmark.pedantic(checkpoint, setup=setup, teardown=lambda book: book.close(), rounds=ROUNDS)


def test_durable_open(benchmark, durable_workload, store, request):
    """ledger.open(url) of a ledger holding the workload's accounts and lines, checkpointed."""
    workload = durable_workload
    describe(benchmark, workload, request.node.callspec.params["store"])
    url, index = fresh_ledger(store, workload)
    with ledger.open(url) as book:  # close() checkpoints what was posted
        post_all(book, slices(workload, index[workload.accounts], BATCH_LINES))
    opened: list[ledger.Ledger] = []

    def open_ledger() -> None:
        opened.append(ledger.open(url))

    benchmark.pedantic(open_ledger, teardown=lambda: opened.pop().close(), rounds=ROUNDS, warmup_rounds=1)
    time_open(url, 1, balance_check(workload, index))


@pytest.mark.usefixtures("postgres_reachable")
@pytest.mark.parametrize("columns", [RAW_NARROW, LINE_NAMES], ids=["5-columns", "10-columns"])
def test_raw_copy_postgresql(benchmark, durable_workload, columns):
    """The ceiling: binary COPY (ledger.store.postgres.copy_chunks) of the same lines into a
    bare table with no index, one transaction per batch (the columns derived untimed)."""
    workload = durable_workload
    describe(benchmark, workload, "postgresql")
    parts = slices(workload, workload.accounts.astype(np.int64), BATCH_LINES)
    batches = [line_columns(part) for part in parts]

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        url = fresh_postgres(POSTGRES_URL, SCHEMA)
        return (RawCopy(url, "raw", "raw_lines", columns),), {}

    def copy_all(raw: RawCopy) -> None:
        for columns_of_batch in batches:
            raw(columns_of_batch)

    benchmark.pedantic(copy_all, setup=setup, teardown=lambda raw: raw.close(), rounds=ROUNDS)
    record_rate(benchmark, workload)


def test_raw_executemany_sqlite(benchmark, durable_workload, tmp_path_factory):
    """SQLite's context figure: executemany of the same ten-column line rows into a bare table
    (WAL, synchronous=FULL), one transaction per batch."""
    workload = durable_workload
    describe(benchmark, workload, "sqlite")
    parts = slices(workload, workload.accounts.astype(np.int64), BATCH_LINES)
    batches = [line_columns(part) for part in parts]

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        path: Path = tmp_path_factory.mktemp("raw") / "raw.db"
        return (RawExecutemany(path),), {}

    def insert_all(raw: RawExecutemany) -> None:
        for columns_of_batch in batches:
            raw(columns_of_batch)

    benchmark.pedantic(insert_all, setup=setup, teardown=lambda raw: raw.close(), rounds=ROUNDS)
    record_rate(benchmark, workload)
