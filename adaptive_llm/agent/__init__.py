"""The chat agent: sandboxed workspace tools, the approve/YOLO gate, and the LangChain agent."""
