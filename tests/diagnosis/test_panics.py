"""Rust and Go panics: the message, the user's frame, the whole block, and no Python label.

The texts are the formats these runtimes print (Go 1.2x, Rust before and after 1.73); there is
no Go or Rust toolchain here to produce them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from adaptive_llm.diagnosis import diagnose
from adaptive_llm.diagnosis.location import is_user_file

GO_INDEX = """\
ok  \texample.com/p/util\t0.004s
panic: runtime error: index out of range [7] with length 3

goroutine 1 [running]:
main.pick(...)
\t/usr/local/go/src/runtime/panic.go:114 +0x1d
main.main()
\t{wd}/main.go:9 +0x1d
exit status 2
"""

GO_NIL = """\
panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x47f1a3]

goroutine 1 [running]:
main.(*Server).handle(0x0, {{0x4b9e20, 0xc000012345}})
\t{wd}/server.go:42 +0x23
main.main()
\t{wd}/main.go:9 +0x1d

goroutine 6 [chan receive]:
main.worker()
\t{wd}/worker.go:17 +0x3e
exit status 2
FAIL\texample.com/p\t0.012s
"""

RUST_NEW = """\
running 1 test
thread 'main' panicked at src/main.rs:14:5:
index out of bounds: the len is 3 but the index is 7
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
"""

RUST_OLD = """\
thread 'tests::parse' panicked at 'called `Option::unwrap()` on a `None` value', src/lib.rs:7:10
stack backtrace:
   0: rust_begin_unwind
             at /rustc/90c541806f23a127002de5b4038be731ba1458ca/library/std/src/panicking.rs:578:5
   1: mycrate::parse
             at ./src/lib.rs:7:10
note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.
error: test failed, to rerun pass `--lib`
"""


@pytest.mark.parametrize(
    ("text", "category", "message", "where"),
    [
        (GO_INDEX, "unknown", "runtime error: index out of range [7] with length 3", "main.go:9"),
        (
            GO_NIL,
            "segfault",
            "runtime error: invalid memory address or nil pointer dereference",
            "server.go:42",
        ),
        (RUST_NEW, "unknown", "index out of bounds: the len is 3 but the index is 7", "main.rs:14"),
        (RUST_OLD, "test_failure", "called `Option::unwrap()` on a `None` value", "lib.rs:7"),
    ],
)
def test_panics(tmp_path: Path, text: str, category: str, message: str, where: str) -> None:
    log = tmp_path / "job.log"
    log.write_text(text.format(wd=tmp_path))
    diag = diagnose(log, workdir=tmp_path)
    assert diag.category == category  # never python_exception
    assert (diag.error_type, diag.message) == ("panic", message)
    assert diag.location is not None
    assert f"{Path(diag.location.file).name}:{diag.location.line}" == where
    assert message in diag.summary
    panic_line = next(i for i, t in enumerate(text.splitlines(), 1) if "panic" in t)
    frames = [i for i, t in enumerate(text.splitlines(), 1) if t.startswith(("\t", "  "))]
    last = max(frames, default=panic_line + 1)  # Rust without a backtrace: its message line
    assert any(a <= panic_line and last <= b for a, b in diag.excerpt.spans)


def test_one_panic_in_many_runs_has_one_signature(tmp_path: Path) -> None:
    sigs = set()
    for i, (addr, n) in enumerate([("0x1d", 7), ("0x2f", 9), ("0x11", 12)]):
        log = tmp_path / f"{i}.log"
        log.write_text(
            f"panic: runtime error: index out of range [{n}] with length 3\n\n"
            f"goroutine {i + 1} [running]:\nmain.main()\n\t{tmp_path}/main.go:9 +{addr}\n"
        )
        sigs.add(diagnose(log, workdir=tmp_path).signature)
    assert len(sigs) == 1


@pytest.mark.parametrize(
    "text",
    [
        "thread '<unnamed>' panicked at src/main.rs:9:13:\nworker 2 failed\n{tb}",
        "panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n\t/p/main.go:5 +0x25\n"
        "exit status 2\n{tb}",
    ],
)
def test_a_panic_block_ends_where_the_next_failure_starts(tmp_path: Path, text: str) -> None:
    """Only a process's first Rust panic prints a ``note:`` line; a Go dump ends at its exit
    status: what follows (a wrapper's traceback) is still seen."""
    tb = (
        "Traceback (most recent call last):\n"
        f'  File "{tmp_path}/run.py", line 3, in <module>\n'
        '    subprocess.run(["./w"], check=True)\n'
        "subprocess.CalledProcessError: Command '['./w']' returned non-zero exit status 101.\n"
    )
    log = tmp_path / "job.log"
    log.write_text(text.format(tb=tb))
    diag = diagnose(log, workdir=tmp_path)
    assert diag.error_type == "subprocess.CalledProcessError"
    assert diag.location is not None and diag.location.line == 3


@pytest.mark.parametrize(
    ("path", "library"),
    [
        ("/home/u/google-research/src/testing/run.py", False),
        ("/home/u/proj/pkg/mod/train.py", False),
        ("/home/u/go-svc/src/internal/db.go", False),
        ("/usr/local/go/src/runtime/panic.go", True),
        ("/opt/homebrew/Cellar/go/1.22.0/libexec/src/runtime/panic.go", True),
        ("/root/go/pkg/mod/github.com/x/y@v1.2.0/z.go", True),
        ("/rustc/90c541806f23a127002de5b4038be731ba1458ca/library/std/src/panicking.rs", True),
        ("/home/u/.cargo/registry/src/index/serde-1.0/src/de.rs", True),
    ],
)
def test_library_paths_of_go_and_rust_only(path: str, library: bool) -> None:
    assert is_user_file(path, None) is not library
