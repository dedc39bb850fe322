"""Matrix mutual information I(R;Z) (order-2 matrix Rényi entropies) as a streaming metric."""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric

from req_plugins._validation import check_int
from req_plugins.functional.information import (
    _check_pair,
    _entropy_from_sums,
    _joint_entropy,
    _joint_statistics,
    _JointStatistics,
)
from req_plugins.metrics._moments import _check_width, _lazy_state


class MatrixMutualInformation(Metric):
    r"""Matrix mutual information :math:`I(R;Z) = H_2(A) + H_2(B) - H_2(C)`, streamed.

    R (e.g. backbone features) and Z (e.g. projector outputs) of the same inputs are
    row-normalised; see :mod:`req_plugins.functional.information` for the formulas.

    * :math:`H_2(A) = -\log(\|\sum_i \hat r_i \hat r_i^T\|_F^2 / n^2)` and likewise
      :math:`H_2(B)` come from the summed ``d × d`` second moments: exact over all n samples.
    * The joint term needs pairwise products :math:`k_{ij} = (\hat r_i\cdot\hat r_j)
      (\hat z_i\cdot\hat z_j)`. Each ``update`` forms the pairs within its batch (among its
      first ``max_samples`` rows if given, bounding the O(batch²) cost); ``compute()`` scales
      their mean :math:`k_{ij}^2` to all :math:`n(n-1)` pairs. For shuffled batches that
      mean is unbiased for the all-pairs mean, so the value does not drift with the batch
      size (its variance does); with a single ``update`` the result equals
      :func:`req_plugins.functional.matrix_mutual_information` on that batch exactly.

    All states are float64 sums (memory O(d₁² + d₂²), independent of n), so DDP sums
    reproduce the single-process value for the same batches.

    Args:
        max_samples: cap on the rows of each batch used for the joint term (``>= 2``).
        num_features_r: width d₁ of R (optional; sizes the states up front).
        num_features_z: width d₂ of Z (optional). Without the widths the states are sized
            by the first ``update``, and every DDP process must see at least one batch.
        kwargs: passed to ``torchmetrics.Metric``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> r = torch.randn(512, 8, generator=g)
        >>> z = r @ torch.randn(8, 8, generator=g)
        >>> metric = MatrixMutualInformation()
        >>> metric.update(r, z)
        >>> round(float(metric.compute()), 2)
        0.52
    """

    is_differentiable = False
    higher_is_better = None
    full_state_update = False

    count: Tensor
    r_trace: Tensor
    z_trace: Tensor
    r_second_moment: Tensor
    z_second_moment: Tensor
    joint_trace: Tensor
    joint_diagonal_square_sum: Tensor
    joint_pair_square_sum: Tensor
    joint_pair_count: Tensor

    def __init__(
        self,
        max_samples: int | None = None,
        num_features_r: int | None = None,
        num_features_z: int | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if max_samples is not None:
            check_int(max_samples, "max_samples", min_value=2)
        for value, name in ((num_features_r, "num_features_r"), (num_features_z, "num_features_z")):
            if value is not None:
                check_int(value, name, min_value=1)
        self.max_samples = max_samples
        for name, width in (("r", num_features_r), ("z", num_features_z)):
            self.add_state(f"{name}_trace", _lazy_state(()), dist_reduce_fx="sum")
            shape = None if width is None else (width, width)
            self.add_state(f"{name}_second_moment", _lazy_state(shape), dist_reduce_fx="sum")
        for name in _JointStatistics._fields:
            self.add_state(f"joint_{name}", _lazy_state(()), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")

    def update(self, r: Tensor, z: Tensor) -> None:
        """Add a batch: ``r`` ``(N, d₁)`` and ``z`` ``(N, d₂)`` for the same N inputs."""
        r_unit, z_unit = _check_pair(r, z)
        _check_width(self.r_second_moment, r_unit.shape[1], "r", "features per sample")
        _check_width(self.z_second_moment, z_unit.shape[1], "z", "features per sample")
        for name, unit in (("r", r_unit), ("z", z_unit)):
            second_moment = getattr(self, f"{name}_second_moment")
            if second_moment.ndim == 0:  # sized by the first update (no `num_features_*`)
                second_moment = unit.new_zeros(unit.shape[1], unit.shape[1])
                setattr(self, f"{name}_second_moment", second_moment)
            second_moment.addmm_(unit.T, unit)  # in place: no d×d temporaries
            getattr(self, f"{name}_trace").add_(unit.square().sum())
        self.count += r_unit.shape[0]
        joint = _joint_statistics(r_unit, z_unit, self.max_samples)
        for name, value in zip(_JointStatistics._fields, joint, strict=True):
            getattr(self, f"joint_{name}").add_(value)

    def compute(self) -> Tensor:
        """I(R;Z) in nats (float64, 0-dim)."""
        if not bool(self.joint_pair_count > 0):
            raise ValueError(
                "MatrixMutualInformation needs at least one batch of >= 2 samples before "
                f"`compute()` (got {int(self.count)} samples): call `update(r, z)` first."
            )
        entropy_r = _entropy_from_sums(self.r_trace, self.r_second_moment.square().sum(), "r")
        entropy_z = _entropy_from_sums(self.z_trace, self.z_second_moment.square().sum(), "z")
        joint = _JointStatistics(*(getattr(self, f"joint_{f}") for f in _JointStatistics._fields))
        return entropy_r + entropy_z - _joint_entropy(self.count, joint)
