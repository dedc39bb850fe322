"""Effective rank (RankMe) as a streaming torchmetrics metric."""

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
        validate_args: check every batch for NaN/Inf in ``update`` (one host-device sync
            per batch). Off by default: ``update`` never syncs, and ``compute()`` raises if
            a non-finite value reached the states.
        kwargs: passed to ``torchmetrics.Metric``.

    ``forward`` returns the batch's effective rank with its gradient; ``plot()`` draws it
    (torchmetrics >= 1.0) between 0 and, with ``normalized=True``, 1.

    Example:
        >>> import torch
        >>> metric = EffectiveRank(eps=0.0)
        >>> metric.update(torch.eye(4)[:2])
        >>> metric.update(torch.eye(4)[2:])
        >>> round(float(metric.compute()), 6)
        4.0
    """

    higher_is_better = True
    plot_lower_bound = 0.0

    @property
    def plot_upper_bound(self) -> float | None:
        return 1.0 if self.normalized else None

    def __init__(
        self,
        center: bool = False,
        spectrum: str = "singular",
        eps: float = 1e-7,
        normalized: bool = False,
        num_features: int | None = None,
        validate_args: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(num_features=num_features, validate_args=validate_args, **kwargs)
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
