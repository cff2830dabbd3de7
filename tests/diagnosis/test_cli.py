"""``adaptive-llm diagnose``: JSON lines, the readable report, exit codes, a light import."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from adaptive_llm.diagnosis import cli

LOG = (
    "loading\n"
    "Traceback (most recent call last):\n"
    '  File "train.py", line 2, in <module>\n'
    "    import yaml\n"
    "ModuleNotFoundError: No module named 'yaml'\n"
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="adaptive-llm")
    cli.add_parser(parser.add_subparsers(dest="command"))
    return parser


def _run(*argv: str) -> tuple[int, str, str]:
    args = _parser().parse_args(["diagnose", *argv])
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.run(args)
    return code, out.getvalue(), err.getvalue()


def test_json_lines(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("import os\nimport yaml\n")
    log = tmp_path / "job.log"
    log.write_text(LOG)
    missing = tmp_path / "missing.log"
    code, out, _ = _run(str(log), str(missing), "--json", "--workdir", str(tmp_path))
    assert code == 1
    first, second = (json.loads(line) for line in out.splitlines())
    for key in (
        "path",
        "category",
        "error_type",
        "summary",
        "excerpt",
        "location",
        "signature",
        "suggestion",
        "tokens",
        "elapsed_ms",
    ):
        assert key in first
    assert first["category"] == "missing_module"
    assert first["suggestion"] == "pip install PyYAML"
    assert first["location"]["line"] == 2 and first["location"]["file"].endswith("train.py")
    assert first["excerpt"]["spans"] == [[1, 5]]
    assert isinstance(first["tokens"], int)
    assert second == {"path": str(missing), "error": f"no such file: {missing}"}


def test_readable_report(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_text(LOG)
    code, out, err = _run(str(log), "--max-tokens", "100")
    assert code == 0 and err == ""
    assert out.startswith("ModuleNotFoundError: No module named 'yaml' at train.py:2")
    assert "pip install PyYAML" in out and "Excerpt (lines 1-5" in out


def test_error_on_stderr_without_json(tmp_path: Path) -> None:
    code, out, err = _run(str(tmp_path))
    assert code == 1 and out == ""
    assert "is a directory" in err


def test_subprocess_and_light_import(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_text(LOG)
    code = (
        "import sys, argparse\n"
        "from adaptive_llm.diagnosis import cli\n"
        "assert not [m for m in sys.modules if m.startswith(('langchain', 'langgraph'))]\n"
        "p = argparse.ArgumentParser(); cli.add_parser(p.add_subparsers())\n"
        "sys.exit(cli.run(p.parse_args(sys.argv[1:])))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "diagnose", "--json", str(log)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["error_type"] == "ModuleNotFoundError"
