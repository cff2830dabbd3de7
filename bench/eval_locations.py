"""Location figures for ``bench/eval_corpora.py``: labelled file:line references, the matcher,
and the table over the project's own labelled fixtures (``tests/diagnosis/langs/cases``).

Corpus logs
    The human label (a LogChunks chunk aligned to the log, or CiDiff's ``E`` lines) is scanned
    for ``file:line`` references in the common formats (:func:`label_refs`). A log "has a
    location label" when it names at least one. The engine's location is

    * ``exact`` when its line equals a labelled reference's line and its file matches that
      reference by path tail (:func:`same_file`);
    * ``file`` when its file matches a reference but the line is none of that file's lines;
    * ``other`` when it names a file the label does not;
    * ``none`` when the engine gives no location.

Fixtures
    Each case's ``output.log`` is diagnosed with ``workdir`` a temporary copy of its ``work/``
    (the log's absolute paths are from another machine); the engine's file, resolved against
    that copy, must be the expected workspace file and the line equal.

Usable on its own: ``.venv/bin/python bench/eval_locations.py`` prints the fixture table.
"""

from __future__ import annotations

import posixpath
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
LANGS_DIR = REPO_ROOT / "tests" / "diagnosis" / "langs"

# --------------------------------------------------------------------------------------------
# file:line references in label text
# --------------------------------------------------------------------------------------------

#: Extensions of files a tool may name with a line (lower-case compare).
_EXTENSIONS = """
    c h cc cpp cxx c++ hpp hh hxx h++ ipp inl tcc m mm cu cuh cl metal
    java kt kts scala sc groovy gradle gvy clj cljs cljc edn
    py pyx pxd pyi ipynb rb rake gemspec ru erb haml slim
    js jsx mjs cjs ts tsx mts cts vue svelte coffee litcoffee es6 elm purs
    go rs swift php phpt inc pl pm t pod sh bash zsh fish ksh ps1 psm1 psd1 bat cmd
    r rmd jl hs lhs ml mli fs fsi fsx cs csx vb ex exs erl hrl d nim cr dart lua zig v sv vhd
    f f77 f90 f95 f03 f08 for asm s tex sty cls bib dtx ins lisp lsp el scm ss rkt cl
    vim sql proto thrift graphql gql cmake mk make mak ninja bzl bazel nix tf tfvars hcl
    yml yaml json json5 toml xml xsd xsl html htm xhtml css scss sass less styl
    ini cfg conf properties txt md rst feature tpl twig j2 jinja mustache hbs pug jade
    csproj vbproj fsproj sln props targets pro pri qml ui sbt cabal gd lock dockerfile
"""
SOURCE_EXTENSIONS = frozenset(_EXTENSIONS.split())
#: Files named without an extension that tools report with a line.
_NAMES = """
    Dockerfile Containerfile Makefile makefile GNUmakefile Rakefile Gemfile Podfile Vagrantfile
    Jenkinsfile Snakefile Justfile justfile Brewfile Guardfile Fastfile Berksfile Capfile
    Cartfile Puppetfile Procfile BUILD WORKSPACE Kbuild Kconfig SConstruct SConscript
"""
WELL_KNOWN_NAMES = frozenset(_NAMES.split())

# A path token: no spaces, quotes, brackets or separators that end a reference.
_PATH = r"(?P<file>[^\s:\"'`()\[\]{}<>,;=|*?]+)"
# The token must start at a boundary (start, space, quote, bracket, ':' of a URL/port or drive).
_START = r"(?<![^\s:\"'`(\[{<,=|@])"
_REF_PATTERNS: tuple[re.Pattern[str], ...] = (
    # Python: File "path", line 12
    re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+)'),
    # maven compiler: /path/File.java:[12,5]
    re.compile(_START + _PATH + r":\[(?P<line>\d+)(?:,\d+)?\]"),
    # kotlinc: e: /path/File.kt: (12, 5): msg
    re.compile(_START + _PATH + r": \((?P<line>\d+), ?\d+\)"),
    # msbuild / tsc / csc / fpc: path(12,5) or path(12); ts-node: "path (12,5)"
    re.compile(_START + _PATH + r"\((?P<line>\d+)(?:,\s?\d+)*\)"),
    re.compile(_START + _PATH + r" \((?P<line>\d+),\s?\d+\)"),
    # perl / terraform / php / many others: "at path line 12", "on main.tf line 12",
    # "in file.php on line 12", "path, line 12", "by build.psm1: line 368"
    re.compile(_START + _PATH + r"[,:]?\s+(?:on\s+)?line:?\s+(?P<line>\d+)\b", re.IGNORECASE),
    # the common one: path:12, path:12:5, path:12:in, --> path:12:5, (File.java:12), path.jl:12
    re.compile(_START + _PATH + r":(?P<line>\d+)(?![\d.]\d)(?![\w/])"),
)
#: eslint's / stylelint's "stylish" output: the file on its own line, then
#: "  12:5  error  message" (or ``✖``) lines.
_ESLINT_ITEM = re.compile(r"^\s+(?P<line>\d+):\d+\s+(?:error\b|warning\b|✖|\u00d7|✗|⚠)")
_BARE_PATH = re.compile(r"^\s*" + _PATH + r"\s*$")


