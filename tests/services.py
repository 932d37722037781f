"""Real services for tests: find or start them, and fail (under CI) or skip (elsewhere) when missing."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(reason: str) -> None:
    """A service a test needs is missing: fail under CI=true, skip with the reason elsewhere."""
    if IN_CI:
        pytest.fail(f"required service missing under CI: {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for base in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (base / name).exists():
            return str(base / name)
    return None


def _as_postgres_user(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; Debian's package creates a `postgres` user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a SQLAlchemy URL of a throwaway PostgreSQL server on 127.0.0.1 (or OTEL_AGENT_TEST_PG_URL)."""
    url = os.environ.get("OTEL_AGENT_TEST_PG_URL")
    if url:
        yield url
        return
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        missing("PostgreSQL server binaries (initdb, pg_ctl) not found; apt-get install postgresql")
    assert initdb and pg_ctl
    tmp = tempfile.mkdtemp(prefix="otel-agent-pg-")
    os.chmod(tmp, 0o777)
    data = os.path.join(tmp, "data")
    port = free_port()
    run = _as_postgres_user
    subprocess.run(
        run([initdb, "-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"]),
        check=True,
        capture_output=True,
    )
    opts = f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run(
        run([pg_ctl, "-D", data, "-o", opts, "-l", os.path.join(tmp, "log"), "-w", "start"]),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(run([pg_ctl, "-D", data, "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


# --- The Collector and Prometheus (stack tests) -------------------------------------------------------

REPO_ROOT = Path(__file__).resolve().parent.parent


def collector_binary() -> str:
    """The slim Collector built by collector-config/build.sh (same cache path) or OTEL_AGENT_COLLECTOR_BIN."""
    path = os.environ.get("OTEL_AGENT_COLLECTOR_BIN")
    if not path:
        found = subprocess.run(
            [str(REPO_ROOT / "collector-config" / "build.sh"), "--print-path"], capture_output=True, text=True
        )
        path = found.stdout.strip()
    if not (path and os.access(path, os.X_OK)):
        missing(f"Collector binary {path or '?'} not built; run collector-config/build.sh")
    return path


def binary(name: str, package: str) -> str:
    """A tool on PATH (prometheus, promtool), or missing() naming the package that has it."""
    found = shutil.which(name)
    if not found:
        missing(f"{name} not found; apt-get install {package}")
    assert found
    return found


def http_ready(url: str, timeout_s: float = 30.0) -> bool:
    """Poll url until it answers 200, for at most timeout_s."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.1)
    return False


class ServiceProcess:
    """A child process with its output in a log file, started and stopped on demand."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path, ready_url: str) -> None:
        self.args, self.env, self.log_path, self.ready_url = args, env, log_path, ready_url
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(self.args, env={**os.environ, **self.env}, stdout=log, stderr=log)
        if not http_ready(self.ready_url):
            self.stop()
            raise RuntimeError(f"{self.args[0]} did not become ready:\n{self.log_tail()}")

    def stop(self) -> None:
        """Graceful stop (SIGTERM), then kill after 20 s."""
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=5)
        self._proc = None

    @property
    def pid(self) -> int:
        assert self._proc is not None, "not running"
        return self._proc.pid

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


@contextmanager
def prometheus_server(
    rule_files: tuple[Path, ...] = (), scrape: dict[str, str] | None = None, alertmanager: str | None = None
) -> Iterator[str]:
    """A real Prometheus on 127.0.0.1 (remote-write receiver on), temp storage; yields its base URL.
    ``alertmanager`` (host:port) is where it sends alerts."""
    import yaml

    prometheus = binary("prometheus", "prometheus")
    tmp = Path(tempfile.mkdtemp(prefix="otel-agent-prom-"))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [target]}]}
            for job, target in (scrape or {}).items()
        ],
    }
    if alertmanager:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = [
        prometheus,
        f"--config.file={tmp / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-remote-write-receiver",
    ]
    server = ServiceProcess(args, {}, tmp / "prometheus.log", f"{base}/-/ready")
    server.start()
    try:
        yield base
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def create_database(server_url: str, prefix: str = "t_") -> str:
    """A new empty database on a PostgreSQL server; returns its URL."""
    import uuid

    import sqlalchemy as sa

    name = prefix + uuid.uuid4().hex[:12]
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


@contextmanager
def temporary_database(server_url: str, prefix: str = "t_") -> Iterator[str]:
    """``create_database``, dropped again afterwards (connections still open are ended)."""
    import sqlalchemy as sa

    url = create_database(server_url, prefix)
    try:
        yield url
    finally:
        admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
        admin.dispose()
