"""The output limit reaches every provider's real client, including the limits a client fills
in by itself (langchain-anthropic sets ``max_tokens`` on every ``ChatAnthropic``: the model
profile's maximum, or 4,096 for a model it does not know, such as any local one).

Found against llama-server's Anthropic Messages API: with that default kept, SmolLM2 rambled
4,096 tokens and every chat turn ended at the call timeout."""

from __future__ import annotations

import pytest

from adaptive_llm import ModelLimits
from adaptive_llm.llm.limits import limit_output
from adaptive_llm.llm.provider import resolve_model

anthropic = pytest.importorskip("langchain_anthropic")
openai = pytest.importorskip("langchain_openai")

LOCAL = "http://127.0.0.1:9"


def test_a_local_anthropic_protocol_model_gets_the_limit() -> None:
    model = anthropic.ChatAnthropic(model="smollm2", base_url=LOCAL, api_key="x")
    assert model.max_tokens == 4096  # what langchain-anthropic fills in (the default we replace)

    limited = limit_output(model, 64)

    assert limited.max_tokens == 64
    assert model.max_tokens == 4096  # the caller's object is left as it was


def test_the_readme_dict_for_a_local_anthropic_server_gets_the_limit() -> None:
    model = resolve_model({"model": "anthropic:smollm2", "base_url": LOCAL})

    assert limit_output(model, ModelLimits().max_output_tokens).max_tokens == 2048


def test_a_cloud_anthropic_model_gets_the_limit_not_its_profile_maximum() -> None:
    model = anthropic.ChatAnthropic(model="claude-sonnet-4-5", api_key="x")
    ceiling = model.profile["max_output_tokens"]
    assert model.max_tokens == ceiling

    assert limit_output(model, 2048).max_tokens == 2048
    # Never raised above what the model can give.
    assert limit_output(model, ceiling * 2).max_tokens == ceiling


def test_a_limit_the_user_set_is_kept() -> None:
    model = anthropic.ChatAnthropic(model="smollm2", base_url=LOCAL, api_key="x", max_tokens=100)
    assert limit_output(model, 64).max_tokens == 100
    chat = openai.ChatOpenAI(model="smollm2", base_url=LOCAL, api_key="x", max_tokens=9)
    assert limit_output(chat, 64).max_tokens == 9


def test_an_openai_model_without_a_limit_gets_one() -> None:
    chat = openai.ChatOpenAI(model="smollm2", base_url=LOCAL, api_key="x")
    assert chat.max_tokens is None

    assert limit_output(chat, 64).max_tokens == 64


class NotFoundError(Exception):
    status_code = 404


def test_a_404_names_the_endpoint_and_the_url_to_give() -> None:
    from adaptive_llm.llm.limits import with_endpoint

    wrong = anthropic.ChatAnthropic(model="smollm2", base_url=f"{LOCAL}/v1", api_key="x")
    text = with_endpoint("Error code: 404 - File Not Found", NotFoundError(), wrong)
    assert f"endpoint {LOCAL}/v1" in text and f"base_url '{LOCAL}'" in text, text

    chat = openai.ChatOpenAI(model="smollm2", base_url=LOCAL, api_key="x")
    text = with_endpoint("Error code: 404", NotFoundError(), chat)
    assert f"endpoint {LOCAL}" in text and "usually ends in /v1" in text, text

    right = anthropic.ChatAnthropic(model="smollm2", base_url=LOCAL, api_key="x")
    text = with_endpoint("Error code: 404 - model not found", NotFoundError(), right)
    assert text.endswith(f"(endpoint {LOCAL}: no such path or model there)"), text
    # Other errors are left as they are.
    assert with_endpoint("bad request", ValueError(), right) == "bad request"


def test_a_subclass_of_the_provider_class_gets_the_limit_too() -> None:
    class MyAnthropic(anthropic.ChatAnthropic):
        pass

    model = MyAnthropic(model="smollm2", base_url=LOCAL, api_key="x")
    assert model.max_tokens == 4096

    assert limit_output(model, 64).max_tokens == 64
