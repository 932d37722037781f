"""Shared pieces of the web UI tests: richer rows for a run's waterfall, a headless Chromium, screenshots."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from otel_agent.store.models import steps
from tests.api_fixtures import NOW, Seeded, step_row
from tests.services import missing

ARTIFACTS = Path(os.environ.get("OTEL_AGENT_TEST_ARTIFACTS", Path(__file__).parent.parent / "test-artifacts"))


def add_waterfall_steps(engine: sa.Engine, seeded: Seeded) -> str:
    """Steps under the acme run that holds a nested run: an LLM call with a first chunk, a tool, an
    unpriced call, and a step of the nested run. Returns the parent run's id."""
    parent, nested = seeded.acme_runs[4], seeded.acme_runs[3]
    base = 40  # minutes ago: the seeded run started then
    rows = [
        step_row("f000000000000001", parent, base, name="chat gpt-4o", time_to_first_chunk_s=0.6),
        step_row(
            "f000000000000002",
            parent,
            base,
            name="execute_tool search",
            kind="tool",
            operation="execute_tool",
            tool_name="search",
            provider=None,
            request_model=None,
            cost_usd=None,
            input_tokens=0,
            output_tokens=0,
            started_at=NOW - timedelta(minutes=base) + timedelta(seconds=3),
            ended_at=NOW - timedelta(minutes=base) + timedelta(seconds=5),
        ),
        step_row(
            "f000000000000003",
            parent,
            base,
            name="chat local-llama",
            request_model="local-llama",
            cost_usd=None,
            price_source="unpriced",
            started_at=NOW - timedelta(minutes=base) + timedelta(seconds=6),
            ended_at=NOW - timedelta(minutes=base) + timedelta(seconds=9),
        ),
        step_row("f000000000000004", nested, 30, name="chat gpt-4o-mini", request_model="gpt-4o-mini"),
    ]
    columns = {key for row in rows for key in row}
    with engine.begin() as conn:
        conn.execute(sa.insert(steps), [{c: row.get(c) for c in columns} for row in rows])
    return parent


def login(client: httpx.Client, token: str) -> httpx.Client:
    """Log `client` in through the form, as a browser does; the session cookie stays on the client."""
    response = client.post("/login", data={"token": token})
    assert response.status_code == 303, response.text
    return client


def csrf_of(html: str) -> str:
    marker = 'name="csrf" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def chromium_paths() -> tuple[str, str]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (binary and driver):
        missing("chromium and chromedriver not found; apt-get install chromium chromium-driver")
    assert binary and driver
    return binary, driver


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by selenium through Debian's chromedriver (nothing downloaded)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = chromium_paths()
    options = Options()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1400,1000")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: Any, directory: Path, name: str) -> Path:
    """The whole page, not just the window: grow the window to the page's height first (bounded)."""
    directory.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, max(700, min(int(height) + 40, 4000)))
    path = directory / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1000)
    return path
