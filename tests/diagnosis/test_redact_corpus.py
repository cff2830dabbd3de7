"""Redaction sees the whole secret (issue #12): a generated corpus of 300+ fake secrets in 40+
layouts, with random escapes, through the real ``diagnose()`` on real log files; every field of
the Diagnosis and the prompt an LLM would get are checked, and secrets that straddle every
place where text is cut (2,000-character lines, 300-character excerpt lines, the summary, the
excerpt's choice of lines, the 64 KiB window of a huge line's end, a large file's regions, the
source window around the culprit) never come out.
"""

from __future__ import annotations

import asyncio
import json
import random
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from secret_corpus import (
    ALNUM,
    B64,
    ESCAPES,
    LAYOUTS,
    Gen,
    Placed,
    _secrets,
    corpus,
    leaks,
    place,
)

from adaptive_llm.diagnosis import Diagnosis, diagnose
from adaptive_llm.diagnosis.reader import (
    FULL_READ_LIMIT,
    MAX_LINE_CHARS,
    TAIL_LINE_CONTEXT,
    clean_lines,
)
from adaptive_llm.diagnosis.redact import MARKER_PREFIX, _redact, redact

CORPUS = corpus()
SECRETS = _secrets(Gen(20261201))

#: Lines of a log that must come through redaction unchanged (diagnostics, not secrets).
KEEP = [
    "commit 3f2c1a0b9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a (HEAD -> main, origin/main)",
    "HEAD is now at 0123456 fix tokenizer warmup",
    "Digest: sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945",
    "Pulling python@sha256:0f6cbd7ae4e2b7b6cd0d1b66f5c7a1bb8a3f2b0c44e1e2f5f2c9c1b8a4f3e2d1",
    "run_id=123e4567-e89b-12d3-a456-426614174000 trace=5f0c7a9e2b1d4c3a",
    "fixture = base64.b64decode('SGVsbG8sIFdvcmxkIQ==')  # test data",
    "expected: 'dGhpcyBpcyBub3QgYSBzZWNyZXQsIGp1c3QgdGVzdCBkYXRh'",
    '  File "/home/user/project/src/auth/token_refresh.py", line 42, in refresh',
    "/var/lib/secrets/token/refresh.py:12: DeprecationWarning: use refresh_v2",
    "max_tokens=4000 num_tokens=1234 token_count=5 tokenizer=gpt2",
    "password_file=/run/secrets/db auth_method=scram-sha-256 token_type=bearer",
    "PASS: test/unit/test_tokenizer",
    "--- PASS: TestDuplicatedLinks/d3d9 (0.00s)",
    "cache_key=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "Using cached torch-2.1.0-cp311-cp311-manylinux1_x86_64.whl (670.2 MB)",
]

TRACEBACK = [
    "Traceback (most recent call last):",
    '  File "/home/user/project/train.py", line 12, in <module>',
    "    main()",
    '  File "/home/user/project/train.py", line 9, in main',
    "    raise ValueError(message)",
]


def _prompt(d: Diagnosis) -> str:
    """What the provider receives for this diagnosis (job facts as ``job_context`` builds)."""
    from adaptive_llm.llm.diagnose import diagnose_with_model
    from adaptive_llm.testing import ScriptedChatModel

    data = d.to_dict()
    data.pop("path", None)
    facts: dict[str, Any] = {"job": "train", "state": "FAILED", "diagnosis": data}
    seen: list[str] = []

    def reply(messages: list[Any]) -> str:
        seen.extend(str(m.content) for m in messages)
        return "The key is wrong."

    asyncio.run(diagnose_with_model(ScriptedChatModel(reply), facts))
    return "\n".join(seen)


def _fields(d: Diagnosis) -> list[str]:
    loc = d.location
    values = [d.summary, d.excerpt.text, d.error_type, d.message, d.suggestion, d.category]
    values += [loc.file, loc.source] if loc else []
    values.append(json.dumps(d.to_dict()))
    return [v for v in values if v]


def _assert_no_leak(d: Diagnosis, placed: list[Placed], prompt: bool = True) -> None:
    texts = _fields(d) + ([_prompt(d)] if prompt else [])
    bad = [
        (p.secret.kind, p.layout, p.escape, run) for p in placed for run in leaks(p.secret, texts)
    ]
    assert not bad, bad[:10]


def _log(tmp_path: Path, lines: list[str], name: str = "job.log") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- the corpus ----------------------------------------------------------------------------


