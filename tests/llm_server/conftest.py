"""Fixtures for the tests against a real local model server (llama.cpp's llama-server).

The server is started outside the tests by ``.ci/llm-up`` (``.ci/run`` does it and exports its
URL as ``ADAPTIVE_LLM_TEST_LLM_URL``). The tests find it through that variable or through the
state file ``.ci/llm-up`` writes; without an answering server they skip with the reason, and
under ``CI=true`` they fail instead (as the SLURM tests do).
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from llm_servers import Relay, SpareServer, llm_up_argv

#: The variable ``.ci/run`` sets from the last line ``.ci/llm-up`` prints.
URL_ENV = "ADAPTIVE_LLM_TEST_LLM_URL"


def state_file() -> Path:
    """Where ``.ci/llm-up`` writes the base URL of the server it started."""
    return Path(os.environ.get("XDG_RUNTIME_DIR") or "/tmp") / "adaptive_llm-llm-server.url"


def _find_url() -> tuple[str | None, str]:
    """(base URL or None, where it came from / why there is none)."""
    url = os.environ.get(URL_ENV, "").strip()
    if url:
        return url.rstrip("/"), f"${URL_ENV}"
    path = state_file()
    try:
        url = path.read_text().strip()
    except OSError:
        return None, f"${URL_ENV} is not set and there is no state file {path}"
    if not url:
        return None, f"${URL_ENV} is not set and the state file {path} is empty"
    return url.rstrip("/"), f"the state file {path}"


def _models(base_url: str) -> list[str]:
    """The model ids the server lists at ``/models`` (raises OSError/ValueError when it does not
    answer with a model list)."""
    with urllib.request.urlopen(f"{base_url}/models", timeout=10) as answer:
        data = json.load(answer)
    return [str(model["id"]) for model in data.get("data", [])]


def _skip_or_fail(problem: str) -> NoReturn:
    """Skip with the reason on a developer's machine; under CI=true a missing server fails."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"local model server not available under CI=true: {problem}", pytrace=False)
    pytest.skip(f"local model server not available: {problem}")


_found: list[tuple[str, str] | str] = []  # the session's answer: (url, model) or the problem


def _probe() -> tuple[str, str] | str:
    url, source = _find_url()
    if url is None:
        return f"{source} (start one with `.ci/llm-up`)"
    try:
        models = _models(url)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return (
            f"the server at {url} (from {source}) does not answer GET /models: {exc}"
            " (start one with `.ci/llm-up`)"
        )
    if not models:
        return f"the server at {url} (from {source}) lists no model (restart it with `.ci/llm-up`)"
    return url, models[0]


def require_llm_server() -> tuple[str, str]:
    """(base URL, model id) of the running server; skips, or fails under CI=true, without one."""
    if not _found:
        _found.append(_probe())
    found = _found[0]
    if isinstance(found, str):
        _skip_or_fail(found)
    return found


@pytest.fixture(scope="session")
def llm_base_url() -> str:
    """The server's OpenAI-compatible base URL, ``http://127.0.0.1:PORT/v1``."""
    return require_llm_server()[0]


@pytest.fixture(scope="session")
def llm_model_name(llm_base_url: str) -> str:
    """The model id the server serves (``smollm2`` with ``.ci/llm-up``)."""
    return require_llm_server()[1]


@pytest.fixture(scope="session")
def llm_root_url(llm_base_url: str) -> str:
    """The server's root, ``http://127.0.0.1:PORT``: where the Anthropic client goes (it adds
    ``/v1/messages`` itself)."""
    return llm_base_url.removesuffix("/v1")


@pytest.fixture
def make_chat_anthropic(llm_root_url: str, llm_model_name: str) -> Callable[..., Any]:
    """``make_chat_anthropic(**kwargs)``: a langchain-anthropic ``ChatAnthropic`` on the local
    server's Anthropic Messages API (``/v1/messages``), with the same defaults as
    ``make_chat_openai`` (a placeholder key, ``max_tokens=16``, temperature 0, 60 s, no
    retries)."""
    from langchain_anthropic import ChatAnthropic

    def factory(**kwargs: Any) -> ChatAnthropic:
        options: dict[str, Any] = {
            "model": llm_model_name,
            "base_url": llm_root_url,
            "api_key": "none",
            "max_tokens": 16,
            "temperature": 0,
            "timeout": 60,
            "max_retries": 0,
        }
        options.update(kwargs)
        return ChatAnthropic(**options)

    return factory


@pytest.fixture
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run's workdir, at the same path in every test of the session (emptied first).

    The chat's system prompt names the workspace's root and the job's log path: with the same
    path (and the same job) every test sends the same long prompt prefix, which llama-server
    keeps in its prompt cache. A new path per test would cost each first turn some 30 s of
    prompt processing on one thread."""
    path = tmp_path_factory.getbasetemp() / "llm-server-work"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    return path


@pytest.fixture
def make_chat_openai(llm_base_url: str, llm_model_name: str) -> Callable[..., Any]:
    """``make_chat_openai(**kwargs)``: a langchain-openai ``ChatOpenAI`` on the local server.

    Defaults: no API key (``"none"``), ``max_tokens=16`` (the tiny model rambles until the
    context is full otherwise), temperature 0, a 60 s timeout and no retries.
    """
    from langchain_openai import ChatOpenAI

    def factory(**kwargs: Any) -> ChatOpenAI:
        options: dict[str, Any] = {
            "model": llm_model_name,
            "base_url": llm_base_url,
            "api_key": "none",
            "max_tokens": 16,
            "temperature": 0,
            "timeout": 60,
            "max_retries": 0,
        }
        options.update(kwargs)
        return ChatOpenAI(**options)

    return factory


# -- servers to kill, and servers that never answer ----------------------------------------------


@pytest.fixture(scope="module")
def spare_server(
    llm_base_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SpareServer]:
    """A second llama-server started for the module (the shared one is never stopped)."""
    argv = llm_up_argv(state_file())
    if argv is None:
        _skip_or_fail("no cached llama-server and model of .ci/llm-up to start a second one")
    server = SpareServer(argv, tmp_path_factory.mktemp("spare") / "llama-server.log")
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def relay(llm_base_url: str) -> Iterator[Relay]:
    """A silent stand-in in front of the shared server (``relay.silent = False`` relays)."""
    stand_in = Relay(llm_base_url)
    try:
        yield stand_in
    finally:
        stand_in.close()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "llm_server: needs the real local model server of `.ci/llm-up`"
    )
