"""`otel-agent db upgrade | status | rollup`: apply the store's migrations; show schema and spool state;
rebuild the LLM-call roll-up."""

from __future__ import annotations

import argparse
from typing import Any

from otel_agent.cli.output import add_common, existing_database_url, print_json
from otel_agent.settings import Settings
from otel_agent.spool import Spool, read_dropped
from otel_agent.store import call_rollup
from otel_agent.store.engine import database_url, make_engine
from otel_agent.store.migrate import current_revisions, head_revisions, upgrade


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("db", help="create or upgrade the database schema; show its state")
    actions = parser.add_subparsers(dest="db_action", required=True)
    up = actions.add_parser("upgrade", help="apply the Alembic migrations shipped with otel-agent")
    add_common(up, json_flag=False)
    up.add_argument("--revision", default="heads", help="target revision (default: the newest)")
    up.set_defaults(func=run_upgrade)
    status = actions.add_parser("status", help="schema revision, spooled batches, dropped spans")
    add_common(status)
    status.set_defaults(func=run_status)
    rollup = actions.add_parser(
        "rollup",
        help="rebuild the LLM-call roll-up's changed days and hours (PostgreSQL; the sweep does a few)",
    )
    add_common(rollup, json_flag=False)
    rollup.add_argument("--days", type=int, default=call_rollup.LOOKBACK_DAYS, help="look back N days")
    rollup.set_defaults(func=run_rollup)
    return parser


def _url(args: argparse.Namespace) -> str:
    return database_url(args.database_url or Settings.from_env().database_url)


def run_upgrade(args: argparse.Namespace) -> int:
    engine = make_engine(_url(args))
    upgrade(engine, args.revision)
    print(f"database at revision {', '.join(current_revisions(engine))} ({engine.url.render_as_string()})")
    engine.dispose()
    return 0


def run_status(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    engine = make_engine(existing_database_url(args), for_writing=False)  # reading makes no file
    spool = Spool(settings.spool_dir, 0)
    state = {
        "database": engine.url.render_as_string(hide_password=True),
        "revision": list(current_revisions(engine)),
        "head": list(head_revisions()),
        "spool_dir": settings.spool_dir,
        "spooled_batches": spool.pending(),
        "spool_bytes": spool.size_bytes(),
        "dropped_spans": read_dropped(settings.spool_dir),
    }
    engine.dispose()
    if args.json:
        print_json(state)
    else:
        for key, value in state.items():
            print(f"{key:16} {value}")
    return 0


def run_rollup(args: argparse.Namespace) -> int:
    engine = make_engine(_url(args))
    if engine.dialect.name != "postgresql":
        print("nothing to do: the LLM-call roll-up is PostgreSQL's (SQLite reports read the rows)")
        return 0
    upgrade(engine)
    done = call_rollup.refresh(engine, lookback_days=args.days)
    engine.dispose()
    print(f"rebuilt {len(done.days)} day(s) and {len(done.hours)} hour(s) of the LLM-call roll-up")
    return 0
