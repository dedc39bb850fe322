"""Synthetic features with a known spectrum, shared by the functional and metric tests."""

from __future__ import annotations

import torch


def power_law_features(
    n: int,
    d: int,
    alpha: float = 1.0,
    *,
    seed: int = 0,
    offset: float = 3.0,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """``n`` Gaussian samples whose covariance has eigenvalues ``λ_k ∝ k^-alpha``.

    The directions are a random rotation (so no feature is special), and every feature gets
    a random mean of size ~``offset`` so that centring matters.
    """
    g = torch.Generator().manual_seed(seed)
    scales = torch.arange(1, d + 1, dtype=torch.float64) ** (-alpha / 2)
    rotation, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    samples = torch.randn(n, d, generator=g, dtype=torch.float64) * scales
    mean = offset * torch.randn(d, generator=g, dtype=torch.float64)
    return (samples @ rotation.T + mean).to(dtype)
