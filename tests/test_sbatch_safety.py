"""Nothing a job holds can add a line or a directive to its batch script (issue #10).

Every ``#SBATCH`` line is read twice: by bash (a comment up to the next ``\\n``) and by sbatch
(words split by its own rules). The oracle below is an independent port of sbatch's word
splitting (``_get_argument`` in SLURM's ``src/sbatch/opt.c``); ``test_sbatch_slurm.py`` checks
it against a real sbatch. Only the public API that existed before the fix is used here, so these
tests also run (and fail) against the old code.
"""

from __future__ import annotations

import shlex
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from adaptive_llm import Job, Resources, SlurmScheduler
from adaptive_llm.jobs.sbatch import (
    DEFAULT_MEMORY,
    SbatchError,
    format_slurm_memory,
    format_slurm_time,
    render_sbatch,
    sbatch_header_raw,
)

#: Characters that end a line for bash, sbatch, Python's splitlines or an editor, or hide text.
LINE_ENDS = ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
HIDDEN = ["\x00", "\t", "\x1b", "\x7f", "\u202e", "\u2066", "\u200b", "\ufeff", "\u00ad"]
BAD_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def sbatch_reads(text: str) -> list[str]:
    """The words sbatch reads from the text after ``#SBATCH`` (a word starting with ':' or an
    unmatched quote make sbatch stop with an error: AssertionError here)."""
    words: list[str] = []
    rest = iter(text)
    char = next(rest, "")
    while True:
        while char and char in " \t\n\v\f\r":
            char = next(rest, "")
        if not char:
            return words
        assert char != ":", f"sbatch refuses {text!r}"
        word, quote = "", ""
        while char and (quote or char not in " \t\n\v\f\r"):
            if char == "\\":
                char = next(rest, "")
                if char and (quote or char not in " \t\n\v\f\r"):
                    word += char
                    char = next(rest, "")
                continue
            if quote and char == quote:
                quote = ""
            elif not quote and char in "'\"":
                quote = char
            elif not quote and char == "#":
                if word:
                    words.append(word)
                return words  # a comment
            else:
                word += char
            char = next(rest, "")
        assert not quote, f"sbatch: unmatched quote in {text!r}"
        if not word:
            return words  # an empty word ends the line for sbatch
        words.append(word)


# -- the property ------------------------------------------------------------------------------

PIECES = [
    "gpu", "debug", "myproj", "a.b-c_1", "--gres=gpu:1", "--exclusive", "-N 1", "--comment=",
    "--qos=long", " ", "  ", "#SBATCH ", "#", "'", '"', "\\", ":", "=", "-", "--", "hetjob",
    "PackJob", "--output=/tmp/x", "--out=x", "-o x", "-J", "-HJx", "--time=9:00:00", "x",
    "é", "日本", "\u00a0", "\u3000", *LINE_ENDS, *HIDDEN,
]  # fmt: skip
hostile = st.one_of(
    st.text(max_size=12), st.lists(st.sampled_from(PIECES), max_size=5).map("".join)
)
plain_words = st.sampled_from(["gpu", "debug", "a.b-c_1", "gpu,cpu", "proj@x", "日本"])
plain_items = st.sampled_from(
    [
        "--gres=gpu:1",
        "--exclusive",
        "-N 1",
        '--comment="a b #c"',
        "#SBATCH --qos=long",
        "--comment='it'\"'\"'s'",
        "",
        "  --nice=5  # a comment",
        "--mail-user=x@y -N2 --time-min=5",
        "-H",
    ]
)
items = st.one_of(plain_items, plain_items, hostile)
extras = st.fixed_dictionaries(
    {},
    optional={
        "partition": st.one_of(plain_words, hostile),
        "account": st.one_of(plain_words, hostile),
        "sbatch_lines": st.one_of(items, st.lists(items, max_size=4)),
    },
)
no_nul = st.text(max_size=15).map(lambda s: s.replace("\0", ""))
commands = st.one_of(
    st.lists(no_nul, min_size=1, max_size=4),
    st.lists(
        st.sampled_from(["echo hi", "\n", "#SBATCH --output=/x", "#SBATCH --hold", "'"]), min_size=1
    )
    .map("".join)
    .filter(str.strip),
    no_nul.filter(str.strip),
)
path_parts = st.sampled_from(["a", "b c", "it's", '"q"', "#1", "%j", "x=y", "日本", "-", ":", "$H"])
paths = st.lists(path_parts, min_size=1, max_size=4).map(lambda parts: "/tmp/" + "/".join(parts))


