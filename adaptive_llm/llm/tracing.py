"""The callbacks every model call gets: the user's, Langfuse's when configured, and ours.

- ``RunManager(..., callbacks=[...])``: LangChain callback handlers, given to every chat turn
  (the whole agent run: model calls, tool calls) and every LLM diagnosis call.
- LangSmith: langchain-core traces by itself when ``LANGSMITH_TRACING=true`` (with
  ``LANGSMITH_API_KEY``, and ``LANGSMITH_ENDPOINT`` / ``LANGSMITH_PROJECT`` if wanted); the
  run names, tags and metadata set here make the runs easy to find.
- Langfuse: with ``LANGFUSE_PUBLIC_KEY`` and ``LANGFUSE_SECRET_KEY`` set (and
  ``LANGFUSE_BASE_URL`` or ``LANGFUSE_HOST`` for a server of one's own), Langfuse's LangChain
  ``CallbackHandler`` is added, when the ``langfuse`` package is installed (else one warning
  says to install it).

Tracing sends what the model is sent and answers (prompts, job facts, tool results) to the
tracing service.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

__all__ = ["langfuse_handler", "run_config"]

log = logging.getLogger(__name__)

_langfuse: dict[tuple[str, str], Any] = {}
_warned = False


def langfuse_handler() -> Any | None:
    """Langfuse's LangChain handler when its keys are set in the environment (one per keys
    and host, made on first use), else None."""
    global _warned
    public = os.environ.get("LANGFUSE_PUBLIC_KEY", "")
    if not public or not os.environ.get("LANGFUSE_SECRET_KEY"):
        return None
    host = os.environ.get("LANGFUSE_BASE_URL") or os.environ.get("LANGFUSE_HOST") or ""
    key = (public, host)
    if key not in _langfuse:
        try:
            from langfuse.langchain import CallbackHandler
        except ImportError:
            if not _warned:
                _warned = True
                log.warning(
                    "LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY are set but the langfuse"
                    " package is not installed: no Langfuse traces. pip install langfuse"
                    " (or 'adaptive-llm[langfuse]')"
                )
            return None
        try:
            _langfuse[key] = CallbackHandler()  # its client reads the same variables
        except Exception as exc:  # a broken configuration must not stop the model calls
            log.warning("Langfuse's callback handler could not be made: %s", exc)
            return None
    return _langfuse[key]


def run_config(
    callbacks: Sequence[Any],
    *,
    run_name: str,
    tags: Sequence[str] = (),
    metadata: dict[str, Any] | None = None,
    ours: Sequence[Any] = (),
) -> dict[str, Any]:
    """A LangChain ``RunnableConfig`` for one chat turn or diagnosis call: the user's
    ``callbacks``, Langfuse's handler when configured, and ``ours`` (usage counting)."""
    handlers = list(callbacks)
    langfuse = langfuse_handler()
    if langfuse is not None and langfuse not in handlers:
        handlers.append(langfuse)
    handlers.extend(ours)
    return {
        "callbacks": handlers,
        "run_name": run_name,
        "tags": ["adaptive_llm", *tags],
        "metadata": dict(metadata or {}),
    }
