"""Durable stores of a ledger: SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from ledger.errors import InvalidInput
from ledger.store.base import BatchRows, LoadedState, Store


def open_store(url: str | None, *, prepare: bool = True) -> Store:
    """The store for a URL: None (or memory://) for the in-memory columnar store, else a
    SQLAlchemy URL (sqlite:///path.db, postgresql+psycopg://...). `prepare`: create the
    schema of a new database, check the version of an existing one (see Store.prepare)."""
    if url is None or url == "memory://":
        from ledger.store.memory import MemoryStore

        return MemoryStore()
    if url.startswith("sqlite:"):
        from ledger.store.sqlite import SQLiteStore

        store: Store = SQLiteStore.from_url(url)
    elif url.startswith(("postgresql+psycopg:", "postgresql:")):
        from ledger.store.postgres import PostgresStore

        if url.startswith("postgresql:"):
            url = "postgresql+psycopg:" + url[len("postgresql:") :]
        store = PostgresStore.from_url(url)
    else:
        raise InvalidInput(
            f"unsupported ledger URL {url!r}: use sqlite:///path.db or postgresql+psycopg://..."
        )
    if prepare:
        store.prepare()
    return store


__all__ = ["BatchRows", "LoadedState", "Store", "open_store"]
