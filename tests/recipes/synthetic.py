"""Synthetic "trained models" for req-select whose α and accuracy are known by construction.

Each model is a feature file: features ``F = G · diag(k^{-α/2})`` (G standard normal, D = 128
dimensions), so the covariance eigenvalues decay as ``k^{-α}``; 4 classes are separated along
the first 2 coordinates by a class-mean offset of size ``signal(α)``, which peaks at α = 1. The
class offsets only change the top 2 eigenvalues, outside α-ReQ's fit range (ranks 11–100), so
the measured α stays close to the target and the model with α = 1 is the most accurate.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

DIM = 128
CLASSES = 4
# Square class means on coordinates 0 and 1.
_MEANS = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]], dtype=torch.float64)


def signal(alpha: float) -> float:
    """Class-mean offset: largest at α = 1, falling off in |log α|."""
    return 2.5 * math.exp(-((math.log(alpha) / 0.35) ** 2))


def model_features(alpha: float, *, num_train: int = 800, num_test: int = 800, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    scale = torch.arange(1, DIM + 1, dtype=torch.float64) ** (-alpha / 2)

    def split(n: int):
        targets = torch.arange(n) % CLASSES
        features = torch.randn(n, DIM, generator=generator, dtype=torch.float64) * scale
        features[:, :2] += signal(alpha) * _MEANS[targets] * scale[:2]
        return features.float(), targets

    return (*split(num_train), *split(num_test))


def write_models(root: Path, alphas: list[float], *, seed: int = 0) -> dict[str, float]:
    """One ``model_XX.features.pt`` per α under ``root``; returns ``{name: α}``."""
    root.mkdir(parents=True, exist_ok=True)
    names = {}
    for index, alpha in enumerate(alphas):
        train_x, train_y, test_x, test_y = model_features(alpha, seed=seed + index)
        name = f"model_{index:02d}"
        torch.save(
            {
                "train_features": train_x,
                "train_targets": train_y,
                "test_features": test_x,
                "test_targets": test_y,
            },
            root / f"{name}.features.pt",
        )
        names[name] = alpha
    return names
