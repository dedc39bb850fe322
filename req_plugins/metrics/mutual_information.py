"""Matrix mutual information I(R;Z) (order-2 matrix Rényi entropies) as a torchmetrics metric."""

# No `from __future__ import annotations`: torch.jit.script reads the state annotations.

import torch
from torch import Tensor

from req_plugins._validation import check_choice, check_int
from req_plugins.functional.information import (
    ESTIMATORS,
    _check_pair,
    _check_same_samples,
    _covariance_mutual_information,
    _gram_mutual_information,
)
from req_plugins.metrics._base import RepresentationMetric
from req_plugins.metrics._moments import _check_width, _lazy_state


def _order_free_subset(r_unit: Tensor, z_unit: Tensor, size: int, seed: int) -> Tensor:
    """Indices of a seeded uniform random subset of ``size`` rows that does not depend on
    the order of the rows: the rows are first put in a canonical order (by a fixed random
    projection of (r, z); ties have probability 0), then a seeded permutation picks."""
    g = torch.Generator().manual_seed(seed)
    projection_r = torch.randn(r_unit.shape[1], generator=g, dtype=torch.float64)
    projection_z = torch.randn(z_unit.shape[1], generator=g, dtype=torch.float64)
    key = r_unit @ projection_r.to(r_unit.device) + z_unit @ projection_z.to(z_unit.device)
    canonical = key.argsort()
    pick = torch.randperm(r_unit.shape[0], generator=g)[:size].to(canonical.device)
    return canonical[pick]


