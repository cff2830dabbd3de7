"""Plumbing against the real local model server of ``.ci/llm-up`` (llama-server, SmolLM2-135M).

Through langchain-openai's ``ChatOpenAI``, as a user with a local model would talk to it. The
model is tiny and its answers are nonsense: these tests assert on the plumbing (messages,
chunks, usage, tool calls, errors), never on the wording.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel, Field

pytestmark = pytest.mark.llm_server

MakeChat = Callable[..., Any]


class WriteFileArgs(BaseModel):
    # Bounded strings (maxLength becomes part of the server's grammar): a forced call then ends
    # well within max_tokens instead of the tiny model repeating words in an argument.
    path: str = Field(max_length=24, description="the file's path, relative to the job's directory")
    content: str = Field(max_length=24, description="the text to write")


@tool(args_schema=WriteFileArgs)
def write_file(path: str, content: str) -> str:
    """Write ``content`` to the file at ``path``."""
    return f"wrote {len(content)} characters to {path}"


def _check_usage(usage: Any, *, max_output: int) -> None:
    assert usage is not None, "no usage metadata"
    assert usage["input_tokens"] > 0
    assert 0 < usage["output_tokens"] <= max_output
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_models_lists_the_alias(llm_model_name: str) -> None:
    assert llm_model_name == "smollm2"


def test_plain_reply_has_usage(make_chat_openai: MakeChat) -> None:
    reply = make_chat_openai(max_tokens=8).invoke([HumanMessage("Say hello.")])

    assert isinstance(reply, AIMessage)
    assert isinstance(reply.content, str)
    assert reply.response_metadata["finish_reason"] in ("stop", "length")
    _check_usage(reply.usage_metadata, max_output=8)


def test_streaming_arrives_in_chunks_with_usage(make_chat_openai: MakeChat) -> None:
    chat = make_chat_openai(max_tokens=12, stream_usage=True)

    chunks = list(chat.stream([HumanMessage("Count from one to ten.")]))

    assert all(isinstance(chunk, AIMessageChunk) for chunk in chunks)
    texts = [chunk.content for chunk in chunks if chunk.content]
    assert len(texts) >= 2, f"expected several content chunks, got {texts!r}"
    whole = chunks[0]
    for chunk in chunks[1:]:
        whole = whole + chunk
    assert whole.content == "".join(texts)
    _check_usage(whole.usage_metadata, max_output=12)


def test_streaming_without_usage_still_streams(make_chat_openai: MakeChat) -> None:
    # ChatOpenAI with a custom base_url does not ask for streamed usage by default.
    chunks = list(make_chat_openai(max_tokens=6).stream([HumanMessage("Hi.")]))

    assert sum(1 for chunk in chunks if chunk.content) >= 1


def test_forced_tool_call_arrives_parsed(make_chat_openai: MakeChat) -> None:
    # llama-server forces a call only with tool_choice "required" (LangChain's "any"); a named
    # choice ({"type": "function", ...}, LangChain's tool_choice="write_file") is not a string,
    # and this server then logs a warning and uses "auto". It also ignores
    # parallel_tool_calls=False with this template: the tiny model often repeats the call.
    chat = make_chat_openai(max_tokens=256).bind_tools([write_file], tool_choice="any")

    reply = chat.invoke([HumanMessage("Create notes.txt containing the word hi.")])

    assert isinstance(reply, AIMessage)
    assert reply.invalid_tool_calls == []
    assert len(reply.tool_calls) >= 1, reply
    for call in reply.tool_calls:
        assert call["name"] == "write_file"
        assert isinstance(call["args"], dict)
        assert call["id"]
    assert reply.response_metadata["finish_reason"] == "tool_calls"


def test_forced_tool_call_streams_parsed(make_chat_openai: MakeChat) -> None:
    chat = make_chat_openai(max_tokens=256, stream_usage=True).bind_tools(
        [write_file], tool_choice="any"
    )

    chunks = list(chat.stream([HumanMessage("Create notes.txt containing the word hi.")]))

    whole = chunks[0]
    for chunk in chunks[1:]:
        whole = whole + chunk
    assert whole.invalid_tool_calls == []
    assert len(whole.tool_calls) >= 1, whole
    for call in whole.tool_calls:
        # The name arrives once per call (llama-cpp-python's server repeats it in every chunk).
        assert call["name"] == "write_file"
        assert isinstance(call["args"], dict)
    assert whole.usage_metadata is not None


def test_tool_result_round_trip(make_chat_openai: MakeChat) -> None:
    # The assistant's tool-call message (empty content) and one ToolMessage per call go back
    # to the server, which must accept them and answer.
    ask = [HumanMessage("Create notes.txt containing the word hi.")]
    forced = make_chat_openai(max_tokens=256).bind_tools([write_file], tool_choice="any")
    call_msg = forced.invoke(ask)
    assert call_msg.tool_calls, call_msg
    results = [
        ToolMessage("wrote 2 characters to notes.txt", tool_call_id=call["id"])
        for call in call_msg.tool_calls
    ]

    reply = (
        make_chat_openai(max_tokens=8).bind_tools([write_file]).invoke([*ask, call_msg, *results])
    )

    assert isinstance(reply, AIMessage)
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["input_tokens"] > call_msg.usage_metadata["input_tokens"]


def test_malformed_tool_call_in_history_is_rejected(make_chat_openai: MakeChat) -> None:
    # A call cut off by max_tokens comes back from LangChain as an invalid tool call; sent back
    # in the history, this server rejects the whole request (so a chat must not store it as is).
    cut = AIMessage(
        content="",
        invalid_tool_calls=[
            {
                "type": "invalid_tool_call",
                "id": "call_1",
                "name": "write_file",
                "args": '{"path": "notes.txt", "content": "hi',
                "error": None,
            }
        ],
    )
    history = [HumanMessage("Create notes.txt."), cut, ToolMessage("error", tool_call_id="call_1")]

    with pytest.raises(openai.APIStatusError) as caught:
        make_chat_openai().bind_tools([write_file]).invoke(history)

    assert caught.value.status_code == 500
    assert "JSON" in str(caught.value)


def _overflow_prompt() -> list[HumanMessage]:
    # Well past the server's -c 8192 (about 2 tokens per repetition).
    return [HumanMessage("overflow " * 12_000)]


def _is_context_error(exc: openai.APIStatusError) -> bool:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body) if isinstance(body, dict) else {}
    kind = error.get("type") if isinstance(error, dict) else None
    return kind == "exceed_context_size_error" or "context" in str(exc).lower()


def test_context_overflow_is_a_clear_error(make_chat_openai: MakeChat) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        make_chat_openai().invoke(_overflow_prompt())

    assert caught.value.status_code == 400
    assert _is_context_error(caught.value), caught.value


def test_context_overflow_while_streaming_is_a_clear_error(make_chat_openai: MakeChat) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        list(make_chat_openai().stream(_overflow_prompt()))

    assert caught.value.status_code == 400
    assert _is_context_error(caught.value), caught.value
