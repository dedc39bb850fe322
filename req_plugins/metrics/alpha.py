"""α-ReQ as a streaming torchmetrics metric (and its alias ``AlphaMetric``)."""

from torch import Tensor

from req_plugins.functional.spectrum import (
    AlphaFit,
    _check_fit_range,
    alpha_from_eigenvalues,
    eigenvalues_from_moments,
)
from req_plugins.metrics._moments import _FeatureMomentsMetric


class AlphaReQ(_FeatureMomentsMetric):
    r"""Eigenspectrum decay α of the features' covariance (α-ReQ, Agrawal et al. 2022).

    Streams :math:`n, \sum f, \sum ff^T` in float64 (O(D²) memory, sum-reduced across DDP
    processes); ``compute()`` forms the covariance
    :math:`\frac{1}{n-1}(\sum ff^T - n\mu\mu^T)`, takes its eigenvalues and fits
    :math:`\log\lambda_k = c - \alpha\log k` over ``fit_range`` (see
    :func:`req_plugins.functional.alpha_req`; the defaults reproduce
    ``reptrix.alpha.get_alpha``). α ≈ 1 is the "Goldilocks zone"; α ≫ 1 signals collapse,
    α ≪ 1 a noisy, too-flat spectrum.

    Args:
        fit_range: 0-based ``(start, stop)`` eigenvalue indices fitted (ranks start+1..stop),
            clipped to the eigenvalues that exist and are > 0.
        weighted: weighted least squares with :math:`w_k = 1/k` (reference) or ordinary
            least squares over the same ``fit_range``.
        center: covariance (reference) or uncentred second moment.
        return_r2: ``compute()`` returns ``AlphaFit(alpha, r2)`` instead of α alone.
        num_features: feature width D (optional, see below).
        validate_args: check every batch for NaN/Inf in ``update`` (one host-device sync
            per batch). Off by default: ``update`` never syncs, and ``compute()`` raises if
            a non-finite value reached the states.
        kwargs: passed to ``torchmetrics.Metric``.

    Without ``num_features`` the states are sized by the first ``update``; under DDP every
    process must then see at least one batch. ``forward`` returns the batch's α with its
    gradient (``is_differentiable``); ``plot()`` draws α (torchmetrics >= 1.0).
    ``AlphaMetric`` is the same class under the name the lightly integration uses.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> features = torch.randn(4000, 256, generator=g) * torch.arange(1, 257) ** -0.5
        >>> metric = AlphaReQ()
        >>> for batch in features.split(500):
        ...     metric.update(batch)
        >>> round(float(metric.compute()), 2)
        1.0
    """

    higher_is_better = None
    # The fitted slope of a descending spectrum is <= 0, so α >= 0.
    plot_lower_bound = 0.0

    def __init__(
        self,
        fit_range: tuple[int, int] = (10, 100),
        weighted: bool = True,
        center: bool = True,
        return_r2: bool = False,
        num_features: int | None = None,
        validate_args: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(num_features=num_features, validate_args=validate_args, **kwargs)
        self.fit_range = _check_fit_range(fit_range)
        self.weighted = weighted
        self.center = center
        self.return_r2 = return_r2

    def compute(self) -> Tensor | AlphaFit:
        """α (float64, 0-dim), or ``AlphaFit(alpha, r2)`` with ``return_r2=True``."""
        eigenvalues = eigenvalues_from_moments(self._moments(), center=self.center)
        fit = alpha_from_eigenvalues(eigenvalues, fit_range=self.fit_range, weighted=self.weighted)
        return fit if self.return_r2 else fit.alpha

    def _plot_value(self, value: object) -> object:
        return value.alpha if isinstance(value, AlphaFit) else value


#: Alias of :class:`AlphaReQ` ("add AlphaMetric to the trainer").
AlphaMetric = AlphaReQ
