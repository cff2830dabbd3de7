"""``#SBATCH`` option text: the words sbatch reads from it, the options they hold, and what may
stand in it.

A directive is one line, ``#SBATCH <text>``, and two programs read it. bash reads a comment, up
to the next ``\\n``. sbatch splits the text into words by its own rules (``_get_argument`` in
its ``opt.c``, ported in :func:`sbatch_words`): C whitespace separates words, ``'`` and ``"``
group, a backslash escapes the next character (inside quotes too), an unquoted ``#`` starts a
comment, an empty word ends the line, a word may not start with ``:``, and a ``hetjob`` or
``packjob`` word starts a second job (a heterogeneous job; older releases matched ``packjob``
anywhere in the line, in any case). All of this was checked against sbatch 22.05
(``tests/test_sbatch_slurm.py``). So text that goes into such a line must:

- hold no character that ends a line or hides text from a reader: control characters (Unicode
  category Cc: NUL, ``\\n``, ``\\r``, tab, VT, FF, NEL, ...), format characters (Cf: bidi
  overrides, zero-width characters, BOM), lone surrogates (Cs) and the line and paragraph
  separators U+2028/U+2029 (Zl, Zp), which ``str.splitlines`` and editors break lines at;
- be read by sbatch as the words we read (``shlex``): :func:`check_words`;
- not hold ``hetjob`` or ``packjob``;
- in ``resources.extra["sbatch_lines"]``, not set an option the renderer sets from the job
  (``--output``, ``--chdir``, ``--time``, ...; abbreviations too, as getopt accepts them).
"""

from __future__ import annotations

import re
import shlex
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import SbatchError as SbatchError

#: Categories refused in any text that lands in a batch script's header.
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
#: C's isspace() in the C locale: what separates sbatch's words.
_C_SPACE = frozenset(" \t\n\v\f\r")
_HET_RE = re.compile("hetjob|packjob", re.IGNORECASE)
#: Values that need no quoting (shlex.quote's safe set).
_SAFE_RE = re.compile(r"[\w@%+=:,./-]+", re.ASCII)

#: Short flags we read as long names.
SHORT_NAMES = {"J": "job-name", "t": "time", "c": "cpus-per-task", "p": "partition"}
SHORT_NAMES.update({"A": "account", "o": "output", "e": "error", "D": "chdir", "W": "wait"})
#: Short flags that take no value (a superset of sbatch's, so a cluster such as ``-HJx`` is
#: read as at least the options sbatch sees in it).
NO_VALUE_FLAGS = frozenset("hvHQVsOkWIu")

#: Options the batch script renderer sets from the job: ``sbatch_lines`` may not set them.
OWNED_OPTIONS = {
    "job-name": "the job's name",
    "output": "each attempt's own log",
    "error": "each attempt's own log",
    "chdir": "the job's cwd",
    "time": "Resources(time_limit=...)",
    "mem": "Resources(memory=...)",
    "cpus-per-task": "Resources(cpus=...)",
    "partition": "resources.extra['partition']",
    "account": "resources.extra['account']",
    "parsable": "the scheduler",
    "wait": "the scheduler (it polls)",
    "wrap": "the job's command",
}
#: The keys ``Resources.extra`` may hold.
EXTRA_KEYS = ("partition", "account", "sbatch_lines")


# -- characters --------------------------------------------------------------------------------


def _describe(char: str) -> str:
    name = unicodedata.name(char, "")
    category = unicodedata.category(char)
    return f"{char!r} (U+{ord(char):04X}{' ' + name if name else ''}, category {category})"


def check_text(what: str, value: object) -> str:
    """``value`` if it is a string without a character that could end a line or hide text."""
    if not isinstance(value, str):
        raise SbatchError(f"{what} must be a string, got {type(value).__name__}: {value!r}")
    for char in value:
        if unicodedata.category(char) in _BAD_CATEGORIES:
            raise SbatchError(
                f"{what} {value!r} contains {_describe(char)}: control, format and line"
                " separator characters are not allowed (they can end an #SBATCH line or hide"
                " text)"
            )
    return value


