"""``adaptive-llm diagnose`` starts fast: it imports neither asyncio nor the store.

(The huge-log bench measures the whole command, so what it imports is most of the time
for a log whose failure is at its end.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CHECK = """
import sys
from adaptive_llm.cli import main
code = main(["diagnose", sys.argv[1], "--json"])
sys.stdout.flush()
heavy = ("asyncio", "adaptive_llm.store", "adaptive_llm.managers")
print(sorted(m for m in heavy if m in sys.modules))
sys.exit(code)
"""


def test_diagnose_of_a_plain_log_imports_neither_asyncio_nor_the_store(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_text('Traceback (most recent call last):\n  File "/w/a.py", line 1\nKeyError: 3\n')
    proc = subprocess.run(
        [sys.executable, "-c", CHECK, str(log)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    diagnosis, imported = proc.stdout.strip().splitlines()
    assert json.loads(diagnosis)["error_type"] == "KeyError"
    assert imported == "[]"
