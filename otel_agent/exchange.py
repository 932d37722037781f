"""Which of several spans of one LLM exchange is the counted call: a structural rule, not a list of names.

Several instrumentations may each make a span for the same HTTP exchange with a provider: ours, the
provider SDK's own, openai-v2, OpenLLMetry, OpenInference, the httpx instrumentation. Counting every LLM
span would count the call two or three times. The rule looks only at how the spans relate:

1. **Wrapper above a call.** An LLM span whose direct child is an LLM span is a wrapper of that call
   (OpenInference's INTERNAL ``ChatCompletion`` above our ``chat``; a call span above its retried
   attempts): the child counts, the wrapper does not.
2. **Wrapper beside a call.** An LLM span that did not see the wire (no HTTP attribute, no retry attempt
   of our capture) is a wrapper of an on-the-wire LLM sibling (same parent, same provider) whose time
   lies within its own (OpenLLMetry's ``anthropic.chat`` beside the anthropic SDK's
   ``anthropic.messages.create``). Parallel calls are each on the wire, so none hides another.
3. **HTTP under a call.** An HTTP client span (``POST``) whose parent is an LLM span is the transport of
   that call: its error is the call's error, counted once, on the call.

A span that is not counted records the span it defers to (``duplicate_of`` in the store). The same
function serves the in-process roll-up (processors.rollup) and the store (store.exchanges), so both give
the same counts; the store re-applies it whenever a related span arrives, so order and batching do not
matter. Limits: only direct parent links are followed (a plain span between a wrapper and its call hides
the relation).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from otel_agent import attributes as A

LLM, HTTP = "llm", "http"
# Attributes only a span that saw the HTTP exchange carries (our capture sets the retry attempt).
WIRE_KEYS = frozenset({
    A.HTTP_REQUEST_METHOD, A.HTTP_METHOD_LEGACY, A.HTTP_RESPONSE_STATUS_CODE, A.HTTP_STATUS_CODE_LEGACY,
    A.RETRY_ATTEMPT,
})  # fmt: skip
_HTTP_METHOD_KEYS = (A.HTTP_REQUEST_METHOD, A.HTTP_METHOD_LEGACY)


class Node(NamedTuple):
    """What the rule needs of one span (an LLM call or an HTTP client span)."""

    span_id: Any  # hashable, ordered ids: hex strings in the store, ints in process
    parent_id: Any
    kind: str  # LLM | HTTP
    on_wire: bool
    provider: str | None
    start: Any  # comparable: nanoseconds or datetimes, the same for every node of one call
    end: Any


def on_wire(attrs: Mapping[str, Any]) -> bool:
    # keys().isdisjoint walks the smaller side: the five wire keys, not the span's attributes.
    return not attrs.keys().isdisjoint(WIRE_KEYS)


def is_http_client(attrs: Mapping[str, Any]) -> bool:
    """An HTTP client span (any instrumentation), not itself an LLM call."""
    return attrs.get(A.GEN_AI_OPERATION_NAME) is None and any(k in attrs for k in _HTTP_METHOD_KEYS)


def duplicates(nodes: Iterable[Node]) -> dict[Any, Any]:
    """{span id: span id it defers to} for every node that is not the counted span of its exchange.
    Deterministic whatever the nodes' order (the smallest span id is chosen among candidates)."""
    by_id = {node.span_id: node for node in nodes}
    found: dict[Any, Any] = {}
    wired: dict[Any, list[Node]] = defaultdict(list)  # on-the-wire LLM calls by parent
    for node in by_id.values():
        parent = by_id.get(node.parent_id)
        if parent is None:
            pass
        elif node.kind == HTTP:
            if parent.kind == LLM:
                found[node.span_id] = parent.span_id  # rule 3
        elif node.kind == LLM and parent.kind == LLM:  # rule 1: the parent wraps this call
            previous = found.get(parent.span_id)
            found[parent.span_id] = node.span_id if previous is None else min(previous, node.span_id)
        if node.kind == LLM and node.on_wire and node.parent_id is not None:
            wired[node.parent_id].append(node)
    if wired:
        for node in by_id.values():  # rule 2, for wrappers not already placed by rule 1
            candidate = node.kind == LLM and not node.on_wire and node.span_id not in found
            if candidate and node.parent_id in wired:
                inside = [c.span_id for c in wired[node.parent_id] if _inside(c, node)]
                if inside:
                    found[node.span_id] = min(inside)
    return found


def _inside(call: Node, wrapper: Node) -> bool:
    return (
        call.span_id != wrapper.span_id
        and (call.provider is None or wrapper.provider is None or call.provider == wrapper.provider)
        and wrapper.start <= call.start
        and call.end <= wrapper.end
        # Equal intervals are calls in a row on a coarse clock (the store keeps microseconds), not a
        # wrapper: it starts before its call and ends after it.
        and (wrapper.start, wrapper.end) != (call.start, call.end)
    )
