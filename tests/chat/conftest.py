"""Fixtures for the chat tests: a started RunManager with one failed job and a scripted model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from chat_support import StartChat

from adaptive_llm import Job, RunManager
from adaptive_llm.testing import ScriptedChatModel

#: A job that fails at once (so its chat has a diagnosis), in the workdir (the chat's root).
FAILING = Job("j", ["/bin/sh", "-c", "echo 'RuntimeError: boom'; exit 1"])

_SCRIPTED = object()


@pytest.fixture
def start_chat(make_rm: Callable[..., RunManager]) -> StartChat:
    """``await start_chat(script, jobs=..., llm=...)``: a started RunManager, its jobs final and
    diagnosed. ``script`` (a ``ChatScript`` or a list) drives a ``ScriptedChatModel``."""

    async def factory(
        script: Any = None,
        *,
        jobs: Sequence[Job] = (FAILING,),
        llm: Any = _SCRIPTED,
        timeout: float = 30,
        **kwargs: Any,
    ) -> RunManager:
        model = ScriptedChatModel(script) if llm is _SCRIPTED else llm
        rm = make_rm(jobs, llm=model, **kwargs)
        rm.start()
        await rm.wait(timeout=timeout, llm=True)
        return rm

    return factory


@pytest.fixture
def files(workdir: Path) -> Callable[..., Path]:
    """``files(name, content)``: write a file (str or bytes) in the workdir, return its path."""

    def write(name: str, content: str | bytes) -> Path:
        path = workdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_bytes(content.encode())
        return path

    return write


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # LangGraph's resume path serialises our ChatContext against a schema expecting none; the
    # product filters this warning at import, but pytest resets filters around each test.
    for item in items:
        if "tests/chat/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.filterwarnings("ignore:Pydantic serializer warnings"))
