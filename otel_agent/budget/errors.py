"""The one exception a budget raises, whichever SDK made the call."""

from __future__ import annotations


class BudgetExceeded(BaseException):  # noqa: N818 (the name says what happened, like StopIteration)
    """An LLM request refused before it was sent: its run's budget is spent, or this call could pass it.

    It derives from ``BaseException``, like ``asyncio.CancelledError``, on purpose: the openai and
    anthropic SDKs (and most retry helpers) catch ``Exception`` around the HTTP send, then retry and wrap
    it in their own connection error. A budget stop must reach the application unchanged and at once, so
    catch it by name: ``except otel_agent.BudgetExceeded``.
    """

    def __init__(
        self,
        *,
        scope: str,
        limit_usd: float,
        spent_usd: float,
        worst_case_usd: float,
        model: str | None,
        run_id: str | None = None,
    ) -> None:
        self.scope = scope  # what the budget belongs to: "run" or the rule, e.g. "project:books"
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        self.worst_case_usd = worst_case_usd  # this call's output at its max_tokens, at the model's price
        self.model = model
        self.run_id = run_id
        super().__init__(self._message())

    def _message(self) -> str:
        what = f"budget {self.scope} of ${self.limit_usd:.6g}"
        if self.spent_usd >= self.limit_usd:
            return f"{what} is spent (${self.spent_usd:.6g}); LLM call to {self.model} refused"
        return (
            f"{what}: spent ${self.spent_usd:.6g}, and this LLM call to {self.model} could cost up to "
            f"${self.worst_case_usd:.6g} more; refused"
        )

    def __reduce__(self) -> tuple[object, ...]:  # keyword-only __init__: pickle (multiprocessing) needs this
        return (
            _rebuild,
            (self.scope, self.limit_usd, self.spent_usd, self.worst_case_usd, self.model, self.run_id),
        )


def _rebuild(
    scope: str, limit_usd: float, spent_usd: float, worst: float, model: str | None, run_id: str | None
) -> BudgetExceeded:
    return BudgetExceeded(
        scope=scope,
        limit_usd=limit_usd,
        spent_usd=spent_usd,
        worst_case_usd=worst,
        model=model,
        run_id=run_id,
    )
