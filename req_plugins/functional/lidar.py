r"""LiDAR (Thilak et al. 2023): the effective rank of the linear-discriminant-analysis matrix.

Embeddings of ``n`` objects, each seen under ``k`` augmentations, arrive as one tensor of
shape ``(n, k, D)`` (extra trailing dims are flattened per view) or as a list of ``k``
views of shape ``(n, D)`` whose row ``o`` is always object ``o``.
With object means :math:`\mu_o` (over its ``k`` augmentations) and their mean :math:`\mu`:

* between-object scatter :math:`\Sigma_b = \sum_o (\mu_o - \mu)(\mu_o - \mu)^T`,
* within-object scatter
  :math:`\Sigma_w = \frac{1}{n}\sum_o \sum_a (x_{oa} - \mu_o)(x_{oa} - \mu_o)^T + \delta I`,
* :math:`\Sigma_{lidar} = \Sigma_w^{-1/2}\,\Sigma_b\,\Sigma_w^{-1/2}`, and LiDAR is the
  effective rank :math:`\exp(-\sum_k p_k \log p_k)`, :math:`p_k = \lambda_k/\sum_j
  \lambda_j + \varepsilon` of its eigenvalues :math:`\lambda_k`.

The scatter matrices are sums over objects, which is what lets
:class:`req_plugins.metrics.LiDAR` stream them with O(D²) memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from req_plugins._validation import (
    check_choice,
    check_finite,
    check_int,
    check_number,
    check_tensor,
)
from req_plugins.functional.spectrum import _descending_eigenvalues, effective_rank_from_spectrum

VARIANTS = ("paper", "reptrix")
"""``"paper"``: eigenvalues of Σ_lidar (Thilak et al. 2023). ``"reptrix"``: as
``reptrix.lidar.get_lidar`` — PCA explained-variance ratios of Σ_lidar's centred rows."""

_REPTRIX_MAX_EIGENVALUES = 2048  # get_lidar's default `max_eigenvals`


def views_shape_checked(views: object, name: str = "views") -> Tensor:
    """``views`` as an ``(n, k, D)`` tensor: dtype and shape checks only (no host sync).

    Accepts an ``(n, k, ...)`` tensor or a list/tuple of ``k`` tensors ``(n, ...)``.
    """
    if isinstance(views, (list, tuple)):
        if len(views) < 2:
            raise ValueError(f"`{name}` must hold at least 2 views, got {len(views)}.")
        tensors = [check_tensor(v, f"{name}[{i}]") for i, v in enumerate(views)]
        first = tensors[0]
        for i, view in enumerate(tensors[1:], start=1):
            if view.shape != first.shape or view.dtype != first.dtype:
                raise ValueError(
                    f"every view in `{name}` must have the shape and dtype of `{name}[0]` "
                    f"({tuple(first.shape)}, {first.dtype}); `{name}[{i}]` has "
                    f"{tuple(view.shape)}, {view.dtype}."
                )
        if first.ndim < 2:
            raise ValueError(
                f"each view in `{name}` must have shape (n, D) or (n, ...), got "
                f"{tuple(first.shape)}."
            )
        x = torch.stack([v.reshape(v.shape[0], -1) for v in tensors], dim=1)
    else:
        x = check_tensor(views, name)
        if x.ndim < 3:
            raise ValueError(
                f"`{name}` must have shape (n_objects, n_augmentations, D) (extra dims "
                f"flattened per view) or be a list of views (n, D), got a {x.ndim}-d tensor "
                f"of shape {tuple(x.shape)}."
            )
        x = x.reshape(x.shape[0], x.shape[1], -1)
    n, k, d = x.shape
    if k < 2:
        raise ValueError(
            f"`{name}` needs at least 2 augmentations per object (dim 1), got {k}: the "
            "within-object scatter of a single view is zero."
        )
    if n < 1 or d < 1:
        raise ValueError(f"`{name}` is empty: shape (n, k, D) = {(n, k, d)}.")
    return x


def _within_and_means(x: Tensor) -> tuple[Tensor, Tensor]:
    """Object means ``(n, D)`` and the summed within-object scatter ``(D, D)`` of ``(n, k, D)``."""
    object_means = x.mean(dim=1)
    centred = (x - object_means.unsqueeze(1)).reshape(-1, x.shape[2])
    return object_means, centred.T @ centred


