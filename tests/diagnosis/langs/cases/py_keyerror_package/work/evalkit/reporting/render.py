"""One-line summaries of an evaluation run for the nightly report."""

from __future__ import annotations

from string import Template


def _fields(config: dict, scores: dict[str, float], n: int) -> dict[str, str]:
    fields = {k: str(v) for k, v in config.items() if k != "template"}
    fields.update({name: f"{value:.3f}" for name, value in scores.items()})
    fields["n"] = str(n)
    return fields


def summary_line(config: dict, scores: dict[str, float], n: int) -> str:
    template = Template(config["template"])
    return template.substitute(_fields(config, scores, n))
