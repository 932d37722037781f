"""A normal `opentelemetry-instrument` start prints nothing of ours, whichever distro is picked."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_agent import attributes as A
from tests.test_instrument import _by_name, _console_spans, _run


@pytest.mark.parametrize(
    "choice",
    [
        {},  # the first distro found, as most people start
        {"OTEL_PYTHON_DISTRO": "otel_agent"},
        {"OTEL_PYTHON_DISTRO": "distro"},  # opentelemetry-distro's
        # a set-up written for the configurator otel-agent used to register
        {"OTEL_PYTHON_DISTRO": "otel_agent", "OTEL_PYTHON_CONFIGURATOR": "otel_agent"},
    ],
    ids=["first-found", "otel_agent", "opentelemetry-distro", "retired-configurator-name"],
)
def test_a_zero_code_start_is_quiet_and_enriched(tmp_path: Path, choice: dict[str, str]) -> None:
    done = _run(tmp_path, OTEL_TRACES_EXPORTER="console", **choice)
    assert done.stderr == ""  # e.g. no "Configuration of otel_agent not loaded, configurator already loaded"
    chat = _by_name(_console_spans(done.stdout))["chat gpt-4o"]["attributes"]
    assert chat[A.COST_USD] == pytest.approx(0.006045)  # and our processors did run
