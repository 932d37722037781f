"""`otel-agent purge --user ID | --older-than 90d`: delete one user's data, or everything too old.

A user's data is everything of their runs, nested runs included (otel_agent.store.queries.user_runs),
in every workspace. Each purge that deletes is audited in the same transaction (no deletion without
its record): action ``data.purge``, source ``cli``, workspace ``*`` (the CLI is not scoped to one), the
operating-system user as actor, the counts as details. ``--dry-run`` deletes and records nothing.
"""

from __future__ import annotations

import argparse
import getpass
from datetime import datetime, timedelta, timezone
from typing import Any

from otel_agent.audit import AuditEvent, record_events
from otel_agent.cli.output import add_common, engine_for, print_json
from otel_agent.duration import parse_duration
from otel_agent.store import queries

EVERY_WORKSPACE = "*"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("purge", help="delete a user's runs, steps and failures, or old ones")
    add_common(parser)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--user", help="delete everything recorded for this user id, nested runs included")
    which.add_argument("--older-than", help="delete what started longer ago than this (e.g. 90d)")
    parser.add_argument("--dry-run", action="store_true", help="count what would go, delete nothing")
    parser.set_defaults(func=purge)
    return parser


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (a container's numeric uid)
        return "cli"


def _audit_event(args: argparse.Namespace, counts: dict[str, int]) -> AuditEvent:
    target = f"user:{args.user}" if args.user else f"older-than:{args.older_than}"
    return AuditEvent(_actor(), "data.purge", target, EVERY_WORKSPACE, details=counts, source="cli")


def purge(args: argparse.Namespace) -> int:
    before = None
    if args.older_than:
        before = datetime.now(timezone.utc) - timedelta(seconds=parse_duration(args.older_than))
    engine = engine_for(args, for_writing=True)
    with engine.connect() as conn, conn.begin() as transaction:
        counts = queries.purge(conn, user_id=args.user, before=before)
        if args.dry_run:
            transaction.rollback()
        else:
            record_events(conn, [_audit_event(args, counts)])
    if args.json:
        print_json({"dry_run": args.dry_run, "deleted": counts})
    else:
        verb = "would delete" if args.dry_run else "deleted"
        print(f"{verb} {counts['runs']} runs, {counts['steps']} steps, {counts['failures']} failures")
    return 0
