"""Failing programs in many languages, run by the real tools, and what a diagnosis must say.

Each case is a folder of ``cases/``:

- ``case.toml``: the language and tool, the command that fails (run in the workspace), the
  executables it needs, and what the diagnosis must find (``[expect]``: category, file relative
  to the workspace, line);
- ``work/``: the workspace, the program as its user wrote it;
- ``output.log``: what the real tool printed (stdout and stderr, as a job's log) when the case
  was recorded by ``python tests/diagnosis/langs/record.py`` in a folder of another name
  (``.../home/runner/work/<case>/<case>``, as on a CI runner): absolute paths in it are from
  "another machine" and must be mapped to the workspace by their tail.

``case.toml`` keys: ``language``, ``tool``, ``command`` (argv; ``{python}`` is this interpreter,
``{npm_bin}`` the ``node_modules/.bin`` of the ``npm`` packages), ``needs`` (executables on
PATH, or absolute paths of files the command reads, such as a library's jar), ``npm`` (pinned
npm packages, installed once into the cache), ``env`` (extra variables),
``timeout`` (seconds, default 120), ``optional`` (a tool CI cannot install from the registries:
skipped, never failed, when missing) and ``[expect]`` with ``category``, ``file``, ``line``
(``file`` and ``line`` left out where the tool names no line of the user's: then none is
checked).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASES_DIR = HERE / "cases"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "adaptive_llm"


@dataclass(frozen=True)
class Case:
    name: str
    folder: Path
    language: str
    tool: str
    command: tuple[str, ...]
    category: str
    file: str | None
    line: int | None
    needs: tuple[str, ...] = ()
    npm: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    timeout: float = 120.0
    optional: bool = False

    @property
    def work(self) -> Path:
        return self.folder / "work"

    @property
    def log(self) -> Path:
        return self.folder / "output.log"


def load_cases() -> list[Case]:
    """Every case of ``cases/``, by name."""
    cases = []
    for toml in sorted(CASES_DIR.glob("*/case.toml")):
        data = tomllib.loads(toml.read_text())
        expect = data["expect"]
        cases.append(
            Case(
                name=toml.parent.name,
                folder=toml.parent,
                language=str(data["language"]),
                tool=str(data["tool"]),
                command=tuple(str(a) for a in data["command"]),
                category=str(expect["category"]),
                file=str(expect["file"]) if "file" in expect else None,
                line=int(expect["line"]) if "line" in expect else None,
                needs=tuple(data.get("needs", ())),
                npm=tuple(data.get("npm", ())),
                env={str(k): str(v) for k, v in data.get("env", {}).items()},
                timeout=float(data.get("timeout", 120)),
                optional=bool(data.get("optional", False)),
            )
        )
    return cases


def missing(case: Case) -> list[str]:
    """What the case needs and this machine lacks: executables not on PATH (npm itself for
    npm packages), files given by their absolute path that are not there."""
    needs = [*case.needs, *(["npm", "node"] if case.npm else [])]
    return [
        need
        for need in needs
        if not (os.path.isfile(need) if os.path.isabs(need) else shutil.which(need))
    ]


def npm_bin(packages: tuple[str, ...]) -> Path:
    """``node_modules/.bin`` of the pinned ``packages``, installed once into the cache."""
    key = hashlib.sha256("\n".join(sorted(packages)).encode()).hexdigest()[:12]
    prefix = CACHE / "npm-tools" / key
    prefix.mkdir(parents=True, exist_ok=True)
    with open(prefix / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = prefix / ".installed"
        if not done.exists():
            subprocess.run(
                [
                    "npm",
                    "install",
                    "--prefix",
                    str(prefix),
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                    *packages,
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                timeout=600,
            )
            done.write_text("\n".join(packages) + "\n")
    return prefix / "node_modules" / ".bin"


def environment(case: Case) -> dict[str, str]:
    """A plain, repeatable environment: no colours, C.UTF-8, caches under the user's cache."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TERM": "dumb",
        "NO_COLOR": "1",
        "FORCE_COLOR": "0",
        "CARGO_TERM_COLOR": "never",
        "PYTHONDONTWRITEBYTECODE": "1",
        "GOCACHE": str(CACHE / "go-build"),
        "GOPATH": str(CACHE / "go"),
        "GOFLAGS": "-mod=mod",
        "GOPROXY": "off",
        "GOTOOLCHAIN": "local",
        "OMPI_ALLOW_RUN_AS_ROOT": "1",
        "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    }
    for name in ("RUSTUP_HOME", "CARGO_HOME", "JAVA_HOME"):
        if name in os.environ:
            env[name] = os.environ[name]
    env.update(case.env)
    return env


def run(case: Case, dest: Path) -> tuple[int, str]:
    """Copy the workspace to ``dest``, run the case's command there: exit code and output."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(case.work, dest)
    subs = {"python": sys.executable}
    if case.npm:
        subs["npm_bin"] = str(npm_bin(case.npm))
    argv = [arg.format(**subs) for arg in case.command]
    log = dest.parent / f"{case.name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv,
            cwd=dest,
            env=environment(case),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = proc.wait(timeout=case.timeout)
        except subprocess.TimeoutExpired:
            code = -9
        finally:  # the whole group (mpirun's ranks, a build's compilers), also on a timeout
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return code, log.read_text(errors="replace")
