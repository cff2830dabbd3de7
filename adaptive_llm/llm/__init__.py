"""Models: resolving a provider, its label and prices (``provider``); robust calls (``retry``).

LangChain is imported only when a model is used.
"""
