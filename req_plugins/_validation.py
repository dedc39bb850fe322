"""Input checks shared by the metrics and the losses.

Every public entry point validates its tensors here so that bad input fails
with a ``ValueError`` naming the argument, never deep inside torch.
"""

from __future__ import annotations

import math

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
    # Fast path: one reduction (no full-size temporaries) is finite when every entry is;
    # an overflowing sum of finite values falls through to the exact test.
    if bool(torch.isfinite(value.sum())):
        return
    if not bool(torch.isfinite(value).all()):
        n_bad = int((~torch.isfinite(value)).sum())
        raise ValueError(f"`{name}` contains {n_bad} non-finite value(s) (NaN or Inf).")


def assert_finite_async(value: Tensor, name: str) -> None:
    """Queue a device-side check that ``value`` holds no NaN or Inf, without a host sync.

    On CUDA a failure surfaces at the next synchronising call as a device-side assert (the
    CUDA context is then unusable); on the CPU it raises ``RuntimeError`` at once. Works
    under ``torch.compile(fullgraph=True)``. Prefer :func:`check_finite` where a sync is
    acceptable: its error names the argument and counts the bad values.
    """
    torch._assert_async(torch.isfinite(value).all(), f"`{name}` contains NaN or Inf.")


def features_shape_checked(value: object, name: str, *, min_samples: int = 2) -> Tensor:
    """:func:`as_features` without the value check: dtype and shape only, so no host sync."""
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
    return features


def as_features(value: object, name: str, *, min_samples: int = 2) -> Tensor:
    """Validate a batch of features and flatten it to ``(N, D)``.

    Accepts any tensor with a leading sample dimension and at least one feature
    dimension; extra dimensions are flattened per sample. Also checks the values are
    finite, which synchronises with the device (see :func:`features_shape_checked`).
    """
    features = features_shape_checked(value, name, min_samples=min_samples)
    check_finite(features, name)
    return features


def check_choice(value: object, name: str, choices: tuple) -> None:
    """Raise if ``value`` is not one of ``choices``."""
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {choices}, got {value!r}.")


def check_number(
    value: object,
    name: str,
    *,
    min_value: float | None = None,
    max_value: float | None = None,
    strict_min: bool = False,
) -> float:
    """Return ``value`` as a float if it is a finite real number within the bounds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"`{name}` must be a real number, got {type(value).__name__}.")
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be finite, got {value}.")
    if min_value is not None and (value <= min_value if strict_min else value < min_value):
        bound = ">" if strict_min else ">="
        raise ValueError(f"`{name}` must be {bound} {min_value}, got {value}.")
    if max_value is not None and value > max_value:
        raise ValueError(f"`{name}` must be <= {max_value}, got {value}.")
    return float(value)


def check_int(value: object, name: str, *, min_value: int | None = None) -> int:
    """Return ``value`` if it is an integer ``>= min_value``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"`{name}` must be an integer, got {type(value).__name__}.")
    if min_value is not None and value < min_value:
        raise ValueError(f"`{name}` must be >= {min_value}, got {value}.")
    return value


def as_views(
    z_a: object,
    z_b: object = None,
    *,
    max_views: int | None = None,
    check_values: bool = False,
) -> list[Tensor]:
    """Validate the embeddings of m ≥ 2 views, given as ``(z_a, z_b)`` or as one list.

    Every view must be a floating-point ``(N, d)`` tensor with ``N >= 2``, and all views
    must share shape, dtype and device: checks of metadata only, so no host sync.
    ``check_values=True`` also rejects NaN / Inf: eagerly with :func:`check_finite` (a
    ``ValueError`` naming the view; one host sync per view), under ``torch.compile`` with
    :func:`assert_finite_async` (no sync).
    """
    if isinstance(z_a, Tensor):
        if z_b is None:
            raise ValueError(
                "Got a single tensor `z_a` and no `z_b`: pass two views `(z_a, z_b)` "
                "or one list of m >= 2 views."
            )
        views, names = [z_a, z_b], ["z_a", "z_b"]
    elif isinstance(z_a, (list, tuple)):
        if z_b is not None:
            raise ValueError("Pass either two tensors `(z_a, z_b)` or one list of views, not both.")
        views, names = list(z_a), [f"views[{i}]" for i in range(len(z_a))]
    else:
        raise ValueError(
            f"`z_a` must be a tensor or a list of tensors (the views), got {type(z_a).__name__}."
        )
    if len(views) < 2:
        raise ValueError(f"`views` needs at least 2 views, got {len(views)}.")
    if max_views is not None and len(views) > max_views:
        raise ValueError(f"`views` takes at most {max_views} views, got {len(views)}.")
    for view, name in zip(views, names, strict=True):
        check_tensor(view, name)
        if view.ndim != 2:
            raise ValueError(
                f"`{name}` must be a 2-d (N, d) tensor of embeddings, "
                f"got shape {tuple(view.shape)}."
            )
        if view.shape[0] < 2:
            raise ValueError(
                f"`{name}` needs a batch of at least 2 samples (batch statistics), "
                f"got batch size {view.shape[0]}."
            )
    first = views[0]
    for view, name in zip(views[1:], names[1:], strict=True):
        if view.shape != first.shape:
            raise ValueError(
                f"All views must have the same shape: `{names[0]}` has {tuple(first.shape)}, "
                f"`{name}` has {tuple(view.shape)}."
            )
        if view.dtype != first.dtype or view.device != first.device:
            raise ValueError(
                f"All views must share dtype and device: `{names[0]}` is {first.dtype} on "
                f"{first.device}, `{name}` is {view.dtype} on {view.device}."
            )
    if check_values:
        check = assert_finite_async if torch.compiler.is_compiling() else check_finite
        for view, name in zip(views, names, strict=True):
            check(view, name)
    return views
