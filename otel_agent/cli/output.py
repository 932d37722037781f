"""CLI plumbing shared by the store commands: database option, time windows, tables and JSON.

Figures are shaped for people here and only here: costs through ``Cost`` (sub-cent amounts keep four
significant digits, unpriced calls are flagged, never shown as $0), other floats through ``_number``.
JSON output keeps the raw numbers (``cost_usd`` beside ``unpriced_calls``).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from otel_agent.duration import parse_duration
from otel_agent.settings import Settings
from otel_agent.store.engine import database_url, make_engine
from otel_agent.store.migrate import is_current, upgrade

MAX_CELL = 40


def add_common(parser: argparse.ArgumentParser, json_flag: bool = True) -> None:
    parser.add_argument(
        "--database-url", default=None, help="default: OTEL_AGENT_DATABASE_URL or a SQLite file"
    )
    if json_flag:
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names (None for other databases and in-memory SQLite)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


class NoDatabase(Exception):
    """The SQLite file a command would read does not exist (and reading must not create it)."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"no database at {path}: nothing recorded here yet. Run `make demo`, or point at yours with "
            "--database-url or OTEL_AGENT_DATABASE_URL (docs/configuration.md)"
        )


def existing_database_url(args: argparse.Namespace) -> str:
    """The URL the command uses; NoDatabase if it names a SQLite file that is not there."""
    url = database_url(getattr(args, "database_url", None) or Settings.from_env().database_url)
    path = sqlite_file(url)
    if path is not None and not path.exists():
        raise NoDatabase(str(path))
    return url


def engine_for(args: argparse.Namespace, for_writing: bool = False) -> sa.Engine:
    """An engine on an up-to-date schema of an existing database (a missing SQLite file is NoDatabase,
    not a new empty file in whatever directory the command ran)."""
    url = existing_database_url(args)
    engine = make_engine(url, for_writing=for_writing)
    if not is_current(engine):
        writer = make_engine(url)
        upgrade(writer)
        writer.dispose()
    return engine


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


def format_usd(amount: float) -> str:
    """Dollars for people: cents from $1 up, four significant digits below (``$0.004123``)."""
    if amount == 0:
        return "$0"
    if abs(amount) >= 1:
        return f"${amount:,.2f}"
    decimals = min(12, 3 - math.floor(math.log10(abs(amount))))
    return f"${amount:.{decimals}f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class Cost:
    """A cost cell: the priced sum, and how many calls had no known price (so unknown never reads $0)."""

    usd: float | None
    unpriced: int = 0

    def __str__(self) -> str:
        priced = self.usd or 0.0
        if not self.unpriced:
            return format_usd(priced)
        if priced == 0:
            return f"{self.unpriced} unpriced"
        return f"{format_usd(priced)} + {self.unpriced} unpriced"


def _number(value: float) -> str:
    """Percentages and seconds: at most four significant digits, whole numbers from 100 up."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.4g}" if abs(value) >= 0.001 or value == 0 else f"{value:.1e}"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, Cost):
        return str(value)
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
        all(isinstance(row.get(k), (int, float, Cost)) or row.get(k) is None for row in rows)
        for k, _ in columns
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
