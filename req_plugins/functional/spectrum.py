"""Eigenspectrum metrics: α (eigenspectrum decay, α-ReQ), effective rank (RankMe) and friends.

Everything is computed in float64 on the input's device, whatever the input dtype.
Two routes lead to the same spectrum:

* from a feature matrix (``eigenspectrum``, ``alpha_req``, ``effective_rank``), and
* from streamed sufficient statistics ``n, Σf, Σffᵀ`` (``feature_moments`` +
  ``eigenvalues_from_moments``), which is what the :mod:`req_plugins.metrics` classes use
  so that memory does not grow with the number of samples and DDP can sum the statistics.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from req_plugins._validation import as_features, check_choice, check_number, check_tensor

_SPECTRA = ("eigen", "singular")
_FLOAT64_EPS = torch.finfo(torch.float64).eps


class AlphaFit(NamedTuple):
    """Result of the power-law fit ``λ_k ∝ k^-α``: the decay ``alpha`` and the fit's ``r2``."""

    alpha: Tensor
    r2: Tensor


class FeatureMoments(NamedTuple):
    """Sufficient statistics of a feature matrix, summed over samples (float64).

    ``count`` = n, ``total`` = Σᵢ fᵢ (shape ``(D,)``), ``second_moment`` = Σᵢ fᵢfᵢᵀ (``(D, D)``).
    Sums of these over disjoint batches (or processes) are the statistics of the union.
    """

    count: Tensor
    total: Tensor
    second_moment: Tensor


def _as_float64_features(features: object, name: str = "features") -> Tensor:
    return as_features(features, name).to(torch.float64)


def _descending_eigenvalues(matrix: Tensor, count: int, cancelled: Tensor | float = 0.0) -> Tensor:
    """Top ``count`` eigenvalues of a symmetric PSD ``matrix``, descending.

    Values within the rounding error of forming and diagonalising the matrix,
    ``size · eps64 · (λ_max + cancelled)`` with ``cancelled`` the size of any term subtracted
    while forming it, are set to exactly 0, so that later logs and square roots do not act
    on numerical noise.
    """
    eigenvalues = torch.linalg.eigvalsh(matrix).flip(0)
    tolerance = matrix.shape[0] * _FLOAT64_EPS * (eigenvalues[0].clamp_min(0) + cancelled)
    eigenvalues = eigenvalues[:count]
    return torch.where(eigenvalues > tolerance, eigenvalues, torch.zeros_like(eigenvalues))


def _check_spectrum(values: object, name: str) -> Tensor:
    values = check_tensor(values, name)
    if values.ndim != 1 or values.numel() == 0:
        raise ValueError(
            f"`{name}` must be a non-empty 1-d tensor of eigenvalues, got shape "
            f"{tuple(values.shape)}."
        )
    if not bool(torch.isfinite(values).all()):
        raise ValueError(f"`{name}` contains non-finite value(s) (NaN or Inf).")
    values = values.to(torch.float64)
    if bool((values < 0).any()) or not bool(values.sum() > 0):
        raise ValueError(
            f"`{name}` must be non-negative with a positive sum (a spectrum), got "
            f"min {float(values.min()):.3g} and sum {float(values.sum()):.3g}."
        )
    return values


def _check_nonzero_spectrum(values: Tensor, center: bool) -> None:
    if not bool(values.sum() > 0):
        what = "constant (zero variance after centring)" if center else "all zero"
        raise ValueError(f"`features` are {what}: the spectrum is zero.")


def feature_moments(features: Tensor) -> FeatureMoments:
    """Sufficient statistics ``(n, Σf, Σffᵀ)`` of ``features`` ``(N, D)`` in float64.

    Example:
        >>> m = feature_moments(torch.tensor([[1.0, 0.0], [1.0, 2.0]]))
        >>> int(m.count), m.total.tolist(), m.second_moment.tolist()
        (2, [2.0, 2.0], [[2.0, 2.0], [2.0, 4.0]])
    """
    x = as_features(features, "features", min_samples=1).to(torch.float64)
    count = torch.tensor(x.shape[0], dtype=torch.int64, device=x.device)
    return FeatureMoments(count, x.sum(dim=0), x.T @ x)


