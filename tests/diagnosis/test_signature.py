"""One bug, one signature; two bugs, two: the category comes from the error and not from the
values its message shows, and a failure inside a library's code is told apart by its call site.

Every log is the output of a program really run (Python, and node when it is installed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from adaptive_llm.diagnosis import Diagnosis, diagnose, diagnose_without_log
from adaptive_llm.diagnosis.signature import normalize_message, signature


def _run(cmd: list[str], cwd: Path, log: Path) -> None:
    """Run ``cmd`` in ``cwd`` with its output to ``log``; it must fail."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "NODE"))}
    with open(log, "wb") as out:
        code = subprocess.run(
            cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env
        ).returncode
    assert code != 0, log.read_text()


def _python_job(tmp_path: Path, name: str, program: str, *args: str) -> Diagnosis:
    """``program`` run as ``train.py`` in its own workdir, diagnosed with that workdir."""
    work = tmp_path / name
    work.mkdir()
    (work / "train.py").write_text(program)
    _run([sys.executable, "train.py", *args], work, work / "job.log")
    return diagnose(work / "job.log", workdir=work)


# --- the category and the signature come from the error, not from the values it shows

PARSE = """\
import sys


def parse(text):
    return int(text)


print(parse(sys.argv[1]))
"""


def test_a_value_that_cannot_be_parsed_is_one_cause_whatever_the_value(tmp_path: Path) -> None:
    values = ["abc", "nan", "inf", "", "1.5", "-inf", "NaN"]
    diags = [_python_job(tmp_path, f"job{i}", PARSE, v) for i, v in enumerate(values)]
    assert {d.message for d in diags} >= {"invalid literal for int() with base 10: 'nan'"}
    assert {d.category for d in diags} == {"python_exception"}  # a parse failure, no NaN loss
    assert len({d.signature for d in diags}) == 1


LOGGED = """\
import sys

try:
    int(sys.argv[1])
except ValueError as exc:
    print(f"{type(exc).__name__}: {exc}")  # logged, not raised: no traceback
    sys.exit(1)
"""


@pytest.mark.parametrize("value", ["SIGKILL", "Segmentation fault", "CUDA out of memory"])
def test_a_value_in_quotes_names_no_crash(tmp_path: Path, value: str) -> None:
    """The line rules do not look inside a value that a line quotes."""
    diag = _python_job(tmp_path, "job", LOGGED, value)
    assert diag.error_type == "ValueError"
    assert diag.category == "python_exception"
    assert diag.signature == _python_job(tmp_path, "other", LOGGED, "x").signature


def test_an_exception_quoting_a_failure_word_is_no_such_failure(tmp_path: Path) -> None:
    program = "import sys\n\nraise KeyError(sys.argv[1])\n"
    for value in ("out of memory", "CUDA error: device-side assert triggered", "inf"):
        diag = _python_job(tmp_path, value.replace(" ", "_").replace(":", ""), program, value)
        assert diag.category == "python_exception", (value, diag.category)


NUMERICAL = {
    "loss_is_nan": (
        'import math\nloss = math.nan\nassert not math.isnan(loss), f"loss is {loss}"\n',
        "AssertionError",
    ),
    "loss_after_colon": (
        'loss = float("inf")\nraise RuntimeError(f"loss: {loss}")\n',
        "RuntimeError",
    ),
    "input_contains_nan": (
        "raise ValueError(\n"
        "    \"Input contains NaN, infinity or a value too large for dtype('float64').\"\n"
        ")\n",
        "ValueError",
    ),
    "int_of_nan": ('int(float("nan"))\n', "ValueError"),  # a NaN reached int(): not a parse
    "autograd_anomaly": (
        "raise RuntimeError(\n"
        "    \"Function 'MseLossBackward0' returned nan values in its 0th output.\"\n"
        ")\n",
        "RuntimeError",
    ),
    "floating_point_error": (
        'raise FloatingPointError("loss is nan at step 40")\n',
        "FloatingPointError",
    ),
}


