"""The search tool's cost is bounded: linear-time matching, off the loop, a hard deadline.

Issue #12: ``(a{1,16}){1,16}b`` over ``"a" * 999 + "!"`` froze the kernel (Python's ``re``
backtracks and holds the GIL). Every test here runs the real search on real files, with an
asyncio ticker on the loop to show that the loop keeps running while the search does.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adaptive_llm.chat.workspace import Workspace, WorkspaceError
from adaptive_llm.chat.workspace import search as search_mod

MAX_GAP = 0.3  # the longest the loop may go without running a task (a loaded 2-core machine)
HEAD = re.compile(r"\d+ matches for '.*' in \S+")


@contextlib.asynccontextmanager
async def ticking(period: float = 0.005) -> AsyncIterator[list[float]]:
    """The gaps between the ticks of a task that sleeps ``period`` in a loop."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def tick() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(period)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(tick())
    await asyncio.sleep(0)
    try:
        yield gaps
    finally:
        done.set()
        await task


async def timed(ws: Workspace, pattern: str, path: str = ".") -> tuple[str, float]:
    t0 = time.perf_counter()
    out = await ws.search(pattern, path)
    return out, time.perf_counter() - t0


def ab_text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("ab") for _ in range(n))


def search_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "adaptive_llm-search"]


async def no_search_threads_left(within: float = 2.0) -> bool:
    """Whether the workers of stopped searches end soon (at their next deadline check)."""
    end = time.monotonic() + within

    def join() -> None:
        for t in search_threads():
            t.join(max(0.0, end - time.monotonic()))

    await asyncio.to_thread(join)
    return not search_threads()


# -- the named case --------------------------------------------------------------------------


