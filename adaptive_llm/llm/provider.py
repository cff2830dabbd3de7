"""Which chat model to use and how to name it (what it costs: :mod:`.prices`).

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
from .prices import PRICES as PRICES
from .prices import estimate_cost as estimate_cost

if TYPE_CHECKING:  # LangChain loads on first use
    from langchain_core.language_models import BaseChatModel

log = logging.getLogger(__name__)


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
