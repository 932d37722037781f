"""The agent context API: ``agent_run`` / ``agent_step`` / ``tool``, as context managers and decorators.

Each opens a span named and attributed per the GenAI semantic conventions and puts the attribution
(project, stage, role, agent, workflow, user, session, conversation, trigger, run ids) into OpenTelemetry
baggage, restricted to ``attributes.BAGGAGE_KEYS``. Spans started inside (by us or any other
instrumentation) inherit the attribution through the start processor.

    with agent_run("book", project="books", trigger="user", trigger_id="u-42") as run:
        with agent_step(stage="outline"):
            with agent_step(agent="planner", role="planner"):   # invoke_agent planner (a nested run)
                ...
        with tool("search"):                                       # execute_tool search
            ...

    @agent_step(stage="draft")          # decorators work on sync and async functions
    async def draft(chapter): ...

Asyncio tasks inherit the context automatically; for threads use ``bind_context(fn)`` (or
``ThreadPoolExecutor.submit(bind_context(fn), ...)``), which runs ``fn`` in the caller's context.
Our own failures never reach the application: if a span cannot be made, the block runs without one.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import weakref
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar

from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from otel_agent import __version__
from otel_agent import attributes as A
from otel_agent.budget import ledger as budgets
from otel_agent.guard import guard

F = TypeVar("F", bound=Callable[..., Any])

_tracers: weakref.WeakKeyDictionary[Any, trace.Tracer] = weakref.WeakKeyDictionary()
_BAGGAGE_VALUE_CAP = 256  # baggage travels in an HTTP header: keep each value short
_BAGGAGE_KEYS = frozenset(A.BAGGAGE_KEYS)


def _attribution(
    project: str | None = None,
    stage: str | None = None,
    role: str | None = None,
    agent: str | None = None,
    workflow: str | None = None,
    user: str | None = None,
    session: str | None = None,
    conversation: str | None = None,
    trigger: str | None = None,
    trigger_id: str | None = None,
    workspace: str | None = None,
) -> dict[str, str]:
    pairs = {
        A.PROJECT: project,
        A.STAGE: stage,
        A.AGENT_ROLE: role,
        A.GEN_AI_AGENT_NAME: agent,
        A.GEN_AI_WORKFLOW_NAME: workflow,
        A.USER_ID: user,
        A.SESSION_ID: session,
        A.GEN_AI_CONVERSATION_ID: conversation,
        A.TRIGGER_TYPE: trigger,
        A.TRIGGER_ID: trigger_id,
        A.WORKSPACE: workspace,
    }
    return {key: str(value) for key, value in pairs.items() if value is not None}


def _tag_attributes(tags: Mapping[str, Any] | None) -> dict[str, Any]:
    if not tags:
        return {}
    return {
        A.TAG_PREFIX + str(k): v if isinstance(v, (str, bool, int, float)) else str(v)
        for k, v in tags.items()
    }


def _tracer() -> trace.Tracer:
    """Our tracer from the current global provider (looked up per provider, so a provider set later,
    or replaced in tests, is honoured)."""
    provider = trace.get_tracer_provider()
    try:
        return _tracers[provider]
    except (KeyError, TypeError):
        tracer = provider.get_tracer("otel_agent", __version__)
        with contextlib.suppress(TypeError):  # providers that cannot be weakly referenced: no cache
            _tracers[provider] = tracer
        return tracer


def _with_baggage(ctx: otel_context.Context, values: Mapping[str, str]) -> otel_context.Context:
    for key, value in values.items():
        if key in _BAGGAGE_KEYS:
            ctx = baggage.set_baggage(key, value[:_BAGGAGE_VALUE_CAP], ctx)
    return ctx


def _run_ids(span: Span, ctx: otel_context.Context) -> dict[str, str]:
    """Baggage entries naming this run: its own id, and the root run's id (its own if outermost)."""
    own = format(span.get_span_context().span_id, "016x")
    root = baggage.get_baggage(A.RUN_ROOT_ID, ctx)
    return {A.RUN_ID: own, A.RUN_ROOT_ID: str(root) if root else own}


def _record_failure(span: Span, exc: BaseException) -> None:
    cancelled = isinstance(exc, asyncio.CancelledError)
    span.record_exception(exc, escaped=True)
    span.set_attribute(A.ERROR_TYPE, type(exc).__qualname__)
    if cancelled:
        span.set_attribute(A.ERROR_CATEGORY, "cancelled")
    span.set_status(Status(StatusCode.ERROR, "cancelled" if cancelled else f"{type(exc).__name__}: {exc}"))