def test_corpus_is_large_and_varied() -> None:
    assert len(CORPUS) >= 300
    assert len({p.layout for p in CORPUS}) >= 40
    assert {p.layout for p in CORPUS} == set(LAYOUTS)
    assert len({p.secret.kind for p in CORPUS}) >= 60
    assert {p.escape for p in CORPUS} == set(ESCAPES)
    assert all(p.secret.parts for p in CORPUS)


def test_every_placed_secret_is_masked_by_redact() -> None:
    bad = []
    for p in CORPUS:
        out = redact(f"step 1 ok\n{p.text}\nstep 2 ok")
        assert out.count("\n") == p.text.count("\n") + 2
        assert redact(out) == out, (p.secret.kind, p.layout, p.escape)
        if leaks(p.secret, [out]) or MARKER_PREFIX not in out:
            bad.append((p.secret.kind, p.layout, p.escape, out[:200]))
    assert not bad, bad[:10]


def test_the_whole_corpus_through_diagnose(tmp_path: Path) -> None:
    rng = random.Random(5)
    lines: list[str] = []
    for i, p in enumerate(CORPUS):
        lines.append(f"2026-12-01 10:{i % 60:02d}:00 INFO step {i} loss={rng.random():.4f}")
        lines.append(KEEP[i % len(KEEP)])
        lines.append(p.text)
    last = CORPUS[7]  # a secret in the exception message: message, summary, suggestion
    lines += [*TRACEBACK, f"ValueError: bad config {last.text.splitlines()[0]}"]
    log = _log(tmp_path, lines)
    whole = diagnose(log, max_tokens=200_000)  # the excerpt holds every line
    assert whole.error_type == "ValueError" and whole.message
    assert whole.excerpt.spans == [(1, log.read_text().count("\n"))]
    _assert_no_leak(whole, CORPUS)
    for keep in KEEP:
        assert keep in whole.excerpt.text, keep
    budget = diagnose(log)  # the default budget: lines chosen and cut
    _assert_no_leak(budget, CORPUS)


@pytest.mark.parametrize("index", range(0, len(CORPUS), 7))
def test_secret_in_the_exception_message(tmp_path: Path, index: int) -> None:
    """Message, summary and suggestion are built from the exception line (its first line)."""
    p = CORPUS[index]
    first = p.text.splitlines()[0]
    log = _log(tmp_path, ["starting", *TRACEBACK, f"RuntimeError: could not connect: {first}"])
    _assert_no_leak(diagnose(log), [p], prompt=index % 28 == 0)


# --- secrets across every place where text is cut ------------------------------------------


def _token(rng: random.Random) -> tuple[str, str]:
    body = "".join(rng.choice(ALNUM) for _ in range(36))
    return "gh" + "p_" + body, body


def _pem_one_line(rng: random.Random, lines: int = 80) -> tuple[str, list[str]]:
    body = ["".join(rng.choice(B64) for _ in range(64)) for _ in range(lines)]
    pem = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(body) + "\n-----END PRIVATE KEY-----\n"
    return repr(pem.encode()), body


def _check(d: Diagnosis, parts: list[str]) -> None:
    texts = [*_fields(d), _prompt(d)]
    for part in parts:
        for i in range(len(part) - 7):
            run = part[i : i + 8]
            assert not any(run in t for t in texts), run


@pytest.mark.parametrize("where", [950, 965, 975, 990, -1000, -990, -970, -950])
def test_secret_straddling_the_2000_character_cut(tmp_path: Path, where: int) -> None:
    """The reader keeps 980 characters on each side of an overlong line; the exception line
    goes into the message whole (as the reader left it)."""
    rng = random.Random(where)
    token, body = _token(rng)
    filler = "x " * 1600
    at = where if where > 0 else len(filler) + where
    line = "ValueError: " + filler[:at] + token + filler[at:]
    assert len(line) > MAX_LINE_CHARS
    shown = clean_lines(line.encode())[0]
    assert "characters cut" in shown and "[REDACTED:" not in shown.replace(
        "[REDACTED:github_token]", ""
    )
    assert not any(body[i : i + 8] in shown for i in range(len(body) - 7))
    d = diagnose(_log(tmp_path, ["start", *TRACEBACK, line]))
    assert d.message and "characters cut" in d.message
    _check(d, [body])