def check_directive_text(what: str, value: object) -> str:
    """:func:`check_text`, and no ``hetjob``/``packjob`` (a second job to sbatch)."""
    text = check_text(what, value)
    het = _HET_RE.search(text)
    if het:
        raise SbatchError(
            f"{what} {text!r} contains {het.group(0)!r}: in an #SBATCH line sbatch reads it as"
            " the start of another (heterogeneous) job"
        )
    return text


def _check_spaces(what: str, text: str, *, allowed: str) -> None:
    for char in text:
        if char.isspace() and char not in allowed:
            where = "spaces" if allowed else "whitespace"
            raise SbatchError(f"{what} {text!r} contains {_describe(char)}: no {where} here")


def check_word(what: str, value: object) -> str:
    """A value that stands bare after ``--key=`` (a partition, an account): one sbatch word."""
    text = check_directive_text(what, value)
    if not text:
        raise SbatchError(f"{what} is empty: leave it out for the default")
    if text.startswith("-"):  # also an argument of scontrol and sinfo (resource_caps)
        raise SbatchError(f"{what} {text!r} starts with '-'")
    _check_spaces(what, text, allowed="")
    bad = sorted(set(text) & set("'\"\\#"))
    if bad:
        raise SbatchError(f"{what} {text!r} contains {''.join(bad)!r}: sbatch would not read it")
    return text


# -- words and options -------------------------------------------------------------------------


def sbatch_words(text: str) -> list[str]:
    """The words sbatch reads from the text after ``#SBATCH`` (a port of its tokenizer).

    Raises :class:`SbatchError` where sbatch stops with an error: an unmatched quote, or a word
    starting with ``:``.
    """
    words: list[str] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in _C_SPACE:
            i += 1
        if i >= n:
            return words
        if text[i] == ":":
            raise SbatchError(f"sbatch refuses a word starting with ':' in {text!r}")
        chars: list[str] = []
        quote = ""
        escaped = False
        while i < n and (quote or text[i] not in _C_SPACE):
            char = text[i]
            if escaped:
                escaped = False
            elif char == "\\":
                escaped, i = True, i + 1
                continue
            elif quote:
                if char == quote:
                    quote, i = "", i + 1
                    continue
            elif char in "\"'":
                quote, i = char, i + 1
                continue
            elif char == "#":
                break  # the rest of the line is a comment
            chars.append(char)
            i += 1
        if quote:
            raise SbatchError(f"unmatched {quote} in #SBATCH text {text!r}")
        if not chars:
            return words  # an empty word (a comment, or "") ends sbatch's reading of the line
        words.append("".join(chars))


def check_words(what: str, text: str) -> list[str]:
    """The words of ``text`` when sbatch and ``shlex`` (our reader) split it alike."""
    try:
        words = sbatch_words(text)
        ours = shlex.split(text, comments=True)
    except ValueError as exc:
        raise SbatchError(f"{what} {text!r}: {exc}") from None
    if words != ours:
        raise SbatchError(
            f"{what} {text!r}: sbatch would read it as {words!r}, not {ours!r}; write the"
            " options plainly (quote values with double quotes)"
        )
    return words


def _options(words: Sequence[str], line: str) -> list[tuple[str, str | None, str]]:
    """``(long name or flag, value, the option as written)`` for each option in ``words``:
    ``("job-name", "x", "-J")``, ``("out", "a.log", "--out")``."""
    options: list[tuple[str, str | None, str]] = []
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word.startswith("--"):
            key, eq, value = word[2:].partition("=")
            if not key:
                raise SbatchError(f"unexpected word {word!r} in #SBATCH line {line!r}")
            if not eq and i < len(words) and not words[i].startswith("-"):
                value, i = words[i], i + 1
            options.append((key, value if (eq or value) else None, f"--{key}"))
        elif word.startswith("-") and len(word) >= 2:
            j = 1
            while j < len(word):  # a cluster of flags, as getopt reads it: -HJname, -c4
                flag, rest = word[j], word[j + 1 :]
                key = SHORT_NAMES.get(flag, flag)
                if flag in NO_VALUE_FLAGS:
                    options.append((key, None, f"-{flag}"))
                    j += 1
                    continue
                if rest:
                    options.append((key, rest.removeprefix("="), f"-{flag}"))
                elif i < len(words):
                    options.append((key, words[i], f"-{flag}"))
                    i += 1
                else:
                    options.append((key, None, f"-{flag}"))
                break
        else:
            raise SbatchError(f"unexpected word {word!r} in #SBATCH line {line!r}")
    return options