def file_like(token: str) -> bool:
    """A path whose basename has a known source extension or is a well-known file name."""
    base = re.split(r"[/\\]", token)[-1]
    if not base or base in (".", ".."):
        return False
    if base in WELL_KNOWN_NAMES or base.split(".")[0] in ("Dockerfile", "Containerfile"):
        return True
    stem, dot, ext = base.rpartition(".")
    return bool(dot and stem.strip(".") and ext.lower() in SOURCE_EXTENSIONS)


def _clean(token: str) -> str:
    token = token.strip()
    if token.startswith("file://"):
        token = token[len("file://") :]
    return token.rstrip(".")


def label_refs(lines: Iterable[str]) -> set[tuple[str, int]]:
    """The ``(file, line)`` references named in label text (lines already free of ANSI codes).

    A reference needs a file-like token (a known extension or a well-known name, see
    :func:`file_like`; any quoted file of a Python frame) and a line number ≥ 1; ports
    (``host.com:443``), versions and times do not qualify.
    """
    out: set[tuple[str, int]] = set()
    pending: str | None = None  # eslint stylish: the last bare path line
    for raw in lines:
        for text in raw.split("\r"):
            found = False
            for k, pat in enumerate(_REF_PATTERNS):
                for m in pat.finditer(text):
                    f = _clean(m.group("file"))
                    ln = int(m.group("line"))
                    # a Python frame's quoted file is a file whatever its name (bin/pytest),
                    # but not "<string>" or "<frozen importlib._bootstrap>"
                    ok = not f.startswith("<") if k == 0 else file_like(f)
                    if ln >= 1 and ok:
                        out.add((f, ln))
                        found = True
            bare = _BARE_PATH.match(text)
            if bare and file_like(_clean(bare.group("file"))):
                pending = _clean(bare.group("file"))
                continue
            item = _ESLINT_ITEM.match(text)
            if pending and item and not found:
                out.add((pending, int(item.group("line"))))
            elif text.strip() and not item:
                pending = None
    return out


# --------------------------------------------------------------------------------------------
# The matcher
# --------------------------------------------------------------------------------------------


def path_parts(path: str) -> list[str]:
    """Path components without empty, ``.``, leading ``..`` and drive parts (``/`` and ``\\``
    both split)."""
    norm = posixpath.normpath(path.strip().replace("\\", "/"))  # ``build/../src`` is ``src``
    parts = [p for p in norm.split("/") if p and p != "."]
    if parts and re.fullmatch(r"[A-Za-z]:", parts[0]):
        parts = parts[1:]
    while parts and parts[0] == "..":  # ``../src/x.c``: only the tail after it is known
        parts = parts[1:]
    return parts


def same_file(a: str, b: str) -> bool:
    """Whether two spellings of a path name the same file, by path tail.

    The last ``min(len(a), len(b))`` components must be equal: an absolute CI path matches its
    repo-relative tail (``/home/travis/build/o/r/src/x.c`` ~ ``src/x.c``), and a basename
    matches any path ending in it (``C.java`` ~ ``a/b/C.java``), but ``a/C.java`` does not
    match ``b/C.java``.
    """
    pa, pb = path_parts(a), path_parts(b)
    k = min(len(pa), len(pb))
    return k > 0 and pa[-k:] == pb[-k:]


def location_outcome(
    engine: tuple[str, int] | None, refs: Iterable[tuple[str, int]]
) -> tuple[str, tuple[str, int] | None]:
    """``exact`` / ``file`` / ``other`` / ``none`` and the labelled reference it was judged by."""
    if engine is None:
        return "none", None
    file, line = engine
    same = [r for r in refs if same_file(file, r[0])]
    for r in same:
        if r[1] == line:
            return "exact", r
    if same:
        return "file", min(same, key=lambda r: abs(r[1] - line))
    return "other", None


OUTCOMES = ("exact", "file", "other", "none")


