"""The thin adapter between the ClickHouse store and an engine: a server (clickhouse-connect, HTTP) or
chDB (the same engine in-process, tables in a local directory). Both speak the same SQL, and both are
fed and read in JSONEachRow, so everything above this module is the same for the two.

URLs: ``clickhouse://user:password@host:8123/database`` (``clickhouses://`` for TLS) and
``chdb:///path/to/directory`` (``chdb://`` alone: in memory, gone with the process), optionally with
``?database=name``. chDB serves one directory per process (any number of databases in it).
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

SCHEMES = ("clickhouse", "clickhouses", "chdb")
_SETTINGS = {
    "output_format_json_quote_64bit_integers": 0,
    "output_format_json_quote_64bit_floats": 0,
    "date_time_output_format": "iso",
    "date_time_input_format": "best_effort",
    "join_use_nulls": 1,
    "prefer_column_name_to_alias": 1,  # `sum(x) AS x` next to a use of the column x
}


class ClickHouseUnavailable(Exception):
    """The server could not be reached, or chDB is not installed."""


def is_clickhouse_url(url: str | None) -> bool:
    return bool(url) and urlsplit(str(url)).scheme.split("+")[0] in SCHEMES


class Client(Protocol):
    def command(self, sql: str) -> None: ...
    def rows(self, sql: str) -> list[dict[str, Any]]: ...
    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None: ...
    def close(self) -> None: ...


def connect(url: str) -> Client:
    parts = urlsplit(url)
    if parts.scheme == "chdb":
        database = parse_qs(parts.query).get("database", [""])[0]
        return ChdbClient(unquote(parts.netloc + parts.path), database)
    return HttpClient(url)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):  # ISO with its offset: read with date_time_input_format=best_effort
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return value


def json_each_row(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> bytes:
    """Rows as JSONCompactEachRow (one array a line, in ``columns`` order): the hot path of a write, so
    only the columns that can hold a datetime (``*_at``) or a mapping (tags) are looked at twice."""
    special = [i for i, c in enumerate(columns) if c.endswith("_at") or c == "tags"]
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    lines = []
    for row in rows:
        values = [row.get(c) for c in columns]
        for i in special:
            if values[i] is not None:
                values[i] = _json_value(values[i])
        lines.append(dumps(values))
    return "\n".join(lines).encode()


def parse_rows(body: bytes | str) -> list[dict[str, Any]]:
    text = body.decode() if isinstance(body, bytes) else body
    return [json.loads(line) for line in text.splitlines() if line]


class ChdbClient:
    """chDB: one session per process (chDB allows no second one), calls serialised by a lock."""

    _lock = threading.Lock()

    def __init__(self, path: str, database: str = "") -> None:
        try:
            from chdb import session
        except ImportError as exc:  # an extra
            raise ClickHouseUnavailable("chdb is not installed: pip install 'otel-agent[chdb]'") from exc
        self._session = session.Session(path) if path else session.Session()
        settings = ", ".join(f"{k} = {literal(v)}" for k, v in _SETTINGS.items())
        self.command(f"SET {settings}")
        if database:
            name = "`" + database.replace("`", "") + "`"
            self.command(f"CREATE DATABASE IF NOT EXISTS {name}")
            self.command(f"USE {name}")

    def command(self, sql: str) -> None:
        self._query(sql, "CSV")

    def rows(self, sql: str) -> list[dict[str, Any]]:
        return parse_rows(self._query(sql, "JSONEachRow"))

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
        body = json_each_row(columns, rows)
        if not body:
            return
        # From a file: twice as fast as the same rows inline in the statement (no SQL parsing of them).
        with tempfile.NamedTemporaryFile(suffix=".jsonl") as file:
            file.write(body)
            file.flush()
            self._query(f"INSERT INTO {table} ({', '.join(columns)}) FROM INFILE {literal(file.name)} "
                        "FORMAT JSONCompactEachRow", "CSV")  # fmt: skip

    def _query(self, sql: str, fmt: str) -> bytes:
        with self._lock:
            result = self._session.query(sql, fmt)
        return bytes(result.bytes()) if hasattr(result, "bytes") else str(result).encode()

    def close(self) -> None:
        with self._lock:
            self._session.close()


class HttpClient:
    """A ClickHouse server or cluster over HTTP(S), through clickhouse-connect."""

    def __init__(self, url: str) -> None:
        try:
            import clickhouse_connect
        except ImportError as exc:  # an extra
            raise ClickHouseUnavailable(
                "pip install 'otel-agent[clickhouse]' for a ClickHouse server"
            ) from exc

        parts = urlsplit(url)
        try:
            self._client = clickhouse_connect.get_client(
                host=parts.hostname or "localhost",
                port=parts.port or (8443 if parts.scheme == "clickhouses" else 8123),
                username=unquote(parts.username or "default"),
                password=unquote(parts.password or ""),
                database=parts.path.lstrip("/") or "default",
                secure=parts.scheme == "clickhouses",
                settings=_SETTINGS,
                connect_timeout=5,
            )
        except Exception as exc:
            raise ClickHouseUnavailable(str(exc)) from exc

    def command(self, sql: str) -> None:
        self._client.command(sql)

    def rows(self, sql: str) -> list[dict[str, Any]]:
        return parse_rows(self._client.raw_query(sql, fmt="JSONEachRow"))

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
        body = json_each_row(columns, rows)
        if body:
            self._client.raw_insert(table, list(columns), insert_block=body, fmt="JSONCompactEachRow")

    def close(self) -> None:
        self._client.close()


def literal(value: Any) -> str:
    """A value as a ClickHouse SQL literal (the store builds its statements with these, both clients
    alike; strings are escaped, so no value can end its literal)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, datetime):
        utc = value.astimezone(timezone.utc) if value.tzinfo else value
        return f"toDateTime64({literal(utc.strftime('%Y-%m-%d %H:%M:%S.%f'))}, 6, 'UTC')"
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return "[" + ", ".join(literal(v) for v in items) + "]"
    escaped = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def parse_time(value: str | None) -> datetime | None:
    """A DateTime64 read back (ISO, UTC) as an aware datetime."""
    if value is None:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)


def one_of(values: Iterable[Any]) -> str:
    """The right side of ``x IN ...`` for these values (an empty set matches nothing)."""
    items = sorted(set(values), key=str)
    return "(" + ", ".join(literal(v) for v in items) + ")" if items else "(NULL)"
