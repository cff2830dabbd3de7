"""Safe HTML for the widgets: Markdown and diffs highlighted, everything sanitised with nh3.

Every string that reaches a widget from a model, a log or a tool goes through ``sanitize``: a
small allow-list of tags and attributes, links with http(s)/mailto schemes only, and CSS
classes limited to ours and Pygments' token classes. Scripts, styles, event handlers, iframes
and ``javascript:`` URLs never survive.
"""

from __future__ import annotations

import html
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
_OWN_CLASSES = {HL_CLASS, "adaptive-llm-error"}
CLASSES = {
    "div": _OWN_CLASSES,
    "pre": _OWN_CLASSES,
    "span": _TOKEN_CLASSES | _OWN_CLASSES,
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
  align-items: center; }
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
."""
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
)


def style_tag() -> str:
    """The widgets' stylesheet (our own constant text, not sanitised away)."""
    return f"<style>{CSS}</style>"
