"""Input checks shared by the metrics and the losses.

Every public entry point validates its tensors here so that bad input fails
with a ``ValueError`` naming the argument, never deep inside torch.
"""

from __future__ import annotations

import torch
from torch import Tensor


def check_tensor(value: object, name: str) -> Tensor:
    """Return ``value`` if it is a floating-point tensor, else raise naming ``name``."""
    if not isinstance(value, Tensor):
        raise ValueError(f"`{name}` must be a torch.Tensor, got {type(value).__name__}.")
    if not value.is_floating_point():
        raise ValueError(f"`{name}` must be a real floating-point tensor, got dtype {value.dtype}.")
    return value


def check_finite(value: Tensor, name: str) -> None:
    """Raise if ``value`` holds NaN or Inf."""
    if not bool(torch.isfinite(value).all()):
        n_bad = int((~torch.isfinite(value)).sum())
        raise ValueError(f"`{name}` contains {n_bad} non-finite value(s) (NaN or Inf).")


def as_features(value: object, name: str, *, min_samples: int = 2) -> Tensor:
    """Validate a batch of features and flatten it to ``(N, D)``.

    Accepts any tensor with a leading sample dimension and at least one feature
    dimension; extra dimensions are flattened per sample.
    """
    features = check_tensor(value, name)
    if features.ndim < 2:
        raise ValueError(
            f"`{name}` must have shape (N, D) or (N, ...) with a sample dimension first, "
            f"got a {features.ndim}-d tensor of shape {tuple(features.shape)}."
        )
    if features.shape[0] < min_samples:
        raise ValueError(
            f"`{name}` needs at least {min_samples} samples along dim 0, got {features.shape[0]}."
        )
    features = features.reshape(features.shape[0], -1)
    if features.shape[1] < 1:
        raise ValueError(f"`{name}` has no feature dimensions: shape {tuple(value.shape)}.")
    check_finite(features, name)
    return features


def check_choice(value: object, name: str, choices: tuple) -> None:
    """Raise if ``value`` is not one of ``choices``."""
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {choices}, got {value!r}.")
