r"""LiDAR (Thilak et al. 2023) as a streaming torchmetrics metric over objects × augmentations."""

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from req_plugins._validation import check_choice, check_finite, check_int, check_number
from req_plugins.functional.lidar import (
    VARIANTS,
    _within_and_means,
    lidar_from_scatter,
    views_shape_checked,
)
from req_plugins.metrics._base import RepresentationMetric
from req_plugins.metrics._moments import _check_width, _lazy_state


class LiDAR(RepresentationMetric):
    r"""LiDAR (Thilak et al. 2023): effective rank of the LDA matrix of objects × augmentations.

    .. math:: \Sigma_b = \sum_o (\mu_o - \mu)(\mu_o - \mu)^T, \qquad
              \Sigma_w = \frac{1}{n}\sum_o \sum_a (x_{oa} - \mu_o)(x_{oa} - \mu_o)^T
              + \delta I,

    LiDAR is the effective rank :math:`\exp(-\sum_k p_k\log p_k)`,
    :math:`p_k = \lambda_k/\sum_j\lambda_j + \varepsilon`, of the eigenvalues of
    :math:`\Sigma_w^{-1/2}\Sigma_b\Sigma_w^{-1/2}` (see :func:`req_plugins.functional.lidar`,
    whose ``variant="reptrix"`` reproduces ``reptrix.lidar.get_lidar``). Higher is better.

    ``update(views)`` takes the embeddings of a batch of objects, an
    ``(n_objects, n_augmentations, D)`` tensor or a list of ``n_augmentations >= 2`` views
    ``(n_objects, D)`` (row ``o`` of every view is object ``o``). Every quantity is a sum
    over objects, so the metric streams the float64 states ``num_objects`` (n),
    ``object_mean_sum`` (:math:`\sum_o\mu_o`), ``object_mean_outer``
    (:math:`\sum_o\mu_o\mu_o^T`) and ``within_scatter``
    (:math:`\sum_o\sum_a(x_{oa}-\mu_o)(x_{oa}-\mu_o)^T`, centred per object in the batch):
    O(D²) memory whatever n, and summing them over DDP processes gives exactly the
    statistics of all objects. The number of augmentations may differ between updates.
    ``forward`` returns the batch's LiDAR with its gradient (``variant="paper"``); the
    accumulated states never keep one. The states stay float64 (``set_dtype`` is a no-op).

    Args:
        delta: :math:`\delta` (paper: 1e-6).
        eps: :math:`\varepsilon` (paper/reptrix: 1e-7).
        variant: ``"paper"`` (eigenvalues, default) or ``"reptrix"`` (``get_lidar``).
        max_eigenvalues: keep only the largest this many values (default: all for
            ``"paper"``, 2048 for ``"reptrix"``).
        num_features: D (optional; without it the states are sized by the first ``update``
            and every DDP process must see at least one batch).
        validate_args: check every batch for NaN/Inf in ``update`` (one host-device sync
            per batch). Off by default: ``update`` never syncs, and ``compute()`` raises if
            a non-finite value reached the states. Shapes are always checked.
        kwargs: passed to ``torchmetrics.Metric``.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> objects = torch.randn(200, 1, 8, generator=g)
        >>> views = objects + 0.1 * torch.randn(200, 4, 8, generator=g)
        >>> metric = LiDAR()
        >>> for batch in views.split(50):
        ...     metric.update(batch)
        >>> round(float(metric.compute()), 2)
        7.78
    """

    is_differentiable = True
    higher_is_better = True
    full_state_update = False

    num_objects: Tensor
    object_mean_sum: Tensor
    object_mean_outer: Tensor
    within_scatter: Tensor

    def __init__(
        self,
        delta: float = 1e-6,
        eps: float = 1e-7,
        variant: str = "paper",
        max_eigenvalues: int | None = None,
        num_features: int | None = None,
        validate_args: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(validate_args=validate_args, **kwargs)
        check_choice(variant, "variant", VARIANTS)
        self.delta = check_number(delta, "delta", min_value=0.0, strict_min=True)
        self.eps = check_number(eps, "eps", min_value=0.0)
        self.variant = variant
        if max_eigenvalues is not None:
            check_int(max_eigenvalues, "max_eigenvalues", min_value=1)
        self.max_eigenvalues = max_eigenvalues
        if num_features is not None:
            check_int(num_features, "num_features", min_value=1)
        self.num_features = num_features
        d = num_features
        self.add_state("num_objects", torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")
        self.add_state(
            "object_mean_sum", _lazy_state(None if d is None else (d,)), dist_reduce_fx="sum"
        )
        for name in ("object_mean_outer", "within_scatter"):
            self.add_state(name, _lazy_state(None if d is None else (d, d)), dist_reduce_fx="sum")

    def update(self, views: Tensor | Sequence[Tensor]) -> None:
        """Add the embeddings of a batch of objects, ``(n, k, D)`` or ``k`` views ``(n, D)``.

        No host-device sync: shapes and dtypes are checked, values only with
        ``validate_args=True``.
        """
        x = views_shape_checked(views)
        if self.validate_args:
            check_finite(x, "views")
        x = x.to(torch.float64)
        width = x.shape[2]
        if self.within_scatter.ndim == 0:  # sized by the first update (no `num_features`)
            self.object_mean_sum = x.new_zeros(width)
            self.object_mean_outer = x.new_zeros(width, width)
            self.within_scatter = x.new_zeros(width, width)
        _check_width(self.within_scatter, width, "views", "features per view")
        object_means, within = _within_and_means(x)
        self.num_objects += x.shape[0]
        self.object_mean_sum += object_means.sum(dim=0)
        self.object_mean_outer.addmm_(object_means.T, object_means)
        self.within_scatter += within

    def compute(self) -> Tensor:
        """LiDAR (float64, 0-dim)."""
        n = int(self.num_objects)
        if n < 2:
            raise ValueError(
                f"LiDAR needs at least 2 objects in total before `compute()`, got {n}: call "
                "`update(views)` with views of shape (n_objects, n_augmentations, D) first."
            )
        self._check_finite_states("object_mean_sum", "object_mean_outer", "within_scatter")
        mean = self.object_mean_sum / n
        between = self.object_mean_outer - n * torch.outer(mean, mean)
        return lidar_from_scatter(
            between,
            self.within_scatter / n,
            delta=self.delta,
            eps=self.eps,
            variant=self.variant,
            max_eigenvalues=self.max_eigenvalues,
        )

    def set_dtype(self, dst_type: str | torch.dtype) -> "LiDAR":
        """Keep the float64 sums: a lower precision would only lose digits. No-op."""
        return self
