"""``adaptive-llm demo --model``: the demo with a model on an OpenAI-compatible server that
needs no key, and with a server that is down: it ends with a clear outcome, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI, Reply

pytest.importorskip("langchain_openai")

CLI = [sys.executable, "-m", "adaptive_llm.cli"]


def demo(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "ADAPTIVE_LLM_MODEL")}
    return subprocess.run(
        [*CLI, "demo", "--headless", "--workdir", str(workdir), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_demo_with_a_local_model(tmp_path: Path) -> None:
    with FakeOpenAI(api_key="not-needed") as server:
        server.diagnosis_replies += [Reply(text=f"Model diagnosis {n}.") for n in range(5)]
        server.default = Reply(text="I would raise the time limit.")
        out = demo(
            tmp_path / "d", "--approve-all", "--model", "openai:tiny", "--base-url", server.base_url
        )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    assert "model openai:tiny" in out.stdout
    assert "--- LLM diagnoses" in out.stdout and "Model diagnosis" in out.stdout, out.stdout
    assert "assistant: I would raise the time limit." in out.stdout
    assert "note: simulate: expected COMPLETED on attempt 2" in out.stdout  # it proposed nothing
    assert {r.route for r in server.requests} == {"diagnosis", "chat"}


def test_demo_with_a_server_that_is_down(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    out = demo(tmp_path / "d", "--model", "openai:tiny", "--base-url", url)
    assert "Traceback" not in out.stderr, out.stderr
    assert out.returncode == 0, out.stdout + out.stderr  # the offline diagnoses stand
    assert "LLM diagnosis unavailable" in out.stdout and url in out.stdout, out.stdout


def test_base_url_needs_an_openai_model(tmp_path: Path) -> None:
    out = demo(tmp_path / "d", "--model", "anthropic:x", "--base-url", "http://127.0.0.1:1/v1")
    assert out.returncode == 2 and "--base-url needs --model openai:NAME" in out.stderr
