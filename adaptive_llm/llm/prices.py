"""What a model's tokens cost: one table of list prices, matched by the model name's prefix.

Prices are US dollars per million input and output tokens, the providers' standard (not
batch, not cached-input, not long-context) list prices. Source: the providers' pricing pages
(openai.com/api/pricing, anthropic.com/pricing, ai.google.dev/gemini-api/docs/pricing,
mistral.ai/pricing, api-docs.deepseek.com/quick_start/pricing, docs.x.ai/docs/models), as
published up to November 2025; checked on 2026-12-02 against the same pages as far as this
machine could (no network: not re-verified since). Prices change: treat the cost shown as an
estimate, and correct an entry here when a provider changes it.

A model name matches the longest prefix in :data:`PRICES` (``gpt-4.1-mini-2025-04-14`` is
``gpt-4.1-mini``), after dropping a provider's path or region prefix (``models/gemini-2.5-pro``,
``openai/gpt-4o``, ``us.anthropic.claude-sonnet-4-5...``). A model on a local server (see
:func:`is_local_endpoint`) costs 0: you pay for the machine, not per token. Anything else that
matches no entry has no known cost (None: "cost unknown").
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

__all__ = ["PRICES", "estimate_cost", "is_local_endpoint", "price_of"]

#: US dollars per million (input, output) tokens, by model-name prefix (see the module doc).
PRICES: dict[str, tuple[float, float]] = {
    # OpenAI (openai.com/api/pricing)
    "gpt-5-pro": (15.00, 120.00),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5": (1.25, 10.00),  # also gpt-5.1, gpt-5-chat, gpt-5-codex
    "gpt-4.5": (75.00, 150.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-4": (30.00, 60.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o4-mini": (1.10, 4.40),
    "o3-pro": (20.00, 80.00),
    "o3-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
    "o1-mini": (1.10, 4.40),
    "o1-pro": (150.00, 600.00),
    "o1": (15.00, 60.00),
    # Anthropic (anthropic.com/pricing)
    "claude-opus-4-5": (5.00, 25.00),
    "claude-opus-4": (15.00, 75.00),  # claude-opus-4, claude-opus-4-1
    "claude-3-opus": (15.00, 75.00),
    "claude-sonnet": (3.00, 15.00),  # every Sonnet so far: 4.5, 4
    "claude-3-7-sonnet": (3.00, 15.00),
    "claude-3-5-sonnet": (3.00, 15.00),
    "claude-haiku-4-5": (1.00, 5.00),
    "claude-3-5-haiku": (0.80, 4.00),
    "claude-3-haiku": (0.25, 1.25),
    # Google Gemini (ai.google.dev/gemini-api/docs/pricing; prompts up to 200k tokens)
    "gemini-3-pro": (2.00, 12.00),
    "gemini-2.5-pro": (1.25, 10.00),
    "gemini-2.5-flash-lite": (0.10, 0.40),
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.0-flash-lite": (0.075, 0.30),
    "gemini-2.0-flash": (0.10, 0.40),
    "gemini-1.5-pro": (1.25, 5.00),
    "gemini-1.5-flash": (0.075, 0.30),
    # Mistral (mistral.ai/pricing)
    "mistral-large": (2.00, 6.00),
    "mistral-medium": (0.40, 2.00),
    "mistral-small": (0.10, 0.30),
    "magistral-medium": (2.00, 5.00),
    "magistral-small": (0.50, 1.50),
    "codestral": (0.30, 0.90),
    "devstral-medium": (0.40, 2.00),
    "devstral-small": (0.10, 0.30),
    "ministral-8b": (0.10, 0.10),
    "ministral-3b": (0.04, 0.04),
    "open-mistral-nemo": (0.15, 0.15),
    "pixtral-large": (2.00, 6.00),
    # DeepSeek (api-docs.deepseek.com; V3.2 prices since 2025-09-29, cache-miss input)
    "deepseek-chat": (0.28, 0.42),
    "deepseek-reasoner": (0.28, 0.42),
    # xAI (docs.x.ai/docs/models)
    "grok-4-fast": (0.20, 0.50),
    "grok-4": (3.00, 15.00),
    "grok-3-mini": (0.30, 0.50),
    "grok-3": (3.00, 15.00),
}

#: Model labels that never cost anything (the offline assistant, test models).
FREE = ("offline", "scripted")

_PREFIXES = sorted(PRICES, key=len, reverse=True)
#: A cloud's region/vendor prefix of a model id (Bedrock: ``us.anthropic.claude-...``).
_VENDOR = re.compile(r"^(?:[a-z]{2,4}\.)?(?:anthropic|meta|mistral|amazon|cohere|deepseek)\.")


def _name(label: str) -> str:
    """The bare model name of a label (``openai-chat:gpt-4.1`` -> ``gpt-4.1``)."""
    name = label.split(":", 1)[-1].strip().lower()
    name = name.rsplit("/", 1)[-1]  # models/gemini-2.5-pro, openai/gpt-4o
    return _VENDOR.sub("", name)


def price_of(label: str) -> tuple[float, float] | None:
    """The (input, output) price per million tokens of the model ``label``, or None."""
    name = _name(label)
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            return PRICES[prefix]
    return None


def is_local_endpoint(url: str | None) -> bool:
    """Whether ``url`` is a server of one's own: this machine (``localhost``, 127.0.0.0/8,
    ``::1``, ``0.0.0.0``), a private or link-local network address (10/8, 172.16/12,
    192.168/16, fc00::/7, fe80::/10), a ``.local`` / ``.localhost`` / ``.internal`` name, or a
    name without a dot (``http://vllm:8000``, a host of the local network or a container)."""
    if not url:
        return False
    host = urlsplit(url if "//" in url else f"//{url}").hostname
    if not host:
        return False
    host = host.rstrip(".").lower()
    if host in ("localhost", "0.0.0.0") or host.endswith((".local", ".localhost", ".internal")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." not in host
    return address.is_loopback or address.is_private or address.is_link_local


def estimate_cost(
    label: str, input_tokens: int, output_tokens: int, *, local: bool = False
) -> float | None:
    """US dollars for these tokens of the model ``label`` (0 for a local server, the offline
    assistant and test models); None when the model's price is unknown."""
    if local or label.startswith(FREE):
        return 0.0
    price = price_of(label)
    if price is None:
        return None
    return round((input_tokens * price[0] + output_tokens * price[1]) / 1e6, 6)