def eigenvalues_from_moments(moments: FeatureMoments, *, center: bool = True) -> Tensor:
    r"""Descending eigenvalues of the covariance (or second moment) from summed statistics.

    ``center=True``: eigenvalues of :math:`\Sigma = \frac{1}{n-1}(\sum f f^T - n\mu\mu^T)`;
    ``center=False``: of :math:`\frac{1}{n}\sum f f^T` (their square roots are the singular
    values of the feature matrix divided by :math:`\sqrt{n}`). Returns the top
    :math:`\min(n, D)` values, numerical zeros set to 0. The centred matrix is formed as
    second moment minus :math:`n\mu\mu^T` in float64; the cancellation this involves costs
    about :math:`\log_{10}(\|\mu\|^2/\lambda_1)` of float64's 16 digits, and the rounding
    threshold accounts for it.

    Example:
        >>> x = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]])
        >>> eigenvalues_from_moments(feature_moments(x))
        tensor([2.6667, 0.6667], dtype=torch.float64)
    """
    count, total, second = moments
    n = int(count)
    minimum = 2 if center else 1
    if n < minimum:
        raise ValueError(f"`moments` must summarise at least {minimum} samples, got {n}.")
    if center:
        mean = total / n
        matrix = (second - n * torch.outer(mean, mean)) / (n - 1)
        # The subtracted rank-one term sets the size of the cancellation error.
        return _descending_eigenvalues(
            matrix, min(n, matrix.shape[0]), cancelled=(n / (n - 1)) * mean.dot(mean)
        )
    return _descending_eigenvalues(second / n, min(n, second.shape[0]))


def eigenspectrum(
    features: Tensor,
    *,
    center: bool = True,
    spectrum: str = "eigen",
    normalize: bool = True,
) -> Tensor:
    r"""Descending spectrum of the features' covariance (or second moment), float64.

    ``spectrum="eigen"``: eigenvalues :math:`\lambda_k` of the covariance
    :math:`\frac{1}{n-1}(F-\bar F)^T(F-\bar F)` (``center=True``) or of the second moment
    :math:`\frac{1}{n}F^TF` (``center=False``); ``spectrum="singular"``: their square roots
    (the singular values of the centred or raw feature matrix, up to a constant factor).
    ``normalize=True`` divides by the sum, so eigenvalues become explained-variance ratios.
    Returns :math:`\min(N, D)` values, as an SVD would (with ``center=True`` at most
    :math:`N-1` are non-zero). Uses the Gram matrix of the smaller side.

    Args:
        features: ``(N, D)`` features (extra dims flattened per sample).
        center: subtract the feature mean first.
        spectrum: ``"eigen"`` or ``"singular"``.
        normalize: divide by the sum of the spectrum.

    Example:
        >>> x = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]])
        >>> eigenspectrum(x)
        tensor([0.8000, 0.2000], dtype=torch.float64)
        >>> eigenspectrum(x, spectrum="singular", normalize=False)
        tensor([1.6330, 0.8165], dtype=torch.float64)
    """
    check_choice(spectrum, "spectrum", _SPECTRA)
    x = _as_float64_features(features)
    n, d = x.shape
    if center:
        x = x - x.mean(dim=0)
    gram = x.T @ x if n >= d else x @ x.T  # same non-zero eigenvalues, smaller matrix
    values = _descending_eigenvalues(gram, min(n, d)) / (n - 1 if center else n)
    if spectrum == "singular":
        values = values.sqrt()
    if normalize:
        _check_nonzero_spectrum(values, center)
        values = values / values.sum()
    return values


def _check_fit_range(fit_range: object) -> tuple[int, int]:
    if (
        not isinstance(fit_range, (tuple, list))
        or len(fit_range) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in fit_range)
    ):
        raise ValueError(
            f"`fit_range` must be a pair of ints (start, stop) of 0-based eigenvalue indices, "
            f"got {fit_range!r}."
        )
    start, stop = fit_range
    if not 0 <= start < stop:
        raise ValueError(f"`fit_range` must satisfy 0 <= start < stop, got {tuple(fit_range)}.")
    return start, stop


