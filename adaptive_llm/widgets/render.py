"""Safe HTML for the widgets: Markdown and diffs highlighted, everything sanitised with nh3.

Every string that reaches a widget from a model, a log or a tool goes through ``sanitize``: a
small allow-list of tags and attributes, links with http(s)/mailto schemes only, and CSS
classes limited to ours and Pygments' token classes. Scripts, styles, event handlers, iframes
and ``javascript:`` URLs never survive.
"""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache
from typing import Any

import markdown
import nh3
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DiffLexer
from pygments.token import STANDARD_TYPES

#: The CSS class of highlighted blocks (``<div class="adaptive-llm-hl"><pre>...``).
HL_CLASS = "adaptive-llm-hl"

TAGS = {
    "a", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "i", "li", "ol", "p", "pre", "span", "strong", "sub", "sup", "table", "tbody",
    "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ATTRIBUTES = {"a": {"href", "title"}, "span": {"title"}, "td": {"align"}, "th": {"align"}}
URL_SCHEMES = {"http", "https", "mailto"}
_TOKEN_CLASSES = {name for name in STANDARD_TYPES.values() if name}
_ANSI_NAMES = ("black", "red", "green", "yellow", "blue", "magenta", "cyan", "white")
_ANSI_CLASSES = {f"adaptive-llm-ansi-{k}-{n}" for k in ("fg", "bg") for n in _ANSI_NAMES} | {
    f"adaptive-llm-ansi-{s}" for s in ("bold", "dim", "italic", "underline")
}
_LOG_CLASSES = {
    f"adaptive-llm-log-{s}"
    for s in ("page", "line", "no", "excerpt", "error", "match", "target", "cut")
}
_OWN_CLASSES = {HL_CLASS, "adaptive-llm-error"} | _LOG_CLASSES
CLASSES = {
    "div": _OWN_CLASSES,
    "pre": _OWN_CLASSES,
    "span": _TOKEN_CLASSES | _OWN_CLASSES | _ANSI_CLASSES,
    "code": {"language-text"},
}

_cleaner: Any = None


def sanitize(fragment: str) -> str:
    """The fragment with only safe markup left (text content is kept, escaped)."""
    global _cleaner
    if _cleaner is None:
        _cleaner = nh3.Cleaner(
            tags=TAGS,
            attributes=ATTRIBUTES,
            url_schemes=URL_SCHEMES,
            allowed_classes=CLASSES,
            clean_content_tags={"script", "style"},
            link_rel="noopener noreferrer nofollow",
            strip_comments=True,
        )
    return str(_cleaner.clean(fragment))


@lru_cache(maxsize=1)
def _formatter() -> HtmlFormatter[str]:
    return HtmlFormatter(cssclass=HL_CLASS)


def markdown_html(text: str) -> str:
    """Markdown (fenced code highlighted by Pygments) to sanitised HTML."""
    md = markdown.Markdown(
        extensions=["fenced_code", "codehilite", "tables", "sane_lists"],
        extension_configs={
            "codehilite": {"css_class": HL_CLASS, "guess_lang": False, "use_pygments": True}
        },
        output_format="html",
    )
    return sanitize(md.convert(text))


def reveal(text: str) -> str:
    """``text`` with every invisible or line-moving character made visible (``\\r``,
    ``\\x1b``, ``<U+202E>``), newlines and tabs kept: a carriage return in a diff line must
    not show as a line of its own, nor a bidi override reorder what the user reads."""
    out = []
    for ch in text:
        if ch in "\n\t":
            out.append(ch)
        elif unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Co", "Cs") or ch == "\x85":
            code = ord(ch)
            out.append(repr(ch)[1:-1] if code < 0x100 else f"<U+{code:04X}>")
        else:
            out.append(ch)
    return "".join(out)


def diff_html(diff: str) -> str:
    """A unified diff, every line shown (invisible characters revealed), highlighted."""
    return sanitize(highlight(reveal(diff), DiffLexer(), _formatter()))


def plain_html(text: str) -> str:
    """Text shown as-is (a tool's output, a command): escaped, invisible characters revealed,
    in a preformatted block."""
    return f'<pre class="{HL_CLASS}">{html.escape(reveal(text))}</pre>'


_SGR = re.compile(r"\x1b\[([0-9;]*)m")
_CUBE = (0, 95, 135, 175, 215, 255)


def _colour(codes: list[int], i: int) -> tuple[int | None, int]:
    """The basic colour (0-7) of an extended ``38;5;n`` / ``38;2;r;g;b`` at ``codes[i]`` (the
    ``5`` or ``2``) and the index after it: the nearest of the eight, by channel."""
    if i < len(codes) and codes[i] == 5 and i + 1 < len(codes):
        n = codes[i + 1]
        if n < 16:
            return n % 8, i + 2
        if n >= 232:
            return (7 if n >= 244 else 0), i + 2
        n -= 16
        rgb = (_CUBE[n // 36 % 6], _CUBE[n // 6 % 6], _CUBE[n % 6])
        return _nearest(rgb), i + 2
    if i < len(codes) and codes[i] == 2 and i + 3 < len(codes):
        return _nearest((codes[i + 1], codes[i + 2], codes[i + 3])), i + 4
    return None, len(codes)


def _nearest(rgb: tuple[int, int, int]) -> int:
    r, g, b = rgb
    return (r > 127) | (g > 127) << 1 | (b > 127) << 2


def ansi_html(text: str) -> str:
    """One line of terminal output as HTML: SGR colour and style codes (``\\x1b[31m``,
    bright, 256-colour and true-colour ones mapped to the nearest of the eight colours)
    become spans with our classes; the text is escaped and every other escape or control
    character shown as text (:func:`reveal`). Sanitise the result before showing it."""
    out: list[str] = []
    state: dict[str, int | None] = {"fg": None, "bg": None}
    flags: set[str] = set()
    pos = 0
    for match in _SGR.finditer(text):
        out.append(_ansi_span(text[pos : match.start()], state, flags))
        pos = match.end()
        codes = [int(c) if c else 0 for c in match.group(1).split(";")][:16]
        i = 0
        while i < len(codes):
            code = codes[i]
            i += 1
            if code == 0:
                state.update(fg=None, bg=None)
                flags.clear()
            elif code in _STYLES:
                flags.add(_STYLES[code])
            elif code == 22:
                flags.difference_update(("bold", "dim"))
            elif code in (23, 24):
                flags.discard("italic" if code == 23 else "underline")
            elif 30 <= code <= 37 or 90 <= code <= 97:
                state["fg"] = code % 10
            elif 40 <= code <= 47 or 100 <= code <= 107:
                state["bg"] = code % 10
            elif code in (39, 49):
                state["fg" if code == 39 else "bg"] = None
            elif code in (38, 48):
                colour, i = _colour(codes, i)
                state["fg" if code == 38 else "bg"] = colour
    out.append(_ansi_span(text[pos:], state, flags))
    return "".join(out)


_STYLES = {1: "bold", 2: "dim", 3: "italic", 4: "underline"}


def _ansi_span(chunk: str, state: dict[str, int | None], flags: set[str]) -> str:
    if not chunk:
        return ""
    escaped = html.escape(reveal(chunk))
    classes = [f"adaptive-llm-ansi-{flag}" for flag in sorted(flags)]
    for kind in ("fg", "bg"):
        colour = state[kind]
        if colour is not None:
            classes.append(f"adaptive-llm-ansi-{kind}-{_ANSI_NAMES[colour]}")
    return f'<span class="{" ".join(classes)}">{escaped}</span>' if classes else escaped


# The eight terminal colours from JupyterLab's theme variables (readable in light and dark).
_ANSI_VARS = {
    "black": "--jp-ui-font-color2, #777",
    "red": "--jp-error-color1, #d32f2f",
    "green": "--jp-success-color1, #388e3c",
    "yellow": "--jp-warn-color1, #f57c00",
    "blue": "--jp-brand-color1, #1976d2",
    "magenta": "--jp-mirror-editor-operator-color, #7800c2",
    "cyan": "--jp-info-color1, #0097a7",
    "white": "--jp-content-font-color1, #222",
}


def _ansi_css() -> str:
    rules = []
    for name, var in _ANSI_VARS.items():
        rules.append(f".adaptive-llm-ansi-fg-{name} {{ color: var({var}); }}")
        rules.append(
            f".adaptive-llm-ansi-bg-{name} {{ background: color-mix(in srgb, var({var}) 28%,"
            " transparent); }"
        )
    return "\n".join(rules)


# Token colours from JupyterLab's editor theme variables: right in light and dark themes.
_SYNTAX = {
    "k kc kd kn kp kr kt ow": "--jp-mirror-editor-keyword-color",
    "s s1 s2 sa sb sc sd se sh si sr ss sx": "--jp-mirror-editor-string-color",
    "c c1 ch cm cp cpf cs": "--jp-mirror-editor-comment-color",
    "m mb mf mh mi mo il": "--jp-mirror-editor-number-color",
    "nf nc fm nd": "--jp-mirror-editor-def-color",
    "nb bp": "--jp-mirror-editor-builtin-color",
    "o": "--jp-mirror-editor-operator-color",
    "nv vc vg vi": "--jp-mirror-editor-variable-color",
    "err": "--jp-mirror-editor-error-color",
}


def _syntax_css() -> str:
    rules = []
    for names, var in _SYNTAX.items():
        selectors = ", ".join(f".{HL_CLASS} .{name}" for name in names.split())
        rules.append(f"{selectors} {{ color: var({var}, inherit); }}")
    return "\n".join(rules)


CSS = (
    """
.adaptive-llm-info, .adaptive-llm-chat {
  font-family: var(--jp-ui-font-family, sans-serif);
  font-size: var(--jp-ui-font-size1, 13px);
  color: var(--jp-ui-font-color1, #222);
}
.adaptive-llm-info .adaptive-llm-counts { margin: 2px 0 6px 0; }
.adaptive-llm-info .adaptive-llm-row { border-bottom: 1px solid var(--jp-border-color2, #ddd);
  align-items: stretch; }
.adaptive-llm-info .adaptive-llm-head { font-weight: 600;
  border-bottom: 1px solid var(--jp-border-color1, #bbb); }
.adaptive-llm-cell .widget-html-content { overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; }
.adaptive-llm-bubble .widget-html-content, .adaptive-llm-approval .widget-html-content,
.adaptive-llm-groups .widget-html-content, .adaptive-llm-counts .widget-html-content {
  height: auto; line-height: 1.45; white-space: normal; overflow: visible; }
.adaptive-llm-state { font-weight: 600; }
.adaptive-llm-state-ok { color: var(--jp-success-color1, #388e3c); }
.adaptive-llm-state-run { color: var(--jp-brand-color1, #1976d2); }
.adaptive-llm-state-wait { color: var(--jp-ui-font-color2, #777); }
.adaptive-llm-state-bad { color: var(--jp-error-color1, #d32f2f); }
.adaptive-llm-state-warn { color: var(--jp-warn-color1, #f57c00); }
.adaptive-llm-groups { margin: 6px 0; color: var(--jp-ui-font-color1, #222); }
.adaptive-llm-groups li { margin: 1px 0; }
.adaptive-llm-notice { color: var(--jp-warn-color1, #f57c00); }
.adaptive-llm-chat { border: 1px solid var(--jp-border-color2, #ddd); border-radius: 6px;
  padding: 6px; background: var(--jp-layout-color1, #fff); }
.adaptive-llm-chat-title { font-weight: 600; }
.adaptive-llm-usage { color: var(--jp-ui-font-color2, #777); }
/* The history scrolls, pinned to the bottom: a reversed column holding one box, the messages. */
.adaptive-llm-history { display: flex; flex-direction: column-reverse; overflow-y: auto; }
/* In the scrolling column, messages keep their height (the column scrolls, nothing is squashed). */
.adaptive-llm-history > *, .adaptive-llm-messages > * { flex-shrink: 0; }
.adaptive-llm-bubble { border-radius: 8px; padding: 2px 10px; margin: 3px 0; flex-shrink: 0;
  color: var(--jp-content-font-color1, #222); line-height: 1.45; overflow-x: auto; }
.adaptive-llm-bubble p { margin: 4px 0; }
.adaptive-llm-role { font-size: 0.85em; color: var(--jp-ui-font-color2, #777); }
.adaptive-llm-user { background: color-mix(in srgb, var(--jp-brand-color1, #1976d2) 16%,
  transparent); margin-left: 15%; }
.adaptive-llm-assistant { background: var(--jp-layout-color2, #f3f3f3); margin-right: 8%; }
.adaptive-llm-diagnosis { background: color-mix(in srgb, var(--jp-warn-color1, #f57c00) 12%,
  transparent); border-left: 3px solid var(--jp-warn-color1, #f57c00); }
.adaptive-llm-tool { background: transparent; border: 1px dashed
  var(--jp-border-color1, #bbb); font-size: 0.92em; margin-right: 8%; }
.adaptive-llm-error { background: color-mix(in srgb, var(--jp-error-color1, #d32f2f) 14%,
  transparent); border-left: 3px solid var(--jp-error-color1, #d32f2f); }
.adaptive-llm-approval { border: 2px solid var(--jp-warn-color1, #f57c00); border-radius: 8px;
  padding: 4px 10px; margin: 4px 0; background: var(--jp-layout-color1, #fff); }
.adaptive-llm-approval-card, .adaptive-llm-approval-waiting, .adaptive-llm-approval-settled {
  border-top: 1px solid var(--jp-border-color2, #ddd); padding: 4px 0 2px 0; margin: 2px 0; }
.adaptive-llm-approval > :first-child { border-top: none; }
.adaptive-llm-approval-settled { color: var(--jp-ui-font-color2, #777); }
.adaptive-llm-approval-actions { border-top: 1px solid var(--jp-border-color1, #bbb);
  padding-top: 4px; margin-top: 2px; }
.adaptive-llm-busy { color: var(--jp-ui-font-color2, #777); font-style: italic; }
.adaptive-llm-chat-input { flex: 1 1 auto; }
.adaptive-llm-log { border: 1px solid var(--jp-border-color2, #ddd); border-radius: 6px;
  padding: 6px; margin-top: 6px; background: var(--jp-layout-color1, #fff);
  font-family: var(--jp-ui-font-family, sans-serif); color: var(--jp-ui-font-color1, #222); }
.adaptive-llm-log-body, .adaptive-llm-log-body .widget-html-content { min-width: 0;
  flex: 1 1 auto; }
.adaptive-llm-log-body .widget-html-content, .adaptive-llm-diagnosis-full .widget-html-content {
  height: auto; line-height: 1.4; white-space: normal; overflow: visible; }
.adaptive-llm-diagnosis-full { margin: 0 0 6px 300px; padding: 4px 8px; border-radius: 4px;
  background: color-mix(in srgb, var(--jp-warn-color1, #f57c00) 10%, transparent); }
.adaptive-llm-diagnosis-full code { font-family: var(--jp-code-font-family, monospace); }
.adaptive-llm-info .adaptive-llm-row .widget-button { padding: 0 8px; }
.adaptive-llm-info .adaptive-llm-diagnosis-toggle { padding: 0; margin: 0 4px 0 0;
  display: inline-flex; align-items: center; justify-content: center; }
.adaptive-llm-diagnosis-toggle i { margin: 0 !important; }
pre.adaptive-llm-log-page { font-family: var(--jp-code-font-family, monospace);
  font-size: var(--jp-code-font-size, 12px); background: var(--jp-cell-editor-background,
  #f7f7f7); color: var(--jp-content-font-color1, #222); max-height: 480px; overflow: auto;
  margin: 4px 0; padding: 4px 0; white-space: pre; }
.adaptive-llm-log-line { display: block; min-height: 1.4em; padding-right: 8px; }
.adaptive-llm-log-no { display: inline-block; min-width: 7ch; padding: 0 1ch 0 4px;
  text-align: right; color: var(--jp-ui-font-color2, #777); user-select: none; }
.adaptive-llm-log-excerpt { background: color-mix(in srgb, var(--jp-warn-color1, #f57c00) 18%,
  transparent); box-shadow: inset 3px 0 var(--jp-warn-color1, #f57c00); }
.adaptive-llm-log-error { background: color-mix(in srgb, var(--jp-error-color1, #d32f2f) 22%,
  transparent); box-shadow: inset 3px 0 var(--jp-error-color1, #d32f2f); font-weight: 600; }
.adaptive-llm-log-match { background: color-mix(in srgb, var(--jp-brand-color1, #1976d2) 16%,
  transparent); }
.adaptive-llm-log-target { box-shadow: inset 3px 0 var(--jp-brand-color1, #1976d2); }
.adaptive-llm-log-cut { color: var(--jp-ui-font-color2, #777); font-style: italic; }
.adaptive-llm-ansi-bold { font-weight: 700; }
.adaptive-llm-ansi-dim { opacity: 0.7; }
.adaptive-llm-ansi-italic { font-style: italic; }
.adaptive-llm-ansi-underline { text-decoration: underline; }
"""
    + HL_CLASS
    + """ pre, pre."""
    + HL_CLASS
    + """ { background: var(--jp-cell-editor-background, #f7f7f7);
  color: var(--jp-content-font-color1, #222); padding: 6px 8px; border-radius: 4px;
  font-family: var(--jp-code-font-family, monospace); font-size: var(--jp-code-font-size, 12px);
  white-space: pre; overflow-x: auto; margin: 4px 0; }
.adaptive-llm-bubble code { font-family: var(--jp-code-font-family, monospace); }
."""
    + HL_CLASS
    + """ .gi { color: var(--jp-success-color1, #2e7d32); display: inline-block; width: 100%;
  background: color-mix(in srgb, var(--jp-success-color1, #2e7d32) 14%, transparent); }
."""
    + HL_CLASS
    + """ .gd { color: var(--jp-error-color1, #c62828); display: inline-block; width: 100%;
  background: color-mix(in srgb, var(--jp-error-color1, #c62828) 14%, transparent); }
."""
    + HL_CLASS
    + """ .gu, ."""
    + HL_CLASS
    + """ .gh { color: var(--jp-brand-color1, #1976d2); font-weight: 600; }
"""
    + _syntax_css()
    + "\n"
    + _ansi_css()
)


def style_tag() -> str:
    """The widgets' stylesheet (our own constant text, not sanitised away)."""
    return f"<style>{CSS}</style>"
