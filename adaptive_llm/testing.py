"""Test helpers that are part of the public API.

``ScriptedChatModel(responses)`` drives the real agent without a provider: ``responses`` is a
list of ``AIMessage``s (or strings) used in order, or a callable taking the message list and
returning the next ``AIMessage``. ``tool_call(name, args)`` builds a tool-calling reply.
"""

from .llm.scripted import ScriptedChatModel, tool_call

__all__ = ["ScriptedChatModel", "tool_call"]