def alpha_from_eigenvalues(
    eigenvalues: Tensor,
    *,
    fit_range: tuple[int, int] = (10, 100),
    weighted: bool = True,
) -> AlphaFit:
    r"""Fit :math:`\log\lambda_k = c - \alpha \log k` over a range of ranks; return α and R².

    ``fit_range=(start, stop)`` are 0-based indices into the descending eigenvalues, i.e.
    ranks :math:`k = \text{start}+1, \dots, \text{stop}`, clipped to the eigenvalues that
    exist and are > 0; fewer than 3 usable points raise ``ValueError``. ``weighted=True`` is
    weighted least squares with :math:`w_k = 1/k` (``reptrix.alpha.get_alpha``, after
    Stringer et al. 2018); ``weighted=False`` is ordinary (unweighted) least squares over the
    same ``fit_range`` — still reptrix's ranks 11–100 unless you pass another range.
    ``r2`` is the unweighted coefficient of determination of the fitted line on the fitted
    points (``sklearn.metrics.r2_score``). The spectrum's scale does not matter.

    Example:
        >>> fit = alpha_from_eigenvalues(torch.arange(1.0, 201.0) ** -1.5)
        >>> round(float(fit.alpha), 6), round(float(fit.r2), 6)
        (1.5, 1.0)
    """
    values = _check_spectrum(eigenvalues, "eigenvalues")
    start, stop = _check_fit_range(fit_range)
    usable = int((values > 0).sum())  # descending, so the usable values are a prefix
    stop = min(stop, usable)
    if stop - start < 3:
        raise ValueError(
            f"`fit_range`={tuple(fit_range)} leaves {max(stop - start, 0)} usable eigenvalue(s): "
            f"the spectrum has {values.numel()} eigenvalues, {usable} of them > 0, and the fit "
            f"needs at least 3 (lower the range start, or use more features/samples)."
        )
    rank = torch.arange(start + 1, stop + 1, dtype=torch.float64, device=values.device)
    x = rank.log()
    y = values[start:stop].log()
    w = 1.0 / rank if weighted else torch.ones_like(rank)
    w = w / w.sum()
    x_mean, y_mean = (w * x).sum(), (w * y).sum()
    slope = (w * (x - x_mean) * (y - y_mean)).sum() / (w * (x - x_mean).square()).sum()
    residual = y - (y_mean + slope * (x - x_mean))
    total = (y - y.mean()).square().sum()
    # A flat spectrum is fitted exactly (slope 0): R² = 1 by convention, as in scikit-learn.
    r2 = torch.where(total > 0, 1 - residual.square().sum() / total, torch.ones_like(total))
    return AlphaFit(-slope, r2)


def alpha_req(
    features: Tensor,
    *,
    fit_range: tuple[int, int] = (10, 100),
    weighted: bool = True,
    center: bool = True,
) -> AlphaFit:
    r"""α-ReQ: decay coefficient α of the eigenspectrum of the features' covariance.

    :math:`\lambda_k \propto k^{-\alpha}`, fitted on :math:`(\log k, \log \lambda_k)` by
    :func:`alpha_from_eigenvalues` over ``fit_range``. The defaults (centred covariance,
    0-based indices 10..99, weights :math:`1/k`) reproduce ``reptrix.alpha.get_alpha``.
    α ≈ 1 is the paper's "Goldilocks zone"; α ≫ 1 signals collapse or redundancy,
    α ≪ 1 noisy, too-flat spectra.

    Args:
        features: ``(N, D)`` features (extra dims flattened per sample), any float dtype.
        fit_range: 0-based ``(start, stop)`` indices of the eigenvalues fitted.
        weighted: weighted least squares with :math:`w_k = 1/k` (reference) or ordinary
            least squares over the same ``fit_range``.
        center: eigenvalues of the covariance (reference) or of the uncentred second moment.

    Returns:
        ``AlphaFit(alpha, r2)``, 0-dim float64 tensors.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> features = torch.randn(4000, 256, generator=g) * torch.arange(1, 257) ** -0.5
        >>> fit = alpha_req(features)
        >>> round(float(fit.alpha), 2), round(float(fit.r2), 2)
        (1.0, 1.0)
    """
    values = eigenspectrum(features, center=center, spectrum="eigen", normalize=False)
    return alpha_from_eigenvalues(values, fit_range=fit_range, weighted=weighted)


def effective_rank_from_spectrum(
    values: Tensor, *, eps: float = 1e-7, normalized: bool = False
) -> Tensor:
    r"""Effective rank :math:`\exp(-\sum_k p_k \log p_k)` of a spectrum ``values``.

    :math:`p_k = v_k / \sum_j v_j + \varepsilon`.

    ``values`` are singular values (RankMe) or eigenvalues; :math:`\varepsilon` = 1e-7 as in
    RankMe. ``normalized=True`` divides by the number of values. Differentiable.

    Example:
        >>> round(float(effective_rank_from_spectrum(torch.ones(4), eps=0.0)), 6)
        4.0
    """
    values = _check_spectrum(values, "values")
    eps = check_number(eps, "eps", min_value=0.0)
    p = values / values.sum() + eps
    erank = torch.exp(-torch.special.xlogy(p, p).sum())  # xlogy: 0 log 0 = 0 when eps = 0
    return erank / values.numel() if normalized else erank