async def test_named_case_loop_keeps_ticking(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a" * 999 + "!")
    for i in range(4):  # 4 MB of the same, in files under the 1 MiB read limit
        (tmp_path / f"many{i}.txt").write_text(("a" * 999 + "!\n") * 1000)
    ws = Workspace(tmp_path)
    async with ticking() as gaps:
        out, took = await timed(ws, "(a{1,16}){1,16}b")
    assert out == "0 matches for '(a{1,16}){1,16}b' in ."
    assert took < 3.0, took
    assert max(gaps, default=0.0) < MAX_GAP, max(gaps)
    # and where it does match, it says so
    (tmp_path / "b.txt").write_text("x\n" + "a" * 999 + "b\n")
    out, _ = await timed(ws, "(a{1,16}){1,16}b", "b.txt")
    assert out.splitlines()[1].startswith("b.txt:2: aaaa")


# -- a generated family of nested repetitions and alternations ------------------------------


def nested(rng: random.Random, depth: int) -> str:
    """A pattern of nested repetition and alternation, ``depth`` levels deep."""
    if depth == 0:
        return rng.choice(["a", "aa", "a?", "[ab]", ".", "(?:a|aa)", r"\w", "b?", "a|b"])
    parts = "".join(nested(rng, depth - 1) for _ in range(rng.randint(1, 2)))
    if rng.random() < 0.4:
        parts += "|" + nested(rng, depth - 1)
    lo = rng.randint(0, 20)
    quant = rng.choice(["*", "+", "?", f"{{{lo},{lo + rng.randint(0, 20)}}}", f"{{{lo},}}"])
    return f"({parts}){quant}"


@pytest.mark.parametrize("seed", [1, 2])
async def test_generated_nested_patterns_are_bounded(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    budget = 0.5
    monkeypatch.setattr(search_mod, "SEARCH_SECONDS", budget)
    rng = random.Random(seed)
    (tmp_path / "run.txt").write_text("a" * 4000 + "!")  # one long run, no match at its end
    (tmp_path / "lines.txt").write_text(("a" * 60 + "!\n") * 60)
    (tmp_path / "ab.txt").write_text("\n".join(ab_text(rng, 200) for _ in range(20)))
    (tmp_path / "word.txt").write_text(("aaaa " * 200 + "\n") * 4)
    ws = Workspace(tmp_path)
    outcomes = {"ran": 0, "stopped": 0, "refused": 0}
    async with ticking() as gaps:
        for _ in range(20):
            pattern = nested(rng, rng.randint(1, 4)) + rng.choice(["b", "!$", "c", "", "$"])
            if len(pattern) > search_mod.MAX_PATTERN:
                continue
            try:
                out, took = await timed(ws, pattern)
            except WorkspaceError as exc:
                assert "refused" in str(exc) or "over 300" in str(exc), (pattern, exc)
                outcomes["refused"] += 1
                continue
            assert took < budget + 0.7, (pattern, took)
            assert HEAD.match(out.splitlines()[0]), (pattern, out[:200])
            outcomes["stopped" if "[stopped after" in out else "ran"] += 1
    assert outcomes["ran"] >= 5, outcomes
    assert max(gaps, default=0.0) < MAX_GAP, max(gaps)
    assert await no_search_threads_left()


# -- what RE2 cannot run ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "says"),
    [
        (r"(\w+) \1", "backreferences like \\1 are not supported"),
        (r"(?P<w>\w+) (?P=w)", "named backreferences"),
        (r"foo(?=bar)", "foo(?=bar) -> foobar"),
        (r"foo(?!bar)", "lookahead and lookbehind like (?!"),
        (r"(?<=x)y", "lookahead and lookbehind like (?<="),
        (r"(?<!x)y", "lookahead and lookbehind like (?<!"),
        (r"(?>a+)b", "atomic groups"),
        (r"a++b", "possessive repeats"),
        (r"x{2}+", "possessive repeats ({2}+)"),
        (r"(a{100}){100}", "nested counts multiply"),
        (r"end\Z", "use $ for the end of a line"),
        (r"(?x) a b", "the flags are (?i) (?m) (?s) (?U)"),
        (r"\N{BULLET}", "write the character"),
        (r"a{2000}", "over the limit of 1000"),
        (r"\pL{1000}", "too large once compiled"),
        (r"(\pL|\pN){100}", "too large once compiled"),
        ("\ud800", "not valid Unicode"),
    ],
)
async def test_unsupported_patterns_are_refused_with_a_rewrite(
    tmp_path: Path, pattern: str, says: str
) -> None:
    (tmp_path / "f.txt").write_text("foo bar\n")
    t0 = time.perf_counter()
    with pytest.raises(WorkspaceError) as err:
        await Workspace(tmp_path).search(pattern)
    assert says in str(err.value), str(err.value)
    assert time.perf_counter() - t0 < 0.5  # a compile bomb is cut off by the memory cap


async def test_invalid_regex_is_still_searched_literally(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x = f(a[0\ny = (b\n")
    ws = Workspace(tmp_path)
    out = await ws.search("f(a[0")
    assert "(invalid regex: missing ]: [0; searched literally)" in out.splitlines()[0]
    assert out.splitlines()[1:] == ["f.txt:1: x = f(a[0"]
    out = await ws.search("(b")
    assert "missing )" in out and out.splitlines()[1:] == ["f.txt:2: y = (b"]


# -- the deadline ----------------------------------------------------------------------------

SLOW = "(?:[ab]{0,30}a[ab]{0,30}){30}c"  # RE2's DFA gives up on random a/b text: its NFA is slow


async def test_deadline_on_slow_matching(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    budget = 0.4
    monkeypatch.setattr(search_mod, "SEARCH_SECONDS", budget)
    rng = random.Random(3)
    for i in range(12):
        (tmp_path / f"f{i:02}.txt").write_text(
            "\n".join(ab_text(rng, 1000) for _ in range(16)) + "\n"
        )
    ws = Workspace(tmp_path)
    async with ticking() as gaps:
        out, took = await timed(ws, SLOW)
    head = out.splitlines()[0]
    assert head.startswith("0 matches for ") and "[stopped after 0.4 s; narrow the path]" in head
    assert "[the pattern matched only " in head and "/s; simplify its repetitions]" in head
    assert budget <= took < budget + 0.6, took
    assert len(gaps) >= 10 and max(gaps) < MAX_GAP, (len(gaps), max(gaps))
    assert await no_search_threads_left()


async def test_hard_stop_when_the_worker_is_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no grace, the caller answers at the deadline even while the worker is inside a
    match call; the worker then stops at its next check. Several searches at once too."""
    budget = 0.3
    monkeypatch.setattr(search_mod, "SEARCH_SECONDS", budget)
    monkeypatch.setattr(search_mod, "GRACE_SECONDS", 0.0)
    rng = random.Random(4)
    (tmp_path / "ab.txt").write_text("\n".join(ab_text(rng, 3000) for _ in range(40)))
    ws = Workspace(tmp_path)
    async with ticking() as gaps:
        t0 = time.perf_counter()
        outs = await asyncio.gather(*(ws.search(SLOW) for _ in range(3)))
        took = time.perf_counter() - t0
    assert all("[stopped after 0.3 s" in o.splitlines()[0] for o in outs), outs
    assert took < budget + 0.4, took
    assert max(gaps, default=0.0) < MAX_GAP
    assert await no_search_threads_left()


async def test_deadline_on_a_huge_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_mod, "SEARCH_SECONDS", 0.01)
    for d in range(15):
        sub = tmp_path / f"d{d:02}"
        sub.mkdir()
        for i in range(100):
            (sub / f"f{i:03}.txt").write_text(f"needle {d} {i}\n")
    ws = Workspace(tmp_path, max_search_matches=10_000)
    out, took = await timed(ws, "needle")
    lines = out.splitlines()
    assert "[stopped after 0.01 s; narrow the path]" in lines[0]
    assert len(lines) - 1 < 1500  # in walk order, as far as it got
    assert lines[1:2] in ([], ["d00/f000.txt:1: needle 0 0"])
    assert took < 1.0


# -- lines, chunks and line numbers (against Python's re as an oracle, on benign patterns) ---


def simple(rng: random.Random) -> str:
    atoms = ["a", "b", ".", "[ab]", "(a|b)", "ab", "\r"]
    body = "".join(rng.choice(atoms) + rng.choice(["", "", "?", "*", "+", "{1,2}"]) for _ in "xx")
    return rng.choice(["", "^"]) + body + rng.choice(["", "$"])


async def test_lines_match_like_re_across_chunk_boundaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_mod, "CALL_BUDGET", 1)  # every match call gets MIN_CHUNK bytes
    monkeypatch.setattr(search_mod, "MIN_CHUNK", 8)
    rng = random.Random(5)
    ws = Workspace(tmp_path, max_search_matches=1000)
    for _ in range(150):
        lines = ["".join(rng.choice("ab\r") for _ in range(rng.randint(0, 7))) for _ in "x" * 12]
        text = "\n".join(lines[: rng.randint(1, 12)]) + rng.choice(["", "\n"])
        (tmp_path / "f.txt").write_bytes(text.encode())
        pattern = simple(rng)
        rows = text.split("\n")
        if text.endswith("\n"):
            rows.pop()
        expect = [n for n, row in enumerate(rows, 1) if re.search(pattern, row)]
        out = await ws.search(pattern, "f.txt")
        got = [int(hit.split(":")[1]) for hit in out.splitlines()[1:]]
        assert got == expect, (pattern, text)
        assert out.splitlines()[0].startswith(f"{len(expect)} matches for ")


async def test_long_lines_and_line_ends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "f.txt").write_bytes(b"first\r\n\nmiddle x\n" + b"b" * 5000 + b"X\nlast")
    ws = Workspace(tmp_path)
    assert (await ws.search("t$")).splitlines()[1:] == ["f.txt:5: last"]  # not "first\r"
    assert (await ws.search("^$")).splitlines()[1:] == ["f.txt:2: "]
    assert (await ws.search("first")).splitlines()[1:] == ["f.txt:1: first"]
    assert (await ws.search(r"x\nb")).startswith("0 matches")  # never across lines
    assert (await ws.search(r"\Afirst")).splitlines()[1:] == ["f.txt:1: first"]
    assert (await ws.search(r"middle\z")).startswith("0 matches")  # \z: end of the file
    assert (await ws.search("bX$")).splitlines()[1] == "f.txt:4: " + "b" * 300
    monkeypatch.setattr(search_mod, "CALL_BUDGET", 1)
    monkeypatch.setattr(search_mod, "MIN_CHUNK", 1024)
    out = await ws.search("bX$")  # the long line is matched on its first KiB only
    note = "[1 lines longer than 1 KiB matched on their first part only]"
    assert out == f"0 matches for 'bX$' in . {note}"
    assert (await ws.search("last")).splitlines()[1:] == ["f.txt:5: last"]


async def test_walk_links_and_skips(tmp_path: Path) -> None:
    """The descriptor walk keeps the old rules: a symlinked file inside is read, one outside
    is skipped and counted, a symlinked directory is not entered, denied names are silent."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "src" / "deep").mkdir(parents=True)
    outside.mkdir()
    (outside / "o.txt").write_text("hit outside\n")
    (root / "src" / "a.py").write_text("hit a\n")
    (root / "src" / "deep" / "b.py").write_text("hit b\n")
    (root / "top.txt").write_text("hit top\n")
    (root / "link.py").symlink_to(root / "src" / "a.py")
    (root / "out.txt").symlink_to(outside / "o.txt")
    (root / "srclink").symlink_to(root / "src")
    (root / "id_rsa").write_text("hit secret\n")
    (root / "node_modules").mkdir()
    (root / "node_modules" / "m.js").write_text("hit module\n")
    out = (await Workspace(root).search("hit")).splitlines()
    assert out[1:] == [
        "link.py:1: hit a",
        "top.txt:1: hit top",
        "src/a.py:1: hit a",
        "src/deep/b.py:1: hit b",
    ]
    assert (
        out[0] == "4 matches for 'hit' in . [1 binary, oversized, special or outside files skipped]"
    )
    assert (await Workspace(root).search("hit", "src/deep")).splitlines()[1:] == [
        "src/deep/b.py:1: hit b"
    ]


async def test_huge_directory_is_listed_up_to_a_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_mod, "MAX_DIR_ENTRIES", 10)
    for i in range(15):
        (tmp_path / f"f{i:02}.txt").write_text("hit\n")
    out = (await Workspace(tmp_path).search("hit")).splitlines()
    assert len(out) == 11
    assert "[1 directories over 10 entries: only 10 of each searched; narrow the path]" in out[0]


def _open_fds() -> int:
    import os

    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("depth", [10, search_mod.MAX_OPEN_DIRS + 40])
async def test_a_comb_of_folders_is_searched_whole_and_in_order(tmp_path: Path, depth: int) -> None:
    # At each level the chain ("a") sorts before a leaf folder ("b"): every level's folder
    # stays open for its leaf until the chain's bottom, so a deep comb goes past the folders
    # held open and the rest are opened from the root.
    root = tmp_path / "comb"
    level = root
    expected = []
    for i in range(depth):
        (level / "b").mkdir(parents=True)
        (level / "b" / "leaf.txt").write_text(f"needle {i}\n")
        expected.append(i)
        level = level / "a"
    level.mkdir()
    (level / "bottom.txt").write_text("needle bottom\n")
    before = _open_fds()
    out = await Workspace(root, max_search_matches=10_000).search("needle", ".")
    assert _open_fds() == before  # every folder it opened was closed
    lines = out.splitlines()
    assert lines[0].startswith(f"{depth + 1} matches"), lines[0]
    found = [line.rsplit("needle ", 1)[1] for line in lines[1:] if "needle " in line]
    # os.walk order: the bottom first (the chain is listed first), then the leaves upwards
    assert found == ["bottom", *[str(i) for i in reversed(expected)]], found[:5]
