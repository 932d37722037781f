"""The one-count-per-exchange rule on its own: wrappers above and beside a call, HTTP spans under it,
parallel calls, and the same answer in any order."""

from __future__ import annotations

import itertools

from otel_agent.exchange import HTTP, LLM, Node, duplicates


def node(span: str, parent: str | None, kind: str = LLM, wire: bool = True, start: int = 0, end: int = 10,
         provider: str | None = "openai") -> Node:  # fmt: skip
    return Node(span, parent, kind, wire, provider, start, end)


def test_a_wrapper_above_calls_defers_to_them() -> None:
    nodes = [node("w", "run", wire=False), node("a0", "w"), node("a1", "w", start=5)]  # a call retried
    assert duplicates(nodes) == {"w": "a0"}


def test_a_wrapper_beside_a_call_defers_to_it_but_parallel_calls_all_count() -> None:
    nodes = [
        node("tl1", "run", wire=False, start=0, end=10), node("sdk1", "run", start=1, end=9),
        node("tl2", "run", wire=False, start=2, end=12), node("sdk2", "run", start=3, end=11),
    ]  # fmt: skip
    found = duplicates(nodes)
    assert set(found) == {"tl1", "tl2"} and found["tl2"] == "sdk2"
    assert duplicates([node("a", "run"), node("b", "run"), node("c", "run")]) == {}  # parallel calls


def test_other_providers_and_calls_outside_the_wrapper_time_do_not_hide_it() -> None:
    assert duplicates([node("w", "run", wire=False), node("c", "run", provider="anthropic")]) == {}
    assert duplicates([node("w", "run", wire=False, end=5), node("c", "run", start=6, end=9)]) == {}


def test_an_http_span_under_a_call_is_part_of_it() -> None:
    nodes = [node("c", "run"), node("post", "c", kind=HTTP), node("lone", "run", kind=HTTP)]
    assert duplicates(nodes) == {"post": "c"}


def test_the_answer_does_not_depend_on_order() -> None:
    nodes = [node("w", "run", wire=False), node("a", "w"), node("post", "a", kind=HTTP), node("x", "run")]
    answers = {tuple(sorted(duplicates(order).items())) for order in itertools.permutations(nodes)}
    assert answers == {(("post", "a"), ("w", "a"))}


def test_calls_in_a_row_with_equal_times_on_a_coarse_clock_all_count() -> None:
    # The store keeps microseconds: three 1 ns spans in a row get equal intervals; none wraps another.
    nodes = [node("a", "run", wire=False), node("b", "run", wire=False), node("c", "run")]
    assert duplicates(nodes) == {}
