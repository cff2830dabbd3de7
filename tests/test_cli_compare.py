"""``adaptive-llm compare``: scoring against labels through real HTTP (our scripted OpenAI-style
server), lenient reading of answers, bad input, a workdir's failed jobs, Ctrl-C, and the real
local model server (plumbing only)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from chat.fake_openai import FakeOpenAI, Reply

from adaptive_llm import Job, RunManager
from adaptive_llm.cli import main
from adaptive_llm.llm.compare import COMPARE_PROMPT
from adaptive_llm.llm.failures import shipped_failures
from adaptive_llm.llm.prices import estimate_cost
from adaptive_llm.llm.scoring import parse_answer, same_file

SHIPPED = Path(__file__).resolve().parents[1] / "adaptive_llm" / "llm" / "failures"
#: A missing module (labelled culprit line) and a time limit (no culprit line).
CASES = ("missing_module", "time_limit")


def require_llm_server() -> tuple[str, str]:
    """(base URL, model id) of the real local server ``.ci/llm-up`` started, found as
    ``tests/llm_server/conftest.py`` finds it; skips without one, fails under CI=true."""
    url = os.environ.get("ADAPTIVE_LLM_TEST_LLM_URL", "").strip()
    state = Path(os.environ.get("XDG_RUNTIME_DIR") or "/tmp") / "adaptive_llm-llm-server.url"
    problem = ""
    if not url:
        try:
            url = state.read_text().strip()
        except OSError:
            problem = f"$ADAPTIVE_LLM_TEST_LLM_URL is not set and there is no {state}"
    url = url.rstrip("/")
    if url:
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=10) as answer:
                return url, str(json.load(answer)["data"][0]["id"])
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            problem = f"the server at {url} does not answer GET /models: {exc}"
    problem = problem or f"{state} is empty"
    if os.environ.get("CI") == "true":
        pytest.fail(f"local model server not available under CI=true: {problem}", pytrace=False)
    pytest.skip(f"local model server not available: {problem} (start one with `.ci/llm-up`)")


#: What a local server gets for a key when none is set (``resolve_model``'s placeholder).
KEY = "not-needed"


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture
def small_set(tmp_path: Path) -> Path:
    """A labelled set of two shipped failures (labels.json beside copies of their logs)."""
    document = json.loads((SHIPPED / "labels.json").read_text())
    chosen = [item for item in document["failures"] if item["name"] in CASES]
    assert [item["name"] for item in chosen] == list(CASES)
    for item in chosen:
        shutil.copy(SHIPPED / item["log"], tmp_path / item["log"])
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({"failures": chosen}))
    return path


def labels(path: Path) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text())["failures"])


def compare(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    """Run the command in this process: (exit code, parsed --json output, stderr)."""
    code = main(["compare", *args, "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


def row(result: Any, name: str) -> dict[str, Any]:
    (found,) = [m for m in result["models"] if m["model"] == name]
    return dict(found)


def right_answers(items: list[dict[str, Any]]) -> list[Reply]:
    """What a model that knows the answer says, in two layouts a model might use."""
    replies = []
    for n, item in enumerate(items):
        answer = {
            "category": item["category"],
            "file": f"/home/user/project/{item['file']}" if item["file"] else None,
            "line": str(item["line"]) if item["line"] else None,
            "summary": "Cause: " + " and ".join(item["key_terms"]),
        }
        text = json.dumps(answer)
        replies.append(Reply(text=f"Here you go:\n```json\n{text}\n```" if n % 2 else text))
    return replies


def test_a_right_model_agrees_and_its_tokens_are_counted(
    small_set: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = labels(small_set)
    with FakeOpenAI(KEY) as server:
        server.chat_replies = right_answers(items)
        code, result, _ = compare(
            capsys,
            str(small_set),
            "--model", "openai:gpt-4.1-mini",
            "--model", "offline",
            "--base-url", server.base_url,
            "--max-tokens", "123",
            "--concurrency", "1",
        )  # fmt: skip
        requests = server.routed("chat")
    assert code == 0
    model = row(result, "openai:gpt-4.1-mini")
    assert model["done"] == 2 and model["errors"] == 0 and model["unreadable"] == 0
    assert model["category"] == {"agree": 2, "of": 2}
    assert model["line"] == {"agree": 1, "of": 1}  # the time limit has no culprit line
    terms = sum(len(item["key_terms"]) for item in items)
    assert model["key_terms"] == {"found": terms, "of": terms}
    # Tokens are the server's usage figures (it counts 4 characters a token of the prompt).
    assert len(requests) == 2
    prompt = sum(max(1, len(json.dumps(r.body["messages"])) // 4) for r in requests)
    assert model["input_tokens"] == prompt
    assert model["output_tokens"] > 0
    assert not model["tokens_estimated"]
    assert model["cost"] == 0  # a server on this machine costs nothing, whatever the name
    assert model["latency_p50"] is not None and model["latency_p95"] >= model["latency_p50"]
    # Each call is bounded and asks for the structured answer; the model sees the log
    # excerpt and the job's facts, not the offline engine's conclusions.
    for request in requests:
        body = request.body
        assert (body.get("max_completion_tokens") or body.get("max_tokens")) == 123
        system, human = body["messages"]
        assert system["content"] == COMPARE_PROMPT
        facts = json.loads(human["content"])
        assert "diagnosis" not in facts and "category" not in json.dumps(facts)
        assert facts["log_excerpt"]
    assert json.loads(requests[0].body["messages"][1]["content"])["job"] == "missing_module"
    assert "No module named 'sklearn'" in requests[0].body["messages"][1]["content"]
    offline = row(result, "offline")
    assert offline["category"] == {"agree": 2, "of": 2}
    assert offline["input_tokens"] == 0 and offline["cost"] == 0


def test_a_priced_model_costs_its_tokens_and_an_unknown_one_has_no_cost(
    small_set: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import adaptive_llm.llm.usage

    # As if the scripted server were the provider's (it listens on 127.0.0.1: local, free).
    monkeypatch.setattr(adaptive_llm.llm.usage, "is_local_model", lambda model: False)
    with FakeOpenAI(KEY) as server:
        server.chat_replies = right_answers(labels(small_set)) * 2
        code, result, _ = compare(
            capsys,
            str(small_set),
            "--model", "openai:gpt-4.1-mini",
            "--model", "openai:no-such-price",
            "--base-url", server.base_url,
        )  # fmt: skip
    assert code == 0
    priced = row(result, "openai:gpt-4.1-mini")
    tokens_in, tokens_out = priced["input_tokens"], priced["output_tokens"]
    assert tokens_in > 0 and tokens_out > 0
    expected = sum(
        estimate_cost("openai:gpt-4.1-mini", o["input_tokens"], o["output_tokens"]) or 0
        for o in priced["outcomes"]
    )
    assert expected > 0 and priced["cost"] == pytest.approx(expected)
    assert row(result, "openai:no-such-price")["cost"] is None


def test_a_wrong_model_a_rambling_one_and_a_silent_one_are_misses_and_errors(
    small_set: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = json.dumps({"category": "network", "file": "other.py", "line": 99, "summary": "DNS"})
    with FakeOpenAI(KEY) as server:
        server.chat_replies = [Reply(text=wrong), Reply(text=wrong)]
        code, result, _ = compare(
            capsys, str(small_set), "--model", "openai:wrong", "--base-url", server.base_url
        )
    assert code == 0
    model = row(result, "openai:wrong")
    assert model["category"] == {"agree": 0, "of": 2} and model["line"] == {"agree": 0, "of": 1}
    assert model["key_terms"]["found"] == 0 and model["errors"] == 0

    with FakeOpenAI(KEY) as server:
        server.default = Reply(text="Sure! The job failed because " + "of reasons " * 30)
        code, result, _ = compare(
            capsys, str(small_set), "--model", "openai:rambler", "--base-url", server.base_url
        )
    model = row(result, "openai:rambler")
    assert code == 0 and model["done"] == 2
    assert model["unreadable"] == 2 and model["errors"] == 0
    assert model["category"]["agree"] == 0 and model["line"]["agree"] == 0

    with FakeOpenAI(KEY) as server:
        server.default = Reply(text="{}", delay=10)
        start = time.monotonic()
        code, result, _ = compare(
            capsys,
            str(small_set),
            "--model", "openai:silent",
            "--base-url", server.base_url,
            "--timeout", "0.5",
            "--attempts", "1",
        )  # fmt: skip
        elapsed = time.monotonic() - start
    assert code == 0 and elapsed < 8
    model = row(result, "openai:silent")
    assert model["errors"] == 2 and model["category"] == {"agree": 0, "of": 2}
    assert model["input_tokens"] == 0 and model["latency_p50"] is None
    errors = [o["error"] for o in model["outcomes"]]
    assert all("within 0.5 s" in e and server.base_url in e for e in errors), errors


def test_the_table_shows_each_model_and_each_failure(
    small_set: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeOpenAI(KEY) as server:
        server.chat_replies = right_answers(labels(small_set))
        code = main(
            ["compare", str(small_set), "--model", "openai:gpt-4.1-mini", "--model", "offline",
             "--base-url", server.base_url, "--concurrency", "1"]
        )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("2 failures from") and "scored against the labels" in lines[0]
    header = next(line for line in lines if line.startswith("MODEL"))
    for column in ("CATEGORY", "LINE", "KEY TERMS", "TOKENS IN/OUT", "COST", "P50", "P95"):
        assert column in header
    model_row = next(line for line in lines if line.startswith("openai:gpt-4.1-mini"))
    assert "2/2 100%" in model_row and "1/1 100%" in model_row
    assert any(line.startswith("missing_module") and "++" in line for line in lines)
    assert any(line.startswith("time_limit") and "+-" in line for line in lines)
    assert err.count("compare: [") == 4


@pytest.mark.parametrize(
    ("text", "category", "file", "line"),
    [
        ('{"category": "missing_module", "file": "a.py", "line": 3}', "missing_module", "a.py", 3),
        (
            'Answer:\n```json\n{"Category": "Time Limit", "line": null}\n```',
            "time_limit",
            None,
            None,
        ),
        ('I think {"category": "segfault", "file": "x.py:12"} is it.', "segfault", "x.py", 12),
        ('{"category": "unknown", "path": "b.py", "line": "7"} {"x": 1}', "unknown", "b.py", 7),
        ('{"category": 3, "file": "", "line": true}', None, None, None),
        (
            "The {'category': 'network', 'file': 'a.py', 'line': 2, 'x': '}'} ...",
            "network",
            "a.py",
            2,
        ),
    ],
)
def test_answers_are_read_leniently(
    text: str, category: str | None, file: str | None, line: int | None
) -> None:
    answer = parse_answer(text)
    assert answer.parsed
    assert (answer.category, answer.file, answer.line) == (category, file, line)


@pytest.mark.parametrize(
    "text", ["", "no json here", "{not json}", "[1, 2]", '{"a": 1', "{'a': 1", "{'a': f(1)}"]
)
def test_text_without_an_object_is_unreadable(text: str) -> None:
    assert not parse_answer(text).parsed


def test_same_file_matches_on_path_components() -> None:
    assert same_file("/home/user/project/run.sh", "run.sh")
    assert same_file("./src/a.py", "/x/src/a.py")
    assert not same_file("/x/myrun.sh", "run.sh")
    assert not same_file(None, "run.sh")


def test_the_shipped_set_is_labelled_and_its_logs_are_there() -> None:
    failures = shipped_failures()
    assert len(failures) >= 10
    categories = {f.label.category for f in failures if f.label}
    assert {"python_exception", "missing_module", "missing_file", "gpu_out_of_memory"} <= categories
    assert {"out_of_memory", "time_limit", "segfault", "syntax_error"} <= categories
    for failure in failures:
        assert failure.log.is_file(), failure.log
        assert failure.label is not None and failure.label.key_terms
        if failure.label.line is not None:  # the culprit's frame is in the log
            assert f"{failure.label.file}" in failure.log.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope.log", "--model", "offline"], "nope.log does not exist"),
        (["--model", "offline", "--workdir", "."], "no jobs recorded"),
        (["x.log", "--model", "offline", "--workdir", "."], "LOGS or --workdir, not both"),
        (["--model", "offline", "--max-tokens", "0"], "--max-tokens must be"),
        (["--model", "offline", "--timeout", "-1"], "call_timeout must be"),
        (["--model", "offline", "--concurrency", "0"], "--concurrency must be at least 1"),
        (["--model", "gpt4"], "give provider:name"),
        (["--model", "offline", "--model", "offline"], "given twice"),
        (["--model", "nosuchprovider:x"], "cannot create model"),
        (
            ["--model", "offline", "--base-url", "http://127.0.0.1:9/v1"],
            "--base-url is for a model",
        ),
    ],
)
def test_bad_input_is_one_clear_line(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    assert main(["compare", *args]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("adaptive-llm compare: ") and message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_labels_file_that_is_not_one_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "labels.json"
    bad.write_text('{"failures": [{"log": "a.log"}]}')
    assert main(["compare", str(bad), "--model", "offline"]) == 2
    assert "is not a labelled set" in capsys.readouterr().err


async def test_a_workdirs_failed_jobs_are_compared_once_per_signature(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "job.py").write_text("import json\n\njson.loads('{broken')\n")
    code = [sys.executable, "job.py"]
    jobs = [Job("a", code), Job("b", code), Job("ok", [sys.executable, "-c", "pass"])]
    rm = RunManager(jobs, workdir=tmp_path)
    rm.start()
    try:
        await rm.wait(timeout=60)
    finally:
        await rm.close()
    # The CLI runs its own event loop: run it in a thread, as a user's shell would.
    import asyncio

    result_code = await asyncio.to_thread(
        main, ["compare", "--workdir", str(tmp_path), "--model", "offline", "--json"]
    )
    out = capsys.readouterr().out
    assert result_code == 0
    result = json.loads(out)
    assert "2 failed job(s)" in result["source"] and "1 distinct failure(s)" in result["source"]
    (failure,) = result["failures"]
    reference = failure["reference"]
    assert reference["source"] == "offline" and reference["category"] == "python_exception"
    assert reference["file"].endswith("job.py") and reference["line"] == 3
    offline = row(result, "offline")
    assert offline["category"] == {"agree": 1, "of": 1} and offline["line"] == {"agree": 1, "of": 1}


def test_a_log_on_the_command_line_is_scored_against_the_offline_engine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = subprocess.run(
        [sys.executable, "-c", "import no_such_module_here"], capture_output=True, text=True
    )
    log = tmp_path / "job.log"
    log.write_text(run.stdout + run.stderr)
    answer = json.dumps({"category": "missing_module", "file": "<string>", "line": 1})
    with FakeOpenAI(KEY) as server:
        server.default = Reply(text=answer)
        code, result, _ = compare(
            capsys, str(log), "--model", "openai:m", "--base-url", server.base_url
        )
    assert code == 0
    assert result["failures"][0]["reference"]["source"] == "offline"
    model = row(result, "openai:m")
    assert model["category"] == {"agree": 1, "of": 1}
    assert model["key_terms"] == {"found": 0, "of": 1}  # ModuleNotFoundError not named


def test_ctrl_c_prints_what_was_done(small_set: Path) -> None:
    with FakeOpenAI(KEY) as server:
        server.default = Reply(text="{}", delay=60)
        proc = subprocess.Popen(
            [sys.executable, "-m", "adaptive_llm.cli", "compare", str(small_set),
             "--model", "offline", "--model", "openai:slow", "--base-url", server.base_url,
             "--concurrency", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert proc.stderr is not None
            seen = [proc.stderr.readline() for _ in range(2)]  # the two offline outcomes
            assert all("offline" in line for line in seen), seen
            deadline = time.monotonic() + 20
            while not server.requests and time.monotonic() < deadline:
                time.sleep(0.05)  # the model's first call is under way
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=20)
        finally:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted: 2 of 4 diagnoses done" in out
    assert any(line.startswith("offline") and "2/2" in line for line in out.splitlines())
    assert "Traceback" not in err


def test_the_real_local_server_plumbing(
    small_set: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, name = require_llm_server()
    code, result, err = compare(
        capsys,
        str(small_set),
        "--model", f"openai:{name}",
        "--model", "offline",
        "--base-url", url,
        "--max-tokens", "16",
        "--timeout", "120",
        "--concurrency", "1",
    )  # fmt: skip
    assert code == 0, err
    model = row(result, f"openai:{name}")
    assert model["done"] == 2
    answered = [o for o in model["outcomes"] if o["error"] is None]
    # A 135M model's answers are nonsense; what counts is that each call came back bounded,
    # with the server's token counts, and was scored (or counted as an error) without a crash.
    for outcome in answered:
        assert 0 < outcome["output_tokens"] <= 16 and outcome["input_tokens"] > 100
    assert model["errors"] + len(answered) == 2
    assert model["category"]["of"] == 2


def test_the_shipped_set_is_what_its_generator_makes(tmp_path: Path) -> None:
    """bench/make_failure_set.py runs the programs again: the same states, reasons and labels,
    and (on the Python that made the set) the same logs but for timing and addresses."""
    generator = SHIPPED.parents[2] / "bench" / "make_failure_set.py"
    run = subprocess.run(
        [sys.executable, str(generator), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stderr
    shipped = json.loads((SHIPPED / "labels.json").read_text())
    made = json.loads((tmp_path / "labels.json").read_text())
    assert made["failures"] == shipped["failures"]
    if made["python"] != shipped["python"]:
        return  # tracebacks differ between Python versions (carets, frames)
    for item in shipped["failures"]:
        old = (SHIPPED / item["log"]).read_text().splitlines()
        new = (tmp_path / item["log"]).read_text().splitlines()
        if item["name"] == "time_limit":  # how many steps fit in 2 s
            assert new[:5] == old[:5] and len(new) > 5
            continue
        strip = [line for line in old if not line.startswith("Current thread 0x")]
        assert [line for line in new if not line.startswith("Current thread 0x")] == strip
