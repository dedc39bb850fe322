"""Effective rank (RankMe) as a streaming torchmetrics metric."""

from __future__ import annotations

from torch import Tensor

from req_plugins._validation import check_choice, check_number
from req_plugins.functional.spectrum import (
    _SPECTRA,
    _check_nonzero_spectrum,
    effective_rank_from_spectrum,
    eigenvalues_from_moments,
)
from req_plugins.metrics._moments import _FeatureMomentsMetric


class EffectiveRank(_FeatureMomentsMetric):
    r"""Effective rank (Roy & Vetterli 2007) = RankMe (Garrido et al. 2023), streamed.

    .. math:: p_k = \frac{\sigma_k}{\sum_j \sigma_j} + \varepsilon, \qquad
              \text{erank} = \exp\Big(-\sum_k p_k \log p_k\Big)

    The singular values :math:`\sigma_k` of the (uncentred by default) feature matrix are
    the square roots of the eigenvalues of :math:`\sum ff^T`, which is streamed in float64
    (O(D²) memory, sum-reduced across DDP processes); the top :math:`\min(n, D)` are used,
    as an SVD would. Same options as :func:`req_plugins.functional.effective_rank`.

    Args:
        center: use the covariance instead of the uncentred second moment.
        spectrum: ``"singular"`` (RankMe) or ``"eigen"`` (``reptrix.rankme`` with ``center``).
        eps: the :math:`\varepsilon` added to every :math:`p_k` (RankMe: 1e-7).
        normalized: divide by :math:`\min(n, D)`.
        num_features: feature width D (optional; without it the states are sized by the
            first ``update`` and every DDP process must see at least one batch).
        kwargs: passed to ``torchmetrics.Metric``.

    Example:
        >>> import torch
        >>> metric = EffectiveRank(eps=0.0)
        >>> metric.update(torch.eye(4)[:2])
        >>> metric.update(torch.eye(4)[2:])
        >>> round(float(metric.compute()), 6)
        4.0
    """

    higher_is_better = True

    def __init__(
        self,
        center: bool = False,
        spectrum: str = "singular",
        eps: float = 1e-7,
        normalized: bool = False,
        num_features: int | None = None,
        **kwargs,
    ) -> None:
        super().__init__(num_features=num_features, **kwargs)
        check_choice(spectrum, "spectrum", _SPECTRA)
        self.center = center
        self.spectrum = spectrum
        self.eps = check_number(eps, "eps", min_value=0.0)
        self.normalized = normalized

    def compute(self) -> Tensor:
        """Effective rank (float64, 0-dim)."""
        values = eigenvalues_from_moments(self._moments(), center=self.center)
        if self.spectrum == "singular":
            values = values.sqrt()
        _check_nonzero_spectrum(values, self.center)
        return effective_rank_from_spectrum(values, eps=self.eps, normalized=self.normalized)