@pytest.mark.parametrize("where", [100, 120, 130, 140, -150, -130])
def test_secret_straddling_the_300_character_excerpt_cut(tmp_path: Path, where: int) -> None:
    rng = random.Random(where)
    token, body = _token(rng)
    filler = "y " * 200
    at = where if where > 0 else len(filler) + where
    line = "ERROR: " + filler[:at] + token + filler[at:]
    d = diagnose(_log(tmp_path, ["start", line, "done"]))
    _check(d, [body])


def test_secret_straddling_the_summary_cut(tmp_path: Path) -> None:
    rng = random.Random(3)
    token, body = _token(rng)
    message = "a" * 170 + " " + token + " trailing words"
    d = diagnose(_log(tmp_path, [*TRACEBACK, f"ValueError: {message}"]))
    assert len(d.summary) <= 200
    _check(d, [body])


def test_private_key_in_one_5000_character_line(tmp_path: Path) -> None:
    rng = random.Random(4)
    text, body = _pem_one_line(rng)
    line = f"DEBUG loaded key material {text}"
    assert len(line) > 5000
    d = diagnose(_log(tmp_path, ["start", line, *TRACEBACK, "ValueError: bad key"]))
    assert "PRIVATE KEY" in d.excerpt.text
    _check(d, body)


def test_excerpt_never_shows_the_middle_of_a_private_key(tmp_path: Path) -> None:
    """The excerpt widens upwards from the error: it reaches a long key's END line and its
    last lines long before its BEGIN line."""
    rng = random.Random(6)
    body = ["".join(rng.choice(B64) for _ in range(64)) for _ in range(150)]
    lines = ["loading", "-----BEGIN PGP PRIVATE KEY BLOCK-----", "", *body]
    lines += ["-----END PGP PRIVATE KEY BLOCK-----", *TRACEBACK, "ValueError: bad key"]
    for budget in (300, 800, 2000):
        d = diagnose(_log(tmp_path, lines), max_tokens=budget)
        assert "-----END PGP PRIVATE KEY BLOCK-----" in d.excerpt.text
        _check(d, body)


def test_source_window_inside_a_private_key(tmp_path: Path) -> None:
    rng = random.Random(7)
    body = ["".join(rng.choice(B64) for _ in range(64)) for _ in range(30)]
    source = ['KEY = """-----BEGIN RSA PRIVATE KEY-----', *body[:15]]
    source += [
        '"""; raise ValueError("bad")  # line 17',
        *body[15:],
        '-----END RSA PRIVATE KEY-----"""',
    ]
    (tmp_path / "keys.py").write_text("\n".join(source) + "\n")
    log = _log(
        tmp_path,
        [
            "Traceback (most recent call last):",
            f'  File "{tmp_path}/keys.py", line 17, in <module>',
            "ValueError: bad",
        ],
    )
    d = diagnose(log, workdir=tmp_path)
    assert d.location is not None and d.location.source is not None
    assert d.location.line == 17 and "raise ValueError" in d.location.source
    _check(d, body)


