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
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """``n`` Gaussian samples whose covariance has eigenvalues ``λ_k ∝ k^-alpha``.

    The directions are a random rotation (so no feature is special), and every feature gets
    a random mean of size ~``offset`` so that centring matters. Also used by the benchmarks
    (``benchmarks/metrics.py``, ``benchmarks/gpu.py``, ``device=`` there).
    """
    g = torch.Generator(device=device).manual_seed(seed)
    like = {"dtype": torch.float64, "device": device}
    scales = torch.arange(1, d + 1, **like) ** (-alpha / 2)
    rotation, _ = torch.linalg.qr(torch.randn(d, d, generator=g, **like))
    samples = torch.randn(n, d, generator=g, **like) * scales
    mean = offset * torch.randn(d, generator=g, **like)
    return (samples @ rotation.T + mean).to(dtype)
