"""A run's step waterfall: every step and nested run as one row, indented under its parent, with its bar
placed on the run's time line (percent of the whole, so the page needs no script to draw it)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from otel_agent.api.schemas import RunDetail, RunOut, StepOut
from otel_agent.attributes import PRICE_SOURCE_UNPRICED

MAX_DEPTH_SHOWN = 8  # deeper rows keep this indentation: the name column stays readable


@dataclass(frozen=True, slots=True)
class Row:
    depth: int
    kind: str  # run | llm | tool | agent | span
    name: str
    detail: str  # model, tool or agent
    status: str
    error: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    unpriced: bool
    duration_ms: float | None
    time_to_first_chunk_s: float | None
    retry_attempt: int | None
    offset_pct: float
    width_pct: float
    first_chunk_pct: float | None
    run_id: str | None  # nested runs link to their own page


@dataclass(frozen=True, slots=True)
class Waterfall:
    rows: list[Row]
    started_at: datetime | None
    span_ms: float  # the time line's length


Item = tuple[str, RunOut | StepOut, RunDetail | None]


def build(
    detail: RunDetail,
    nested: dict[str, RunDetail],
    now: datetime,
    parent_spans: dict[str, str | None] | None = None,
) -> Waterfall:
    """Rows depth-first, siblings by start time; `nested` holds the details of runs inside this one and
    `parent_spans` the span each started under (a nested run goes under that step, else under its run)."""
    start = detail.run.started_at
    end = max((t for t in _ends(detail, nested, now) if t is not None), default=start)
    span_ms = max(1.0, _ms(end - start)) if start and end else 1.0
    rows: list[Row] = []
    line = _Line(start, span_ms, parent_spans or {})
    _add_run(rows, detail, nested, 0, line, top=True)
    return Waterfall(rows, start, span_ms)


@dataclass(frozen=True, slots=True)
class _Line:
    start: datetime | None
    span_ms: float
    parent_spans: dict[str, str | None]

    def place(self, started: datetime | None, duration_ms: float | None) -> tuple[float, float]:
        if self.start is None or started is None:
            return 0.0, 0.0
        offset = min(100.0, max(0.0, 100 * _ms(started - self.start) / self.span_ms))
        width = min(100.0 - offset, max(0.4, 100 * (duration_ms or 0.0) / self.span_ms))
        return round(offset, 3), round(width, 3)


def _add_run(
    rows: list[Row], d: RunDetail, nested: dict[str, RunDetail], depth: int, line: _Line, top: bool
) -> None:
    rows.append(_run_row(d.run, depth, line, None if top else d.run.run_id))
    ids = {s.span_id for s in d.steps}
    children: dict[str, list[Item]] = defaultdict(list)
    for step in d.steps:
        parent = step.parent_span_id if step.parent_span_id in ids else d.run.run_id
        children[parent].append(("step", step, None))
    for run_id in d.child_run_ids:
        if run_id in nested:
            span = line.parent_spans.get(run_id)
            parent = span if span in ids else d.run.run_id
            children[parent or d.run.run_id].append(("run", nested[run_id].run, nested[run_id]))
    _add_children(rows, children, d.run.run_id, nested, depth + 1, line)


def _add_children(
    rows: list[Row],
    children: dict[str, list[Item]],
    parent: str,
    nested: dict[str, RunDetail],
    depth: int,
    line: _Line,
) -> None:
    for _kind, item, detail in sorted(children.get(parent, []), key=_start_key):
        if detail is not None:
            _add_run(rows, detail, nested, depth, line, top=False)
        elif isinstance(item, StepOut):
            rows.append(_step_row(item, depth, line))
            _add_children(rows, children, item.span_id, nested, depth + 1, line)


def _start_key(item: Item) -> tuple[datetime, str]:
    started = item[1].started_at or datetime.max.replace(tzinfo=timezone.utc)
    return started, item[1].name or ""


def _run_row(run: RunOut, depth: int, line: _Line, link: str | None) -> Row:
    offset, width = line.place(run.started_at, run.duration_ms)
    error = ": ".join(p for p in (run.error_category, run.error_message) if p) or None
    return Row(
        depth=min(depth, MAX_DEPTH_SHOWN),
        kind="run",
        name=run.name or run.run_id,
        detail=run.agent_name or run.workflow_name or "",
        status=run.status,
        error=error,
        input_tokens=run.input_tokens,
        output_tokens=run.output_tokens,
        cost_usd=run.cost_usd,
        unpriced=run.unpriced_calls > 0,
        duration_ms=run.duration_ms,
        time_to_first_chunk_s=None,
        retry_attempt=None,
        offset_pct=offset,
        width_pct=width,
        first_chunk_pct=None,
        run_id=link,
    )


def _step_row(step: StepOut, depth: int, line: _Line) -> Row:
    offset, width = line.place(step.started_at, step.duration_ms)
    first_chunk = None
    if step.time_to_first_chunk_s is not None and step.started_at is not None:
        first_chunk = line.place(step.started_at + timedelta(seconds=step.time_to_first_chunk_s), 0)[0]
    error = ": ".join(p for p in (step.error_category, step.error_type) if p) or None
    return Row(
        depth=min(depth, MAX_DEPTH_SHOWN),
        kind=step.kind,
        name=step.name or step.span_id,
        detail=step.response_model or step.request_model or step.tool_name or step.agent_role or "",
        status=step.status,
        error=error,
        input_tokens=step.input_tokens,
        output_tokens=step.output_tokens,
        cost_usd=step.cost_usd,
        unpriced=step.kind == "llm" and (step.price_source == PRICE_SOURCE_UNPRICED or step.cost_usd is None),
        duration_ms=step.duration_ms,
        time_to_first_chunk_s=step.time_to_first_chunk_s,
        retry_attempt=step.retry_attempt,
        offset_pct=offset,
        width_pct=width,
        first_chunk_pct=first_chunk,
        run_id=None,
    )


def _ends(detail: RunDetail, nested: dict[str, RunDetail], now: datetime) -> list[datetime | None]:
    ends: list[datetime | None] = []
    for d in (detail, *nested.values()):
        ends.append(_end_of(d.run, now))
        ends += [s.ended_at or s.started_at for s in d.steps]
    return ends


def _end_of(run: RunOut, now: datetime) -> datetime | None:
    """Where a run's bar ends: its end, else its start plus its duration, else now while it runs."""
    if run.ended_at is not None:
        return run.ended_at
    if run.status == "running":
        return now
    if run.started_at is not None and run.duration_ms is not None:
        return run.started_at + timedelta(milliseconds=run.duration_ms)
    return run.started_at


def _ms(delta: timedelta) -> float:
    return delta.total_seconds() * 1000
