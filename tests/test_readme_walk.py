"""The README's "first ten minutes" walk works as written: each command, run as printed from a copy of
the repository root with no flags and no OTEL_* settings, succeeds and shows what it promises; and the
commands `make demo` ends by suggesting are among them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.services import REPO_ROOT

WALK = re.compile(r"<!-- first-ten-minutes -->\s*```sh\n(.*?)```", re.S)
# What each command must show (beyond succeeding quietly).
EXPECTED = {
    "make demo": "Try, from this directory:",
    "otel-agent runs": "invoke_workflow book-writer",
    "otel-agent report --by stage": "draft",
    "otel-agent failures": "rate_limit",
    "otel-agent report --by model --json": '"unpriced_calls"',
}


def walk_commands() -> list[str]:
    found = WALK.search((REPO_ROOT / "README.md").read_text())
    assert found, "README.md lost its first-ten-minutes block"
    lines = [line.split("  #")[0].strip() for line in found.group(1).splitlines()]
    return [line for line in lines if line]


def checkout(tmp: Path) -> Path:
    """A stand-in for the repository root: what `make demo` needs, so the walk writes nothing here."""
    if not (REPO_ROOT / ".venv" / "bin" / "otel-agent").exists():
        pytest.skip("no .venv: run `make venv` first")
    # `make demo` would reinstall a stale .venv (pyproject.toml changed since) under the running tests
    if subprocess.run(["make", "-q", "venv"], cwd=REPO_ROOT, capture_output=True).returncode != 0:
        pytest.skip(".venv is older than pyproject.toml: run `make venv` (make test does)")
    for name in ("Makefile", "pyproject.toml", ".venv", "examples", "otel_agent"):
        (tmp / name).symlink_to(REPO_ROOT / name)
    return tmp


def test_the_first_ten_minutes_work_as_written(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTEST_", "MAKE"))}
    outputs = {}
    for command in walk_commands():
        done = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command], cwd=root, env=env, capture_output=True, text=True,
            timeout=600,
        )  # fmt: skip
        ok_codes = (0, 141) if "| head" in command else (0,)  # a reader that stops early: SIGPIPE's code
        assert done.returncode in ok_codes, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        assert "Traceback" not in done.stderr and "Error" not in done.stderr, done.stderr
        outputs[command] = done.stdout
    for key, shown in EXPECTED.items():
        (command,) = [c for c in outputs if key in c.replace(".venv/bin/", "")]
        assert shown in outputs[command], f"{command} did not show {shown!r}"
    suggested = outputs["make demo"].split("Try, from this directory:")[1]
    for line in suggested.strip().splitlines():
        assert line.split("#")[0].strip() in outputs, f"make demo suggests {line!r}, the README does not"
    made = {p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_symlink()}
    assert made <= {"otel-agent-data", "otel-agent-data/otel-agent.db", "otel-agent-data/otel-agent.db-wal",
                    "otel-agent-data/otel-agent.db-shm", "otel-agent-data/spool"}, made  # fmt: skip


def test_the_walk_needs_no_activated_virtualenv() -> None:
    # The walk calls .venv/bin/otel-agent, so it works before anyone activates the virtualenv.
    assert all(c.startswith(("make ", ".venv/bin/")) for c in walk_commands())
    assert shutil.which("make"), "make is needed for `make demo`"
