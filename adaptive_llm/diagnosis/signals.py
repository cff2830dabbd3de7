"""Find failure signals in the lines read from a log and the blocks they belong to.

A signal is one line matched by a rule (see ``rules.py``), widened to its block: a whole Python
traceback with its chained parts, a SyntaxError report, a compiler error with its caret lines.
Nearby signals are grouped; a group's score is its best signal's, so the excerpt can spend the
token budget on the strongest groups first.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from itertools import accumulate

from adaptive_llm.diagnosis.reader import LogText, Region
from adaptive_llm.diagnosis.rules import (
    EXCEPTION_LINE,
    KEY_MASKS,
    NEGATIVE,
    RULE_ORDER,
    RULES,
    outside_quotes,
    plan,
    unquoted,
)

#: Signals at most this many lines apart belong to one group.
GROUP_GAP = 3
#: A traceback block is followed at most this far.
MAX_TRACEBACK_LINES = 400
#: Score from which a signal in the tail of a large file makes the anchor scan unnecessary.
TERMINAL_SCORE = 60

_CHAIN = re.compile(
    r"^(?:During handling of the above exception, another exception occurred:"
    r"|The above exception was the direct cause of the following exception:)\s*$"
)
_BRACKET_PREFIX = re.compile(r"^\[[^\]]*\]:? ?")
_FAULTHANDLER = re.compile(
    r"^\s*$|^(?:Current thread|Thread) 0x|^\s+File \"|^\s+<no Python frame>|^Extension modules:"
)
_NEW_RECORD = re.compile(
    r"(?i)traceback|error|exception|warning|^\[?\d{4}-\d\d-\d\d|^\[?\d\d:\d\d|^(?:INFO|DEBUG)\b"
)
_FILE_LINE = re.compile(r'^\s*File "[^"]+", line \d+')
#: Lines that carry a stack trace's frames (after an exception line), in many languages.
FRAME_LINE = re.compile(
    r"^\s+(?:at |from |#\d+ |\d+: |[\w.<>$]+\(|\S+:\d+|\[C\]: |\(\.\.\.tail calls)|^\d+: \S"
    r"|^\s*#\d+ |^\s+\[\d+\] |^\s*@ |^\tat |^\s*[\w/.-]+\.\w+:\d+|^Caused by: |^\s+\.\.\. \d+ more"
    r"|^stack traceback:|^Stack trace:|^\s+thrown in |^\s*\^+\s*$|^ {3,}\S|^\t"
)
#: Lines that start the next section of a test runner's or a tool's report.
_SECTION_END = re.compile(
    r"^\s*\u25cf |^Tests?:\s|^Test Suites:|^(?:FAIL|PASS)\s|^-{5,}|^={5,}|^_{5,}|^\u2500\u2500 "
    r"|^\[(?:  FAILED  |==========|----------)\]|^Shadow bytes around|^SUMMARY: |^CMake Error"
    r"|^-- |^\s*\d+\) (?:Failure|Error):$"
)
#: Lines of a section that are the section itself (its first lines may be anything).
MAX_SECTION_LINES = 80
_AT_LINE_OF_FILE = re.compile(r"^At line \d+ of file \S+")
_FILE_LINE_ALONE = re.compile(r"^\S+:\d+:\d+:$")


@dataclass
class Signal:
    """A failure signal: the rule it matched, its block of lines and what it says."""

    rule: str
    line: int
    start: int
    end: int
    score: int
    category: str | None
    text: str
    #: For tracebacks: the final exception line (type and message) and its line number.
    error_type: str | None = None
    message: str | None = None
    error_line: int | None = None


@dataclass
class Group:
    """Consecutive signals (within ``GROUP_GAP`` lines): one place in the log."""

    start: int
    end: int
    score: int
    signals: list[Signal] = field(default_factory=list)


#: Rule matches of a list of lines, kept by the caller while it diagnoses one log (the tail of
#: a large file is matched to decide on the scan, and again with the rest): ``id(lines)`` to
#: the list (holding it keeps the id unique) and its matches.
MatchMemo = dict[int, tuple[list[str], dict[int, str]]]


def find_signals(log: LogText, memo: MatchMemo | None = None) -> list[Signal]:
    """All signals of the log, in line order (a traceback's inner lines are not repeated)."""
    signals: list[Signal] = []
    for region in log.regions:
        signals.extend(_region_signals(region, memo))
    return signals


def is_terminal(regions: list[Region], memo: MatchMemo | None = None) -> bool:
    """Whether these lines (the tail of a large file) already show a failure."""
    return any(s.score >= TERMINAL_SCORE for r in regions for s in _region_signals(r, memo))


def group_signals(signals: list[Signal], gap: int = GROUP_GAP) -> list[Group]:
    """Merge signals whose blocks are within ``gap`` lines of each other."""
    groups: list[Group] = []
    for sig in sorted(signals, key=lambda s: s.start):
        if groups and sig.start <= groups[-1].end + gap + 1:
            group = groups[-1]
            group.end = max(group.end, sig.end)
            group.score = max(group.score, sig.score)
            group.signals.append(sig)
        else:
            groups.append(Group(sig.start, sig.end, sig.score, [sig]))
    for group in groups:  # many signals together are a little stronger than one
        group.score += min(5, len(group.signals) - 1)
    return groups


#: Categories of tools that list their findings: the first of equals is the one to fix first
#: (later compiler errors often follow from it); of other signals the last one stopped the job.
LISTED = frozenset({"compile_error", "lint_error", "test_failure", "syntax_error"})


def primary_signal(signals: list[Signal]) -> Signal | None:
    """The signal that best explains the failure: highest score; on ties the last one, but
    the first of a compiler's, linter's or test runner's list."""
    best: Signal | None = None
    for sig in signals:
        if best is None or sig.score > best.score:
            best = sig
            continue
        listed = best.category in LISTED and sig.rule == best.rule
        if sig.score == best.score and not listed:
            best = sig
    return best


def by_strength(signals: list[Signal]) -> list[Signal]:
    """Signals strongest first; equals in the order :func:`primary_signal` prefers them."""
    return sorted(signals, key=lambda s: (-s.score, s.line if s.category in LISTED else -s.line))


def _region_signals(region: Region, memo: MatchMemo | None = None) -> list[Signal]:
    lines = region.lines
    known = memo.get(id(lines)) if memo is not None else None
    if known is not None and known[0] is lines:
        best = known[1]
    else:
        best = _match_lines(lines)
        if memo is not None:
            memo[id(lines)] = (lines, best)
    signals: list[Signal] = []
    covered = -1
    for idx in sorted(best):
        if idx <= covered:
            continue
        sig = _expand(region, idx, best[idx])
        signals.append(sig)
        if RULES[sig.rule].block in ("traceback", "panic"):
            covered = sig.end - region.start
    return signals


def _match_lines(lines: list[str]) -> dict[int, str]:
    """The best-scoring rule of each line that matches one, by line index.

    A fast substring search for the rules' lower-case keys over the whole text finds the
    candidate lines; only those are tested against the rules holding that key.
    """
    text = "\n".join(lines)
    low = "\n" + text.lower()
    if len(low) != len(text) + 1:  # a few Unicode characters change length when lowered
        low = "\n" + text.encode("ascii", "replace").decode("ascii").lower()
    starts = list(accumulate(map((1).__add__, map(len, lines)), initial=0))  # line + "\n"
    candidates: dict[int, int] = {}
    for key, mask in KEY_MASKS.items():
        shift = 0 if key.startswith("\n") else -1
        pos = low.find(key)
        while pos != -1:
            idx = bisect_right(starts, pos + shift) - 1
            candidates[idx] = candidates.get(idx, 0) | mask
            nxt = starts[idx + 1] if idx + 1 < len(starts) else len(low)
            pos = low.find(key, nxt - shift)
    best: dict[int, str] = {}
    negative = NEGATIVE.search
    # A line's keys, and so its mask, follow from its text: a repeated line (progress, retries,
    # the same warning per file) is tested once.
    known: dict[str, str | None] = {}
    for idx, mask in candidates.items():
        line = lines[idx]
        if line in known:
            name = known[line]
            if name is not None:
                best[idx] = name
            continue
        known[line] = None
        low_line = ""
        anchored, floating = plan(mask)
        hit = None if anchored is None else anchored(line)
        # Without an anchored match only a floating part can match; with one, of rule ``first``
        # (the first whose anchored part matches), only the floating parts of the rules before
        # it can do better (error_word may be NEGATIVE's: then the rules in their order).
        group = None if hit is None else hit.lastgroup
        first = len(RULE_ORDER) if group is None else int(group[1:])
        if hit is None or (group is not None and RULE_ORDER[first].name != "error_word"):
            found = None if hit is None else RULE_ORDER[first].name
            for name, floating_search, need, negated, index in floating:
                if index >= first:
                    break
                if need:
                    if not low_line:
                        low_line = line.lower()
                    for word in need:
                        if word in low_line:
                            break
                    else:
                        continue
                if not outside_quotes(floating_search, line) or (negated and negative(line)):
                    continue
                found = name
                break
            if found is not None:
                best[idx] = known[line] = found
            continue
        low_line = low_line or line.lower()
        while mask:  # some rule's anchored part matches (few lines): the rules in their order
            low_bit = mask & -mask
            mask ^= low_bit
            rule = RULE_ORDER[low_bit.bit_length() - 1]
            if rule.matches(line, low_line) and not (rule.name == "error_word" and negative(line)):
                best[idx] = known[line] = rule.name
                break
    return best


def _expand(region: Region, idx: int, name: str) -> Signal:
    rule = RULES[name]
    lines = region.lines
    line = lines[idx]
    sig = Signal(
        rule=name,
        line=region.start + idx,
        start=region.start + idx,
        end=region.start + idx,
        score=rule.score,
        category=rule.category,
        text=line.strip(),
    )
    if rule.block == "traceback":
        end, err = _traceback_end(lines, idx)
        sig.end = region.start + end
        if err is not None:
            sig.error_line = region.start + err
            sig.error_type, sig.message = _parse_exception(_strip_prefix(lines, idx, err))
    elif rule.block == "syntax":
        for back in range(idx - 1, max(-1, idx - 6), -1):
            if _FILE_LINE.match(lines[back]):
                sig.start = region.start + back
                break
        sig.error_line = sig.line
        sig.error_type, sig.message = _parse_exception(line.strip())
    elif rule.block == "faulthandler":
        end = idx
        while end + 1 < len(lines) and end - idx < 80 and _FAULTHANDLER.match(lines[end + 1]):
            end += 1
        while end > idx and not lines[end].strip():
            end -= 1
        sig.end = region.start + end
    elif rule.block == "panic":
        end, message = _panic_block(lines, idx)
        sig.end = region.start + end
        sig.error_line = sig.line
        sig.error_type, sig.message = "panic", message
        block = "\n".join(lines[idx : end + 1])
        if (message or "").startswith("test timed out after"):
            sig.category = "time_limit"
        elif _PANIC_SEGV.search(unquoted(block)):
            sig.category = "segfault"
        elif _PANIC_OOM.search(unquoted(block)):
            sig.category = "out_of_memory"
    elif rule.block == "frames":
        end = idx
        while end + 1 < len(lines) and end - idx < 60:
            nxt = lines[end + 1]
            if not FRAME_LINE.match(nxt) and not (nxt.strip() == "" and end == idx):
                break
            end += 1
        sig.end = region.start + end
        sig.error_type, sig.message = _uncaught(name, line.strip())
        sig.error_line = sig.line
    elif rule.block == "section":
        end, blanks = idx, 0
        j = idx + 1
        while j < len(lines) and j - idx < MAX_SECTION_LINES:
            nxt = lines[j]
            if _SECTION_END.match(nxt):
                break
            blanks = blanks + 1 if not nxt.strip() else 0
            if blanks >= 2:
                break
            if nxt.strip():
                end = j
            j += 1
        sig.end = region.start + end
        if name == "cmake_error" and _CMAKE_DEPENDENCY.search("\n".join(lines[idx : end + 1])):
            sig.category = "dependency_install"
    elif rule.block == "fortran":
        for back in range(idx - 1, max(-1, idx - 9), -1):
            if _AT_LINE_OF_FILE.match(lines[back]) or _FILE_LINE_ALONE.match(lines[back]):
                sig.start = region.start + back
                break
        else:
            if name == "gfortran_error":  # an "Error: ..." line of some other tool
                sig.score, sig.category = RULES["error_word"].score, None
        if name == "fortran_runtime":
            sig.error_type, sig.message = "Fortran runtime error", line.strip()[23:].strip() or None
            sig.error_line = sig.line
            sig.category = _fortran_category(sig.message or "")
    elif rule.block == "down":
        end = idx
        while end + 1 < len(lines) and end - idx < 30:
            nxt = lines[end + 1]
            if not nxt.strip() or not (nxt[:1].isspace() or nxt.lstrip()[:1] in "|^-=~"):
                break
            end += 1
        sig.end = region.start + end
    if name == "msbuild_error" and "error TS2307:" in line:
        sig.category = "missing_module"  # tsc: Cannot find module 'x'
    elif name in ("py_exc", "java_exc", "java_oom"):
        parsed = _parse_exception(line.strip())
        if parsed[0] is not None and re.search(r"(?:Error|Exception|Exit|Interrupt)$", parsed[0]):
            sig.error_type, sig.message = parsed
            sig.error_line = sig.line
    return sig


_PANIC_SEGV = re.compile(r"\bSIGSEGV\b|\bSIGBUS\b|nil pointer dereference")
_PANIC_OOM = re.compile(r"(?i)out of memory|memory allocation of \d+ bytes failed")
#: Lines that start something else after a panic's message (Rust prints no end marker after
#: the first panic of a process).
_PANIC_STOP = re.compile(
    r"^\s*(?:thread '|Traceback \(|error(?:\[|:)|warning:|panic|note:|stack backtrace:"
    r"|test |running \d|failures:|---- )"
)
#: Lines of a goroutine dump: functions, ``\tfile:line +0x..`` frames, ``created by``.
_GO_FRAME = re.compile(
    r"^(?:\t|created by |\.\.\.additional frames elided\.\.\.|[\w.*/()\[\]{}-]+\(.*\)\s*$)"
)
_RUST_OLD_PANIC = re.compile(r"panicked at '(?P<msg>.*)', \S+:\d+(?::\d+)?$")
_GO_PRELUDE = re.compile(r"^(?:\[signal |\tpanic: |panic: .*\[recovered\])")


def _panic_block(lines: list[str], head: int) -> tuple[int, str | None]:
    """Last line of a Rust or Go panic starting at ``head``, and the panic's message.

    Rust: ``thread 'x' panicked at file:l:c:`` then the message (older releases put it in
    quotes on that line), then a ``note:`` or a ``stack backtrace:``. Go: ``panic: message``,
    maybe ``[signal ...]``, then goroutine dumps (a header, function and ``\tfile:line`` lines),
    separated by blank lines, and ``exit status N``.
    """
    line = lines[head].strip()
    limit = min(len(lines), head + MAX_TRACEBACK_LINES)
    if "panicked at" in line:
        old = _RUST_OLD_PANIC.search(line)
        j, said = head + 1, list[str]()
        if old is None:  # the message follows, on a few lines
            while j < limit and len(said) < 5 and lines[j].strip():
                if _PANIC_STOP.match(lines[j]):
                    break
                said.append(lines[j].strip())
                j += 1
        end = j - 1
        if j < limit and lines[j].startswith("note:"):
            end = j
        elif j < limit and lines[j].startswith("stack back"):
            j += 1
            while j < limit and lines[j][:1].isspace():
                j += 1
            end = j - 1
        message = old.group("msg") if old else " ".join(said)[:500] or None
        return end, message
    message = line[len("panic: ") :].strip() or None if line.startswith("panic: ") else None
    end, j, dump = head, head + 1, line.startswith("goroutine ")
    while j < limit:
        text = lines[j]
        if text.startswith("goroutine ") or (dump and _GO_FRAME.match(text)):
            dump = True
            end = j
        elif not dump and _GO_PRELUDE.match(text):
            end = j
        elif text.strip():
            if text.startswith("exit status "):
                end = j
            break
        else:  # a blank line: the next goroutine's dump, or the end
            dump = False
        j += 1
    return end, message


_CMAKE_DEPENDENCY = re.compile(
    r"\(find_package\)|Could NOT find|Could not find a package configuration|\(pkg_check_modules\)"
    r"|\(find_library\)|\(find_program\)"
)
_UNCAUGHT_JVM = re.compile(r'^Exception in thread (?:"[^"]*"|\S+) (?P<rest>.*)$')
_UNCAUGHT_RUBY = re.compile(
    r"^\S+:\d+:in [`'][^']*': (?P<msg>.*) \((?P<type>(?:[A-Z]\w*::)*[A-Z]\w*)\)$"
)
_UNCAUGHT_PHP = re.compile(
    r"^(?:PHP )?Fatal error: +(?:Uncaught (?P<type>[\w\\]+)(?:: (?P<msg>.*?))?(?: in \S+:\d+)?$"
    r"|(?P<other>.*))"
)
_UNCAUGHT_LUA = re.compile(r"^lua(?:jit|\d[\d.]*)?: (?:\S+:\d+: )?(?P<msg>.*)$")


def _uncaught(rule: str, line: str) -> tuple[str | None, str | None]:
    """Type and message of an uncaught exception line of the JVM, Ruby, PHP or Lua."""
    if rule == "indented_exc":
        return _parse_exception(re.sub(r" \[\w+\]:", ":", line, count=1))
    if rule == "jvm_uncaught":
        match = _UNCAUGHT_JVM.match(line)
        return _parse_exception(match.group("rest")) if match else (None, line)
    if rule == "ruby_exc":
        match = _UNCAUGHT_RUBY.match(line)
        return (match.group("type"), match.group("msg")) if match else (None, line)
    if rule == "dotnet_exc":
        return _parse_exception(line.split(". ", 1)[-1])
    if rule == "php_fatal":
        match = _UNCAUGHT_PHP.match(line)
        if match and match.group("type"):
            return match.group("type").rsplit("\\", 1)[-1], match.group("msg")
        return None, (match.group("other") if match else line)
    match = _UNCAUGHT_LUA.match(line)
    return None, match.group("msg") if match else line


def _fortran_category(message: str) -> str | None:
    """The category a Fortran runtime error's message implies (not the file it quotes:
    ``Cannot open file 'bounds.dat': No such file or directory``)."""
    low = unquoted(message).lower()
    if "bound" in low or "outside of expected range" in low:
        return "segfault"  # an array index out of its bounds: a memory access error
    if "no such file" in low or "cannot open file" in low:
        return "missing_file"
    if "permission denied" in low:
        return "permission_denied"
    if "allocat" in low and "memory" in low:
        return "out_of_memory"
    return "python_exception"  # an uncaught runtime error, as in any other language


def _strip_prefix(lines: list[str], head: int, idx: int) -> str:
    """Line ``idx`` without the prefix that the traceback's first line had (``[rank1]: ``)."""
    line = lines[idx]
    prefix = lines[head][: lines[head].find("Traceback")]
    if prefix and line.startswith(prefix):
        return line[len(prefix) :]
    if prefix and _BRACKET_PREFIX.match(prefix):
        return _BRACKET_PREFIX.sub("", line, count=1)
    return line if not prefix else line.lstrip()


def _traceback_end(lines: list[str], head: int) -> tuple[int, int | None]:
    """Last line of the traceback starting at ``head`` (with chained parts) and its error line."""
    i = head + 1
    limit = min(len(lines), head + MAX_TRACEBACK_LINES)
    err: int | None = None
    end = head
    while i < limit:
        body = _strip_prefix(lines, head, i)
        if body[:1].isspace() or not body.strip():
            i += 1
            continue
        if body.startswith("Traceback (most recent call last)"):
            i += 1
            continue
        err = end = i  # the first unindented line after the frames: the exception
        # A chained exception follows after a blank line and a "During handling" line.
        j = i + 1
        while j < limit and j - i < 8 and not _CHAIN.match(_strip_prefix(lines, head, j)):
            if "Traceback (most recent call last)" in lines[j]:
                break
            j += 1
        if j < limit and j - i < 8 and _CHAIN.match(_strip_prefix(lines, head, j)):
            i = j + 1
            continue
        # A message may go on over a few lines (an assertion's explanation).
        k = i + 1
        while k < limit and k - i <= 5 and _strip_prefix(lines, head, k).strip():
            if _NEW_RECORD.search(lines[k]) or _FILE_LINE.match(lines[k]):
                break
            k += 1
        end = k - 1
        break
    else:
        end = max(head, i - 1)
    return end, err


def _parse_exception(line: str) -> tuple[str | None, str | None]:
    """``("KeyError", "'lr'")`` from ``KeyError: 'lr'``; ``(None, line)`` if not that shape."""
    line = line.strip()
    match = EXCEPTION_LINE.match(line)
    if match is None:
        head, sep, rest = line.partition(": ")
        if sep and re.fullmatch(r"(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*", head):
            return head, rest.strip() or None
        return None, line or None
    return match.group(1), (match.group(2) or "").strip() or None
