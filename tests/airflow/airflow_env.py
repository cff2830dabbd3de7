"""Where the Airflow of ``.ci/airflow-up`` is: its settings (env vars or state file), health."""

from __future__ import annotations

import json
import os
import shlex
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CI_DIR = Path(__file__).resolve().parents[2] / ".ci"
VARS = ("URL", "USERNAME", "PASSWORD", "DAGS")


@dataclass(frozen=True)
class Airflow:
    url: str
    username: str
    password: str
    dags: Path

    def __repr__(self) -> str:  # never the password
        return f"Airflow({self.url!r}, dags={str(self.dags)!r})"


def state_file() -> Path:
    """Where ``.ci/airflow-up`` writes its export lines."""
    return Path(os.environ.get("XDG_RUNTIME_DIR") or "/tmp") / "adaptive_llm-airflow.env"


def settings() -> tuple[dict[str, str], str]:
    """The four settings (URL, USERNAME, PASSWORD, DAGS) and where they came from."""
    env = {k: os.environ.get(f"ADAPTIVE_LLM_AIRFLOW_{k}", "") for k in VARS}
    if env["URL"]:
        return env, "$ADAPTIVE_LLM_AIRFLOW_URL"
    try:
        text = state_file().read_text()
    except OSError:
        return {}, f"$ADAPTIVE_LLM_AIRFLOW_URL is not set and there is no state file {state_file()}"
    found: dict[str, str] = {}
    for line in text.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            key, _, value = words[1].partition("=")
            found[key.removeprefix("ADAPTIVE_LLM_AIRFLOW_")] = value
    return found, f"the state file {state_file()}"


def healthy(url: str, timeout: float = 5.0) -> bool:
    """The API server answers ``/api/v2/monitor/health`` (no auth needed)."""
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=timeout) as answer:
            return isinstance(json.load(answer), dict)
    except (OSError, ValueError):
        return False