def effective_rank(
    features: Tensor,
    *,
    center: bool = False,
    spectrum: str = "singular",
    eps: float = 1e-7,
    normalized: bool = False,
) -> Tensor:
    r"""Effective rank (Roy & Vetterli 2007) = RankMe (Garrido et al. 2023).

    .. math:: p_k = \frac{\sigma_k}{\sum_j \sigma_j} + \varepsilon, \qquad
              \text{erank} = \exp\Big(-\sum_k p_k \log p_k\Big)

    over the :math:`\min(N, D)` singular values :math:`\sigma_k` of the (by default
    uncentred) feature matrix. ``spectrum="eigen"`` uses the eigenvalues
    :math:`\sigma_k^2` instead and, with ``center=True``, equals ``reptrix.rankme.get_rankme``.
    ``normalized=True`` divides by :math:`\min(N, D)` (AdaDim's α); :math:`\varepsilon` can
    push a perfectly flat spectrum a hair above 1 (by at most :math:`\approx m\varepsilon\log m`).

    Differentiable: singular values come from ``torch.linalg.svdvals``, whose gradient
    :math:`u_k v_k^T` stays finite at repeated or zero singular values.

    Args:
        features: ``(N, D)`` features (extra dims flattened per sample), any float dtype.
        center: subtract the feature mean first.
        spectrum: ``"singular"`` (RankMe) or ``"eigen"``.
        eps: the :math:`\varepsilon` added to every :math:`p_k`.
        normalized: divide by :math:`\min(N, D)`.

    Returns:
        0-dim float64 tensor.

    Example:
        >>> round(float(effective_rank(torch.eye(4), eps=0.0)), 6)
        4.0
        >>> half_rank = torch.diag(torch.tensor([1.0, 1.0, 0.0, 0.0]))
        >>> round(float(effective_rank(half_rank, eps=0.0, normalized=True)), 6)
        0.5
    """
    check_choice(spectrum, "spectrum", _SPECTRA)
    x = _as_float64_features(features)
    if center:
        x = x - x.mean(dim=0)
    values = torch.linalg.svdvals(x)
    if spectrum == "eigen":
        values = values.square()
    _check_nonzero_spectrum(values, center)
    return effective_rank_from_spectrum(values, eps=eps, normalized=normalized)


def num_eigenvalues_above(eigenvalues: Tensor, threshold: float = 0.01) -> Tensor:
    r"""Number of eigenvalues above ``threshold`` after L1 normalisation (AdaDim Fig. 3a).

    Counts :math:`\#\{k : \lambda_k / \sum_j \lambda_j > \text{threshold}\}`.

    Example:
        >>> num_eigenvalues_above(torch.tensor([5.0, 3.0, 1.0, 0.5, 0.5]), threshold=0.1)
        tensor(2)
    """
    values = _check_spectrum(eigenvalues, "eigenvalues")
    threshold = check_number(threshold, "threshold", min_value=0.0, max_value=1.0)
    return (values / values.sum() > threshold).sum()


def cumulative_explained_variance(eigenvalues: Tensor, fraction: float = 0.3) -> Tensor:
    r"""Share of the total variance in the top ``fraction`` of eigenvalues (AdaDim Fig. 3b).

    :math:`\sum_{k \le m} \lambda_{(k)} / \sum_j \lambda_j` over the
    :math:`m = \max(1, \lceil \text{fraction} \cdot K \rceil)` largest of the K eigenvalues.
    Near 1: the variance sits in a few directions; lower: a more uniform spectrum.

    Example:
        >>> cumulative_explained_variance(torch.tensor([5.0, 3.0, 1.0, 0.5, 0.5]), fraction=0.4)
        tensor(0.8000, dtype=torch.float64)
    """
    values = _check_spectrum(eigenvalues, "eigenvalues")
    fraction = check_number(fraction, "fraction", min_value=0.0, max_value=1.0, strict_min=True)
    # The small slack keeps e.g. 0.3 * 10 = 3.0000000000000004 at 3.
    top = max(1, math.ceil(fraction * values.numel() - 1e-9))
    return values.sort(descending=True).values[:top].sum() / values.sum()
