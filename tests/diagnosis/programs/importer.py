"""Import a module of the job that has a syntax error."""

import broken  # noqa: F401

print("never reached")
