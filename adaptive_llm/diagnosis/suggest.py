"""A concrete next step for failures with a known remedy."""

from __future__ import annotations

import difflib
import os
import re

from adaptive_llm._core.units import format_duration as format_duration
from adaptive_llm._core.units import format_size as format_bytes
from adaptive_llm.diagnosis.model import Location
from adaptive_llm.diagnosis.redact import cut_index

#: Import names whose distribution on PyPI has another name.
DISTRIBUTIONS: dict[str, str] = {
    "sklearn": "scikit-learn",
    "cv2": "opencv-python",
    "yaml": "PyYAML",
    "PIL": "Pillow",
    "bs4": "beautifulsoup4",
    "skimage": "scikit-image",
    "dateutil": "python-dateutil",
    "dotenv": "python-dotenv",
    "jwt": "PyJWT",
    "Crypto": "pycryptodome",
    "serial": "pyserial",
    "usb": "pyusb",
    "magic": "python-magic",
    "docx": "python-docx",
    "pptx": "python-pptx",
    "attr": "attrs",
    "google.protobuf": "protobuf",
    "OpenSSL": "pyOpenSSL",
    "MySQLdb": "mysqlclient",
    "psycopg2": "psycopg2-binary",
    "wx": "wxPython",
    "gi": "PyGObject",
    "zmq": "pyzmq",
    "git": "GitPython",
    "Levenshtein": "python-Levenshtein",
    "fitz": "PyMuPDF",
    "ruamel": "ruamel.yaml",
    "tensorflow_gpu": "tensorflow",
    "torchvision": "torchvision",
    "sentencepiece": "sentencepiece",
    "mpi4py": "mpi4py",
}

#: Source files of compiled languages: a crash located there is the program's own.
_NATIVE_SOURCES = (
    ".c",
    ".h",
    ".cc",
    ".cpp",
    ".cxx",
    ".hpp",
    ".cu",
    ".f",
    ".f90",
    ".f95",
    ".F90",
    ".rs",
    ".go",
    ".m",
    ".mm",
    ".swift",
)

_MODULE = re.compile(r"No module named '?([\w.]+)'?")
_QUOTED_PATH = re.compile(
    r"""(?:No such file or directory|Permission denied|can't open file)"""
    r"""[^'"]*['"]([^'"]+)['"]|['"]([^'"]+)['"]:? (?:No such file|Perm)"""
)
_SHELL_PATH = re.compile(r"^(?:[\w./-]+: )?(?:line \d+: )?([^:\s]+): (?:No such file|Permission)")


def suggest(
    category: str,
    error_type: str | None,
    message: str | None,
    *,
    location: Location | None = None,
    workdir: str | None = None,
    time_limit: float | None = None,
    memory: int | None = None,
) -> str | None:
    """The next step for this failure, or ``None`` when there is nothing specific to say."""
    msg = message or ""
    where = f" at {os.path.basename(location.file)}:{location.line}" if location else ""
    if category == "missing_module":
        match = _MODULE.search(msg)
        if match:
            return _install(match.group(1), workdir)
        return "Install the missing package into the job's environment."
    if category == "missing_file":
        return _missing_file(msg, workdir)
    if category == "time_limit":
        if time_limit:
            return (
                f"The job hit its time limit of {format_duration(time_limit)}; resubmit with a "
                f"larger one, e.g. {format_duration(time_limit * 2)}, or checkpoint and resume."
            )
        return "The job hit its time limit; resubmit with a larger one (e.g. double it)."
    if category == "out_of_memory":
        if memory:
            return (
                f"The job ran out of its {format_bytes(memory)} of memory; resubmit with more, "
                f"e.g. {format_bytes(memory * 2)}, or reduce what it holds in memory."
            )
        return "The job ran out of memory; request more memory (e.g. double it) or use less."
    if category == "gpu_out_of_memory":
        return (
            "The GPU ran out of memory; reduce the batch size or model size, use mixed precision"
            " or gradient checkpointing, or run on a GPU with more memory."
        )
    if category == "permission_denied":
        path = _path_in(msg)
        target = f" on {path}" if path else ""
        return f"Check the permissions{target} (ls -l); the job's user cannot access it."
    if category == "segfault":
        native = location is not None and location.file.endswith(_NATIVE_SOURCES)
        if native or "Sanitizer" in msg:
            return (
                f"A memory error in the program{where} (an index out of bounds, a use after "
                "free or a null pointer); rebuild with -g -fsanitize=address (gfortran: "
                "-fcheck=all) to see the first bad access."
            )
        return (
            f"A native extension or the interpreter crashed{where}; rerun with "
            "PYTHONFAULTHANDLER=1 (python -X faulthandler) to see the Python stack, and check "
            "versions of compiled packages."
        )
    if category == "lint_error":
        return (
            f"Fix the first reported problem{where}, or run the tool's fixer (ruff check --fix,"
            " eslint --fix, black) and review its diff."
        )
    if category == "container_build":
        return (
            f"A step of the image build failed{where}; run that step's command in the base "
            "image (or docker build --progress=plain) to see its own error."
        )
    if category == "gpu_error":
        return (
            f"A CUDA error{where}: check that the job got a GPU and a driver that matches the "
            "CUDA runtime (nvidia-smi); rerun with CUDA_LAUNCH_BLOCKING=1 to see the failing "
            "kernel."
        )
    if category == "mpi_abort":
        return (
            "A rank aborted the MPI job; its own error, printed just before the abort, is the "
            f"cause{where}. Check the ranks' inputs (decomposition, files per rank)."
        )
    if category == "numerical_error":
        return (
            f"A NaN or infinity appeared{where}: check the inputs for NaN, guard divisions and "
            "logarithms, lower the learning rate; torch.autograd.set_detect_anomaly(True) or "
            "numpy.seterr(all='raise') stops at the first one."
        )
    if category == "syntax_error":
        return f"Fix the syntax error{where}." if where else "Fix the syntax error."
    if category == "python_exception":
        hint = _exception_hint(error_type, msg)
        if where:
            return f"Open {where[4:]}: {hint}" if hint else f"Open {where[4:]} and fix the cause."
        return hint[0].upper() + hint[1:] if hint else None
    if category == "compile_error":
        return f"Fix the first compiler error{where}." if where else "Fix the first compiler error."
    if category == "test_failure":
        return (
            f"Run the failing test locally, then open{where}."
            if where
            else ("Run the failing tests locally to reproduce.")
        )
    if category == "dependency_install":
        return "Check the package names and version constraints; a requirement cannot be met."
    if category == "network":
        return "A network call failed; check connectivity, proxy and DNS, then retry."
    if category == "cancelled":
        return "The job was cancelled (by a user or the scheduler); resubmit if unintended."
    if category == "node_failure":
        return "The node failed, not your code; resubmit the job."
    return None


