"""Wait for the instrument to finish writing an acquisition."""

from __future__ import annotations

import time
from pathlib import Path


def wait_for_marker(folder: Path, name: str = "acquisition.done", poll: float = 0.05) -> Path:
    """Block until the instrument writes its completion marker into ``folder``."""
    marker = folder / name
    while not marker.exists():
        time.sleep(poll)
    return marker


def collect(folder: Path) -> list[Path]:
    wait_for_marker(folder)
    return sorted(folder.glob("*.tiff"))