def option_text(item: str) -> str:
    text = item.strip()
    return text[len("#SBATCH") :].strip() if text.startswith("#SBATCH") else text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    extra=extras,
    name=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,15}", fullmatch=True),
    command=commands,
    env=st.dictionaries(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True), no_nul),
    time_limit=st.none() | st.integers(1, 10**6),
    memory=st.none() | st.integers(1, 2**40),
    cpus=st.integers(1, 64),
    log=paths,
    cwd=paths,
)
def test_a_rendered_script_never_gains_a_line_or_a_directive(
    extra: dict[str, Any],
    name: str,
    command: list[str] | str,
    env: dict[str, str],
    time_limit: int | None,
    memory: int | None,
    cpus: int,
    log: str,
    cwd: str,
) -> None:
    assume("hetjob" not in name.lower() and "packjob" not in name.lower())
    try:
        res = Resources(time_limit=time_limit, memory=memory, cpus=cpus, extra=extra)
    except ValueError as exc:
        assert "resources.extra" in str(exc)  # refused, naming the field
        event("refused")
        return
    event(f"rendered with {len(res.extra)} extra key(s)")
    job = Job(name, command, env=env, resources=res)
    text = render_sbatch(job, log_path=Path(log), cwd=Path(cwd))

    expected = [f"--job-name={name}", f"--output={log.replace('%', '%%')}", f"--chdir={cwd}"]
    if time_limit is not None:
        expected.append(f"--time={format_slurm_time(time_limit)}")
    expected += [
        f"--mem={format_slurm_memory(memory or DEFAULT_MEMORY)}",
        f"--cpus-per-task={cpus}",
    ]
    directives = len(expected)
    for key in ("partition", "account"):
        if extra.get(key):
            expected.append(f"--{key}={extra[key]}")
            directives += 1
    items = extra.get("sbatch_lines") or []
    for item in [items] if isinstance(items, str) else items:
        if option_text(item):
            expected += shlex.split(option_text(item), comments=True)
            directives += 1

    lines = text.split("\n")
    header, body = lines[: 1 + directives], lines[1 + directives :]
    assert header[0] == "#!/bin/bash"
    assert all(line.startswith("#SBATCH ") for line in header[1:]), header
    for line in header:
        assert line.splitlines() == [line], line  # no line end for any reader
        assert not {unicodedata.category(c) for c in line} & BAD_CATEGORIES, line
        assert "hetjob" not in line.lower() and "packjob" not in line.lower()
    read = [word for line in header[1:] for word in sbatch_reads(line[len("#SBATCH ") :])]
    assert read == expected
    assert sbatch_header_raw(text) == header[1:]  # the command adds no directive

    exports = [f"export {key}={shlex.quote(value)}" for key, value in env.items()]
    run = command if isinstance(command, str) else f"exec {shlex.join(command)}"
    marker = f"# adaptive_llm job {name!r}: the ':' command ends the #SBATCH header"
    assert "\n".join(body) == "\n".join([marker, ":", *exports, run]) + "\n"


# -- hostile values, one by one ----------------------------------------------------------------

BAD_TEXT = [f"debug{c}rm -rf ~" for c in LINE_ENDS + HIDDEN]


def refused(exc: pytest.ExceptionInfo[ValueError], field: str, value: object) -> None:
    assert field in str(exc.value), str(exc.value)
    assert repr(value) in str(exc.value), str(exc.value)


@pytest.mark.parametrize("key", ["partition", "account"])
@pytest.mark.parametrize("value", BAD_TEXT)
def test_partition_and_account_refuse_control_and_line_separator_characters(
    key: str, value: str
) -> None:
    with pytest.raises(ValueError) as exc:
        Resources(extra={key: value})
    refused(exc, key, value)


@pytest.mark.parametrize(
    "value", ["a b", "a\u00a0b", "'gpu'", 'g"pu', "g#pu", "g\\pu", "", "hetjob", "x-PACKJOB"]
)
def test_a_partition_is_one_plain_word(value: str) -> None:
    with pytest.raises(ValueError) as exc:
        Resources(extra={"partition": value})
    assert "partition" in str(exc.value)


