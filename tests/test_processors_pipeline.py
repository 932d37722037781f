"""The example book-writer pipeline end to end through the processors (what `make demo` shows)."""

# ruff: noqa: F811  (pytest fixtures imported from tests.otel_capture)
from __future__ import annotations

import pytest

from examples.book_writer import write_book
from examples.demo import summary
from otel_agent import attributes as A
from tests.otel_capture import Captured, captured  # noqa: F401


def test_book_writer_pipeline_is_fully_attributed_and_rolled_up(captured: Captured) -> None:
    write_book("lighthouses", chapters=3)
    spans = captured.spans()
    llm = [s for s in spans if s.attributes.get(A.GEN_AI_OPERATION_NAME) == A.OP_CHAT]
    assert len(llm) == 7  # outline 1, drafts 3 + 1 retried, edit 1, fact-check 1
    assert all(s.attributes[A.PROJECT] == "books" and A.STAGE in s.attributes for s in llm)
    failed = [s for s in llm if A.ERROR_CATEGORY in s.attributes]
    assert [s.attributes[A.ERROR_CATEGORY] for s in failed] == ["rate_limit"]
    assert failed[0].attributes[A.RETRY_ATTEMPT] == 0
    book = captured.one("invoke_workflow book-writer").attributes
    priced = sum(s.attributes.get(A.COST_USD, 0.0) for s in llm)
    assert book[A.ROLLUP_COST_USD] == pytest.approx(priced)
    # The retried draft is one call made twice: both attempts' tokens and cost count, the call once.
    assert book[A.ROLLUP_LLM_CALLS] == 6 and book[A.ROLLUP_ERRORS] == 1
    assert book[A.ROLLUP_UNPRICED_CALLS] == 1  # the local llama model
    assert book[A.ROLLUP_INPUT_TOKENS] == sum(s.attributes.get(A.GEN_AI_USAGE_INPUT_TOKENS, 0) for s in llm)
    check = captured.one("invoke_workflow fact-check").attributes
    editor = captured.one("invoke_agent editor").attributes  # invoke_agent is a run: the innermost one
    assert check[A.RUN_PARENT_ID] == editor[A.RUN_ID] and check[A.RUN_ROOT_ID] == book[A.RUN_ID]
    assert check[A.STAGE] == "edit"
    text = summary(captured.exporter.get_finished_spans())
    assert "invoke_workflow book-writer" in text and "rate_limit" in text and "draft" in text