def aggregate_locations(outcomes: Sequence[str]) -> dict[str, Any]:
    """n logs with a location label and the share of each outcome."""
    n = len(outcomes)
    counts = Counter(outcomes)
    out: dict[str, Any] = {"logs_with_location_label": n}
    names = {
        "exact": "exact_share",
        "file": "right_file_other_line_share",
        "other": "other_file_share",
        "none": "no_location_share",
    }
    for key, name in names.items():
        out[name] = round(counts[key] / n, 4) if n else None
    return out


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------


def load_fixture_cases() -> list[Any]:
    """The cases of ``tests/diagnosis/langs/cases`` through the test harness."""
    if str(LANGS_DIR) not in sys.path:
        sys.path.insert(0, str(LANGS_DIR))
    import harness  # tests/diagnosis/langs/harness.py

    return list(harness.load_cases())


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, -(-len(s) * q // 100) - 1))
    return s[int(k)]


def _resolve(file: str, workspace: Path) -> Path:
    p = Path(file)
    return (p if p.is_absolute() else workspace / p).resolve()


def _shown(file: str, workspace: Path) -> str:
    """The engine's file relative to the workspace copy when inside it (for the miss list)."""
    try:
        return str(_resolve(file, workspace).relative_to(workspace.resolve()))
    except ValueError:
        return file


def eval_fixtures(diagnose: Callable[..., Any], max_tokens: int) -> dict[str, Any]:
    """Diagnose every fixture case's recorded log with a copy of its workspace."""
    try:
        cases = load_fixture_cases()
    except (ImportError, OSError, ValueError) as exc:  # no tests/ tree, or a broken case.toml
        print(f"eval_locations: cannot load the fixture cases: {exc}", file=sys.stderr)
        return {"cases": 0, "error": f"{type(exc).__name__}: {exc}"}
    unrecorded = sorted(c.name for c in cases if not c.log.is_file())
    if unrecorded:
        print(
            f"eval_locations: {len(unrecorded)} fixture cases without output.log skipped: "
            + ", ".join(unrecorded),
            file=sys.stderr,
        )
    cases = [c for c in cases if c.log.is_file()]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="eval_fixtures_") as tmp:
        for i, case in enumerate(cases):
            workspace = Path(tmp) / f"{i:03d}" / "project"
            if case.work.is_dir():
                shutil.copytree(case.work, workspace)
            else:
                workspace.mkdir(parents=True)
            t0 = time.perf_counter()
            err = None
            try:
                d = diagnose(case.log, workdir=workspace, max_tokens=max_tokens)
                category = str(d.category)
                loc = (str(d.location.file), int(d.location.line)) if d.location else None
                tokens = int(d.tokens)
            except Exception as exc:  # a crash is a result too
                category, loc, tokens = "error", None, 0
                err = f"{type(exc).__name__}: {exc}"
            ms = (time.perf_counter() - t0) * 1000
            row: dict[str, Any] = {
                "case": case.name,
                "language": case.language,
                "tool": case.tool,
                "expected_category": case.category,
                "category": category,
                "expected_location": (
                    f"{case.file}:{case.line}" if case.file is not None else None
                ),
                "location": f"{_shown(loc[0], workspace)}:{loc[1]}" if loc else None,
                "ms": ms,
                "tokens": tokens,
                "error": err,
            }
            if case.file is not None and case.line is not None:
                want = (workspace / case.file).resolve()
                row["location_exact"] = bool(
                    loc and _resolve(loc[0], workspace) == want and loc[1] == case.line
                )
            rows.append(row)
    out = summarise_fixtures(rows)
    out["unrecorded"] = unrecorded
    return out