@pytest.mark.parametrize("name", sorted(NUMERICAL))
def test_real_numerical_errors_stay_numerical(tmp_path: Path, name: str) -> None:
    program, error_type = NUMERICAL[name]
    diag = _python_job(tmp_path, name, program)
    assert diag.error_type == error_type
    assert diag.category == "numerical_error", diag.message


def test_numpy_invalid_value_is_numerical(tmp_path: Path) -> None:
    pytest.importorskip("numpy")
    program = (
        'import numpy as np\n\nnp.seterr(all="raise")\nzeros = np.zeros(3)\nprint(zeros / zeros)\n'
    )
    diag = _python_job(tmp_path, "job", program)
    assert diag.message == "invalid value encountered in divide"
    assert diag.category == "numerical_error"


@pytest.mark.parametrize(
    "reason",
    [
        "could not trigger DAG 'timeout_probe': 500 Server Error",
        "Airflow no longer has run manual__1 of DAG bloom_finetune (deleted?)",
    ],
)
def test_a_name_in_the_schedulers_reason_is_no_verdict(reason: str) -> None:
    diag = diagnose_without_log("/w/a.log", "no log", state="FAILED", reason=reason)
    assert diag.category == "unknown"


def test_a_quoted_file_name_is_no_fortran_bounds_error(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_text(
        "At line 7 of file solver.f90 (unit = 10)\n"
        "Fortran runtime error: Cannot open file 'bounds.dat': No such file or directory\n"
    )
    assert diagnose(log).category == "missing_file"


def test_values_in_a_message_do_not_change_its_signature() -> None:
    # an apostrophe opens no quote: the value after it is still masked
    assert normalize_message("can't convert 'abc' to float") == "can't convert <str> to float"
    assert normalize_message("can't convert 'xyz' to float") == "can't convert <str> to float"
    assert normalize_message("KeyError: nan") == normalize_message("KeyError: 1.5")
    assert normalize_message("loss is inf at step 3") == normalize_message("loss is nan at step 9")
    assert normalize_message("\u2018totl\u2019 undeclared") == "<str> undeclared"


# --- a failure inside a library: its call site tells two bugs apart

LIBRARY = """\
import json
import sys


def read_config(text):
    return json.loads(text)


def read_report(text):
    return json.loads(text)


def setting(name):
    return {"batch": 8}[name]


def main():
    if sys.argv[1] == "config":
        read_config(sys.argv[2])
    elif sys.argv[1] == "report":
        read_report(sys.argv[2])
    else:
        setting(sys.argv[2])


main()
"""


def _installed_package_job(tmp_path: Path, name: str, *args: str, pad: int = 0) -> Diagnosis:
    """The user's code as an installed package (its frames in site-packages, none in the
    job's workdir): ``python -m mypkg.cli ...``; ``pad`` lines added to the package (another
    release) move every line of it."""
    site = tmp_path / name / "venv" / "lib" / "python3.11" / "site-packages"
    (site / "mypkg").mkdir(parents=True)
    (site / "mypkg" / "__init__.py").write_text("")
    (site / "mypkg" / "cli.py").write_text("# release note\n" * pad + LIBRARY)
    work = tmp_path / name / "work"
    work.mkdir()
    _run([sys.executable, "-m", "mypkg.cli", *args], site, work / "job.log")
    return diagnose(work / "job.log", workdir=work)


def test_one_library_failure_in_two_jobs_is_one_cause(tmp_path: Path) -> None:
    """Other paths, another value (the message's numbers), the package's lines moved."""
    a = _installed_package_job(tmp_path, "a", "config", "")
    b = _installed_package_job(tmp_path, "b", "config", "   ", pad=3)
    assert a.error_type == b.error_type == "json.decoder.JSONDecodeError"
    assert a.message != b.message  # "line 1 column 1 (char 0)", "line 1 column 4 (char 3)"
    assert a.location is not None and a.location.file.endswith("json/decoder.py")
    assert a.signature == b.signature


def test_a_release_that_moved_the_librarys_lines_is_the_same_cause(tmp_path: Path) -> None:
    a = _installed_package_job(tmp_path, "a", "setting", "lr")
    b = _installed_package_job(tmp_path, "b", "setting", "momentum", pad=3)
    assert a.error_type == b.error_type == "KeyError"
    assert a.location is not None and b.location is not None
    assert a.location.file.endswith("site-packages/mypkg/cli.py")
    assert b.location.line == a.location.line + 3
    assert a.signature == b.signature


def test_two_call_sites_of_one_library_frame_are_two_causes(tmp_path: Path) -> None:
    config = _installed_package_job(tmp_path, "a", "config", "")
    report = _installed_package_job(tmp_path, "b", "report", "")
    assert config.message == report.message
    assert config.location == report.location  # the same line of json/decoder.py
    assert config.signature != report.signature


def _script_elsewhere_job(tmp_path: Path, name: str, *args: str) -> Diagnosis:
    """The script run from a folder that is not the job's workdir (a container's /app, another
    checkout): no frame of the log is in the workdir."""
    app = tmp_path / name / "app"
    app.mkdir(parents=True)
    (app / "train.py").write_text(LIBRARY)
    work = tmp_path / name / "work"
    work.mkdir()
    _run([sys.executable, str(app / "train.py"), *args], app, work / "job.log")
    return diagnose(work / "job.log", workdir=work)


def test_a_script_outside_the_workdir_gives_the_call_site(tmp_path: Path) -> None:
    a = _script_elsewhere_job(tmp_path, "a", "config", "")
    b = _script_elsewhere_job(tmp_path, "b", "config", "x")
    report = _script_elsewhere_job(tmp_path, "c", "report", "")
    assert a.message == b.message == report.message
    assert a.location == b.location == report.location
    assert a.signature == b.signature != report.signature


def test_a_failure_in_the_users_code_keeps_its_signature(tmp_path: Path) -> None:
    """Located in the workdir, the signature is the one it always was (stored LLM diagnoses
    are found again): the call site is only for failures located outside it."""
    diag = _python_job(tmp_path, "job", LIBRARY, "config", "")
    assert diag.location is not None and diag.location.file.endswith("train.py")
    assert diag.signature == signature(diag.category, diag.error_type, diag.message, diag.location)


NODE_LIBRARY = """\
"use strict";
function read(text) {
  return JSON.parse(text);
}
module.exports = { read };
"""

NODE_MAIN = """\
const cfg = require("cfgread");

function loadSettings(text) {
  return cfg.read(text);
}

function loadReport(text) {
  return cfg.read(text);
}

if (process.argv[2] === "settings") loadSettings(process.argv[3]);
else loadReport(process.argv[3]);
"""


def _node_job(tmp_path: Path, name: str, *args: str, pad: int = 0) -> Diagnosis:
    app = tmp_path / name / "app"
    lib = app / "node_modules" / "cfgread"
    lib.mkdir(parents=True)
    (lib / "index.js").write_text("// release note\n" * pad + NODE_LIBRARY)
    (app / "main.js").write_text(NODE_MAIN)
    work = tmp_path / name / "work"
    work.mkdir()
    node = shutil.which("node")
    assert node is not None
    _run([node, str(app / "main.js"), *args], app, work / "job.log")
    return diagnose(work / "job.log", workdir=work)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_library_failures_by_call_site(tmp_path: Path) -> None:
    a = _node_job(tmp_path, "a", "settings", "")
    b = _node_job(tmp_path, "b", "settings", " ", pad=2)
    report = _node_job(tmp_path, "c", "report", "")
    assert a.message == b.message == report.message == "Unexpected end of JSON input"
    assert a.location is not None and "node_modules/cfgread/index.js" in a.location.file
    assert a.signature == b.signature != report.signature
