"""The line rules: which log lines signal a failure, how strongly, and of what kind.

Each rule is a regular expression matched against cleaned log lines (``^``/``$`` are line
boundaries), a score (higher = more likely the explanation; scheduler verdicts > crashes and
tracebacks > compiler and test errors > generic error words > exit-status lines) and the
category it implies, if any. All rules are compiled into one alternation so a region of the
log is searched in a single pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache


@cache
def _compiled(pattern: str) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
    """The pattern's top-level alternatives split into those anchored with ``^`` and the rest."""
    parts = _alternatives(pattern)
    anchored = [p[1:] for p in parts if p.startswith("^")]
    floating = [p for p in parts if not p.startswith("^")]
    return (
        re.compile("|".join(anchored)) if anchored else None,
        re.compile("|".join(floating)) if floating else None,
    )


def _alternatives(pattern: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth, in_class, escaped = 0, False, False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: str
    score: int
    category: str | None = None
    #: How the signal's block extends beyond its line (see ``signals.expand``).
    block: str = "line"
    #: Lower-case literals of which every matching line holds at least one; lines are only
    #: tested against the rules whose keys they contain (fast substring search first).
    keys: tuple[str, ...] = ()

    #: Lower-case literals of which a line matching the rule's unanchored alternatives holds
    #: one: a cheap test before the regular expression.
    need: tuple[str, ...] = ()

    def matches(self, line: str, low: str) -> bool:
        """Whether ``line`` (``low`` = lower-cased) matches; ``^`` alternatives at its start."""
        anchored, floating = _compiled(self.pattern)
        if anchored is not None and anchored.match(line):
            return True
        if floating is None or (self.need and not any(n in low for n in self.need)):
            return False
        return outside_quotes(floating.search, line)


_RULES: tuple[Rule, ...] = (
    # --- scheduler and kernel verdicts
    Rule(
        "slurm_time",
        r"DUE TO TIME LIMIT|TIME LIMIT EXCEEDED|time limit of \S+ reached",
        120,
        "time_limit",
    ),
    Rule("slurm_node", r"DUE TO NODE FAIL|NODE_FAIL|node failure", 118, "node_failure"),
    Rule("slurm_preempt", r"DUE TO PREEMPTION", 116, "cancelled"),
    Rule("slurm_cancel", r"\*\*\* (?:JOB|STEP) [\w.]+ ON \S+ CANCELLED AT", 115, "cancelled"),
    Rule(
        "oom_kill",
        r"(?i:oom[-_ ]kill|Exceeded (?:job|step) memory limit|out of memory:? kill"
        r"|Memory cgroup out of memory)",
        117,
        "out_of_memory",
    ),
    Rule("slurmstepd", r"slurmstepd: error:", 85),
    Rule(
        "travis_time",
        r"The job exceeded the maximum time limit|No output has been received in"
        r" the last",
        90,
        "time_limit",
    ),
    # --- crashes
    Rule(
        "cuda_oom",
        r"CUDA out of memory|CUDA error: out of memory|OutOfMemoryError: CUDA"
        r"|CUBLAS_STATUS_ALLOC_FAILED",
        108,
        "gpu_out_of_memory",
    ),
    Rule("fatal_python", r"^Fatal Python error: ", 106, "segfault", "faulthandler"),
    Rule(
        "hang_dump",
        r"^Timeout \(\d+:\d\d:\d\d(?:\.\d+)?\)!$|^\+{5,} Timeout \+{5,}$|^Failed: Timeout >[\d.]+s$"
        r"|Exceeded timeout of \d+ ?ms|Timeout of \d+ms exceeded",
        105,
        "time_limit",
        "faulthandler",
    ),
    Rule(
        "sanitizer",
        r"ERROR: (?:Address|Memory|Thread|Leak|UndefinedBehavior|Hardware)Sanitizer:",
        104,
        "segfault",
        "section",
    ),
    Rule(
        "fpe",
        r"\bSIGFPE\b|Floating[- ]point exception|^FloatingPointError\b",
        104,
        "numerical_error",
        "section",
    ),
    Rule(
        "gpu_error",
        r"\bCUDA error\b|\bcudaError\w+|no CUDA-capable device|CUDA driver version is insufficient"
        r"|CUBLAS_STATUS_(?!ALLOC)\w+|CUDNN_STATUS_\w+|\bNCCL error\b|ncclUnhandled\w+Error"
        r"|illegal memory access was encountered|CUDA error: device-side assert triggered"
        r"|RuntimeError: Found no NVIDIA driver|Torch not compiled with CUDA|NVIDIA-SMI has failed",
        101,
        "gpu_error",
    ),
    Rule(
        "mpi_abort",
        r"MPI_ABORT was invoked on rank|application called MPI_Abort|\bMPI_Abort\("
        r"|MPI_ERRORS_ARE_FATAL|\bORTE_ERROR_LOG: "
        r"|(?:mpirun|prterun) has exited due to process rank"
        r"|BAD TERMINATION OF ONE OF YOUR APPLICATION PROCESSES|(?:mpirun|mpiexec|prterun) noticed"
        r" that process rank|(?:mpirun|mpiexec|prterun) detected that one or more processes exited",
        98,
        "mpi_abort",
    ),
    Rule(
        "c_assert",
        r": Assertion [`'].*[`'] failed\.$|^Assertion failed: .*, file .*, line \d+",
        97,
        "segfault",
    ),
    Rule("fortran_runtime", r"^Fortran runtime error: ", 97, None, "fortran"),
    Rule(  # not mono's --version banner ("SIGSEGV:       altstack"): how it handles signals
        "segv",
        r"Segmentation fault|\bSIGSEGV\b(?!:\s+(?:altstack|normal)\s*$)|\bBus error\b|\bSIGBUS\b",
        104,
        "segfault",
    ),
    Rule(
        "killed",
        r"^(?:[^:\n]{0,200}: line \d+: +\d+ +)?Killed\b(?: +\S.*)?$|killed by signal 9"
        r"|\bSIGKILL\b",
        102,
        "out_of_memory",
    ),
    Rule(
        "abort",
        r"\bAborted\b.*core dumped|\(core dumped\)|terminate called after throwing",
        96,
        "segfault",
        "section",
    ),
    Rule(
        "java_oom",
        r"java\.lang\.OutOfMemoryError|std::bad_alloc|Cannot allocate memory"
        r"|\bMemoryError\b",
        92,
        "out_of_memory",
    ),
    # --- Python
    Rule("traceback", r"Traceback \(most recent call last\):", 100, None, "traceback"),
    Rule(
        "syntax", r"^\s*(?:SyntaxError|IndentationError|TabError): ", 99, "syntax_error", "syntax"
    ),
    Rule("py_exc", r"^(?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:Error|Exception|Exit|Interrupt)(?::\s|$)", 70),
    # an exception a test runner reports, indented under the failed test (mocha, jasmine)
    Rule(
        "indented_exc",
        r"^\s{2,}(?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:Error|Exception)(?: \[\w+\])?: \S",
        69,
        None,
        "frames",
    ),
    # uncaught exceptions of other languages (python_exception is the class for all of them)
    Rule("jvm_uncaught", r"^Exception in thread \S+ ", 92, "python_exception", "frames"),
    Rule(
        "ruby_exc",
        r"^\S+:\d+:in [`'][^']*': .*\((?:[A-Z]\w*::)*[A-Z]\w*\)$",
        92,
        "python_exception",
        "frames",
    ),
    Rule("php_fatal", r"^(?:PHP )?Fatal error: +", 92, "python_exception", "frames"),
    Rule("dotnet_exc", r"^Unhandled [Ee]xception\. \S", 92, "python_exception", "frames"),
    Rule("powershell_error", r"^At \S+:\d+ char:\d+$", 71, None),
    Rule("terraform", r"^\u2502 Error: ", 80, None, "section"),
    Rule(
        "elixir_exc",
        r"^\s*\*\* \((?:[A-Z][\w.]*|throw|exit|EXIT)\) ",
        92,
        "python_exception",
        "frames",
    ),
    Rule("lua_error", r"^lua(?:jit|\d[\d.]*)?: .+", 90, "python_exception", "frames"),
    Rule("perl_die", r"^(?!\s).* at \S+\.(?:pl|pm|t) line \d+\.$", 86, "python_exception"),
    Rule(
        "script_syntax",
        r"^\S+:\d+: syntax error\b|^syntax error at \S+ line \d+|^\S+: line \d+: syntax error"
        r"|^(?:PHP )?Parse error: ",
        97,
        "syntax_error",
    ),
    Rule(
        "panic",
        r"thread '[^']*'(?: \(\d+\))? panicked at|^panic: |^goroutine \d+ \[running\]:",
        95,
        None,
        "panic",
    ),
    # --- compilers
    Rule("cc_error", r"^\S[^:\n]*:\d+(?::\d+)?:\s*(?:fatal )?error\b", 80, "compile_error", "down"),
    Rule("go_build", r"^(?:vet: )?\S+\.go:\d+:\d+: \S", 80, "compile_error", "down"),
    Rule("xcpretty_error", r"\u274c\s+\S+:\d+:\d+: ", 80, "compile_error", "down"),
    Rule("gfortran_error", r"^Error: \S", 80, "compile_error", "fortran"),
    Rule("erlc_error", r"^\S+\.[eh]rl:\d+(?::\d+)?: (?![Ww]arning)\S", 79, "compile_error", "down"),
    Rule(
        "werror",
        r"^Failing due to -Werror\.|warnings being treated as errors",
        81,
        "compile_error",
    ),
    Rule("cmake_error", r"^CMake Error(?: at \S+:\d+ \(\w+\))?:", 80, "compile_error", "section"),
    Rule(
        "java_error", r"^\[(?i:error)\] \S+\.(?:java|kt|scala|groovy):\[?\d+", 80, "compile_error"
    ),
    Rule(
        "msbuild_error",
        r"\(\d+(?:,\d+)?\): (?:fatal )?error(?: [A-Z]+\d+)?:|(?::| -) error TS\d+:",
        80,
        "compile_error",
    ),
    # "error: test failed, to rerun pass ..." is cargo's test summary (cargo_test), not rustc's.
    Rule("rust_error", r"^error(?:\[E\d+\])?: (?!test failed\b)", 76, "compile_error", "down"),
    Rule(
        "compile_misc",
        r"COMPILATION ERROR|Compilation failed|undefined reference to"
        r"|cannot find symbol|ld returned \d+ exit status|error: linker command failed",
        74,
        "compile_error",
    ),
    # --- linters, formatters, type checkers
    Rule(
        "lint",
        r"^\S+:\d+:\d+: (?:[A-Z]{1,4}\d{2,4}|[a-z]+(?:-[a-z]+)+)\b"
        r"|^\S+\.pyi?:\d+(?::\d+)?: error: .*  \[[a-z][\w-]*\]$"
        r"|^\s+\d+:\d+\s+(?:error|\u2716)\s+.*\S\s{2,}[\w@/-]+$|^In \S+ line \d+:$"
        r"|^\S+\.go:\d+:\d+: (?:\S+ )?(?:format %|possible misuse|unreachable code|self-assignment"
        r"|result of \S+ call not used|call has possible (?:Printf )?formatting|struct field tag"
        r"|\S+ passes lock by value|loop variable \w+ captured)",
        81,
        "lint_error",
    ),
    Rule(
        "lint_summary",
        r"^Found \d+ errors? in \d+ files? \(checked \d+|^Found \d+ errors?\.$"
        r"|^\u2716 \d+ problems? \(\d+ errors?|^Would reformat: |^would reformat "
        r"|^\d+ files? would be reformatted"
        r"|^\d+ errors? found$",
        82,
        "lint_error",
    ),
    # --- test runners
    Rule("pytest_failed", r"^FAILED \S+::\S+|^ERROR \S+::\S+", 78, "test_failure"),
    Rule("pytest_section", r"^_{3,} \S.* _{3,}$", 78, "test_failure", "section"),
    Rule(
        "pytest_summary",
        r"^=+ .*\b\d+ (?:failed|errors?)\b.*=+$|^=+ (?:FAILURES|ERRORS) =+$",
        76,
        "test_failure",
    ),
    Rule("pytest_detail", r"^E {2,}\S|^\S+\.py:\d+: (?:[A-Z]\w*|in \w+)$", 66),
    Rule("unittest", r"^(?:FAIL|ERROR): \w+ \(|^FAILED \((?:failures|errors)=", 78, "test_failure"),
    Rule("go_test", r"^\s*--- FAIL: |^FAIL\s+\S+\s+[\d.]+s$|^FAIL$", 78, "test_failure"),
    Rule(
        "scalatest_mocha",
        r"\*\*\* FAILED \*\*\*|^\s*\d+ failing$|\*\* TEST FAILED \*\*",
        76,
        "test_failure",
    ),
    Rule(
        "test_misc",
        r"^(?:Failure|Error):$|Minitest::Assertion|^\s*\[-\] \S|^\d+\) [\w\\]+::\w+",
        76,
        "test_failure",
    ),
    Rule("cross_mark", r"\u274c|\u2717|\u2718|\u2716", 74),
    Rule("fail_line", r"^\s*(?:FAIL|FAILED|FAILURE)\b(?!:? *0\b)", 72, "test_failure"),
    Rule(
        "cargo_test",
        r"^test result: FAILED|^---- \S+ stdout ----$|^test \S+ \.\.\. FAILED$"
        r"|^error: test failed\b",
        78,
        "test_failure",
    ),
    Rule(
        "jest",
        r"^\s*\u25cf |^Tests?:\s+.*\d+ failed|^\s?FAIL\s+\S+\.\w+",
        76,
        "test_failure",
        "section",
    ),
    Rule(
        "test_more",
        r"^(?:\u2500\u2500 )?(?:Failure|Error) \((?:'|\S+:\d)|^\[ FAIL [1-9]\d* \| WARN"
        r"|^\s*\d+\) (?:Failure|Error):$|^\s+\d+\) test .+ \([\w.]+\)$"
        r"|^\s+\w+, XCT\w+ failed|^\s*Executed \d+ tests?, with [1-9]\d* failures?"
        r"|^\d+ (?:tests|doctests|properties)?, [1-9]\d* failures?"
        r"|^\d+ runs, \d+ assertions, (?:[1-9]\d* failures|\d+ failures, [1-9]\d* errors)"
        r"|^\[  FAILED  \] |^The following tests FAILED:|^Test Failed at "
        r"|^\d+% tests passed, \d+ tests failed|^test cases?: .*\| \d+ failed"
        r"|^Tests: \d+, Assertions: \d+, (?:Failures|Errors): ",
        77,
        "test_failure",
        "section",
    ),
    Rule(
        "maven_test",
        r"Tests run:.*(?:Failures: [1-9]|Errors: [1-9])|<<< (?:FAILURE|ERROR)!"
        r"|^\[ERROR\] (?:Failures|Errors|Tests run):|^\[ERROR\]\s+\S+[.:]\w+:\d+ ",
        76,
        "test_failure",
    ),
    Rule("gradle_test", r" > \w.* FAILED$|^\d+ tests? completed, \d+ failed", 76, "test_failure"),
    Rule(
        "rspec",
        r"^\d+ examples?, [1-9]\d* failures?|^rspec \./|^Failures:$"
        r"|^There (?:was|were) \d+ (?:failures?|errors?):|^FAILURES!$|\[FAIL\]|^not ok \d+",
        76,
        "test_failure",
    ),
    # --- installs, network, files
    Rule(
        "dependency",
        r"Could not find a version that satisfies|No matching distribution found"
        r"|ResolutionImpossible|Could not resolve dependencies|Failed to collect dependencies"
        r"|Unable to locate package|has no installation candidate|error occurred while installing"
        r"|npm ERR! code E(?:RESOLVE|NOTARGET|TARGET|404|NOTCACHED|INTEGRITY|NOVERSIONS)"
        r"|Could not find artifact|Failed to build \S+"
        r"|subprocess-exited-with-error|Could not resolve all (?:files|dependencies)"
        r"|Could not install packages|Gem::\w*Error|version solving failed"
        # lockfiles out of date, resolvers that found no solution, modules not found by go
        r"|can only install packages when your package\.json and package-lock\.json"
        r"|^npm error code E(?:RESOLVE|NOTARGET|TARGET|404|USAGE|NOTCACHED|INTEGRITY|NOVERSIONS)"
        r"|Missing: \S+ from lock file"
        r"|lock ?file \S* ?needs to be updated|cannot update the lock file|--locked was passed"
        r"|ERR_PNPM_OUTDATED_LOCKFILE|error Your lockfile needs to be updated"
        r"|poetry\.lock is not consistent|changed significantly since poetry\.lock"
        r"|No solution found when resolving dependencies|PackagesNotFoundError|UnsatisfiableError"
        r"|failed to select a version for|cannot find module providing package"
        r"|no required module provides package|missing go\.sum entry for module providing"
        r"|Could NOT find \w+|Could not find a package configuration",
        82,
        "dependency_install",
    ),
    Rule(
        "container_build",
        r"^(?:#\d+ )?ERROR: failed to (?:solve|build)\b|failed to compute cache key"
        r"|^The command '.*' returned a non-zero code: \d+|^Error: building at STEP "
        r"|^error building image\b|^ERROR: failed to build\b|executor failed running \[",
        84,
        "container_build",
    ),
    Rule(
        "network",
        r"Connection refused|Could not resolve host|Name or service not known"
        r"|Temporary failure in name resolution|Network is unreachable|Connection reset by peer"
        r"|Connection timed out|Read timed out|CERTIFICATE_VERIFY_FAILED|Max retries exceeded"
        r"|Failed to establish a new connection|Could not connect to|\b50[234] (?:Bad Gateway"
        r"|Service Unavailable|Gateway Time-?out)"
        r"|^npm (?:ERR!|error) code E(?:CONNREFUSED|CONNRESET|TIMEDOUT|AI_AGAIN|NOTFOUND"
        r"|NETUNREACH|HOSTUNREACH)\b",
        72,
        "network",
    ),
    Rule(
        "permission",
        r"Permission denied|\bEACCES\b|Operation not permitted",
        72,
        "permission_denied",
    ),
    Rule(
        "missing_file", r"No such file or directory|\bENOENT\b|can't open file", 70, "missing_file"
    ),
    Rule(
        "missing_cmd",
        r"command not found|is not recognized as an internal|Can't locate \S+\.pm in @INC"
        r"|Cannot find module '|Error in library\(.*there is no package called",
        73,
        "missing_module",
    ),
    Rule("shell_error", r"^\S+: line \d+: \S", 68),
    # --- build tools and generic errors
    Rule("npm", r"^npm ERR! |^error Command failed|^ERR! ", 64),
    Rule("make", r"make(?:\[\d+\])?: \*\*\*|^ninja: build stopped|^error: command '.*' failed", 46),
    Rule(
        "build_failed",
        r"BUILD FAILURE|BUILD FAILED|^FAILURE: Build failed|\* What went wrong:"
        r"|^> Task \S+ FAILED|\[ERROR\] Failed to execute goal|Build failed|build failed",
        70,
    ),
    Rule(
        "java_exc",
        r"^Exception in thread |^Caused by: |^\s*(?:[a-z]\w*\.)+[A-Z]\w*(?:Exception"
        r"|Error)(?::|$)",
        62,
    ),
    Rule(
        "error_word",
        r"(?i:\berror:|\bfatal:|\bfatal error\b)|^\[(?i:error)\]|^ERROR\b|\bERROR:|"
        r"^\s*Error\b|^E: |^##\[error\]|\bFAILED\b|\bFailed\b|\bfailed\b|\bFAILURE\b",
        50,
    ),
    # --- how the process ended
    Rule(
        "exit_status",
        r"exited with (?:code |status )?[1-9]\d*|exit (?:code|status):? [1-9]\d*"
        r"|returned non-zero exit status|Process completed with exit code [1-9]"
        r"|killed by signal|terminated by signal",
        45,
    ),
)


#: Lower-case literals of which every line matching the rule holds at least one. Each key
#: costs one pass over the text, so they are few and short; a line found by a key is then
#: tested against the rules holding it.
_KEYS: dict[str, tuple[str, ...]] = {
    "slurm_time": ("limit",),
    "slurm_node": ("node",),
    "slurm_preempt": ("cancel",),
    "slurm_cancel": ("cancel",),
    "oom_kill": ("oom", "memory", "limit", "kill"),
    "slurmstepd": ("err",),
    "travis_time": ("limit", "no output"),
    "cuda_oom": ("memory", "fail"),
    "fatal_python": ("fatal",),
    "hang_dump": ("timeout", "fail"),
    "sanitizer": ("err",),
    "fpe": ("sig", "xcept", "err"),
    "gpu_error": ("err", "cuda", "memory", "not ", "fail"),
    "mpi_abort": ("abort", "fatal", "sig", "exit", "bad termination", "err"),
    "c_assert": ("fail",),
    "fortran_runtime": ("err",),
    "jvm_uncaught": ("xcept",),
    "ruby_exc": (":in ",),
    "php_fatal": ("err",),
    "lua_error": ("lua",),
    "perl_die": (" line ",),
    "script_syntax": ("err",),
    "go_build": (".go:",),
    "xcpretty_error": ("\u274c",),
    "gfortran_error": ("err",),
    "erlc_error": (".erl:", ".hrl:"),
    "werror": ("err", "fail"),
    "indented_exc": ("err", "xcept"),
    "cmake_error": ("err",),
    "lint": ("err", ".py:", " line ", ".go:", "\u2716"),
    "lint_summary": ("err", "\u2716", "reformat"),
    "test_more": ("fail", "err", ") test "),
    "elixir_exc": ("err", "** ("),
    "dotnet_exc": ("xcept",),
    "powershell_error": (" char:",),
    "terraform": ("err",),
    "shell_error": (" line ",),
    "segv": ("fault", "sig", "err"),
    "killed": ("kill",),
    "abort": ("abort", "core", "terminate"),
    "java_oom": ("memory", "alloc"),
    "traceback": ("trace",),
    "syntax": ("err",),
    "py_exc": ("err", "xcept", "exit", "interrupt"),
    "panic": ("panic", "[running]"),
    "cc_error": ("err",),
    "java_error": ("err",),
    "msbuild_error": ("err",),
    "rust_error": ("err",),
    "compile_misc": ("err", "fail", "undefined", "exit"),
    "pytest_failed": ("fail", "err"),
    "pytest_section": ("___",),
    "pytest_summary": ("fail", "err"),
    "pytest_detail": ("\ne  ", "err", ".py:"),
    "unittest": ("fail", "err"),
    "go_test": ("fail",),
    "fail_line": ("fail",),
    "test_misc": ("fail", "err", "minitest", "[-] ", "::"),
    "cross_mark": ("\u274c", "\u2717", "\u2718", "\u2716"),
    "scalatest_mocha": ("fail",),
    "cargo_test": ("fail", " stdout ---"),
    "jest": ("\u25cf ", "fail"),
    "maven_test": ("fail", "err"),
    "gradle_test": ("fail",),
    "rspec": ("fail", "rspec", "not "),
    "dependency": (
        "could",
        "err",
        "fail",
        "\ne: ",
        "not ",
        "poetry.lock",
        "solution",
        "module provid",
    ),
    "container_build": ("err", "fail", "non-zero code"),
    "network": ("connect", "could", "timed out", "not ", "fail", "err"),
    "permission": ("denied", "not "),
    "missing_file": ("no such", "err", "enoent", "can't open"),
    "missing_cmd": ("not ", "err", "can't locate"),
    "npm": ("err",),
    "make": ("err", "fail", "abort"),
    "build_failed": ("fail", "went wrong"),
    "java_exc": ("xcept", "err"),
    "error_word": ("err", "fatal", "fail", "\ne: "),
    "exit_status": ("exit", "sig", "kill"),
}
_NEEDS: dict[str, tuple[str, ...]] = {
    "hang_dump": ("exceeded timeout", "ms exceeded"),
    "sanitizer": ("sanitizer:",),
    "fpe": ("sigfpe", "floating"),
    "gpu_error": (
        "cuda",
        "cublas_status",
        "cudnn_status",
        "nccl",
        "illegal memory",
        "device-side",
        "nvidia",
    ),
    "mpi_abort": (
        "mpi_abort",
        "mpi_errors",
        "bad termination",
        "noticed that",
        "detected that",
        "orte_error_log",
        "has exited due to",
    ),
    "c_assert": ("assertion",),
    "slurm_time": ("time limit",),
    "slurm_node": ("node fail", "node_fail"),
    "slurm_preempt": ("preemption",),
    "slurm_cancel": ("cancelled at",),
    "oom_kill": ("oom", "memory limit", "out of memory"),
    "slurmstepd": ("slurmstepd",),
    "travis_time": ("maximum time limit", "no output has been"),
    "cuda_oom": ("cuda", "cublas"),
    "segv": ("segmentation", "sigsegv", "bus error", "sigbus"),
    "killed": ("killed", "sigkill"),
    "abort": ("aborted", "core dumped", "terminate called"),
    "java_oom": ("outofmemory", "bad_alloc", "allocate memory", "memoryerror"),
    "traceback": ("traceback (most",),
    "panic": ("panicked at",),
    "java_error": ("[error]",),
    "msbuild_error": ("): ", ": error ts", " - error ts"),
    "compile_misc": (
        "compilation",
        "undefined reference",
        "cannot find symbol",
        "ld returned",
        "linker",
    ),
    "maven_test": ("tests run:", "<<< "),
    "gradle_test": (" > ",),
    "test_misc": ("failure:", "error:", "minitest::", "[-] ", ") "),
    "scalatest_mocha": ("failed *", "failing", "test failed"),
    "rspec": ("[fail]",),
    "dependency": (
        "could not",
        "no matching",
        "resolutionimpossible",
        "unable to locate",
        "installation candidate",
        "while installing",
        "npm err! code e",
        "failed to build",
        "subprocess-exited",
        "gem::",
        "version solving",
        "package.json",
        "npm error code",
        "from lock file",
        "lock file",
        "lockfile",
        "--locked",
        "poetry.lock",
        "no solution found",
        "packagesnotfound",
        "unsatisfiable",
        "resolvepackagenotfound",
        "failed to select",
        "module providing",
        "module provides",
        "go.sum",
        "go.mod",
    ),
    "container_build": (
        "failed to solve",
        "failed to build",
        "cache key",
        "non-zero code",
        "building at step",
        "error building image",
        "executor failed",
    ),
    "network": (
        "connection",
        "could not",
        "name or service",
        "name resolution",
        "unreachable",
        "timed out",
        "certificate_verify",
        "max retries",
        "failed to establish",
        "bad gateway",
        "service unavailable",
        "gateway time",
        "npm err! code e",
        "npm error code e",
    ),
    "permission": ("permission denied", "eacces", "not permitted"),
    "missing_file": ("no such file", "enoent", "can't open"),
    "missing_cmd": (
        "command not found",
        "not recognized",
        "can't locate",
        "cannot find module",
        "no package called",
    ),
    "make": ("make",),
    "build_failed": ("build fail", "what went wrong", "failed to execute goal"),
    "error_word": ("error:", "fatal", "failed", "failure"),
    "exit_status": (
        "exited with",
        "exit code",
        "exit status",
        "non-zero exit",
        "killed by signal",
        "terminated by signal",
    ),
}
_RULES = tuple(
    replace(rule, keys=_KEYS[rule.name], need=_NEEDS.get(rule.name, ())) for rule in _RULES
)

RULES: dict[str, Rule] = {rule.name: rule for rule in _RULES}

#: Rules from the highest score down; a line's best rule is the first one it matches.
RULE_ORDER: tuple[Rule, ...] = tuple(sorted(_RULES, key=lambda r: -r.score))
#: Bit ``i`` of ``KEY_MASKS[key]`` is set when ``RULE_ORDER[i]`` holds ``key``.
KEY_MASKS: dict[str, int] = {}
for _i, _rule in enumerate(RULE_ORDER):
    for _key in _rule.keys:
        KEY_MASKS[_key] = KEY_MASKS.get(_key, 0) | (1 << _i)

MatchFn = Callable[[str], "re.Match[str] | None"]
#: A plan's floating test: the rule's name, its floating alternatives' ``search``, its needs,
#: whether a match must not be ``NEGATIVE``'s, and the rule's index in ``RULE_ORDER``.
FloatingTest = tuple[str, MatchFn, tuple[str, ...], bool, int]
Plan = tuple[MatchFn | None, tuple[FloatingTest, ...]]
_PLANS: dict[int, Plan] = {}
#: Distinct masks whose plans are kept (a log has a few dozen; the bound is for the process).
MAX_PLANS = 4096


def plan(mask: int) -> Plan:
    """For the rules of ``mask``: one ``match`` of all their anchored alternatives together
    (None if they have none), and their floating tests in ``RULE_ORDER``. A line that matches
    none of the anchored alternatives can only match a floating one: the first floating test
    that passes is then the line's best rule, as the whole ordered loop would find.

    Each rule's anchored alternatives are the group named ``r<i>`` (``i``: its index in
    ``RULE_ORDER``), in that order: a match's ``lastgroup`` is the first rule whose anchored
    part matches (the first alternative that matches wins; the outer group closes last)."""
    known = _PLANS.get(mask)
    if known is not None:
        return known
    anchored: list[str] = []
    floating: list[FloatingTest] = []
    rest = mask
    while rest:
        low_bit = rest & -rest
        rest ^= low_bit
        rule = RULE_ORDER[low_bit.bit_length() - 1]
        anchored_part, floating_part = _compiled(rule.pattern)
        index = low_bit.bit_length() - 1
        if anchored_part is not None:
            anchored.append(f"(?P<r{index}>{anchored_part.pattern})")
        if floating_part is not None:
            negated = rule.name == "error_word"  # a match must not be NEGATIVE's
            floating.append((rule.name, floating_part.search, rule.need, negated, index))
    union = re.compile("|".join(anchored)).match if anchored else None
    if len(_PLANS) >= MAX_PLANS:
        _PLANS.clear()
    made = _PLANS[mask] = (union, tuple(floating))
    return made


#: A Python exception line: ``pkg.mod.Type: message`` (message optional).
EXCEPTION_LINE = re.compile(r"^((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*)(?::\s*(.*))?$")

#: A value that a message quotes: ``'nan'``, ``"abc"``, a backticked or typographically quoted
#: name. A ``'`` after a letter is an apostrophe (``can't``) and opens nothing; one before a
#: letter closes nothing.
QUOTED = re.compile(
    r"(?<!\w)'[^'\n]{0,200}'(?!\w)|\"[^\"\n]{0,200}\"|`[^`\n]{0,200}`"
    r"|\u2018[^\u2019\n]{0,200}\u2019|\u201c[^\u201d\n]{0,200}\u201d"
)
_QUOTES = ("'", '"', "`", "\u2018", "\u201c")


def unquoted(text: str) -> str:
    """``text`` with the values it quotes emptied, their quotes kept (``invalid literal for
    int() with base 10: ''``): what a message says, without the data it shows. A word of a
    value (``'nan'``, ``'oom'``, ``"Killed"``) is the user's input, not the failure's kind."""
    if not any(q in text for q in _QUOTES):
        return text
    return QUOTED.sub(lambda m: m.group()[0] + m.group()[-1], text)


def outside_quotes(search: Callable[[str], re.Match[str] | None], line: str) -> bool:
    """Whether ``search`` finds its pattern in ``line`` other than inside a value the line
    quotes (``KeyError: 'Segmentation fault'`` shows no crash)."""
    found = search(line)
    if found is None:
        return False
    return not in_quotes(line, found.start(), found.end()) or search(unquoted(line)) is not None


def in_quotes(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` lies inside one value that ``text`` quotes."""
    if not any(q in text for q in _QUOTES):
        return False
    for match in QUOTED.finditer(text):
        if match.start() < start and end < match.end():
            return True
        if match.start() >= end:
            break
    return False


#: Lines that say there was no failure despite matching a rule ("0 failed", "Errors: 0").
NEGATIVE = re.compile(
    r"(?i)\b0 (?:errors?|failures?|failed)\b|\berrors?: 0\b|failures: 0, errors: 0"
    r"|\bno errors?\b|-Werror|error_?log|errors?=0|\bif \(?err"
)
