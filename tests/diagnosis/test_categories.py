# ruff: noqa: E501  (tool output is quoted as the tools print it)
"""The categories and formats of tools that cannot run here (no Docker daemon, no GPU, no
Julia, no .NET, no terraform...): their output as those tools print it, one sample each.

Every other category and format is checked on output of the real tool in
``test_languages.py``; these samples follow the tools' documented output and the corpora's
logs. Each names the file the workspace holds, so the location is checked too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from adaptive_llm.diagnosis import CATEGORIES, diagnose

SAMPLES: list[tuple[str, str, str, str | None, int | None]] = [
    (
        "buildkit",
        """\
#7 [3/5] COPY requirements.txt .
#7 DONE 0.0s
#8 [4/5] RUN pip install -r requirements.txt
#8 1.92 ERROR: Could not find a version that satisfies the requirement torch==9.9
#8 ERROR: process "/bin/sh -c pip install -r requirements.txt" did not complete successfully: exit code: 1
------
 > [4/5] RUN pip install -r requirements.txt:
1.92 ERROR: Could not find a version that satisfies the requirement torch==9.9
------
Dockerfile:6
--------------------
   4 |     WORKDIR /app
   5 |     COPY requirements.txt .
   6 | >>> RUN pip install -r requirements.txt
   7 |     COPY . .
   8 |     CMD ["python", "train.py"]
--------------------
ERROR: failed to solve: process "/bin/sh -c pip install -r requirements.txt" did not complete successfully: exit code: 1
""",
        "container_build",
        "Dockerfile",
        6,
    ),
    (
        "docker_legacy",
        """\
Step 4/6 : RUN make -C src
 ---> Running in 2b1f0c3a9d8e
make: *** No rule to make target 'all'.  Stop.
The command '/bin/sh -c make -C src' returned a non-zero code: 2
""",
        "container_build",
        None,
        None,
    ),
    (
        "podman",
        """\
STEP 3/4: RUN apt-get install -y libhdf5-dev
E: Unable to locate package libhdf5-dev
Error: building at STEP "RUN apt-get install -y libhdf5-dev": while running runtime: exit status 100
""",
        "container_build",
        None,
        None,
    ),
    (
        "yarn_lockfile",
        "yarn install v1.22.19\n[1/4] Resolving packages...\n"
        "error Your lockfile needs to be updated, but yarn was run with `--frozen-lockfile`.\n",
        "dependency_install",
        None,
        None,
    ),
    (
        "pnpm_lockfile",
        ' ERR_PNPM_OUTDATED_LOCKFILE  Cannot install with "frozen-lockfile" because'
        " pnpm-lock.yaml is not up to date with package.json\n",
        "dependency_install",
        None,
        None,
    ),
    (
        "uv_no_solution",
        "  \u00d7 No solution found when resolving dependencies:\n"
        "  \u2570\u2500\u25b6 Because torch==9.9 was not found in the package registry and you\n"
        "      require torch==9.9, we can conclude that your requirements are unsatisfiable.\n",
        "dependency_install",
        None,
        None,
    ),
    (
        "cuda_illegal_access",
        """\
Traceback (most recent call last):
  File "{wd}/train.py", line 3, in <module>
    loss = step(batch)
RuntimeError: CUDA error: an illegal memory access was encountered
CUDA kernel errors might be asynchronously reported at some other API call.
""",
        "gpu_error",
        "train.py",
        3,
    ),
    (
        "nccl",
        """\
Traceback (most recent call last):
  File "{wd}/train.py", line 2, in <module>
    dist.all_reduce(grad)
torch.distributed.DistBackendError: NCCL error in: ProcessGroupNCCL.cpp:1970, unhandled system error
""",
        "gpu_error",
        "train.py",
        2,
    ),
    (
        "torch_anomaly_nan",
        """\
Traceback (most recent call last):
  File "{wd}/train.py", line 3, in <module>
    loss.backward()
RuntimeError: Function 'MseLossBackward0' returned nan values in its 0th output.
""",
        "numerical_error",
        "train.py",
        3,
    ),
    (
        "mpich_bad_termination",
        """\
===================================================================================
=   BAD TERMINATION OF ONE OF YOUR APPLICATION PROCESSES
=   PID 4711 RUNNING AT node17
=   EXIT CODE: 9
===================================================================================
""",
        "mpi_abort",
        None,
        None,
    ),
    (  # Open MPI 4.1 when it loses the help text of an MPI_Abort (seen in CI, about 1 run in 4)
        "openmpi_lost_abort_message",
        """\
mpirun --oversubscribe -np 3 ./poisson 256
error at src/decomp.c:19: grid size 256 is not divisible by 3 ranks
[vm:05487] [[31121,0],0] ORTE_ERROR_LOG: Data unpack would read past end of buffer in file ../../../orte/util/show_help.c at line 501
make: *** [Makefile:9: run] Error 1
""",
        "mpi_abort",
        "src/decomp.c",
        19,
    ),
    (
        "mocha_timeout",
        """\
  1) queue
       drains:
     Error: Timeout of 2000ms exceeded. For async tests and hooks, ensure "done()" is called
      at listOnTimeout (node:internal/timers:573:17)
      at Context.<anonymous> (test/train.js:2:5)
""",
        "time_limit",
        "test/train.js",
        2,
    ),
    (
        "dotnet_frame",
        """\
Unhandled exception. System.InvalidOperationException: Sequence contains no elements
   at System.Linq.ThrowHelper.ThrowNoElementsException()
   at Lab.Stats.Mean() in /home/runner/work/lab/lab/src/Stats.cs:line 2
