"""The demo's workspace and jobs (``adaptive-llm demo``; the quickstart notebook imports
``create_workspace`` and ``demo_jobs`` from here). It lives in :mod:`adaptive_llm.cli.demo`."""

from .cli.demo import create_workspace, demo_jobs, describe, run_demo

__all__ = ["create_workspace", "demo_jobs", "describe", "run_demo"]
