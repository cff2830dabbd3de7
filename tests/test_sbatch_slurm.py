"""What a real sbatch reads from ``#SBATCH`` lines (`make slurm-up`; skipped without SLURM).

These check the word splitting that ``sbatch_options.sbatch_words`` ports (and the oracle of
``test_sbatch_safety.py``) against sbatch itself, and that a rendered script with awkward paths
runs where it says.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from test_sbatch_safety import sbatch_reads

from adaptive_llm import Job, Resources
from adaptive_llm.jobs.sbatch import SbatchError, render_sbatch, sbatch_words

pytestmark = pytest.mark.usefixtures("slurm")

_OPTION_RE = re.compile(r"^sbatch: (\S+)\s+: (.*)$")


def sbatch_options(script: Path) -> dict[str, str]:
    """The options sbatch defined for ``script`` (``sbatch --test-only -v``)."""
    done = subprocess.run(
        ["sbatch", "--test-only", "-v", str(script)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return {m[1]: m[2] for line in done.stderr.splitlines() if (m := _OPTION_RE.match(line))}


def as_options(words: list[str]) -> dict[str, str]:
    return dict(word[2:].partition("=")[::2] for word in words)


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("--comment=\"a b #c 'd'\" --nice=5", {"comment": "a b #c 'd'", "nice": "5"}),
        ("--comment='it'\"'\"'s' --nice=2", {"comment": "it's", "nice": "2"}),
        ('--comment="x\\"y" --nice=1', {"comment": 'x"y', "nice": "1"}),
        ("--comment=a#b --nice=5", {"comment": "a"}),  # '#' starts a comment mid-word
        ('--nice=3 "" --comment=x', {"nice": "3"}),  # an empty word ends the line
        ("--comment=a\\ --nice=4", {"comment": "a", "nice": "4"}),  # no escaped spaces
        # A backslash escapes inside single quotes: shlex reads one --comment, sbatch an --output.
        ("--comment='a\\'b' --output=/tmp/x #'", {"comment": "a'b", "output": "/tmp/x"}),
    ],
)
def test_sbatch_splits_words_as_ported(tmp_path: Path, text: str, read: dict[str, str]) -> None:
    script = tmp_path / "s.sh"
    script.write_text(f"#!/bin/bash\n#SBATCH --mem=50M --time=1\n#SBATCH {text}\ntrue\n")
    got = sbatch_options(script)
    assert {key: got.get(key) for key in ("comment", "nice", "output")} == {
        key: read.get(key) for key in ("comment", "nice", "output")
    }
    assert as_options(sbatch_words(text)) == read == as_options(sbatch_reads(text))


@pytest.mark.parametrize("text", ["--comment='open", "--nice=1 :", "--comment=x : --nice=2"])
def test_sbatch_refuses_what_the_port_refuses(tmp_path: Path, text: str) -> None:
    script = tmp_path / "s.sh"
    script.write_text(f"#!/bin/bash\n#SBATCH --mem=50M --time=1\n#SBATCH {text}\ntrue\n")
    done = subprocess.run(["sbatch", "--test-only", str(script)], capture_output=True, timeout=30)
    assert done.returncode != 0
    with pytest.raises(SbatchError):
        sbatch_words(text)


def test_a_rendered_script_is_read_and_run_as_written(tmp_path: Path) -> None:
    run = tmp_path / 'it\'s #1 "q" 100%'
    run.mkdir()
    log = run / "logs #2" / "a%b.log"
    log.parent.mkdir()
    res = Resources(memory="50M", extra={"sbatch_lines": ['--comment="a b #c" --nice=5']})
    job = Job("odd.name-1", "pwd\n#SBATCH --hold\necho done", resources=res)
    script = tmp_path / "attempt.sbatch"
    script.write_text(render_sbatch(job, log_path=log, cwd=run))
    got = sbatch_options(script)
    assert got["job-name"] == "odd.name-1" and got["comment"] == "a b #c"
    assert got["chdir"] == str(run) and got["output"] == str(log).replace("%", "%%")
    assert "hold" not in got  # the command's '#SBATCH --hold' is not a directive
    done = subprocess.run(
        ["sbatch", "--parsable", "--wait", str(script)], capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert log.read_text() == f"{run}\ndone\n"  # ran in the directory, logged where we said
