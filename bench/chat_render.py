"""Chat rendering cost: append to a 500-message chat and stream 1,000 tokens, vs a full re-render.

Server side only (the kernel's work: Markdown, sanitising, widget trait updates), without a
frontend attached (comm serialisation is not included).
Prints JSON. Run: ``.venv/bin/python bench/chat_render.py``.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

import ipywidgets as widgets

from adaptive_llm.widgets.chat import ChatWidget
from adaptive_llm.widgets.messages import THROTTLE, Bubble
from adaptive_llm.widgets.messages import Stream as _Stream

MESSAGES = 500
APPENDS = 50
TOKENS = 1000
TOKEN_GAP = 0.002  # seconds between tokens (a fast provider: 500 tokens/s)

SAMPLE = (
    "The job failed with `KeyError: 'lr'` at **data_utils.py:7**. Fix:\n\n"
    "```python\nentry['learning_rate'] = float(entry.get('lr', 0.1))\n```\n\n"
    "- check the config\n- resubmit\n"
)


class _Chat:
    """The parts of ChatWidget that streaming and appending use, without a manager."""

    def __init__(self) -> None:
        self.messages = widgets.VBox()
        self.updates = 0

    _append = ChatWidget._append


def main() -> None:
    chat: Any = _Chat()
    chat.messages.children = tuple(Bubble("assistant", f"{SAMPLE} #{i}") for i in range(MESSAGES))

    # Append one message to the 500-message chat (what the widget does).
    append_ms = []
    for i in range(APPENDS):
        began = time.perf_counter()
        chat._append(Bubble("user", f"message {i}: why did it fail?"))
        append_ms.append((time.perf_counter() - began) * 1000)

    # Baseline: render the whole history again for each new message.
    history = [SAMPLE] * MESSAGES
    rerender_ms = []
    for i in range(5):
        began = time.perf_counter()
        history.append(f"message {i}")
        chat.messages.children = tuple(Bubble("assistant", text) for text in history)
        rerender_ms.append((time.perf_counter() - began) * 1000)

    # Stream 1,000 tokens into a new message (throttled updates of the last message only).
    from adaptive_llm.chat.events import ChatEvent

    stream = _Stream(chat)
    token_ms = []
    began_stream = time.perf_counter()
    for i in range(TOKENS):
        began = time.perf_counter()
        stream.handle(ChatEvent("token", text=f"tok{i} " if i % 40 else f"tok{i}\n\n"))
        token_ms.append((time.perf_counter() - began) * 1000)
        time.sleep(TOKEN_GAP)
    stream.flush()
    stream_s = time.perf_counter() - began_stream
    updates = chat.updates

    # Baseline streaming: re-render the whole history on every token.
    naive_token_ms = []
    text = ""
    for i in range(20):
        text += f"tok{i} "
        began = time.perf_counter()
        chat.messages.children = tuple(Bubble("assistant", t) for t in [*history, text])
        naive_token_ms.append((time.perf_counter() - began) * 1000)

    result = {
        "messages": MESSAGES,
        "append_ms_median": round(statistics.median(append_ms), 3),
        "append_ms_max": round(max(append_ms), 3),
        "full_rerender_ms_median": round(statistics.median(rerender_ms), 1),
        "append_speedup": round(statistics.median(rerender_ms) / statistics.median(append_ms), 1),
        "tokens": TOKENS,
        "token_gap_s": TOKEN_GAP,
        "stream_s": round(stream_s, 3),
        "stream_widget_updates": updates,
        "stream_updates_per_s": round(updates / stream_s, 1),
        "throttle_limit_per_s": round(1 / THROTTLE, 1),
        "token_handling_ms_median": round(statistics.median(token_ms), 4),
        "token_handling_ms_max": round(max(token_ms), 3),
        "naive_per_token_rerender_ms_median": round(statistics.median(naive_token_ms), 1),
        "goal_append_ms": 5.0,
        "append_ms_p95": round(sorted(append_ms)[int(0.95 * len(append_ms)) - 1], 3),
        "goal_met_p95": sorted(append_ms)[int(0.95 * len(append_ms)) - 1] <= 5.0,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
