"""Helpers that import nothing of adaptive_llm: asyncio tasks and notifiers (``aio``), units
and their formats (``units``)."""
