"""Bounds on every model call: output tokens and wall time, and how a timeout is explained.

A small local model rambles until its context is full unless an output limit is set, and a
server that accepts the connection and never answers would hold a chat turn for as long as the
client allows (about 30 minutes for the OpenAI client's defaults). So every model the package
makes or is given gets an output limit (when it has none of its own), and every call runs
under a wall-clock timeout whose error names the endpoint.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ModelError
from .provider import model_label

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

__all__ = [
    "ModelLimits",
    "context_of",
    "endpoint_of",
    "limit_output",
    "timeout_error",
    "with_endpoint",
]

#: Output-limit fields of LangChain's chat models, by the name each provider uses.
_OUTPUT_FIELDS = ("max_tokens", "max_output_tokens", "num_predict", "max_new_tokens")
#: Base-URL fields, by provider (OpenAI and compatible servers, Anthropic, Ollama, ...).
_URL_FIELDS = ("openai_api_base", "base_url", "anthropic_api_url", "api_base", "endpoint_url")


@dataclass(frozen=True)
class ModelLimits:
    """``RunManager(..., llm_limits=ModelLimits(...))``.

    - ``max_output_tokens``: the output limit of each call (a chat step, a diagnosis), set on
      the model unless it has one of its own (default 2,048);
    - ``call_timeout``: seconds one model call may take, streaming included (default 120);
    - ``turn_timeout``: seconds one chat turn may take in all, tool calls included, but not
      the time a change waits for your decision (default 600);
    - ``context_tokens``: the model's context window, which the history sent with each call is
      fitted into (default: the model's profile, else 8,192, what local servers often run).
    """

    max_output_tokens: int = 2048
    call_timeout: float = 120.0
    turn_timeout: float = 600.0
    context_tokens: int | None = None

    def __post_init__(self) -> None:
        tokens = self.max_output_tokens
        if isinstance(tokens, bool) or not isinstance(tokens, int) or not 1 <= tokens <= 1 << 20:
            raise ValueError(f"max_output_tokens must be 1 to {1 << 20}, got {tokens!r}")
        context = self.context_tokens
        if context is not None and (
            isinstance(context, bool) or not isinstance(context, int) or context < 512
        ):
            raise ValueError(f"context_tokens must be an int of at least 512, got {context!r}")
        for name in ("call_timeout", "turn_timeout"):
            value = getattr(self, name)
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok or not math.isfinite(value) or not 0 < value <= 86400:
                raise ValueError(f"{name} must be seconds between 0 and 86400, got {value!r}")


def limit_output(model: BaseChatModel, tokens: int) -> BaseChatModel:
    """``model`` with an output limit of ``tokens``, unless it already has one of its own (a
    copy: the caller's object is not changed). Models without a known limit field are
    returned as is.

    A limit the model's class filled in by itself is not "its own": langchain-anthropic sets
    ``max_tokens`` on every ``ChatAnthropic`` to the model's profile (64,000 for Claude Sonnet
    4.5) or to 4,096 for a model it does not know (any local one), so a limit equal to that
    default is replaced, never raised above the profile's maximum. (A user who wants exactly
    that number sets it with ``ModelLimits(max_output_tokens=...)``.)"""
    fields = getattr(type(model), "model_fields", {})
    for name in _OUTPUT_FIELDS:
        if name in fields:
            current = getattr(model, name, None)
            if current is not None and current not in _class_defaults(model):
                return model
            ceiling = _profile_output(model)
            if ceiling is not None:
                tokens = min(tokens, ceiling)
            return model.model_copy(update={name: tokens})
    return model


def _profile_output(model: Any) -> int | None:
    """The output maximum the model's profile gives, if any."""
    profile = getattr(model, "profile", None)
    value = profile.get("max_output_tokens") if isinstance(profile, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _class_defaults(model: Any) -> set[int]:
    """Output limits the model's class fills in when none is given: its profile's maximum,
    and the fallback its module names (langchain-anthropic's ``_FALLBACK_MAX_OUTPUT_TOKENS``)."""
    defaults: set[int] = set()
    ceiling = _profile_output(model)
    if ceiling is not None:
        defaults.add(ceiling)
    for cls in type(model).__mro__:  # a subclass of the provider's class, too
        module = sys.modules.get(cls.__module__)
        fallback = getattr(module, "_FALLBACK_MAX_OUTPUT_TOKENS", None)
        if isinstance(fallback, int) and not isinstance(fallback, bool):
            defaults.add(fallback)
    return defaults


#: The context assumed for a model whose profile does not say (llama.cpp's common ``-c``).
DEFAULT_CONTEXT = 8192


def context_of(model: Any, limits: ModelLimits) -> int:
    """The context window the history must fit: configured, from the profile, or the default."""
    if limits.context_tokens:
        return limits.context_tokens
    profile = getattr(model, "profile", None)
    value = profile.get("max_input_tokens") if isinstance(profile, dict) else None
    return value if isinstance(value, int) and value >= 512 else DEFAULT_CONTEXT


def endpoint_of(model: Any) -> str | None:
    """The base URL a model calls, where it says (never a key)."""
    for name in _URL_FIELDS:
        value = getattr(model, name, None)
        if isinstance(value, str) and value:
            return value.split("?", 1)[0]
    return None


def timeout_error(model: Any, seconds: float, what: str = "model call") -> ModelError:
    """The error for a call that did not finish in time, naming the endpoint."""
    where = endpoint_of(model)
    at = f" at {where}" if where else ""
    return ModelError(
        f"the {what} to {model_label(model)}{at} got no complete answer within {seconds:g} s;"
        " is the server up and the model loaded? (limits: RunManager(llm_limits=ModelLimits(...)))"
    )


def with_endpoint(text: str, exc: BaseException, model: Any) -> str:
    """``text`` naming the model's endpoint when ``exc`` is a connection error or a 404 (no
    such path or model at that URL) and the text does not name it already (the one place
    both the diagnosis and the chat explain it). A 404 from a base URL of the wrong shape gets
    a hint: the Anthropic client adds ``/v1/messages`` to the server's root, the OpenAI
    client ``/chat/completions`` to a base URL that usually ends in ``/v1``."""
    where = endpoint_of(model)
    if not where or where in text:
        return text
    name = type(exc).__name__
    if "Connection" in name or isinstance(exc, OSError) or "connect" in text.lower():
        return f"{text} (endpoint {where})"
    if getattr(exc, "status_code", None) == 404 or "NotFound" in name:
        kind = str(getattr(model, "_llm_type", ""))
        base = where.rstrip("/")
        hint = ""
        if "anthropic" in kind and base.endswith("/v1"):
            hint = (
                "; for the Anthropic protocol give the server's root, without /v1: the client"
                f" adds /v1/messages, so base_url {base.removesuffix('/v1')!r}"
            )
        elif "openai" in kind and not base.endswith("/v1"):
            hint = "; an OpenAI-compatible server's base_url usually ends in /v1"
        return f"{text} (endpoint {where}: no such path or model there{hint})"
    return text
