"""Top-k accuracy from ranked predictions."""

from __future__ import annotations


def top_k(ranked: list[list[str]], truth: list[str], k: int) -> float:
    hits = sum(1 for preds, t in zip(ranked, truth) if t in preds[:k])
    return hits / len(truth)


def score_all(ranked: list[list[str]], truth: list[str]) -> dict[str, float]:
    return {"top1": top_k(ranked, truth, 1), "top5": top_k(ranked, truth, 5)}
