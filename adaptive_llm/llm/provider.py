"""Which chat model to use, how to name it and what it costs.

``llm`` may be an ``init_chat_model`` string (``"openai:gpt-4.1-mini"``, ``"anthropic:..."``,
``"ollama:..."``), a dict of ``init_chat_model`` arguments (e.g. with ``base_url`` for an
OpenAI-compatible server), any LangChain ``BaseChatModel``, or None / ``"offline"`` for the
offline assistant. API keys come only from the providers' environment variables (or the
dict's ``api_key``); they are never stored, logged or shown. An ``openai:`` dict with a
``base_url`` (a local OpenAI-compatible server) and no key anywhere gets a placeholder key.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from ..errors import ModelError as ModelError

if TYPE_CHECKING:  # LangChain loads on first use
    from langchain_core.language_models import BaseChatModel

log = logging.getLogger(__name__)

#: US dollars per million input and output tokens, for the cost estimate shown in the chat.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "claude-3-5-haiku": (0.80, 4.00),
    "claude-haiku": (1.00, 5.00),
    "claude-sonnet": (3.00, 15.00),
    "claude-opus": (15.00, 75.00),
}


def uses_model(spec: Any) -> bool:
    """Whether ``spec`` names a model (None and ``"offline"`` mean the offline assistant)."""
    return spec is not None and spec != "offline"


def resolve_model(spec: Any) -> BaseChatModel:
    """The chat model ``spec`` names (see the module docstring); ``ModelError`` if it cannot
    be made. The offline assistant is the chat layer's, not a provider: check ``uses_model``."""
    from langchain_core.language_models import BaseChatModel

    if spec is None or spec == "offline":
        raise ModelError("no model configured: the chat uses the offline assistant")
    if isinstance(spec, BaseChatModel):
        return spec
    from langchain.chat_models import init_chat_model

    kwargs: dict[str, Any] = dict(spec) if isinstance(spec, dict) else {"model": spec}
    if not isinstance(kwargs.get("model"), str):
        raise ModelError(
            "llm must be a model name such as 'openai:gpt-4.1-mini', a dict of"
            " init_chat_model arguments, a LangChain chat model, or None"
        )
    provider = str(kwargs["model"]).split(":", 1)[0]
    key_variable = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}.get(provider)
    local = kwargs.get("base_url") or kwargs.get("openai_api_base")
    if provider == "openai" and not local:
        # Token usage in streamed replies (the chat's counter). Not forced for a custom
        # base_url (as LangChain does not): a compatible server may reject the option.
        kwargs.setdefault("stream_usage", True)
    if key_variable and local and "api_key" not in kwargs and not os.environ.get(key_variable):
        # A local server speaking the provider's protocol (llama.cpp, vLLM, Ollama) wants no
        # key, but the client refuses to start without one.
        kwargs["api_key"] = "not-needed"
    try:
        model = init_chat_model(**kwargs)
    except ImportError as exc:
        raise ModelError(
            f"model {kwargs['model']!r} needs its provider package ({exc}); install e.g."
            " pip install 'adaptive-llm[openai]' (or [anthropic], [ollama])"
        ) from None
    except Exception as exc:
        raise ModelError(
            f"cannot create model {kwargs['model']!r}: {type(exc).__name__}: {exc}. Set the"
            " provider's API key variable (e.g. OPENAI_API_KEY) in the kernel's environment"
        ) from None
    if not isinstance(model, BaseChatModel):
        raise ModelError(f"{kwargs['model']!r} did not give a chat model")
    return model


def model_label(model: BaseChatModel) -> str:
    """``provider:model`` where known (never anything secret)."""
    name = getattr(model, "model_name", None) or getattr(model, "model", None)
    kind = model._llm_type
    return f"{kind}:{name}" if name else kind


def estimate_cost(label: str, input_tokens: int, output_tokens: int) -> float | None:
    name = label.split(":", 1)[-1]
    for prefix in sorted(PRICES, key=len, reverse=True):
        if name.startswith(prefix):
            price_in, price_out = PRICES[prefix]
            return round((input_tokens * price_in + output_tokens * price_out) / 1e6, 6)
    if label.startswith(("offline", "scripted")):
        return 0.0
    return None
