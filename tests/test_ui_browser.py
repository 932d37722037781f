"""The web UI in a real browser: Debian's headless Chromium driven by selenium, over a live server on a
seeded SQLite file and on a real PostgreSQL. Screenshots of every page are saved under
test-artifacts/ui/<backend>/ (OTEL_AGENT_TEST_ARTIFACTS moves it); the test prints where."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from otel_agent.store.models import failures, runs
from tests.api_fixtures import Stack, database, stack
from tests.ui_support import ARTIFACTS, add_waterfall_steps, chromium, chromium_paths, screenshot

pytest.importorskip("selenium")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(params=["sqlite", "postgres"])
def live(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[tuple[str, Stack]]:
    chromium_paths()  # fail (CI) or skip before starting anything
    postgres = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    with database(request.param, str(tmp_path), postgres) as url, stack(url) as s:
        add_waterfall_steps(s.engine, s.seeded)
        yield request.param, s


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium for the module; each test logs in afresh (cookies cleared)."""
    with chromium() as driver:
        yield driver


def _wait(driver: Any, seconds: float = 10) -> WebDriverWait:
    return WebDriverWait(driver, seconds)


def _log_in(driver: Any, base_url: str, token: str, path: str = "/") -> None:
    driver.delete_all_cookies()
    driver.get(base_url + path)
    _wait(driver).until(ec.presence_of_element_located((By.ID, "token")))
    assert "/login" in driver.current_url  # no session, no data
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    _wait(driver).until(ec.presence_of_element_located((By.ID, "role")))


def _failure_state(s: Stack, failure_id: str) -> bool:
    with s.engine.connect() as conn:
        return bool(conn.scalar(sa.select(failures.c.resolved).where(failures.c.failure_id == failure_id)))


def test_operator_clicks_from_the_run_list_into_a_failure_and_resolves_it(
    live: tuple[str, Stack], browser: Any
) -> None:
    backend, s = live
    shots = ARTIFACTS / "ui" / backend
    print(f"\nscreenshots: {shots}")
    _log_in(browser, s.base_url, s.tokens[("acme", "operator")], "/runs")
    assert browser.current_url.endswith("/runs")  # back where the login began
    rows = browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr")
    assert len(rows) == 12 and browser.find_element(By.ID, "role").text == "operator"
    screenshot(browser, shots, "runs")

    browser.find_element(By.CSS_SELECTOR, f'tr[data-run="{s.seeded.failed_run}"] a.run-link').click()
    _wait(browser).until(ec.presence_of_element_located((By.ID, "waterfall")))
    assert s.seeded.failed_run in browser.find_element(By.CLASS_NAME, "crumbs").text
    failure_links = browser.find_elements(By.CSS_SELECTOR, "#run-failures a.failure-link")
    assert len(failure_links) == 3
    screenshot(browser, shots, "run-failed")

    failure_id = s.seeded.failure_ids[0]
    browser.find_element(By.CSS_SELECTOR, f'#run-failures a[href$="/failures/{failure_id}"]').click()
    _wait(browser).until(ec.presence_of_element_located((By.ID, "failure-state")))
    assert browser.find_element(By.ID, "failure-state").text == "open"
    screenshot(browser, shots, "failure-open")
    browser.find_element(By.ID, "resolve").click()
    _wait(browser).until(ec.text_to_be_present_in_element((By.ID, "failure-state"), "resolved"))
    assert _failure_state(s, failure_id) is True
    screenshot(browser, shots, "failure-resolved")

    browser.get(s.base_url + "/audit")
    audit_text = browser.find_element(By.ID, "audit").text
    assert "failure.resolve" in audit_text and "ui.login" in audit_text and "acme-operator" in audit_text
    screenshot(browser, shots, "audit")


