"""CLI plumbing shared by the store commands: database option, time windows, tables and JSON."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa

from otel_agent.duration import parse_duration
from otel_agent.settings import Settings
from otel_agent.store.backend import Store, open_store
from otel_agent.store.engine import make_engine
from otel_agent.store.migrate import is_current, upgrade

MAX_CELL = 40


def add_common(parser: argparse.ArgumentParser, json_flag: bool = True) -> None:
    parser.add_argument(
        "--database-url", default=None, help="default: OTEL_AGENT_DATABASE_URL or a SQLite file"
    )
    if json_flag:
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def engine_for(args: argparse.Namespace, for_writing: bool = False) -> sa.Engine:
    """An engine on an up-to-date schema (applied here, so a fresh database just answers 'no runs')."""
    url = args.database_url or Settings.from_env().database_url
    engine = make_engine(url, for_writing=for_writing)
    if not is_current(engine):
        writer = make_engine(url)
        upgrade(writer)
        writer.dispose()
    return engine


@contextmanager
def store_for(args: argparse.Namespace, for_writing: bool = False) -> Iterator[Store]:
    """The store at --database-url (SQL or ClickHouse, by its URL) on an up-to-date schema."""
    store = open_store(args.database_url or Settings.from_env().database_url, for_writing=for_writing)
    try:
        if not store.is_current():
            store.upgrade()
        yield store
    finally:
        store.close()


def parse_since(text: str | None, now: datetime | None = None) -> datetime | None:
    """``24h`` / ``7d`` (that long ago) or an ISO date/time (UTC unless it says otherwise)."""
    if not text:
        return None
    now = now or datetime.now(timezone.utc)
    try:
        return now - timedelta(seconds=parse_duration(text))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a duration or ISO time: {text!r} (use 24h, 7d, 2026-11-01)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 100 else f"{value:.0f}"
    if isinstance(value, (list, dict)):
        value = json.dumps(value, separators=(",", ":"))
    text = str(value).replace("\n", " ")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], empty: str) -> None:
    """Columns are (key, header) pairs; numbers right-aligned, long cells cut."""
    if not rows:
        print(empty)
        return
    cells = [[_cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (_, h) in enumerate(columns)]
    numeric = [
        all(isinstance(row.get(k), (int, float)) or row.get(k) is None for row in rows) for k, _ in columns
    ]
    print("  ".join(h.ljust(w) for (_, h), w in zip(columns, widths, strict=True)).rstrip())
    for line in cells:
        parts = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(line, widths, numeric, strict=True)]
        print("  ".join(parts).rstrip())


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=_json_default, ensure_ascii=False))
