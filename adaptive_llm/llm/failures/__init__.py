"""The labelled failure set of ``adaptive-llm compare``: real logs of small failing programs
and their labels (``labels.json``), written by ``bench/make_failure_set.py``."""