def test_every_page_renders_and_the_waterfall_shows_nested_runs(
    live: tuple[str, Stack], browser: Any
) -> None:
    backend, s = live
    shots = ARTIFACTS / "ui" / backend
    _log_in(browser, s.base_url, s.tokens[("acme", "viewer")])
    for card in ("card-failed-runs", "card-open-failures", "card-triggers", "card-audit"):
        assert browser.find_element(By.ID, card).is_displayed()
    assert browser.find_element(By.ID, "failed-today").text == "1"
    screenshot(browser, shots, "health")

    browser.get(f"{s.base_url}/runs/{s.seeded.acme_runs[4]}")
    table = browser.find_element(By.ID, "waterfall").text
    for expected in ("invoke_agent critic", "execute_tool search", "chat local-llama", "unpriced", "0.60 s"):
        assert expected in table, expected
    assert "chat gpt-4o-mini" in table  # a step of the nested run, under it
    screenshot(browser, shots, "run-nested")

    for path, marker, name in (
        ("/failures", "failure-groups", "failures"),
        ("/cost?by=project", "cost-chart", "cost-by-project"),
        ("/cost?by=model&days=7", "cost-chart", "cost-by-model"),
        ("/triggers", "triggers", "triggers"),
    ):
        browser.get(s.base_url + path)
        assert browser.find_element(By.ID, marker).is_displayed(), path
        if marker == "cost-chart":  # today's cost is drawn
            assert browser.find_elements(By.CSS_SELECTOR, "#cost-chart rect"), path
        screenshot(browser, shots, name)


def test_a_viewer_sees_failures_but_cannot_resolve_them(live: tuple[str, Stack], browser: Any) -> None:
    backend, s = live
    failure_id = s.seeded.failure_ids[1]
    _log_in(browser, s.base_url, s.tokens[("acme", "viewer")], f"/failures/{failure_id}")
    assert browser.find_element(By.ID, "failure-state").text == "open"
    assert not browser.find_elements(By.ID, "resolve")
    assert "viewer" in browser.find_element(By.ID, "no-resolve").text
    screenshot(browser, ARTIFACTS / "ui" / backend, "failure-viewer")
    # The button is hidden, and the server refuses the form too: post it with the session's own nonce.
    browser.execute_script(
        """const form = document.createElement('form');
        form.method = 'post'; form.action = arguments[0];
        const csrf = document.querySelector('input[name=csrf]').cloneNode();
        form.appendChild(csrf); document.body.appendChild(form); form.submit();""",
        f"{s.base_url}/failures/{failure_id}/resolve",
    )
    _wait(browser).until(ec.presence_of_element_located((By.ID, "error-message")))
    assert "needs operator" in browser.find_element(By.ID, "error-message").text
    assert _failure_state(s, failure_id) is False


def test_another_workspace_sees_nothing_of_acme(live: tuple[str, Stack], browser: Any) -> None:
    backend, s = live
    _log_in(browser, s.base_url, s.tokens[("globex", "operator")], "/runs")
    shown = {
        row.get_attribute("data-run") for row in browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr")
    }
    assert shown == set(s.seeded.globex_runs)
    for path in (f"/runs/{s.seeded.failed_run}", f"/failures/{s.seeded.failure_ids[2]}"):
        browser.get(s.base_url + path)
        assert browser.find_element(By.TAG_NAME, "h1").text == "Not found", path
    screenshot(browser, ARTIFACTS / "ui" / backend, "other-workspace-404")
    browser.get(s.base_url + "/failures")
    assert s.seeded.failed_run not in browser.page_source


def test_a_running_run_updates_without_a_reload(live: tuple[str, Stack], browser: Any) -> None:
    _, s = live
    running = s.seeded.acme_runs[2]
    _log_in(browser, s.base_url, s.tokens[("acme", "viewer")], "/runs?status=running")
    pill = browser.find_element(By.CSS_SELECTOR, f'tr[data-run="{running}"] [data-status]')
    assert pill.text == "running"
    browser.execute_script("document.body.dataset.marker = 'same page'")
    with s.engine.begin() as conn:
        conn.execute(
            sa.update(runs).where(runs.c.run_id == running).values(status="succeeded", duration_ms=4200.0)
        )
    _wait(browser, 20).until(
        ec.text_to_be_present_in_element(
            (By.CSS_SELECTOR, f'tr[data-run="{running}"] [data-status]'), "succeeded"
        )
    )
    assert (
        browser.execute_script("return document.body.dataset.marker") == "same page"
    )  # polled, not reloaded
    assert browser.find_element(By.CSS_SELECTOR, f'tr[data-run="{running}"] [data-duration]').text == "4.2 s"
