"""Under opentelemetry-instrument: metrics through OTEL_METRICS_EXPORTER, logs through OTEL_LOGS_EXPORTER,
in a process whose only trace exporter is the SQL one; the figures match the SQL run row."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from otel_agent import attributes as A
from otel_agent.store import models as M
from otel_agent.store.engine import make_engine

SCRIPT = """
    import logging
    from opentelemetry import trace
    from otel_agent import attributes as A
    from otel_agent.context import agent_run, tool

    log = logging.getLogger("app")
    with agent_run("book", project="books", stage="outline"):
        for model, tokens in (("gpt-4o", 1000), ("gpt-4o", 2000), ("gpt-4o-mini", 500)):
            with trace.get_tracer("app").start_as_current_span("chat " + model) as call:
                call.set_attributes({A.GEN_AI_OPERATION_NAME: "chat", A.GEN_AI_PROVIDER_NAME: "openai",
                    A.GEN_AI_REQUEST_MODEL: model, A.GEN_AI_RESPONSE_MODEL: model,
                    A.GEN_AI_USAGE_INPUT_TOKENS: tokens, A.GEN_AI_USAGE_OUTPUT_TOKENS: 100})
                log.warning("called %s", model)
        try:
            with tool("search"):
                raise KeyError("no such page")
        except KeyError:
            pass
"""


def _objects(text: str) -> list[dict[str, Any]]:
    """Every JSON object in ``text``: console exporters print indented JSON, our handler one-line JSON."""
    decoder, found, i = json.JSONDecoder(), [], 0
    while (i := text.find("{", i)) >= 0:
        try:
            obj, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            i += 1
            continue
        found.append(obj)
        i = end
    return found


def _metric_points(objects: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [
        point
        for obj in objects
        for rm in obj.get("resource_metrics", ())
        for sm in rm["scope_metrics"]
        for metric in sm["metrics"]
        if metric["name"] == name
        for point in metric["data"]["data_points"]
    ]


def _run_row(url: str) -> dict[str, Any]:
    engine = make_engine(url, for_writing=False)
    try:
        with engine.connect() as conn:
            (row,) = [dict(r) for r in conn.execute(sa.select(M.runs)).mappings()]
            return row
    finally:
        engine.dispose()


def test_metrics_and_logs_under_opentelemetry_instrument(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(SCRIPT))
    url = f"sqlite:///{tmp_path}/app.db"
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "otel_agent_sql", "OTEL_METRICS_EXPORTER": "console",
           "OTEL_LOGS_EXPORTER": "console", "OTEL_METRIC_EXPORT_INTERVAL": "600000",
           "OTEL_PYTHON_DISTRO": "otel_agent", "OTEL_PYTHON_CONFIGURATOR": "otel_agent",
           "OTEL_AGENT_DATABASE_URL": url, "OTEL_AGENT_SPOOL_DIR": str(tmp_path / "spool"),
           "OTEL_AGENT_LOG_JSON": "true", "OTEL_SERVICE_NAME": "book-app"}  # fmt: skip
    env.pop("OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED", None)
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    done = subprocess.run([str(instrument), sys.executable, str(script)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    objects = _objects(done.stdout)
    run = _run_row(url)

    # Metrics: recorded at the final collection on exit (export interval 10 minutes), equal to the row.
    cost = _metric_points(objects, "otel_agent.cost.usd")
    assert run["cost_usd"] > 0
    assert abs(sum(p["value"] for p in cost) - run["cost_usd"]) < 1e-12
    usage = [p for p in _metric_points(objects, "gen_ai.client.token.usage")
             if p["attributes"][A.GEN_AI_TOKEN_TYPE] == "input"]  # fmt: skip
    assert sorted((p["attributes"][A.GEN_AI_REQUEST_MODEL], p["count"], p["sum"]) for p in usage) == [
        ("gpt-4o", 2, 3000), ("gpt-4o-mini", 1, 500)]  # fmt: skip
    (finished,) = _metric_points(objects, "otel_agent.runs.finished")
    assert finished["value"] == 1 and finished["attributes"][A.RUN_STATUS] == run["status"] == "succeeded"
    (calls,) = _metric_points(objects, "otel_agent.run.llm_calls")
    assert calls["sum"] == run["llm_calls"] == 3

    # Logs: each record once through the OTel handler (console exporter) and once as a JSON line.
    otel_logs = [o for o in objects if o.get("body") == "called gpt-4o-mini"]
    json_lines = [o for o in objects if o.get("body") == "called gpt-4o-mini" and "logger" in o]
    assert len(otel_logs) == 2 and len(json_lines) == 1  # one OTLP record + one JSON line, no duplicates
    exported = next(o for o in otel_logs if "logger" not in o)
    assert exported["trace_id"] == "0x" + run["trace_id"]
    assert exported["attributes"][A.PROJECT] == "books"
    assert exported["attributes"][A.RUN_ID] == json_lines[0][A.RUN_ID] == run["run_id"]
    # opentelemetry-instrumentation-logging promotes the event.name attribute to the record's event_name.
    events = {o.get("event_name") or (o.get("attributes") or {}).get(A.EVENT_NAME) for o in objects}
    assert {"otel_agent.run.started", "otel_agent.tool.failed", "otel_agent.run.finished"} <= events
