"""Calling a model robustly: bounded time, retries with back-off on rate limits and server
errors, ``Retry-After`` honoured (capped)."""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, cast

from .._core.aio import within
from .limits import timeout_error, with_endpoint
from .provider import ModelError

if TYPE_CHECKING:  # LangChain loads on first use: the managers import RetryPolicy from here
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage, BaseMessage
    from langchain_core.runnables import RunnableConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failed model call is retried.

    Rate limits (429), server errors (5xx), connection errors and timeouts are retried; other
    errors are not. ``attempts`` counts every call, the first included (1: no retry). Retry
    ``n`` waits ``initial_delay * multiplier ** (n - 1)`` seconds, scaled up by a random
    factor of at most ``1 + jitter``, and never more than ``max_delay``. When the error
    carries a ``Retry-After`` (or OpenAI's ``retry-after-ms``), that wait is used instead,
    also capped by ``max_delay``. The names follow LangChain's ``ModelRetryMiddleware``
    (``max_retries`` there is ``attempts - 1`` here; ``backoff_factor`` is ``multiplier``).
    """

    attempts: int = 4
    initial_delay: float = 1.0
    max_delay: float = 60.0
    multiplier: float = 2.0
    #: Fraction of each delay added at random (0 to 1): spreads out clients retrying together.
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int):
            raise ValueError(f"attempts must be an integer >= 1, got {self.attempts!r}")
        if self.attempts < 1:
            raise ValueError(f"attempts must be >= 1 (1 means no retry), got {self.attempts}")
        for name in ("initial_delay", "max_delay", "multiplier", "jitter"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        if self.max_delay < self.initial_delay:
            raise ValueError(
                f"max_delay ({self.max_delay}) must be >= initial_delay ({self.initial_delay})"
            )
        if self.multiplier < 1:
            raise ValueError(
                f"multiplier must be >= 1 (1: the same delay each time), got {self.multiplier}"
            )
        if self.jitter > 1:
            raise ValueError(f"jitter must be between 0 and 1, got {self.jitter}")

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        try:
            base = self.initial_delay * self.multiplier ** (retry - 1)
        except OverflowError:  # many attempts, steep growth: the cap decides
            base = self.max_delay
        return min(base * (1 + self.jitter * random.random()), self.max_delay)


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, TimeoutError):
        return True
    status = getattr(exc, "status_code", None) or getattr(
        getattr(exc, "response", None), "status_code", None
    )
    if isinstance(status, int):
        return status == 429 or status >= 500
    name = type(exc).__name__
    return any(word in name for word in ("RateLimit", "Timeout", "Connection", "InternalServer"))


def retry_after(exc: BaseException) -> float | None:
    """The wait in seconds the server asked for, if the error carries one.

    Looks at a ``retry_after`` attribute, then at the ``retry-after-ms`` and ``Retry-After``
    headers of ``exc.headers`` or ``exc.response.headers`` (seconds or an HTTP date).
    """
    value = getattr(exc, "retry_after", None)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) if math.isfinite(value) else None
    headers = getattr(exc, "headers", None)
    if headers is None:
        headers = getattr(getattr(exc, "response", None), "headers", None)
    if not isinstance(headers, Mapping):
        return None
    lowered = {str(key).lower(): str(value) for key, value in headers.items()}
    try:
        if "retry-after-ms" in lowered:
            seconds = float(lowered["retry-after-ms"].split(",")[0]) / 1000
        elif "retry-after" in lowered:
            text = lowered["retry-after"].strip()
            try:  # seconds; repeated headers arrive joined ("2, 3"): the first counts
                seconds = float(text.split(",")[0])
            except ValueError:  # an HTTP date ("Wed, 21 Oct 2015 07:28:00 GMT")
                when = parsedate_to_datetime(text)
                if when.tzinfo is None:
                    when = when.replace(tzinfo=UTC)
                seconds = (when - datetime.now(UTC)).total_seconds()
        else:
            return None
    except (ValueError, TypeError, OverflowError):
        return None
    return max(seconds, 0.0) if math.isfinite(seconds) else None


async def invoke_with_retries(
    model: BaseChatModel,
    messages: list[BaseMessage],
    *,
    retry: RetryPolicy | None = None,
    timeout: float = 120.0,
    config: dict[str, Any] | None = None,
) -> AIMessage:
    """Call the model; retry rate limits, server errors and timeouts as ``retry`` says.
    ``config`` (a LangChain ``RunnableConfig``: callbacks, run name, tags) goes with every
    try."""
    from langchain_core.messages import AIMessage

    policy = retry or RetryPolicy()
    run_config = cast("RunnableConfig | None", config)
    for attempt in range(1, policy.attempts + 1):
        try:
            reply = await within(model.ainvoke(messages, run_config), timeout)
        except Exception as exc:
            text = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, TimeoutError):  # asyncio's has no text: say what timed out
                text = str(timeout_error(model, timeout))
            else:
                text = with_endpoint(text, exc, model)
            if not _retryable(exc):
                raise ModelError(text) from None
            if attempt == policy.attempts:
                tries = f"{attempt} attempts" if attempt > 1 else "1 attempt"
                raise ModelError(f"{text} (gave up after {tries})") from None
            asked = retry_after(exc)
            delay = policy.delay(attempt, asked)
            log.warning(
                "model call failed (%s); retry %d in %.2fs%s",
                type(exc).__name__,
                attempt,
                delay,
                " (Retry-After)" if asked is not None else "",
            )
            await asyncio.sleep(delay)
            continue
        if not isinstance(reply, AIMessage):
            raise ModelError(f"the model returned {type(reply).__name__}, not a message")
        return reply
    raise ModelError("the model did not answer")  # pragma: no cover - loop always returns
