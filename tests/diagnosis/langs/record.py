"""Record ``output.log`` of the language fixtures by running each case's real tool.

    python tests/diagnosis/langs/record.py            # every case whose tools are here
    python tests/diagnosis/langs/record.py gcc_undeclared rust_panic

Each case runs in ``<tmp>/home/runner/work/<case>/<case>`` (a CI runner's layout: the paths the
log prints are not the workspace's); a command that does not fail is an error.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import load_cases, missing, run


def main(names: list[str]) -> int:
    cases = [c for c in load_cases() if not names or c.name in names]
    unknown = set(names) - {c.name for c in cases}
    if unknown:
        print(f"no such case: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    bad = 0
    with tempfile.TemporaryDirectory(prefix="adaptive_llm-record-") as tmp:
        for case in cases:
            gone = missing(case)
            if gone:
                print(f"skip {case.name}: {', '.join(gone)} not found")
                continue
            dest = Path(tmp) / "home" / "runner" / "work" / case.name / case.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            code, output = run(case, dest)
            if code == 0:
                print(f"FAIL {case.name}: the command succeeded (exit 0)")
                bad += 1
                continue
            case.log.write_text(output)
            print(f"ok   {case.name}: exit {code}, {len(output.splitlines())} lines")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