class MatrixMutualInformation(RepresentationMetric):
    r"""Matrix mutual information :math:`I(R;Z) = H_2(A) + H_2(B) - H_2(C)` over all samples.

    R (e.g. backbone features) and Z (e.g. projector outputs) of the same inputs are
    row-normalised; see :mod:`req_plugins.functional.information` for the formulas, the two
    estimators and what a negative value means (values are not clamped).

    * ``estimator="covariance"`` — the AdaDim paper's analysis estimator (appendix A.3,
      after Tan et al. 2023): d×d normalised covariance matrices, needs ``d₁ = d₂``. The
      states are the sums :math:`\sum_i \hat r_i\hat r_i^T`, :math:`\sum_i \hat z_i\hat z_i^T`
      (float64, O(d²), sum-reduced), so streaming and DDP are exact: the value equals the
      functional on all samples whatever the batches and their order. Differentiable:
      ``forward`` returns the batch value with its gradient. It is built from each space
      alone and never sees which z belongs to which r (see the caveat in
      :mod:`req_plugins.functional.information`): use it to reproduce the paper's analysis;
      the Gram estimator is the one that tracks the dependence of R and Z.
    * ``estimator="gram"`` (default, = :func:`~req_plugins.functional.matrix_mutual_information`'s
      default and AdaDim's loss term): N×N sample Gram matrices, any widths. Its joint term
      sums over all *pairs* of samples, which no per-batch sum can give: estimating it from
      the pairs within each batch makes the value depend on which samples share a batch
      (class-sorted held-out data inflates it many-fold). So this estimator does not
      stream: ``update`` keeps the (detached) inputs — memory O(N·(d₁ + d₂)), gathered
      across DDP processes — and ``compute()`` evaluates all pairs in blocks (exact,
      O(N²) time). With ``max_samples`` the joint term uses the pairs of a random subset
      of that many samples, drawn with ``seed`` after putting the samples in a canonical
      order, so the value does not depend on the order of the samples or batches either.
      Not differentiable (stored inputs never keep a graph).

    Args:
        estimator: ``"gram"`` or ``"covariance"``.
        max_samples: Gram estimator: cap on the samples whose pairs form the joint term.
        seed: Gram estimator with ``max_samples``: seed of the subset.
        num_features_r: width d₁ of R (optional; sizes the covariance states up front).
        num_features_z: width d₂ of Z (optional). Without the widths the covariance states
            are sized by the first ``update``, and every DDP process must see at least one
            batch (with either estimator).
        validate_args: check every batch for NaN/Inf in ``update`` (one host-device sync
            per batch). Off by default: ``update`` never syncs, and ``compute()`` raises if
            a non-finite value reached the states.
        kwargs: passed to ``torchmetrics.Metric``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> r = torch.randn(512, 8, generator=g)
        >>> z = r @ torch.randn(8, 8, generator=g)
        >>> metric = MatrixMutualInformation(estimator="covariance")
        >>> for r_batch, z_batch in zip(r.split(100), z.split(100)):
        ...     metric.update(r_batch, z_batch)
        >>> round(float(metric.compute()), 2)
        1.6
        >>> gram = MatrixMutualInformation()  # the N×N estimator, on all 512 samples
        >>> gram.update(r, z)
        >>> round(float(gram.compute()), 2)
        0.52
    """

    higher_is_better = None
    full_state_update = False

    count: Tensor
    r_second_moment: Tensor
    z_second_moment: Tensor
    r_features: list[Tensor]
    z_features: list[Tensor]

    @property
    def is_differentiable(self) -> bool:
        return self.estimator == "covariance"

    def __init__(
        self,
        estimator: str = "gram",
        max_samples: int | None = None,
        seed: int = 0,
        num_features_r: int | None = None,
        num_features_z: int | None = None,
        validate_args: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(validate_args=validate_args, **kwargs)
        check_choice(estimator, "estimator", ESTIMATORS)
        if max_samples is not None:
            check_int(max_samples, "max_samples", min_value=2)
            if estimator != "gram":
                raise ValueError(
                    "`max_samples` subsamples the pairs of the Gram estimator; "
                    "estimator='covariance' always uses every sample exactly."
                )
        check_int(seed, "seed", min_value=0)
        for value, name in ((num_features_r, "num_features_r"), (num_features_z, "num_features_z")):
            if value is not None:
                check_int(value, name, min_value=1)
        if estimator == "covariance" and None not in (num_features_r, num_features_z):
            if num_features_r != num_features_z:
                raise ValueError(
                    "estimator='covariance' needs R and Z of the same width: "
                    f"`num_features_r`={num_features_r}, `num_features_z`={num_features_z}."
                )
        self.estimator = estimator
        self.max_samples = max_samples
        self.seed = seed
        self.add_state("count", torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")
        if estimator == "covariance":
            for name, width in (("r", num_features_r), ("z", num_features_z)):
                shape = None if width is None else (width, width)
                self.add_state(f"{name}_second_moment", _lazy_state(shape), dist_reduce_fx="sum")
        else:
            self.add_state("r_features", [], dist_reduce_fx="cat")
            self.add_state("z_features", [], dist_reduce_fx="cat")

    def update(self, r: Tensor, z: Tensor) -> None:
        """Add a batch: ``r`` ``(N, d₁)`` and ``z`` ``(N, d₂)`` for the same N inputs.

        No host-device sync: shapes, dtypes and devices are checked, values only with
        ``validate_args=True``.
        """
        r_flat, z_flat = self._features(r, "r"), self._features(z, "z")
        if self.estimator == "gram":
            _check_same_samples(r_flat, z_flat)
            for name, stored, new in (
                ("r", self.r_features, r_flat),
                ("z", self.z_features, z_flat),
            ):
                if stored and stored[0].shape[1] != new.shape[1]:
                    raise ValueError(
                        f"`{name}` has {new.shape[1]} features per sample, but earlier "
                        f"updates had {stored[0].shape[1]}."
                    )
            self.r_features.append(r_flat.detach())
            self.z_features.append(z_flat.detach())
            self.count += r_flat.shape[0]
            return
        r_unit, z_unit = _check_pair(r_flat, z_flat, "covariance", validate_args=False)
        for name, unit in (("r", r_unit), ("z", z_unit)):
            second_moment = getattr(self, f"{name}_second_moment")
            _check_width(second_moment, unit.shape[1], name, "features per sample")
            if second_moment.ndim == 0:  # sized by the first update (no `num_features_*`)
                width = unit.shape[1]
                second_moment = unit.new_zeros(width, width, dtype=second_moment.dtype)
                setattr(self, f"{name}_second_moment", second_moment)
            unit = unit.to(second_moment.dtype)
            second_moment.addmm_(unit.T, unit)  # in place: no d×d temporaries
        self.count += r_unit.shape[0]

    def compute(self) -> Tensor:
        """I(R;Z) in nats (float64, 0-dim)."""
        if int(self.count) < 2:
            raise ValueError(
                f"MatrixMutualInformation needs at least 2 samples in total before `compute()` "
                f"(got {int(self.count)}): call `update(r, z)` first."
            )
        if self.estimator == "covariance":
            self._check_finite_states("r_second_moment", "z_second_moment")
            return _covariance_mutual_information(self.r_second_moment, self.z_second_moment)
        self._check_finite_states("r_features", "z_features")
        r = self.r_features if isinstance(self.r_features, Tensor) else torch.cat(self.r_features)
        z = self.z_features if isinstance(self.z_features, Tensor) else torch.cat(self.z_features)
        r_unit, z_unit = _check_pair(r, z, "gram", validate_args=False)
        pair_rows = None
        if self.max_samples is not None and self.max_samples < r_unit.shape[0]:
            pair_rows = _order_free_subset(r_unit, z_unit, self.max_samples, self.seed)
        return _gram_mutual_information(r_unit, z_unit, pair_rows)