def parse_sbatch_options(lines: Iterable[str]) -> list[tuple[str, str | None]]:
    """``("time", "10")``-style pairs from header lines; long names, values unparsed.

    A line that sbatch would split into other words than we do is refused.
    """
    options: list[tuple[str, str | None]] = []
    for line in lines:
        words = check_words("cannot read #SBATCH line", line)
        options.extend((key, value) for key, value, _ in _options(words, line))
    return options


def sbatch_quote(value: str) -> str:
    """``value`` as one word that sbatch and shlex both read back as ``value``."""
    if _SAFE_RE.fullmatch(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def option_text(key: str, value: str | None) -> str:
    """``--key=value`` (``-k value`` for a short flag), the value quoted when needed."""
    if len(key) > 1:
        return f"--{key}" if value is None else f"--{key}={sbatch_quote(value)}"
    if value is None:
        return f"-{key}"
    if not value:
        raise SbatchError(f"-{key}: an empty value cannot be written as a short option")
    quoted = sbatch_quote(value)
    return f"-{key}{quoted}" if quoted[0] in ":-" else f"-{key} {quoted}"


# -- resources.extra ---------------------------------------------------------------------------


def item_text(item: str) -> str:
    """The option text of one ``sbatch_lines`` item (without a leading ``#SBATCH``)."""
    text = item.strip()
    return text[len("#SBATCH") :].strip() if text.startswith("#SBATCH") else text


def check_sbatch_item(what: str, item: object) -> str:
    """One ``sbatch_lines`` item: options only, read alike by sbatch and by us, setting none
    of the options the renderer owns."""
    text = item_text(check_directive_text(what, item))
    _check_spaces(what, text, allowed=" ")
    words = check_words(what, text)
    try:
        options = _options(words, text)
    except SbatchError as exc:
        raise SbatchError(f"{what} {item!r}: {exc}") from None
    for key, _, written in options:
        owned = [name for name in OWNED_OPTIONS if name == key]
        if written.startswith("--"):  # getopt takes any unambiguous prefix: --out is --output
            owned = owned or [name for name in OWNED_OPTIONS if name.startswith(key)]
        if owned:
            raise SbatchError(
                f"{what} {item!r} sets {written} (--{owned[0]}), which adaptive_llm sets from"
                f" {OWNED_OPTIONS[owned[0]]}"
            )
    return str(item)


def check_extra(extra: object) -> dict[str, Any]:
    """A validated copy of ``Resources.extra``: ``partition`` and ``account`` (one word each;
    None means unset), ``sbatch_lines`` (a string or a list of strings; a list comes back)."""
    if not isinstance(extra, Mapping):
        raise SbatchError(f"resources.extra must be a mapping, got {type(extra).__name__}")
    unknown = [key for key in extra if key not in EXTRA_KEYS]
    if unknown:
        raise SbatchError(
            f"resources.extra: unknown key(s) {', '.join(map(repr, unknown))}; known:"
            f" {', '.join(EXTRA_KEYS)}"
        )
    checked: dict[str, Any] = {}
    for key, value in extra.items():
        if value is None:
            continue
        what = f"resources.extra[{key!r}]"
        if key == "sbatch_lines":
            if isinstance(value, str):
                value = [value]
            elif not isinstance(value, (list, tuple)):
                raise SbatchError(
                    f"{what} must be a string or a list of strings, got"
                    f" {type(value).__name__}: {value!r}"
                )
            checked[key] = [check_sbatch_item(f"{what}[{i}]", v) for i, v in enumerate(value)]
        else:
            checked[key] = check_word(what, value)
    return checked
