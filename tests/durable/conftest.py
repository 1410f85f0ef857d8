"""Fixtures of the durability suite: one fresh durable database per test, on each store.

`durable` is parametrised over SQLite (a file in tmp_path) and PostgreSQL (a schema of its
own in the server named by LEDGER_TEST_POSTGRES_URL, reached through
`options=-csearch_path=<schema>`, dropped afterwards). When the server cannot be reached the
PostgreSQL cases are skipped, unless LEDGER_REQUIRE_POSTGRES=1, when they fail. `pg` is
such a PostgreSQL schema alone, for what only PostgreSQL has (TRUNCATE, table locks).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, make_url, text

POSTGRES_URL = os.environ.get("LEDGER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("LEDGER_REQUIRE_POSTGRES") == "1"
_BACKENDS_GONE_TIMEOUT_S = 120.0

_server_error: list[str | None] = []


def _postgres_error() -> str | None:
    """Why the PostgreSQL server cannot be used (None when it can); asked once per process."""
    if not _server_error:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 5})
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            _server_error.append(None)
        except Exception as error:
            _server_error.append(f"PostgreSQL at {POSTGRES_URL} is unreachable: {error}")
        finally:
            engine.dispose()
    return _server_error[0]


def require_postgres() -> None:
    """Fail (LEDGER_REQUIRE_POSTGRES=1) or skip the calling test when the server is down."""
    error = _postgres_error()
    if error is not None and REQUIRE_POSTGRES:
        pytest.fail(error)
    elif error is not None:
        pytest.skip(f"{error} (LEDGER_REQUIRE_POSTGRES=1 turns this skip into a failure)")


@dataclass
class Durable:
    """One store under test: fresh database URLs of it and raw engines on them.

    `url` is the test's database; `new_url()` makes another, empty one (the state machine
    needs one per example). `engine(url)` is a plain SQLAlchemy engine on a database, for
    reading and tampering with its tables behind the ledger's back.
    """

    kind: str
    directory: Path
    url: str = ""
    _urls: list[str] = field(default_factory=list)
    _schemas: list[str] = field(default_factory=list)
    _engines: list[Engine] = field(default_factory=list)
    _counter: itertools.count = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.url = self.new_url()

    def new_url(self) -> str:
        if self.kind == "sqlite":
            url = f"sqlite:///{self.directory / f'ledger-{next(self._counter)}.db'}"
        else:
            schema = f"ledger_test_{uuid.uuid4().hex[:16]}"
            with self._admin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            self._schemas.append(schema)
            url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
            url = url.render_as_string(hide_password=False)
        self._urls.append(url)
        return url

    def child_url(self, url: str, name: str) -> str:
        """`url` as a child process should open it: on PostgreSQL its sessions carry `name`."""
        if self.kind == "sqlite":
            return url
        return (
            make_url(url).update_query_dict({"application_name": name}).render_as_string(hide_password=False)
        )

    def wait_backends_gone(self, name: str) -> None:
        """Wait until the server has ended every session named `name` (a killed child's).

        A session whose client died may still be finishing a statement (or a COMMIT the
        client sent just before it died); only once it is gone is its outcome final.
        """
        if self.kind == "sqlite":
            return
        deadline = time.monotonic() + _BACKENDS_GONE_TIMEOUT_S
        with self._admin() as conn:
            while conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"), {"name": name}
            ).scalar_one():
                if time.monotonic() > deadline:
                    raise AssertionError(f"sessions of {name} still alive on the server")
                time.sleep(0.02)

    def schema(self, url: str | None = None) -> str:
        """The PostgreSQL schema of a database URL made here."""
        return self._schemas[self._urls.index(url or self.url)]

    def engine(self, url: str | None = None) -> Engine:
        engine = create_engine(url or self.url)
        self._engines.append(engine)
        return engine

    @contextlib.contextmanager
    def _admin(self) -> Iterator[object]:
        engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                yield conn
        finally:
            engine.dispose()

    def cleanup(self) -> None:
        for engine in self._engines:
            engine.dispose()
        if not self._schemas:
            return
        with self._admin() as conn:
            conn.execute(text("SET lock_timeout = '20s'"))
            for schema in self._schemas:
                try:
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                except Exception as error:
                    warnings.warn(f"could not drop schema {schema}: {error}", stacklevel=1)


@contextlib.contextmanager
def _durable(kind: str, directory: Path) -> Iterator[Durable]:
    if kind == "postgresql":
        require_postgres()
    store = Durable(kind, directory)
    try:
        yield store
    finally:
        store.cleanup()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def durable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Durable]:
    """A fresh durable database on each store (SQLite file, PostgreSQL schema)."""
    with _durable(request.param, tmp_path) as store:
        yield store


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[Durable]:
    """A fresh PostgreSQL schema, for behaviour only PostgreSQL has."""
    with _durable("postgresql", tmp_path) as store:
        yield store


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """The URL of a fresh ledger on each store: None (in memory), a SQLite file, a PostgreSQL
    schema. The store suite (test_store_suite.py) runs every test on all three."""
    if request.param == "memory":
        yield None
        return
    with _durable(request.param, tmp_path) as store:
        yield store.url


@pytest.fixture(autouse=True)
def tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every bounded read of this suite goes in chunks of a few rows, so that the chunking
    (ranges of batches, keyset over accounts and monthly sums) is what the suite exercises."""
    from ledger.store.base import Store

    monkeypatch.setattr(Store, "chunk_rows", 5)


def watch_small_commits(monkeypatch: pytest.MonkeyPatch) -> list[int | str | None]:
    """What every Store.commit_small returns from now on (the new commit sequence; None: the
    head had moved or the store offers none, nothing written), or the name of the error it
    raises."""
    from ledger.store.base import Store
    from ledger.store.postgres import PostgresStore

    outcomes: list[int | str | None] = []
    for owner in (Store, PostgresStore):
        original = owner.__dict__["commit_small"]

        def watched(self: Store, rows: object, seq: int, _original: Any = original) -> int | None:
            try:
                answer = _original(self, rows, seq)
            except Exception as error:
                outcomes.append(type(error).__name__)
                raise
            outcomes.append(answer)
            return answer

        monkeypatch.setattr(owner, "commit_small", watched)
    return outcomes


class PostPath(str):
    """A post_path value; `small` holds the outcomes of the small commits tried since the
    fixture began, or since the test cleared it (watch_small_commits)."""

    small: list[int | str | None]


@pytest.fixture(params=["small", "locked"])
def post_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> PostPath:
    """The way a post of a few entries goes on a durable store once the ledger knows the
    store's head: "small", one transaction that reads nothing first (Store.commit_small);
    or "locked", the writer transaction that takes the lock and reads the head first (what
    every larger post does, and what "small" falls back to)."""
    import ledger.service

    path = PostPath(request.param)
    if path == "locked":
        monkeypatch.setattr(ledger.service, "SMALL_ENTRIES", 0)
    path.small = watch_small_commits(monkeypatch)
    return path