@pytest.mark.parametrize(
    ("item", "why"),
    [
        ("--gres=gpu:1\n#SBATCH --output=/home/u/.bashrc", "U+000A"),
        ("--gres=gpu:1\r--output=/home/u/.bashrc", "U+000D"),  # \r separates words for sbatch
        ("--gres=gpu:1\u2028rm -rf ~", "U+2028"),
        ("--comment=x\x00y", "U+0000"),
        ("--comment=x\tmore", "U+0009"),
        ("--comment=x\u00a0--output=/tmp/y", "U+00A0"),  # looks like two options, is one
        ("--output=/home/u/.bashrc", "--output"),
        ("--out=/home/u/.bashrc", "--output"),  # getopt takes unambiguous prefixes
        ("-o /home/u/.bashrc", "--output"),
        ("-e err.log", "--error"),
        ("--chdir=/", "--chdir"),
        ("-D /", "--chdir"),
        ("-HJother", "--job-name"),  # a cluster of flags: -H -J other
        ("--time=99:00:00", "--time"),  # the diff would show the old time limit
        ("--mem=1T", "--mem"),
        ("-c 64", "--cpus-per-task"),
        ("-p other", "--partition"),
        ("--wrap='rm -rf ~'", "--wrap"),
        ("--wait", "--wait"),
        ("--comment=x hetjob --time=1", "hetjob"),  # a second (heterogeneous) job
        ("--comment=PackJob", "PackJob"),
        ('--comment "" --qos=x', "sbatch would read it"),  # an empty word ends sbatch's line
        # shlex reads one --comment; sbatch (backslash escapes in single quotes) an --output
        ("--comment='a\\'b' --output=/x #'", "sbatch would read it"),
        ("--comment='a\\b'", "sbatch would read it"),  # backslash escapes in single quotes
        ("--comment=a\\ b", "sbatch would read it"),
        ("--comment='unbalanced", "unmatched"),
        ("rm -rf ~", "unexpected word"),
        ("--comment=x :y", "':'"),
    ],
)
def test_sbatch_lines_items_cannot_smuggle_a_line_or_an_owned_option(item: str, why: str) -> None:
    for lines in ([item], item, ["--exclusive", item]):
        with pytest.raises(ValueError) as exc:
            Resources(extra={"sbatch_lines": lines})
        assert "sbatch_lines" in str(exc.value) and why in str(exc.value), str(exc.value)
        assert repr(item) in str(exc.value)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"partition": 5}, "must be a string"),
        ({"partition": ["gpu"]}, "must be a string"),
        ({"account": b"proj"}, "must be a string"),
        ({"sbatch_lines": 5}, "a string or a list of strings"),
        ({"sbatch_lines": {"--qos": "x"}}, "a string or a list of strings"),
        ({"sbatch_lines": ["--qos=x", 5]}, "must be a string"),
        ({"qos": "long"}, "unknown key"),
        ({"output": "/home/u/.bashrc"}, "unknown key"),
    ],
)
def test_extra_types_and_keys_are_strict(extra: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Resources(extra=extra)


def test_documented_extras_still_work(tmp_path: Path) -> None:
    res = Resources(
        time_limit="2:00:00",
        memory="16G",
        cpus=8,
        extra={"partition": "gpu", "account": "myproj", "sbatch_lines": ["--gres=gpu:1"]},
    )
    lines = render_sbatch(
        Job("train", "python train.py", resources=res), log_path=tmp_path / "a.log", cwd=tmp_path
    ).splitlines()
    for line in ("--partition=gpu", "--account=myproj", "--gres=gpu:1", "--time=02:00:00"):
        assert f"#SBATCH {line}" in lines
    both = Resources(
        extra={"sbatch_lines": '#SBATCH --qos=long --comment="a b"', "partition": None}
    )
    assert Resources.from_dict(both.to_dict()) == both


@pytest.mark.parametrize("value", ["run\nrm -rf ~", "run\rx", "a\u2028b", "a\x00b", "a\u202eb"])
def test_job_cwd_and_env_names_refuse_control_characters(value: str) -> None:
    with pytest.raises(ValueError) as exc:
        Job("j", ["true"], cwd=value)
    refused(exc, "cwd", value)
    with pytest.raises(ValueError) as exc:
        Job("j", ["true"], env={value: "1"})
    refused(exc, "environment variable", value)


def test_job_name_refuses_a_trailing_newline() -> None:
    # `$` in a Python regex also matches before a final newline.
    with pytest.raises(ValueError, match="invalid job name"):
        Job("train\n", ["true"])


def test_env_values_may_hold_newlines_but_not_nul(tmp_path: Path) -> None:
    job = Job("j", ["true"], env={"A": "one\ntwo 'three'"})
    text = render_sbatch(job, log_path=tmp_path / "a.log", cwd=tmp_path)
    assert "export A='one\ntwo '\"'\"'three'\"'\"''\n" in text  # one quoted word for bash
    with pytest.raises(ValueError, match="NUL"):
        Job("j", ["true"], env={"A": "a\0b"})
    with pytest.raises(ValueError, match="NUL"):
        Job("j", ["echo", "a\0b"])


HOSTILE_SPECS = [
    ({"resources": {"extra": {"partition": "debug\nrm -rf ~"}}}, "partition"),
    ({"resources": {"extra": {"sbatch_lines": ["--qos=x\n#SBATCH --output=/x"]}}}, "sbatch_lines"),
    ({"resources": {"extra": {"sbatch_lines": ["--output=/home/u/.bashrc"]}}}, "sbatch_lines"),
    ({"resources": {"extra": {"account": 7}}}, "account"),
    ({"cwd": "/tmp\nrm -rf ~"}, "cwd"),
    ({"name": "x\n"}, "job name"),
    ({"env": {"A\nB": "1"}}, "environment variable"),
]


@pytest.mark.parametrize(("change", "field"), HOSTILE_SPECS)
def test_a_hostile_stored_spec_is_refused(change: dict[str, Any], field: str) -> None:
    spec = {**Job("j", ["true"]).to_dict(), **change}
    with pytest.raises(ValueError, match=field):
        Job.from_dict(spec)


@pytest.mark.parametrize(
    ("log", "cwd", "words"),
    [
        ("logs\n#SBATCH --uid=0/a.log", "run", "log path"),
        ("logs\r/a.log", "run", "log path"),
        ("logs/a\u2028b.log", "run", "log path"),
        ("logs/hetjob/a.log", "run", "hetjob"),
        ("logs/a\\b.log", "run", "backslash"),
        ("a.log", "run\nrm -rf ~", "working directory"),
        ("a.log", "run\x00", "working directory"),
        ("a.log", "my-packjob-dir", "packjob"),
    ],
)
def test_the_renderer_refuses_hostile_paths(tmp_path: Path, log: str, cwd: str, words: str) -> None:
    with pytest.raises(SbatchError, match=words):
        render_sbatch(Job("j", ["true"]), log_path=tmp_path / log, cwd=tmp_path / cwd)


def test_the_renderer_checks_again_whoever_built_the_job(tmp_path: Path) -> None:
    resources = Resources(extra={"partition": "gpu"})
    # changed after its checks (``extra`` is read only; whoever is bent on it goes around)
    dict.__setitem__(resources.extra, "partition", "gpu\nrm -rf ~")
    job = Job("j", ["true"], resources=resources)
    with pytest.raises(SbatchError, match="partition"):
        render_sbatch(job, log_path=tmp_path / "a.log", cwd=tmp_path)
    with pytest.raises(SbatchError, match="partition"):
        render_sbatch(
            Job("k", ["true"]),
            log_path=tmp_path / "a.log",
            cwd=tmp_path,
            defaults={"partition": "debug\nrm -rf ~"},
        )
    with pytest.raises(ValueError, match="account"):
        SlurmScheduler(account="proj\nrm -rf ~")


def test_a_command_cannot_add_directives(tmp_path: Path) -> None:
    job = Job("j", "#SBATCH --output=/home/u/.bashrc\n#SBATCH --hold\npython train.py")
    text = render_sbatch(job, log_path=tmp_path / "a.log", cwd=tmp_path)
    assert not any("bashrc" in line or "hold" in line for line in sbatch_header_raw(text))
    assert text.endswith("\n:\n#SBATCH --output=/home/u/.bashrc\n#SBATCH --hold\npython train.py\n")