def lidar_from_scatter(
    between: Tensor,
    within: Tensor,
    *,
    delta: float = 1e-6,
    eps: float = 1e-7,
    variant: str = "paper",
    max_eigenvalues: int | None = None,
) -> Tensor:
    r"""LiDAR from the between-object scatter ``between`` :math:`=\Sigma_b` and the
    mean within-object scatter ``within`` :math:`=\Sigma_w - \delta I` (both ``(D, D)``).

    See :func:`lidar` for the arguments. The ``"paper"`` variant takes the eigenvalues of
    :math:`L^{-1}\Sigma_b L^{-T}` with :math:`\Sigma_w = LL^T` (Cholesky), which has the
    eigenvalues of :math:`\Sigma_w^{-1/2}\Sigma_b\Sigma_w^{-1/2}` and is differentiable.

    Example:
        >>> between = torch.diag(torch.tensor([4.0, 1.0]))
        >>> round(float(lidar_from_scatter(between, torch.eye(2), eps=0.0)), 4)
        1.6494
    """
    check_choice(variant, "variant", VARIANTS)
    delta = check_number(delta, "delta", min_value=0.0, strict_min=True)
    eps = check_number(eps, "eps", min_value=0.0)
    if max_eigenvalues is not None:
        check_int(max_eigenvalues, "max_eigenvalues", min_value=1)
    between = check_tensor(between, "between").to(torch.float64)
    within = check_tensor(within, "within").to(torch.float64)
    d = between.shape[-1]
    for matrix, name in ((between, "between"), (within, "within")):
        if matrix.shape != (d, d):
            raise ValueError(
                f"`{name}` must be a square (D, D) matrix matching `between` ({d}), "
                f"got shape {tuple(matrix.shape)}."
            )
    sigma_w = within + delta * torch.eye(d, dtype=torch.float64, device=within.device)
    if variant == "paper":
        cholesky, info = torch.linalg.cholesky_ex(sigma_w)
        if int(info) != 0:
            raise ValueError(
                "`within` + delta·I is not positive definite: the within-object scatter must "
                "be positive semi-definite (a covariance-like matrix)."
            )
        half = torch.linalg.solve_triangular(cholesky, between, upper=False)
        matrix = torch.linalg.solve_triangular(cholesky, half.T, upper=False)
        values = _descending_eigenvalues((matrix + matrix.T) / 2, d)
        if max_eigenvalues is not None:
            values = values[:max_eigenvalues]
    else:
        # reptrix: Σ_w^{-1/2} by an eigendecomposition, then PCA on the rows of Σ_lidar.
        w, v = torch.linalg.eigh(sigma_w)
        if not bool((w > 0).all()):
            raise ValueError("`within` + delta·I is not positive definite.")
        inv_sqrt = (v * w.rsqrt()) @ v.T
        sigma_lidar = inv_sqrt @ between @ inv_sqrt
        rows = sigma_lidar - sigma_lidar.mean(dim=0)
        values = torch.linalg.svdvals(rows).square()
        values = values[: max_eigenvalues or _REPTRIX_MAX_EIGENVALUES]
    if not bool(values.sum() > 0):
        raise ValueError(
            "the between-object scatter is zero (all objects have the same mean embedding): "
            "LiDAR is undefined."
        )
    return effective_rank_from_spectrum(values, eps=eps)


def lidar(
    views: Tensor | Sequence[Tensor],
    *,
    delta: float = 1e-6,
    eps: float = 1e-7,
    variant: str = "paper",
    max_eigenvalues: int | None = None,
) -> Tensor:
    r"""LiDAR (Thilak et al. 2023, "LiDAR: Sensing Linear Probing Performance in
    Joint Embedding SSL Architectures").

    .. math:: \Sigma_b = \sum_o (\mu_o - \mu)(\mu_o - \mu)^T, \qquad
              \Sigma_w = \frac{1}{n}\sum_o \sum_a (x_{oa} - \mu_o)(x_{oa} - \mu_o)^T
              + \delta I,

    .. math:: \text{LiDAR} = \exp\Big(-\sum_k p_k \log p_k\Big), \qquad
              p_k = \frac{\lambda_k}{\sum_j \lambda_j} + \varepsilon,

    with :math:`\lambda_k` the eigenvalues of
    :math:`\Sigma_{lidar} = \Sigma_w^{-1/2}\Sigma_b\Sigma_w^{-1/2}` (the LDA matrix of the
    objects as classes, their augmentations as samples). Higher is better: the paper finds
    it tracks linear-probe accuracy more closely than RankMe. At most ``min(n - 1, D)``
    eigenvalues are non-zero, so use more objects than feature dimensions.

    ``variant="reptrix"`` reproduces ``reptrix.lidar.get_lidar``, which does *not* take the
    eigenvalues of :math:`\Sigma_{lidar}`: it runs PCA on :math:`\Sigma_{lidar}` as if its
    D rows were samples (centred over rows) and uses the explained-variance ratios, i.e. the
    squared singular values of the row-centred :math:`\Sigma_{lidar}`, keeping the largest
    ``max_eigenvalues`` (default there: 2048). It gives a different, usually smaller number
    (e.g. 15.9 where the paper's definition gives 25.4).

    Args:
        views: ``(n_objects, n_augmentations, D)`` tensor (extra dims flattened per view), or
            a list of ``n_augmentations >= 2`` tensors ``(n_objects, D)``; any float dtype.
        delta: the :math:`\delta` that makes :math:`\Sigma_w` invertible (paper: 1e-6).
        eps: the :math:`\varepsilon` added to every :math:`p_k` (paper/reptrix: 1e-7).
        variant: ``"paper"`` (default) or ``"reptrix"``.
        max_eigenvalues: keep only the largest this many values; default all for
            ``"paper"``, 2048 for ``"reptrix"`` (as ``get_lidar``).

    Returns:
        0-dim float64 tensor. Differentiable with ``variant="paper"``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> objects = torch.randn(200, 1, 8, generator=g)
        >>> views = objects + 0.1 * torch.randn(200, 4, 8, generator=g)
        >>> round(float(lidar(views)), 2)
        7.78
    """
    x = views_shape_checked(views)
    check_finite(x, "views")
    x = x.to(torch.float64)
    if x.shape[0] < 2:
        raise ValueError(f"`views` needs at least 2 objects (dim 0), got {x.shape[0]}.")
    object_means, within_sum = _within_and_means(x)
    centred_means = object_means - object_means.mean(dim=0)
    return lidar_from_scatter(
        centred_means.T @ centred_means,
        within_sum / x.shape[0],
        delta=delta,
        eps=eps,
        variant=variant,
        max_eigenvalues=max_eigenvalues,
    )
