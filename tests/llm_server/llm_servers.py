"""Servers for the scenarios: a second llama-server to kill and start again, and a stand-in
that accepts connections and never answers (or relays them to the real server)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def llm_up_argv(state: Path) -> list[str] | None:
    """The command ``.ci/llm-up`` starts its server with, read from the running server (the
    pid file beside its ``state`` file), without ``--port``; else rebuilt from the script's
    settings and cache layout; None without a cached binary and model."""
    run = state.with_suffix("")  # .../adaptive_llm-llm-server
    with contextlib.suppress(OSError, ValueError):
        pid = int(Path(f"{run}.pid").read_text())
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        words = [w.decode() for w in argv if w]
        if words and words[0].endswith("llama-server"):
            i = words.index("--port")
            return words[:i] + words[i + 2 :]
    script = (Path(__file__).parents[2] / ".ci" / "llm-up").read_text()

    def setting(name: str) -> str:
        found = re.search(rf"^{name}=(\S+)", script, re.MULTILINE)
        assert found, f".ci/llm-up sets no {name}"
        return found.group(1)

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "adaptive_llm"
    bin_dir = cache / f"llama-server-{setting('VERSION')}"
    model = cache / f"{setting('MODEL_PACKAGE')}-{setting('MODEL_VERSION')}" / setting("MODEL_FILE")
    server = bin_dir / "llama-server"
    if not server.exists() or not model.exists():
        return None
    return [
        str(server), "-m", str(model), "--host", "127.0.0.1", "--jinja", "-c", setting("CTX"),
        "--alias", setting("ALIAS"), "--chat-template-file", str(bin_dir / setting("TEMPLATE")),
        "--threads", "1",
    ]  # fmt: skip


class SpareServer:
    """A llama-server of the test's own (the cached binary and model of ``.ci/llm-up``) on a
    fixed port: ``kill()`` it (SIGKILL, as a crash) and ``start()`` it again on the same port."""

    def __init__(self, argv: list[str], log: Path) -> None:
        self.argv = argv
        self.port = _free_port()
        self.root_url = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.root_url}/v1"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [*self.argv, "--port", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            with (
                contextlib.suppress(OSError, ValueError),
                urllib.request.urlopen(f"{self.root_url}/health", timeout=2) as answer,
            ):
                if json.load(answer).get("status") == "ok":
                    return
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                tail = self.log.read_text(errors="replace")[-2000:]
                pytest.fail(f"the spare llama-server did not come up on {self.root_url}:\n{tail}")
            time.sleep(0.2)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None


class Relay:
    """A TCP server on 127.0.0.1 in front of the real one: ``silent`` (accept, read, never
    answer, as a hung server does) or relaying every byte both ways to ``upstream``. The mode
    counts for the connections accepted from then on."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("http://").split("/", 1)[0].split(":")
        self.upstream = (host, int(port))
        self.silent = True
        self.accepted = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.root_url = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.root_url}/v1"
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _keep(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            self._keep(client)
            if self.silent:
                threading.Thread(target=self._swallow, args=(client,), daemon=True).start()
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            self._keep(server)
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _swallow(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while sock.recv(65536):
                pass

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()
