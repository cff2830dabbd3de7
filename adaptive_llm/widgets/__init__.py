"""Notebook widgets: ``info(run_manager)`` (live job table), ``chat_widget(lm, name)`` and
``log_viewer(run_manager, name)``.

Kernel-side ipywidgets only (no lab extension); imported lazily by ``adaptive_llm``.
"""

from .chat import ChatWidget, chat_widget
from .info import InfoWidget, info
from .log_viewer import LogViewer, log_viewer

__all__ = ["ChatWidget", "InfoWidget", "LogViewer", "chat_widget", "info", "log_viewer"]