def summarise_fixtures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    out: dict[str, Any] = {"cases": n}
    if not n:
        return out
    located = [r for r in rows if "location_exact" in r]
    langs = Counter(r["language"] for r in rows)
    ms = [r["ms"] for r in rows]
    out.update(
        {
            "languages": len(langs),
            "cases_with_location": len(located),
            "category_exact_share": round(
                sum(r["category"] == r["expected_category"] for r in rows) / n, 4
            ),
            "location_exact_share": (
                round(sum(r["location_exact"] for r in located) / len(located), 4)
                if located
                else None
            ),
            "unknown_share": round(sum(r["category"] == "unknown" for r in rows) / n, 4),
            "errors": sum(r["error"] is not None for r in rows),
            "time_ms_p50": round(statistics.median(ms), 2),
            "time_ms_p95": round(_percentile(ms, 95), 2),
            "time_ms_max": round(max(ms), 2),
            "tokens_median": statistics.median(r["tokens"] for r in rows),
        }
    )
    confusion: dict[str, dict[str, int]] = {}
    for r in sorted(rows, key=lambda r: r["expected_category"]):
        got = confusion.setdefault(r["expected_category"], {})
        got[r["category"]] = got.get(r["category"], 0) + 1
    out["confusion"] = {
        k: dict(sorted(v.items(), key=lambda kv: (-kv[1], kv[0]))) for k, v in confusion.items()
    }
    per_lang: dict[str, dict[str, Any]] = {}
    for lang in sorted(langs):
        rs = [r for r in rows if r["language"] == lang]
        loc = [r for r in rs if "location_exact" in r]
        per_lang[lang] = {
            "cases": len(rs),
            "category_exact": sum(r["category"] == r["expected_category"] for r in rs),
            "with_location": len(loc),
            "location_exact": sum(r["location_exact"] for r in loc),
            "location_exact_share": (
                round(sum(r["location_exact"] for r in loc) / len(loc), 4) if loc else None
            ),
        }
    out["per_language"] = per_lang
    out["misses"] = [
        {
            "case": r["case"],
            "language": r["language"],
            "expected": {"category": r["expected_category"], "location": r["expected_location"]},
            "got": {"category": r["category"], "location": r["location"]},
            "wrong": [
                w
                for w, bad in (
                    ("category", r["category"] != r["expected_category"]),
                    ("location", r.get("location_exact") is False),
                )
                if bad
            ],
            **({"error": r["error"]} if r["error"] else {}),
        }
        for r in rows
        if r["category"] != r["expected_category"] or r.get("location_exact") is False
    ]
    return out


def write_fixture_misses(fh: Any, fixtures: dict[str, Any]) -> int:
    misses = fixtures.get("misses", [])
    fh.write(f"=== fixtures: {len(misses)} of {fixtures.get('cases', 0)} cases missed\n")
    for m in misses:
        exp, got = m["expected"], m["got"]
        fh.write(
            f"  {m['case']} [{m['language']}] wrong {'+'.join(m['wrong'])}: expected "
            f"{exp['category']} {exp['location'] or '-'}, got {got['category']} "
            f"{got['location'] or '-'}{'  ERROR ' + m['error'] if m.get('error') else ''}\n"
        )
    fh.write("\n")
    return len(misses)


# --------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def render_locations_markdown(locations: dict[str, Any]) -> str:
    out = [
        "**location** (logs whose label names a file and line)\n",
        "| corpus | logs with a location label | exact (file + line) | right file, other line "
        "| other file | no location |",
        "|---|---|---|---|---|---|",
    ]
    for corpus, f in locations.items():
        out.append(
            f"| {corpus} | {f['logs_with_location_label']} | {_pct(f['exact_share'])} "
            f"| {_pct(f['right_file_other_line_share'])} | {_pct(f['other_file_share'])} "
            f"| {_pct(f['no_location_share'])} |"
        )
    out.append("")
    return "\n".join(out)


def render_fixtures_markdown(fx: dict[str, Any]) -> str:
    if not fx.get("cases"):
        return "**fixtures**: no cases\n"
    out = [
        f"**fixtures** ({fx['cases']} cases of tests/diagnosis/langs, {fx['languages']} "
        "languages)\n",
        "| category exact | location exact | `unknown` | time p50 / p95 (ms) | tokens p50 |",
        "|---|---|---|---|---|",
        f"| {_pct(fx['category_exact_share'])} | {_pct(fx['location_exact_share'])} "
        f"({fx['cases_with_location']} cases) | {_pct(fx['unknown_share'])} "
        f"| {fx['time_ms_p50']:g} / {fx['time_ms_p95']:g} | {fx['tokens_median']:g} |",
        "",
        "| expected category | cases | engine's categories |",
        "|---|---|---|",
    ]
    for exp, got in fx["confusion"].items():
        cells = ", ".join(f"**{c}** {k}" if c == exp else f"{c} {k}" for c, k in got.items())
        out.append(f"| {exp} | {sum(got.values())} | {cells} |")
    out += ["", "| language | cases | category exact | location exact |", "|---|---|---|---|"]
    for lang, f in fx["per_language"].items():
        loc = f"{f['location_exact']}/{f['with_location']}" if f["with_location"] else "-"
        out.append(f"| {lang} | {f['cases']} | {f['category_exact']}/{f['cases']} | {loc} |")
    out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    import json

    sys.path.insert(0, str(REPO_ROOT))
    from adaptive_llm.diagnosis import diagnose as _diagnose

    print(json.dumps(eval_fixtures(_diagnose, 4000), indent=2))
