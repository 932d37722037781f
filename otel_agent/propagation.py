"""An allow-listed baggage propagator: our attribution crosses HTTP only to hosts the user trusts.

The standard W3C ``baggage`` propagator sends every entry to every host, including third-party LLM APIs.
This one (entry point ``otel_agent_baggage`` in ``opentelemetry_propagator``):

* extracts only ``attributes.BAGGAGE_KEYS`` from an incoming ``baggage`` header;
* injects those keys only when the carrier names a host on ``OTEL_AGENT_PROPAGATE_HOSTS`` (exact names,
  ``*.suffix`` wildcards, or ``*``). The host is read from the carrier's ``host`` header (httpx puts it
  there) or from ``outbound_host(...)`` around the call. Unknown host: nothing is sent (fail closed).

``otel_agent.instrument()`` installs ``tracecontext`` + this propagator when ``OTEL_PROPAGATORS`` is unset.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import baggage
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)

from otel_agent import attributes as A
from otel_agent.settings import Settings

_KEYS = frozenset(A.BAGGAGE_KEYS)
_w3c = W3CBaggagePropagator()
_outbound: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "otel_agent_outbound_host", default=None
)


@contextmanager
def outbound_host(url_or_host: str) -> Iterator[None]:
    """Name the destination of calls made inside the block (for clients whose headers lack ``host``)."""
    token = _outbound.set(_host_of(url_or_host))
    try:
        yield
    finally:
        _outbound.reset(token)


def _host_of(value: str) -> str:
    text = value.strip().lower()
    if "://" in text:
        text = text.split("://", 1)[1]
    text = text.split("/", 1)[0].rsplit("@", 1)[-1]
    if text.startswith("["):  # IPv6 literal
        return text[1:].split("]", 1)[0]
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


def host_allowed(host: str | None, patterns: tuple[str, ...]) -> bool:
    if not host:
        return False
    for pattern in patterns:
        if pattern == "*" or pattern == host:
            return True
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
    return False


def _carrier_host(carrier: Any) -> str | None:
    if isinstance(carrier, Mapping):
        for key in ("host", "Host", ":authority"):
            value = carrier.get(key)
            if isinstance(value, (str, bytes)):
                return _host_of(value.decode("latin-1") if isinstance(value, bytes) else value)
    return _outbound.get()


class AllowListBaggagePropagator(TextMapPropagator):
    """W3C baggage restricted to our keys, sent only to allow-listed hosts."""

    def __init__(self, hosts: tuple[str, ...] | None = None) -> None:
        self.hosts = Settings.from_env().propagate_hosts if hosts is None else tuple(h.lower() for h in hosts)

    def extract(
        self, carrier: CarrierT, context: Context | None = None, getter: Getter[CarrierT] = default_getter
    ) -> Context:
        incoming = baggage.get_all(_w3c.extract(carrier, Context(), getter))
        for key, value in incoming.items():
            if key in _KEYS:
                context = baggage.set_baggage(key, value, context)
        return context if context is not None else Context()

    def inject(
        self, carrier: CarrierT, context: Context | None = None, setter: Setter[CarrierT] = default_setter
    ) -> None:
        if not host_allowed(_carrier_host(carrier), self.hosts):
            return
        ours = Context()
        for key, value in baggage.get_all(context).items():
            if key in _KEYS:
                ours = baggage.set_baggage(key, value, ours)
        _w3c.inject(carrier, ours, setter)

    @property
    def fields(self) -> set[str]:
        return _w3c.fields
