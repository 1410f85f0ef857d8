"""The durability suite: every test runs against SQLite (a file) and PostgreSQL (a schema)."""
