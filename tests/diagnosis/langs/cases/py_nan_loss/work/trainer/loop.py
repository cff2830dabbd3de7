"""The training loop, with a divergence guard."""

from __future__ import annotations

import math

from trainer.model import gradient, log_loss


def train(x, y, steps: int, lr: float):
    w, b = x[0] * 0.0, 0.0
    for step in range(1, steps + 1):
        gw, gb = gradient(w, b, x, y)
        w = w - lr * gw
        b = b - lr * gb
        loss = log_loss(w, b, x, y)
        if math.isnan(loss) or math.isinf(loss):
            raise FloatingPointError(f"loss is {loss} at step {step} (lr={lr})")
        if step % 5 == 0:
            print(f"step {step:4d}  loss {loss:.4f}", flush=True)
    return w, b
