"""How other parts of otel-agent (and users) plug into the pipeline ``otel_agent.instrument()`` builds.

Two kinds of extension, each registered in code or through an entry point (so zero-code
``opentelemetry-instrument`` picks them up without importing anything first):

* span processor factories, group ``otel_agent_span_processors``: ``factory(settings) -> SpanProcessor |
  None``. The processor is wrapped by the enriching processor, so it sees enriched spans (the metrics
  processor lives here). Return None to stay off (e.g. disabled by a setting).
* instrument hooks, group ``otel_agent_instrument_hooks``: ``hook(settings) -> None``, run once after the
  TracerProvider is set up (the genai httpx capture installs itself here).

A factory or hook that raises is contained, logged and counted (component ``extension <name>``); the
others still run. Entry-point names are unique keys: registering the same name twice keeps the first.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points

from opentelemetry.sdk.trace import SpanProcessor

from otel_agent.guard import guard
from otel_agent.settings import Settings

SPAN_PROCESSOR_GROUP = "otel_agent_span_processors"
INSTRUMENT_HOOK_GROUP = "otel_agent_instrument_hooks"

SpanProcessorFactory = Callable[[Settings], "SpanProcessor | None"]
InstrumentHook = Callable[[Settings], None]

_processor_factories: dict[str, SpanProcessorFactory] = {}
_instrument_hooks: dict[str, InstrumentHook] = {}


def register_span_processor(name: str, factory: SpanProcessorFactory) -> None:
    _processor_factories.setdefault(name, factory)


def register_instrument_hook(name: str, hook: InstrumentHook) -> None:
    _instrument_hooks.setdefault(name, hook)


def _from_entry_points(group: str) -> dict[str, Callable[[Settings], object]]:
    found: dict[str, Callable[[Settings], object]] = {}
    for entry_point in entry_points(group=group):
        with guard(f"extension {entry_point.name} (load)"):
            found.setdefault(entry_point.name, entry_point.load())
    return found


def build_span_processors(settings: Settings) -> list[SpanProcessor]:
    """One processor from each registered factory (code first, then entry points), in name order."""
    factories: dict[str, Callable[[Settings], object]] = dict(_processor_factories)
    for name, factory in _from_entry_points(SPAN_PROCESSOR_GROUP).items():
        factories.setdefault(name, factory)
    built: list[SpanProcessor] = []
    for name in sorted(factories):
        with guard(f"extension {name}"):
            processor = factories[name](settings)
            if processor is not None:
                built.append(processor)  # type: ignore[arg-type]
    return built


def run_instrument_hooks(settings: Settings) -> list[str]:
    """Run every registered hook once; returns the names that ran without error."""
    hooks: dict[str, Callable[[Settings], object]] = dict(_instrument_hooks)
    for name, hook in _from_entry_points(INSTRUMENT_HOOK_GROUP).items():
        hooks.setdefault(name, hook)
    ran = []
    for name in sorted(hooks):
        with guard(f"extension {name}"):
            hooks[name](settings)
            ran.append(name)
    return ran
