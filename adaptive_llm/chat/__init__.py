"""The chat about a job: a LangChain agent whose changes need the user's visible consent.

Layout: ``context`` (what the chat knows of a run: the ``RunView`` protocol and the job
context), ``events`` (replies, approvals, history), ``actions`` (one per gated tool: schema,
plan, apply, undo), ``approval`` (the middleware: one request per model reply), ``answers``
(what ``approve 1 3`` means), ``records`` (the store's chat tables), ``tools``, ``prompts``,
``offline`` (the assistant with no model), ``workspace`` (sandboxed files) and ``service``
(agent plumbing). Only ``approval``, ``tools``, ``offline`` and ``service`` import LangChain.
"""
