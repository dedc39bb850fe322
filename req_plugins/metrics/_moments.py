"""Streaming feature statistics shared by the spectrum metrics.

:class:`AlphaReQ` and :class:`EffectiveRank` keep the same sum-reduced float64 states
``count`` (n), ``total`` (Σf) and ``second_moment`` (Σffᵀ): memory is O(D²) whatever the
number of samples, summing the states over DDP processes gives exactly the statistics of
the union, and a ``torchmetrics.MetricCollection`` with ``compute_groups`` (its default)
sees that the states coincide and updates them once for both metrics.
"""

# No `from __future__ import annotations` in the metric modules: torch.jit.script reads
# the class-level state annotations (`count: Tensor`) and cannot resolve strings.

import torch
from torch import Tensor

from req_plugins._validation import check_int
from req_plugins.functional.spectrum import FeatureMoments
from req_plugins.metrics._base import RepresentationMetric


def _lazy_state(shape: tuple[int, ...] | None) -> Tensor:
    """Zero float64 state of ``shape``, or a 0-dim placeholder that the first update resizes."""
    return torch.zeros(shape if shape is not None else (), dtype=torch.float64)


def _check_width(state: Tensor, width: int, name: str, what: str) -> None:
    """Raise if a (possibly lazily sized) state was sized for a different feature width."""
    if state.ndim > 0 and state.shape[0] != width:
        raise ValueError(
            f"`{name}` has {width} {what}, but this metric was sized for {state.shape[0]} "
            f"(by `num_features` or earlier updates)."
        )


class _FeatureMomentsMetric(RepresentationMetric):
    """Accumulates ``n, Σf, Σffᵀ`` of the features passed to ``update`` (float64, sum-reduced).

    The states are float64 unless ``set_dtype`` changes them; ``update`` accumulates in the
    states' dtype. ``forward`` returns the batch value with its gradient (the accumulated
    states never keep one).

    Args:
        num_features: feature width D. Optional: without it the states are sized by the
            first ``update`` — then every DDP process must see at least one batch.
        validate_args: see :class:`~req_plugins.metrics._base.RepresentationMetric`.
        kwargs: passed to ``torchmetrics.Metric`` (e.g. ``sync_on_compute``).
    """

    is_differentiable = True
    full_state_update = False

    count: Tensor
    total: Tensor
    second_moment: Tensor

    def __init__(
        self, num_features: int | None = None, validate_args: bool = False, **kwargs
    ) -> None:
        super().__init__(validate_args=validate_args, **kwargs)
        if num_features is not None:
            check_int(num_features, "num_features", min_value=1)
        self.num_features = num_features
        d = num_features
        self.add_state("count", torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")
        self.add_state("total", _lazy_state(None if d is None else (d,)), dist_reduce_fx="sum")
        self.add_state(
            "second_moment", _lazy_state(None if d is None else (d, d)), dist_reduce_fx="sum"
        )

    def update(self, features: Tensor) -> None:
        """Add a batch ``(N, D)`` (extra dims flattened per sample; any float dtype).

        No host-device sync: shapes and dtypes are checked, values only with
        ``validate_args=True``.
        """
        x = self._features(features, "features").to(self.second_moment.dtype)
        width = x.shape[1]
        if self.second_moment.ndim == 0:  # sized by the first update (no `num_features`)
            self.total = x.new_zeros(width)
            self.second_moment = x.new_zeros(width, width)
        _check_width(self.second_moment, width, "features", "features per sample")
        # In place: no D×D temporaries, and compute-group members keep sharing the tensors.
        self.count += x.shape[0]
        self.total += x.sum(dim=0)
        self.second_moment.addmm_(x.T, x)

    def _moments(self) -> FeatureMoments:
        if int(self.count) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 samples in total before `compute()`, "
                f"got {int(self.count)}: call `update(features)` first."
            )
        self._check_finite_states("total", "second_moment")
        return FeatureMoments(self.count, self.total, self.second_moment)
