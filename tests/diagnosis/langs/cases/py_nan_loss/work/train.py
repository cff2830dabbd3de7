"""Fit the separator between the two sensor classes."""

import argparse

import numpy as np

from trainer.loop import train


def load(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(200, 3)) * 2.0
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(float)
    return x, y


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--lr", type=float, default=5.0)
    args = parser.parse_args()
    x, y = load()
    w, b = train(x, y, args.steps, args.lr)
    print("weights", np.round(w, 3), "bias", round(b, 3))


if __name__ == "__main__":
    main()
