"""Setting already-clean attributes on a live span without the SDK re-validating them.

Used on hot paths: start-time attribution (every span inside a run) and the genai capture's response
attributes. The SDK's ``set_attributes`` cleans every value again (type checks, a copy of the mapping, a
call per key): for the eight response attributes of a call that is about a seventh of the capture's
whole cost, and more than all the rest of the start-time work. Our values are already clean (str, int,
float, bool, tuples of str: what the SDK would store), so when the span's attribute store has no
value-length limit and room for the keys, they go straight into its dict under its lock. Anything else
(limits set, an ended span, another SDK shape) takes the public API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.trace import Span


def set_clean_attributes(span: Span, values: Mapping[str, Any]) -> None:
    """``span.set_attributes(values)`` for values of the types above (no lists), same result, less work."""
    if not values:
        return
    try:  # plain attribute reads: getattr() with defaults costs as much as the rest of this function
        store = span._attributes  # type: ignore[attr-defined]
        inner, lock, maxlen = store._dict, store._lock, store.maxlen
        usable = (
            type(inner) is dict
            and not store._immutable  # the span has ended: the SDK would warn and drop them
            and store.max_value_len is None
            and (maxlen is None or len(inner) + len(values) <= maxlen)
        )
    except AttributeError:  # not the SDK's span, or its internals changed
        usable = False
    if not usable:
        span.set_attributes(values)
        return
    with lock:
        if not inner.keys().isdisjoint(values):  # the SDK moves a re-set key to the end; so do we
            for key in values:
                inner.pop(key, None)
        inner.update(values)
