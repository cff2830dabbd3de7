"""One root for every public exception; the old built-in bases still catch them."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import adaptive_llm
from adaptive_llm import errors

BUILTIN_BASES = {
    "StoreError": RuntimeError,
    "WorkdirBusyError": RuntimeError,
    "SchedulerError": RuntimeError,
    "SubmitError": RuntimeError,
    "UnknownJobError": LookupError,
    "JobBusyError": RuntimeError,
    "SbatchError": ValueError,
    "DiagnosisError": ValueError,
    "ModelError": RuntimeError,
}


@pytest.mark.parametrize("name", [n for n in errors.__all__ if n != "AdaptiveLLMError"])
def test_every_public_exception_has_the_one_root_and_is_exported(name: str) -> None:
    cls = getattr(errors, name)
    assert issubclass(cls, errors.AdaptiveLLMError)
    assert getattr(adaptive_llm, name) is cls
    assert name in adaptive_llm.__all__
    assert name in (errors.__doc__ or "")  # drawn in the tree
    if name in BUILTIN_BASES:
        assert issubclass(cls, BUILTIN_BASES[name])


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("adaptive_llm.store", "StoreError"),
        ("adaptive_llm.jobs.schedulers.base", "SubmitError"),
        ("adaptive_llm.managers.job_manager", "UnknownJobError"),
        ("adaptive_llm.managers.run_manager", "WorkdirBusyError"),
        ("adaptive_llm.diagnosis", "DiagnosisError"),
        ("adaptive_llm.chat.workspace", "WorkspaceError"),
    ],
)
def test_the_old_import_paths_still_work(module: str, name: str) -> None:
    assert getattr(importlib.import_module(module), name) is getattr(errors, name)


def test_all_is_the_table_of_exports_and_every_name_resolves() -> None:
    exports = adaptive_llm._EXPORTS  # type: ignore[attr-defined]
    assert sorted(adaptive_llm.__all__) == sorted([*exports, "__version__"])
    for name in adaptive_llm.__all__:
        assert getattr(adaptive_llm, name) is not None


def test_a_real_failure_is_caught_by_the_root(tmp_path: Path) -> None:
    from adaptive_llm.store import Store

    path = tmp_path / "store.sqlite"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(errors.AdaptiveLLMError, match="is not a valid store"):
        Store(path)


def test_the_sbatch_error_of_the_jobs_layer_is_the_public_one() -> None:
    from adaptive_llm import Resources
    from adaptive_llm.jobs.sbatch import SbatchError

    assert SbatchError is errors.SbatchError
    with pytest.raises(errors.AdaptiveLLMError):
        Resources(extra={"partition": "debug\nrm -rf ~"})
