"""A multi-agent book writer: outline -> draft chapters (concurrently) -> edit, with a nested fact-check run.

Run it under any OpenTelemetry set-up; ``examples/demo.py`` runs it with an in-memory exporter and prints
what otel-agent captured. The LLM client is injected (``StandInLLM`` by default), so a real SDK client
can replace it without touching the pipeline.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from examples.stand_in_llm import RateLimitError, StandInLLM
from otel_agent import agent_run, agent_step, tool
from otel_agent import attributes as A


class ChatClient(Protocol):
    def chat(self, *, provider: str, model: str, prompt: str, attempt: int = 0) -> str: ...


def with_retry(llm: ChatClient, *, provider: str, model: str, prompt: str, attempts: int = 3) -> str:
    """Retry rate-limited calls; each attempt is its own span with ``otel_agent.retry.attempt``."""
    for attempt in range(attempts):
        try:
            return llm.chat(provider=provider, model=model, prompt=prompt, attempt=attempt)
        except RateLimitError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


@tool("search_web")
def search_web(query: str) -> list[str]:
    return [f"source about {query} #{i}" for i in range(3)]


@tool("lookup_fact")
def lookup_fact(claim: str) -> bool:
    return "dragon" not in claim


def outline(llm: ChatClient, topic: str, chapters: int) -> list[str]:
    with agent_step(stage="outline"), agent_step(agent="planner", role="planner"):
        sources = search_web(topic)
        llm.chat(
            provider="openai", model="gpt-4o", prompt=f"Outline {chapters} chapters on {topic}: {sources}"
        )
        return [f"Chapter {n + 1}: {topic} part {n + 1}" for n in range(chapters)]


async def draft_chapter(llm: ChatClient, title: str) -> str:
    async with agent_step(agent="writer", role="writer", tags={"chapter": title}):
        await asyncio.sleep(0)  # chapters are drafted concurrently
        return with_retry(
            llm, provider="anthropic", model="claude-sonnet-4-5", prompt=f"Write {title} in full"
        )


async def draft(llm: ChatClient, titles: list[str]) -> list[str]:
    async with agent_step(stage="draft"):
        return list(await asyncio.gather(*(draft_chapter(llm, t) for t in titles)))


def fact_check(llm: ChatClient, text: str) -> bool:
    """A nested run: its totals roll up into the book run."""
    with (
        agent_run("fact-check", trigger="agent", tags={"checker": "local"}),
        agent_step(agent="checker", role="reviewer"),
    ):
        llm.chat(provider="ollama", model="llama3.1:8b", prompt=f"List the claims in: {text[:200]}")
        return all(lookup_fact(claim) for claim in text.split(".")[:3])


def edit(llm: ChatClient, chapters: list[str]) -> str:
    with agent_step(stage="edit"), agent_step(agent="editor", role="editor"):
        book = "\n".join(chapters)
        llm.chat(provider="openai", model="gpt-4o-mini", prompt=f"Edit for style and flow: {book}")
        fact_check(llm, book)
        return book


def write_book(topic: str, chapters: int = 3, llm: ChatClient | None = None, user: str = "demo-user") -> str:
    llm = llm or StandInLLM(fail_first_call_of="claude-sonnet-4-5")
    with agent_run(
        "book-writer",
        project="books",
        trigger="user",
        trigger_id=user,
        user=user,
        tags={"topic": topic, "chapters": chapters},
    ) as run:
        titles = outline(llm, topic, chapters)
        drafted = asyncio.run(draft(llm, titles))
        book = edit(llm, drafted)
        run.set_attribute(A.TAG_PREFIX + "words", len(book.split()))
        return book


if __name__ == "__main__":
    print(write_book("lighthouses"))