_HINTS: dict[str, str] = {
    "KeyError": "the key {msg} is missing; check the data or config that should hold it "
    "(print its keys) or use .get() with a default.",
    "IndexError": "an index is out of range; check the length of the sequence.",
    "ZeroDivisionError": "a divisor is zero; guard the division or fix the value.",
    "AssertionError": "an assertion failed; check the asserted condition and its inputs.",
    "RecursionError": "the recursion does not end; check its base case.",
    "NameError": "a name is not defined; check for a typo or a missing import.",
    "UnboundLocalError": "a local variable is used before it is assigned.",
    "TypeError": "a value has the wrong type: {msg}.",
    "ValueError": "a value is invalid: {msg}.",
}


def _exception_hint(error_type: str | None, msg: str) -> str | None:
    short = (error_type or "").rsplit(".", 1)[-1]
    if short == "AttributeError" and "NoneType" in msg:
        return "a value is None where an object was expected; check what returned None."
    if short == "AttributeError":
        return f"an object lacks an attribute: {msg}."
    hint = _HINTS.get(short)
    if hint is None:
        return f"fix the cause of {error_type}." if error_type else None
    return hint.replace("{msg}", msg[: cut_index(msg, 120)] or "?")  # msg is redacted


def _install(module: str, workdir: str | None) -> str:
    top = module.split(".")[0]
    if workdir and (
        os.path.isfile(os.path.join(workdir, top + ".py"))
        or os.path.isdir(os.path.join(workdir, top))
    ):
        return (
            f"'{top}' exists in {workdir} but was not importable; run from that directory or "
            f"add it to PYTHONPATH."
        )
    dist = DISTRIBUTIONS.get(module) or DISTRIBUTIONS.get(top) or top
    return f"pip install {dist}"


def _path_in(msg: str) -> str | None:
    match = _QUOTED_PATH.search(msg) or _SHELL_PATH.search(msg)
    if match is None:
        return None
    return next(g for g in match.groups() if g)


def _missing_file(msg: str, workdir: str | None) -> str:
    path = _path_in(msg)
    if not path:
        return "A file the job needs does not exist; check its path and working directory."
    full = path if os.path.isabs(path) or not workdir else os.path.join(workdir, path)
    parent = os.path.dirname(full) or "."
    text = f"The job wanted {path}, which does not exist."
    try:
        with os.scandir(parent) as it:
            names = [entry.name for _, entry in zip(range(2000), it, strict=False)]
    except OSError:
        return text + f" Its directory {parent} does not exist either."
    close = difflib.get_close_matches(os.path.basename(full), names, n=3, cutoff=0.6)
    if close:
        shown = ", ".join(os.path.join(os.path.dirname(path), c) for c in close)
        return text + f" Similar files that exist: {shown}."
    return text
