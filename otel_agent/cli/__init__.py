"""`otel-agent` command line: one argparse parser, subcommands contributed by modules.

To add a subcommand, write a module with ``add_parser(subparsers) -> argparse.ArgumentParser`` that adds
its parser and sets ``func`` (``args -> exit code``) with ``set_defaults``, then add one line to
``COMMANDS`` below (command name -> module). Modules are imported only when the CLI runs; a module that
cannot be imported (an optional extra not installed) still shows up, and says why when invoked.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import Any

COMMANDS: dict[str, str] = {
    "db": "otel_agent.cli.db",
    "runs": "otel_agent.cli.runs",
    "failures": "otel_agent.cli.runs",
    "stalls": "otel_agent.cli.runs",
    "report": "otel_agent.cli.report",
    "purge": "otel_agent.cli.purge",
    "api": "otel_agent.api.cli",
    "sink": "otel_agent.sink.cli",
}


def _unavailable(name: str, module: str, error: Exception) -> Any:
    def explain(_args: argparse.Namespace) -> int:
        print(f"otel-agent {name}: unavailable ({module}: {error}); is its extra installed?", file=sys.stderr)
        return 2

    return explain


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="otel-agent", description="otel-agent: agent runs in OpenTelemetry")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in dict.fromkeys(COMMANDS.values()):  # each module once, in order
        try:
            importlib.import_module(module).add_parser(subparsers)
        except ImportError as exc:
            for name in (n for n, m in COMMANDS.items() if m == module):
                stub = subparsers.add_parser(name, help=f"(unavailable: {exc})")
                stub.set_defaults(func=_unavailable(name, module, exc))
    return parser


def _quiet_stdout() -> None:
    # The reader went away (`otel-agent report --json | head`): send what is left, and the interpreter's
    # final flush, to /dev/null instead of a second BrokenPipeError traceback.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    from otel_agent.cli.output import NoDatabase

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        result = int(args.func(args))
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below
        return result
    except BrokenPipeError:
        _quiet_stdout()
        return 141  # as a command killed by SIGPIPE
    except KeyboardInterrupt:
        return 130
    except NoDatabase as exc:
        print(f"otel-agent {args.command}: {exc}", file=sys.stderr)
        return 1
    except (ValueError, argparse.ArgumentTypeError) as exc:  # bad input from the user: say what
        print(f"otel-agent {args.command}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a clear one-line error, not a traceback, for database errors
        print(f"otel-agent {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
