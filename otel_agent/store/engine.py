"""Engines for the store: URL defaults and normalisation, SQLite pragmas, PostgreSQL timeouts."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

DEFAULT_DATABASE_PATH = Path("otel-agent-data") / "otel-agent.db"
DEFAULT_DATABASE_URL = f"sqlite:///{DEFAULT_DATABASE_PATH}"
SQLITE_BUSY_TIMEOUT_MS = 30_000
PG_CONNECT_TIMEOUT_S = 5


def database_url(url: str | None = None) -> str:
    """The URL to use: the argument, else OTEL_AGENT_DATABASE_URL, else a SQLite file; normalised."""
    raw = (url or os.environ.get("OTEL_AGENT_DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL).strip()
    # People paste libpq URLs; SQLAlchemy would pick psycopg2, which we do not ship. Use psycopg 3.
    for prefix in ("postgresql://", "postgres://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix) :]
    return raw


def make_engine(
    url: str | None = None, *, for_writing: bool = True, statement_timeout_s: float | None = None
) -> sa.Engine:
    """An engine for the store. SQLite writers take the write lock at BEGIN (no upgrade deadlocks).
    ``statement_timeout_s`` (PostgreSQL): a slower statement fails, so a writer can spool instead of wait."""
    url = database_url(url)
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, for_writing)
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if parsed.get_backend_name() == "postgresql":
        connect_args: dict[str, Any] = {
            "connect_timeout": PG_CONNECT_TIMEOUT_S,
            "application_name": "otel-agent",
        }
        if statement_timeout_s:
            connect_args["options"] = f"-c statement_timeout={int(statement_timeout_s * 1000)}"
        kwargs["connect_args"] = connect_args
    return sa.create_engine(parsed, **kwargs)


def _sqlite_engine(url: sa.URL, for_writing: bool) -> sa.Engine:
    engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    begin = "BEGIN IMMEDIATE" if for_writing else "BEGIN"

    @event.listens_for(engine, "do_connect")
    def _make_directory(*_args: Any) -> None:
        # At connect time, not here: the exporter is built at start-up and must not fail there, and a
        # directory that appears later (a volume mounted late) should just work.
        if url.database and url.database != ":memory:":
            with contextlib.suppress(OSError):
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # pysqlite's own transaction handling breaks SAVEPOINT; we emit BEGIN ourselves instead.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql(begin)

    return engine


def is_postgres(engine_or_conn: sa.Engine | sa.Connection) -> bool:
    return engine_or_conn.dialect.name == "postgresql"
