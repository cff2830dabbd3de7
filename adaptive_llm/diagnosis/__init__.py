"""Diagnosis engine: the few lines of a log that explain a failure, classified and located.

``diagnose(path)`` reads a log (bounded, even for gigabytes), finds the strongest failure
signals, fits an excerpt to a token budget, classifies the failure, locates the line to open,
computes a stable signature and suggests a next step. Standard library only.
"""

from adaptive_llm.diagnosis.engine import DEFAULT_MAX_TOKENS, diagnose, diagnose_without_log
from adaptive_llm.diagnosis.model import CATEGORIES, Diagnosis, DiagnosisError, Excerpt, Location

__all__ = [
    "CATEGORIES",
    "DEFAULT_MAX_TOKENS",
    "Diagnosis",
    "DiagnosisError",
    "Excerpt",
    "Location",
    "diagnose",
    "diagnose_without_log",
]