""",
        "python_exception",
        "src/Stats.cs",
        2,
    ),
    (
        "julia_test",
        "Test Failed at /home/runner/work/lab/lab/test/runtests.jl:2\n"
        "  Expression: mean([1, 2]) == 2\n   Evaluated: 1.5 == 2\n",
        "test_failure",
        "test/runtests.jl",
        2,
    ),
    (
        # mono --version lists how it handles signals: no crash; xunit names the test's line
        "xunit_after_mono_banner",
        """\
$ mono --version
Mono JIT compiler version 4.4.2 (mono-4.4.0-branch-c7sr1/f72fe45 Wed Jul 27 16:20:13 EDT 2016)
\tTLS:           normal
\tSIGSEGV:       altstack
\tNotification:  kqueue
xUnit.net Console Runner v2.4.0-beta.1.build3958 (64-bit .NET Core 4.6.0.0)
  Starting:    Lab.Tests
    Lab.Tests.StatsFixture.Mean_of_two [FAIL]
      Assert.Equal() Failure
      Expected: 2
      Actual:   1.5
      Stack Trace:
        /home/travis/build/lab/lab/src/Stats.cs(4,0): at Lab.Tests.StatsFixture.<Mean_of_two>d__3.MoveNext()
        --- End of stack trace from previous location where exception was thrown ---
           at System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw()
  Finished:    Lab.Tests
=== TEST EXECUTION SUMMARY ===
   Lab.Tests  Total: 151, Errors: 0, Failed: 1, Skipped: 0, Time: 4.247s
""",
        "test_failure",
        "src/Stats.cs",
        4,
    ),
    (
        "terraform",
        "\u2502 Error: Unsupported argument\n\u2502\n\u2502   on main.tf line 2, in resource"
        ' "aws_instance" "gpu":\n',
        "unknown",
        "main.tf",
        2,
    ),
    (
        # npm 10+ with --offline fetches the package missing from the lock file first
        "npm_offline_cache_miss",
        "npm error code ENOTCACHED\n"
        "npm error request to https://registry.npmjs.org/is-number failed: cache mode is"
        " 'only-if-cached' but no cached response is available.\n"
        "npm error A complete log of this run can be found in: /root/.npm/_logs/x-debug-0.log\n",
        "dependency_install",
        None,
        None,
    ),
    (
        "npm_integrity",
        "npm ERR! code EINTEGRITY\nnpm ERR! sha512-abc integrity checksum failed when using"
        " sha512: wanted sha512-abc but got sha512-def. (1234 bytes)\n",
        "dependency_install",
        None,
        None,
    ),
    (
        "npm_registry_down",
        "npm error code ECONNREFUSED\n"
        "npm error syscall connect\n"
        "npm error errno ECONNREFUSED\n"
        "npm error FetchError: request to http://127.0.0.1:4873/left-pad failed, reason: connect"
        " ECONNREFUSED 127.0.0.1:4873\n",
        "network",
        None,
        None,
    ),
    (
        "npm_dns",
        "npm ERR! code EAI_AGAIN\nnpm ERR! syscall getaddrinfo\n"
        "npm ERR! request to https://registry.npmjs.org/x failed, reason: getaddrinfo EAI_AGAIN\n",
        "network",
        None,
        None,
    ),
]


@pytest.mark.parametrize(
    ("name", "text", "category", "file", "line"), SAMPLES, ids=[s[0] for s in SAMPLES]
)
def test_category_and_location(
    tmp_path: Path, name: str, text: str, category: str, file: str | None, line: int | None
) -> None:
    assert category in CATEGORIES
    for rel in (
        "Dockerfile",
        "train.py",
        "test/train.js",
        "src/Stats.cs",
        "test/runtests.jl",
        "main.tf",
        "src/decomp.c",
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("a = 1\nb = 2\nc = 3\nd = 4\ne = 5\nf = 6\ng = 7\n")
    log = tmp_path / "job.log"
    log.write_text(text.replace("{wd}", str(tmp_path)))
    diag = diagnose(log, workdir=tmp_path)
    assert diag.category == category, diag.summary
    if category != "unknown":
        assert diag.suggestion, "every category but unknown has a next step"
    if file is None:
        return
    assert diag.location is not None, diag.summary
    assert (Path(diag.location.file), diag.location.line) == (tmp_path / file, line)


def test_a_syntax_error_in_generated_code_is_located_there(tmp_path: Path) -> None:
    """exec'd or generated code is no file of the workspace: its line is still the one."""
    (tmp_path / "pipeline.py").write_text("\n" * 40)
    log = tmp_path / "job.log"
    log.write_text(
        "Traceback (most recent call last):\n"
        f'  File "{tmp_path}/pipeline.py", line 30, in syntax_exec\n'
        '    exec(compile(src, "generated_step.py", "exec"))\n'
        '  File "generated_step.py", line 1\n'
        "    total = (1,\n"
        "            ^\n"
        "SyntaxError: '(' was never closed\n"
    )
    diag = diagnose(log, workdir=tmp_path)
    assert diag.category == "syntax_error"
    assert diag.location is not None
    assert (diag.location.file, diag.location.line) == ("generated_step.py", 1)


@pytest.mark.parametrize(
    ("line", "crash"),
    [
        ("\tSIGSEGV:       altstack", False),  # mono --version
        ("\tSIGSEGV:       normal", False),
        ("[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a1b2c]", True),  # go
        ("Got a SIGSEGV while executing native code. This usually indicates", True),  # mono
        ("Fatal signal: SIGSEGV", True),
    ],
)
def test_a_signal_named_in_a_banner_is_no_crash(tmp_path: Path, line: str, crash: bool) -> None:
    log = tmp_path / "job.log"
    log.write_text(f"starting\n{line}\ndone\n")
    assert (diagnose(log).category == "segfault") is crash
