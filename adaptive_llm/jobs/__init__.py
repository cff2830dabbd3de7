"""Jobs, their attempts, the schedulers that run them, and the SQLite store."""