def _big_single_line(path: Path, tail: str) -> None:
    with open(path, "w") as f:
        chunk = "z" * 1_000_000
        for _ in range(FULL_READ_LIMIT // len(chunk) + 1):
            f.write(chunk)
        f.write(tail)


@pytest.mark.parametrize("where", [1990, 2000, 2010])
def test_huge_single_line_end_is_redacted_before_it_is_cut(tmp_path: Path, where: int) -> None:
    rng = random.Random(where)
    token, body = _token(rng)
    tail = " " + token + " " + "q" * (where - len(token) - 2) + " RuntimeError: lost"
    path = tmp_path / "one.log"
    _big_single_line(path, tail)
    d = diagnose(path)
    assert "line continues from before" in d.excerpt.text
    _check(d, [body])


def test_huge_single_line_ends_inside_a_private_key(tmp_path: Path) -> None:
    """A one-line key whose BEGIN is outside the 64 KiB window read before the cut."""
    rng = random.Random(9)
    text, body = _pem_one_line(rng, lines=1200)  # ~80 KB
    assert len(text) > TAIL_LINE_CONTEXT
    path = tmp_path / "one.log"
    _big_single_line(path, " key=" + text)
    d = diagnose(path)
    _check(d, body)


def test_large_file_region_starting_inside_a_private_key(tmp_path: Path) -> None:
    """A hit region of a large file starts 12 KiB before the anchor: inside a 20 KB key."""
    rng = random.Random(10)
    body = ["".join(rng.choice(B64) for _ in range(64)) for _ in range(320)]
    noise = [f"INFO step {i} loss=0.{i % 997:03d}" for i in range(330_000)]
    middle = [
        "-----BEGIN PGP PRIVATE KEY BLOCK-----",
        "",
        *body,
        "-----END PGP PRIVATE KEY BLOCK-----",
    ]
    middle += [*TRACEBACK, "ValueError: worker failed"]
    lines = noise + middle + noise[:200_000]
    path = _log(tmp_path, lines)
    assert path.stat().st_size > FULL_READ_LIMIT
    d = diagnose(path, max_tokens=50_000)
    assert d.error_type == "ValueError"
    _check(d, body)


# --- random layouts, escapes and surroundings ----------------------------------------------

_NOISE = st.sampled_from(
    ["", "INFO ", "2026-12-01T10:00:00Z ", "[rank0]: ", "  ", "\t", "> ", "| ", "+ ", "DEBUG x=1 "]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, len(SECRETS) - 1),
    st.sampled_from(LAYOUTS),
    st.sampled_from(sorted(ESCAPES)),
    _NOISE,
    st.sampled_from(["", " done", ", retrying", " (attempt 2)", "\r"]),
    st.integers(0, 3000),
)
def test_property_random_layouts_and_escapes(
    index: int, layout: str, escape: str, before: str, after: str, pad: int
) -> None:
    secret = SECRETS[index]
    if layout.startswith("bare_") and not secret.self_identifying:
        layout = "env"
    placed = place(secret, layout, escape)
    text = "x" * pad + "\n" + before + placed.text + after + "\nend"
    out = redact(text)
    assert not leaks(secret, [out]), (secret.kind, layout, escape, out[pad:][:300])
    assert out.count("\n") == text.count("\n")
    assert redact(out) == out


_FRAGMENTS = [
    "password", "DB_PASSWORD", "PGPASSWORD", "token", "api_key", "Secret", "auth", "Authorization",
    "Bearer ", "Cookie", "Set-Cookie", "=", ": ", ":", '"', "'", " ", "\n", "\r\n", "--", "-", "_",
    "://", "@", "/", "[", "]", "(", ")", ";", "&", "%3D", "%22", "%20", "%2F", "\\n", '\\"', "\\\\",
    "\\u0022", "\\x3d", "&quot;", "-----BEGIN PRIVATE KEY-----", "-----END PRIVATE KEY-----",
    "AKIA", "gh" "p_", "sk-", "hf_", "eyJ", ".", "xox" "b-", "gl" "pat-", "SG.", "ya29.", "whsec_",
    "sk_" "live_", "AGE-SECRET-KEY-1", "https://u:", "@host/db", "postgres://", "export ", "ENV ",
    "<password>", "</password>", "sig=", "X-Amz-Signature=", "AccountKey=", "Server=x;",
    "password: |\n  ", "curl -u ", "--user ", "TOKEN_V2", "sessionid", "_PASS", "pass", "PWD",
    "hooks.slack.com/services/", "Basic ", "123456789:",
]  # fmt: skip


def _random_text(draw: Any) -> str:
    pieces = draw(
        st.lists(
            st.one_of(
                st.sampled_from(_FRAGMENTS),
                st.text(alphabet=ALNUM, min_size=1, max_size=48),
                st.text(alphabet=ALNUM + "+/=_-.", min_size=1, max_size=60),
            ),
            max_size=30,
        )
    )
    return "".join(pieces)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_property_fast_path_agrees_with_the_rules(data: Any) -> None:
    """The fast pass never skips a line the rules would change (texts over 1 KiB use it)."""
    body = _random_text(data.draw)
    text = "x" * 1100 + "\n" + body + "\n" + "y" * 10
    assert _redact(text, gate=True) == _redact(text, gate=False)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_property_random_text_idempotent_and_line_preserving(data: Any) -> None:
    text = _random_text(data.draw)
    out = redact(text)
    assert out.count("\n") == text.count("\n")
    assert redact(out) == out


def test_nothing_else_is_masked() -> None:
    text = "\n".join(KEEP) + "\n"
    assert redact(text) == text
    long = "".join(random.Random(1).choice(string.ascii_lowercase + " ") for _ in range(5000))
    assert redact(long + "\n" + text) == long + "\n" + text
