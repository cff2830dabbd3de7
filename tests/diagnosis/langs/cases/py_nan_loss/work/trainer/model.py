"""A logistic-regression model trained with plain gradient descent."""

from __future__ import annotations

import numpy as np


def predict(w: np.ndarray, b: float, x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(x @ w + b)))


def log_loss(w: np.ndarray, b: float, x: np.ndarray, y: np.ndarray) -> float:
    p = predict(w, b, x)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def gradient(w: np.ndarray, b: float, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    err = predict(w, b, x) - y
    return x.T @ err / len(y), float(err.mean())
