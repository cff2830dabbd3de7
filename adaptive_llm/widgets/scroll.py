"""Scrolling the browser to a widget: ipywidgets has no scroll API.

``Scroller`` is a zero-height Output widget; ``scroll_to`` shows a small script in it (our
constant text, a CSS selector and a counter: nothing from a job or a model) that finds the
widget's DOM node by a CSS class, calls ``scrollIntoView`` on it and focuses an element in it
(once it is enabled).
The script is retried for a few seconds (the widget's view may not be in the page yet) and
taken away after ``SCRIPT_SECONDS``, so reloading the page does not scroll again.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import ipywidgets as widgets  # type: ignore[import-untyped]

from .tasks import WidgetTasks

#: Seconds the script stays in its Output widget.
SCRIPT_SECONDS = 5.0

_SCROLL_JS = """(function () {
  var selector = %s, focus = %s, tries = 0;
  function go() {
    var found = Array.from(document.querySelectorAll(selector)).filter(function (e) {
      return e.offsetParent !== null;
    });
    if (!found.length) {
      if (tries++ < 50) setTimeout(go, 100);
      return;
    }
    found[0].scrollIntoView({block: "start"});
    if (focus) focusIn(found[0], 0);
  }
  function focusIn(node, n) {  // once enabled (a chat loading its history is busy)
    var input = node.querySelector(focus);
    if (input && !input.disabled) input.focus({preventScroll: true});
    else if (n < 100) setTimeout(function () { focusIn(node, n + 1); }, 100);
  }
  go();
})(); // scroll %d
"""


class Scroller(widgets.Output):  # type: ignore[misc]
    """See the module docstring; ``scrolls`` counts the scripts shown."""

    def __init__(self, tasks: WidgetTasks) -> None:
        super().__init__(layout=widgets.Layout(height="0px", overflow="hidden"))
        self.add_class("adaptive-llm-scroller")
        self._tasks = tasks
        self.scrolls = 0
        self.script = ""

    def scroll_to(self, selector: str, focus: str = "") -> None:
        """Scroll to the first visible element matching ``selector``; focus ``focus`` in it."""
        self.scrolls += 1
        self.script = _SCROLL_JS % (json.dumps(selector), json.dumps(focus), self.scrolls)
        output: dict[str, Any] = {
            "output_type": "display_data",
            "data": {"application/javascript": self.script, "text/plain": ""},
            "metadata": {},
        }
        self.outputs: tuple[dict[str, Any], ...] = (output,)
        self._tasks.start(self._clear(self.scrolls), "scroll-clear", background=True)

    async def _clear(self, scroll: int) -> None:
        await asyncio.sleep(SCRIPT_SECONDS)
        if self.scrolls == scroll:
            self.outputs = ()