class _Scope:
    """One span + baggage scope; reusable as a decorator (each call opens a fresh scope)."""

    def __init__(
        self,
        name: str,
        attributes: dict[str, Any],
        baggage_values: dict[str, str],
        is_run: bool,
        budget: tuple[float | None, str | None] = (None, None),
    ):
        self._name = name
        self._attributes = attributes
        self._baggage = baggage_values
        self._is_run = is_run
        self._budget = budget  # (budget_usd, mode) given to agent_run
        self._span: Span = trace.INVALID_SPAN
        self._token: object | None = None
        self._budget_run: str | None = None  # the run id registered with the budget ledger

    def _fresh(self) -> _Scope:
        return _Scope(self._name, self._attributes, self._baggage, self._is_run, self._budget)

    def __enter__(self) -> Span:
        with guard("context.enter"):
            parent = otel_context.get_current()
            span = _tracer().start_span(
                self._name, context=parent, kind=SpanKind.INTERNAL, attributes=self._attributes
            )
            ctx = trace.set_span_in_context(span, parent)
            values = dict(self._baggage)
            if self._is_run and span.get_span_context().is_valid:
                values.update(_run_ids(span, parent))
            ctx = _with_baggage(ctx, values)
            if A.RUN_ID in values and budgets.wanted(parent, self._budget[0]):
                ctx = self._enter_budget(ctx, parent, values)
            self._token = otel_context.attach(ctx)
            self._span = span
        return self._span

    def _enter_budget(
        self, ctx: otel_context.Context, parent: otel_context.Context, values: dict[str, str]
    ) -> otel_context.Context:
        with guard("budget.enter"):  # a failure here costs the budget, never the run's context
            attribution = {**current_attribution(parent), **values}  # rules match inherited project too
            run_id = values[A.RUN_ID]
            with_budget, registered = budgets.enter_run(
                ctx, run_id, self._budget[0], self._budget[1], attribution
            )
            self._budget_run = run_id if registered else None
            return with_budget
        return ctx

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with guard("context.exit"):
            if exc is not None:
                _record_failure(self._span, exc)
            if self._token is not None:
                otel_context.detach(self._token)  # type: ignore[arg-type]
            self._span.end()
            if self._budget_run is not None:
                budgets.exit_run(self._budget_run)

    async def __aenter__(self) -> Span:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_inner(*args: Any, **kwargs: Any) -> Any:
                with self._fresh():
                    return await func(*args, **kwargs)

            return async_inner  # type: ignore[return-value]

        @functools.wraps(func)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with self._fresh():
                return func(*args, **kwargs)

        return inner  # type: ignore[return-value]


def agent_run(
    name: str,
    *,
    project: str | None = None,
    stage: str | None = None,
    role: str | None = None,
    agent: str | None = None,
    user: str | None = None,
    session: str | None = None,
    conversation: str | None = None,
    trigger: str | None = None,
    trigger_id: str | None = None,
    workspace: str | None = None,
    tags: Mapping[str, Any] | None = None,
    attributes: Mapping[str, Any] | None = None,
    budget_usd: float | None = None,
    budget_mode: str | None = None,
) -> _Scope:
    """A run of a workflow: span ``invoke_workflow {name}``. Nested inside another run it is a child run.

    ``budget_usd``: the most this run (nested runs included) may spend on LLM calls; the call that would
    pass it is refused before it is sent with ``otel_agent.BudgetExceeded`` (``budget_mode="warn"``: logged
    once and sent). See docs/budgets.md."""
    values = _attribution(
        project, stage, role, agent, name, user, session, conversation, trigger, trigger_id, workspace
    )
    attrs = {
        **values,
        **_tag_attributes(tags),
        **(attributes or {}),
        A.GEN_AI_OPERATION_NAME: A.OP_INVOKE_WORKFLOW,
    }
    budget = budgets.checked_arguments(budget_usd, budget_mode)
    return _Scope(f"{A.OP_INVOKE_WORKFLOW} {name}", attrs, values, is_run=True, budget=budget)


def agent_step(
    name: str | None = None,
    *,
    agent: str | None = None,
    stage: str | None = None,
    role: str | None = None,
    agent_id: str | None = None,
    tags: Mapping[str, Any] | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> _Scope:
    """A step. With ``agent``: span ``invoke_agent {agent}`` (a run of that agent, nested in the current
    one). Without: a plain step span named ``name`` or ``stage`` that sets the stage for what is inside."""
    if agent is None and name is None and stage is None:
        raise ValueError("agent_step needs a name, a stage or an agent")
    values = _attribution(stage=stage, role=role, agent=agent)
    attrs: dict[str, Any] = {**values, **_tag_attributes(tags), **(attributes or {})}
    if agent is None:
        return _Scope(str(name or stage), attrs, values, is_run=False)
    attrs[A.GEN_AI_OPERATION_NAME] = A.OP_INVOKE_AGENT
    if agent_id is not None:
        attrs[A.GEN_AI_AGENT_ID] = agent_id
    return _Scope(f"{A.OP_INVOKE_AGENT} {agent}", attrs, values, is_run=True)


def tool(
    name: str,
    *,
    call_id: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> _Scope:
    """A tool call: span ``execute_tool {name}``."""
    attrs: dict[str, Any] = {
        **(attributes or {}),
        A.GEN_AI_OPERATION_NAME: A.OP_EXECUTE_TOOL,
        A.GEN_AI_TOOL_NAME: name,
    }
    if call_id is not None:
        attrs[A.GEN_AI_TOOL_CALL_ID] = call_id
    return _Scope(f"{A.OP_EXECUTE_TOOL} {name}", attrs, {}, is_run=False)


def bind_context(func: Callable[..., Any]) -> Callable[..., Any]:
    """Bind ``func`` to the caller's context (current span and baggage), for running in another thread."""
    captured = contextvars.copy_context()

    @functools.wraps(func)
    def inner(*args: Any, **kwargs: Any) -> Any:
        # A copy per call: one Context object cannot be entered by two threads at once.
        return captured.copy().run(func, *args, **kwargs)

    return inner


def current_attribution(ctx: otel_context.Context | None = None) -> dict[str, str]:
    """The allow-listed attribution in the current (or given) context's baggage."""
    return {k: str(v) for k, v in baggage.get_all(ctx).items() if k in _BAGGAGE_KEYS}
