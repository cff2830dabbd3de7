"""Chained exceptions: implicit ("During handling ...") or explicit ("direct cause")."""

import sys

SETTINGS = {"batch_size": 32}


def lookup(key):
    return SETTINGS[key]


def configure(mode):
    try:
        lookup("lr")
    except KeyError as exc:
        if mode == "cause":
            raise RuntimeError("missing setting lr") from exc
        raise ValueError("cannot configure without lr")  # noqa: B904


configure(sys.argv[1])
