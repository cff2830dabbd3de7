"""Notebook widgets: ``info(run_manager)`` (live job table) and ``chat_widget(lm, name)``.

Kernel-side ipywidgets only (no lab extension); imported lazily by ``adaptive_llm``.
"""

from .chat import ChatWidget, chat_widget
from .info import InfoWidget, info

__all__ = ["ChatWidget", "InfoWidget", "chat_widget", "info"]
