"""What a value looks like: random, prose, high-entropy, or one that cannot be a secret."""

from __future__ import annotations

import math
from collections import Counter

from .patterns import MARKER_PREFIX, _Lazy
from .words import _LOOSE, _RANDOM_ONLY, _norm

_DIGIT_RE = _Lazy(r"[0-9]")
_UPPER_RE = _Lazy(r"[A-Z]")
_LOWER_RE = _Lazy(r"[a-z]")


def _random_looking(s: str, *, need_digit: bool = False) -> bool:
    """Mixed case or digits, as generated keys are; identifiers and words are not."""
    digit = _DIGIT_RE.search(s) is not None
    upper = _UPPER_RE.search(s) is not None
    lower = _LOWER_RE.search(s) is not None
    if need_digit:
        return digit and (upper or lower)
    return (upper and lower) or (digit and (upper or lower))


_PLACEHOLDERS = frozenset(
    (
        *("none", "null", "nil", "true", "false", "undefined", "str", "string", "bytes"),
        *("int", "optional", "secretstr", "required", "redacted", "hidden", "masked"),
        *("empty", "unset", "changeme", "default", "ok", "yes", "no", "on", "off"),
        *("enabled", "disabled"),
    )
)
_MASK_RE = _Lazy(r"[*xX•.#_-]+|<[^>]*>|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|\$\{\{.*|%\(.*")
_ALNUM_RE = _Lazy(r"[A-Za-z0-9]")
_ENV_NAME_RE = _Lazy(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
_MASK_START = frozenset("*xX•.#_-<$%")
_CODE_RE = _Lazy(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")

_WIN_PATH_RE = _Lazy(r"[A-Za-z]:\\")
_WORD_RE = _Lazy(r"[A-Za-z][a-z]*|[A-Z]+")
_HEX_RE = _Lazy(r"(?:0x)?[0-9a-fA-F]+|(?i:sha\d+|md5|blake2b?)[:=-][0-9a-fA-F]+")
_UUID_RE = _Lazy(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_PATHLIKE_RE = _Lazy(r"[~.]?/|[\w.-]+/[\w.-]+/|[\w-]+(?:\.[\w-]+){2,}")
_ALPHA_PIECE_RE = _Lazy(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def _secret_like(value: str) -> bool:
    """A value that cannot be a word of prose: long enough, with a digit, symbol or mixed case."""
    v = value.rstrip(".,:;!?")
    return len(v) >= 6 and _WORD_RE.fullmatch(v) is None


def _high_entropy(value: str) -> bool:
    """A generated-looking value: 16+ characters, letters and digits, not hex/UUID/path/words."""
    v = value.strip("\"'")
    if len(v) < 16 or v.startswith(MARKER_PREFIX):
        return False
    if _HEX_RE.fullmatch(v) or _UUID_RE.fullmatch(v) or _PATHLIKE_RE.match(v):
        return False
    digits = len(_DIGITS_RE.findall(v))
    letters = len(_LETTERS_RE.findall(v))
    if digits < 2 or letters < 4 or not _random_looking(v):
        return False
    if _wordy(v, letters):
        return False  # words: ModelV2Layer3Output, build_2024_01_17_final, TestLinks/d3d9
    rest = _HEX_RUN_RE.sub("", v)
    if len(rest) < len(v) and (len(rest) < 8 or _wordy(rest, len(_LETTERS_RE.findall(rest)))):
        return False  # a name and a hash: maven-linux-3f2a9c..., sha256-4f53cd...
    n = len(v)
    entropy = -sum(k / n * math.log2(k / n) for k in Counter(v).values())
    return entropy >= 3.3


_DIGITS_RE = _Lazy(r"[0-9]")
_HEX_RUN_RE = _Lazy(r"[0-9a-fA-F]{8,}")
_LETTERS_RE = _Lazy(r"[A-Za-z]")
_VOWELS_RE = _Lazy(r"[aeiouAEIOU]")


def _wordy(value: str, letters: int) -> bool:
    """Mostly made of words (runs of 4+ letters with vowels), as identifiers and names are;
    random strings have few such runs, and few vowels in them."""
    joined = "".join(p for p in _ALPHA_PIECE_RE.findall(value) if len(p) >= 4)
    return len(joined) >= 0.5 * letters and len(_VOWELS_RE.findall(joined)) >= 0.25 * len(joined)


def _keep_value(word: str, value: str, quoted: bool) -> bool:
    """True when ``value`` cannot be a secret (see the package's false-positive policy)."""
    if not value or value.isspace() or value == "$" or value.startswith(MARKER_PREFIX):
        return True  # ("$" of "${X}")
    if value.lower() in _PLACEHOLDERS or (value[0] in _MASK_START and _MASK_RE.fullmatch(value)):
        return True
    if not _ALNUM_RE.search(value):
        return True  # punctuation: the end of code around it ("Password:"),
    if _ENV_NAME_RE.fullmatch(value):
        return True  # the name of a variable that holds it (server-password: GITHUB_TOKEN)
    key = _norm(word)
    if key == "pwd" and (value.startswith(("/", "~")) or _WIN_PATH_RE.match(value)):
        return True
    if key in _RANDOM_ONLY and (len(value) < 16 or not _random_looking(value, need_digit=True)):
        return True
    if key in _LOOSE and (value.isdigit() or not _secret_like(value)):
        return True
    if not quoted and _CODE_RE.fullmatch(value):
        last = value.rsplit(".", 1)[-1].lower().replace("_", "").replace("-", "")
        if last.endswith(key) or value.startswith(("self.", "args.", "cls.", "os.")):
            return True
    return False
