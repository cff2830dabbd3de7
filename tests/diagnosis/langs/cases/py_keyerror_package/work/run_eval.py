"""Nightly evaluation: score the latest predictions and print the report line."""

import json
import sys

from evalkit.reporting import summary_line
from evalkit.scores import score_all

RANKED = [["cat", "dog"], ["dog", "cat"], ["owl", "cat"], ["cat", "owl"]]
TRUTH = ["cat", "cat", "owl", "owl"]


def main(path: str) -> None:
    with open(path) as f:
        config = json.load(f)
    scores = score_all(RANKED, TRUTH)
    print(summary_line(config, scores, len(TRUTH)))


if __name__ == "__main__":
    main(sys.argv[1])
