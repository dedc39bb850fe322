r"""Uniformity (Wang & Isola 2020) as a torchmetrics metric, exact over all pairs or capped."""

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics.utilities.data import dim_zero_cat

from req_plugins._validation import check_int, check_number
from req_plugins.functional.uniformity import pairwise_log_mean_exp
from req_plugins.metrics._base import RepresentationMetric

_KEY_SCALE = 2.0**20
_MASK_32 = 2**32 - 1


def _hash_direction(width: int, seed: int, device: torch.device) -> Tensor:
    """A fixed pseudo-random direction in [-0.5, 0.5)^width from integer hashing of
    (index, seed): exact, so the same on every device, and traceable by ``torch.compile``."""
    h = (torch.arange(width, dtype=torch.int64, device=device) * 2654435761 + seed) & _MASK_32
    for _ in range(2):  # a 32-bit integer mixer (xor-shift-multiply)
        h = ((h ^ (h >> 16)) * 0x45D9F3B) & _MASK_32
    h = h ^ (h >> 16)
    return h.to(torch.float64) / 2.0**32 - 0.5


def sample_keys(unit: Tensor, seed: int) -> Tensor:
    """Pseudo-random keys in [0, 1) of the rows of ``unit`` (float64), fixed by ``seed``.

    The fractional part of a scaled projection on a fixed pseudo-random direction: each key
    depends only on its own row and ``seed``, never on the other rows or their order, and
    rows a hair apart get unrelated keys, so the smallest keys pick a random-like subset.
    """
    projection = unit @ _hash_direction(unit.shape[1], seed, unit.device) * _KEY_SCALE
    return projection - projection.floor()


class Uniformity(RepresentationMetric):
    r"""Uniformity on the hypersphere (Wang & Isola 2020), over every pair of samples seen.

    .. math:: \mathcal{U}_t = \log \frac{2}{N(N-1)} \sum_{i<j}
              e^{-t\,\|\hat x_i - \hat x_j\|^2}, \qquad \hat x_i = x_i / \|x_i\|

    (see :func:`req_plugins.functional.uniformity`). Lower is more uniform. The pairwise
    term does not decompose into per-batch sums, so the metric keeps the L2-normalised
    embeddings (float64, detached, concatenated across DDP processes) and ``compute()``
    evaluates all :math:`N(N-1)/2` pairs of the union exactly (in row blocks). The value
    depends only on the set of samples, never on their order, batching or sharding:
    ``compute()`` first sorts the samples by a per-sample key, so permuted input gives the
    same number to the last bit.

    ``max_samples`` caps memory at ``max_samples × D``: each sample gets a pseudo-random key
    from its own values and ``seed`` (:func:`sample_keys`) and the ``max_samples`` samples with
    the smallest keys are kept (a bottom-k sample, pruned in ``update`` and again after the
    DDP gather). That subset is a fixed function of the set of samples and ``seed``, so the
    capped value does not depend on the order either. Without the cap memory grows as N·D.
    The stored embeddings stay float64 (``set_dtype`` is a no-op).

    Args:
        t: the kernel's scale (paper: 2).
        max_samples: keep at most this many samples (``None``: all, exact).
        seed: seed of the sample keys (which samples the cap keeps).
        validate_args: check every batch for NaN/Inf in ``update`` (one host-device sync
            per batch). Off by default: ``update`` never syncs, and ``compute()`` raises if
            a non-finite value was seen (even one the cap dropped).
        kwargs: passed to ``torchmetrics.Metric``.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> embeddings = torch.randn(300, 16, generator=g)
        >>> metric = Uniformity()
        >>> for batch in embeddings.split(100):
        ...     metric.update(batch)
        >>> round(float(metric.compute()), 4)
        -3.5103
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    embeddings: list[Tensor]
    keys: list[Tensor]
    num_non_finite: Tensor

    def __init__(
        self,
        t: float = 2.0,
        max_samples: int | None = None,
        seed: int = 0,
        validate_args: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(validate_args=validate_args, **kwargs)
        self.t = check_number(t, "t", min_value=0.0, strict_min=True)
        if max_samples is not None:
            check_int(max_samples, "max_samples", min_value=2)
        self.max_samples = max_samples
        self.seed = check_int(seed, "seed", min_value=0)
        self.add_state("embeddings", default=[], dist_reduce_fx="cat")
        self.add_state("keys", default=[], dist_reduce_fx="cat")
        self.add_state("num_non_finite", torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")

    def update(self, features: Tensor) -> None:
        """Add a batch ``(N, D)`` (extra dims flattened per sample; any float dtype).

        No host-device sync: shapes and dtypes are checked, values only with
        ``validate_args=True``.
        """
        x = self._features(features, "features")
        if self.embeddings and self.embeddings[0].shape[1] != x.shape[1]:
            raise ValueError(
                f"`features` has {x.shape[1]} features per sample, but earlier updates had "
                f"{self.embeddings[0].shape[1]}."
            )
        # Counted on the device, so that compute() refuses even if the cap drops the sample.
        self.num_non_finite += (~torch.isfinite(x)).sum()
        unit = F.normalize(x.detach().to(torch.float64), dim=1)
        self.embeddings.append(unit)
        self.keys.append(sample_keys(unit, self.seed))
        if self.max_samples is not None:
            unit, keys = self._kept(dim_zero_cat(self.embeddings), dim_zero_cat(self.keys))
            self.embeddings, self.keys = [unit], [keys]

    def _kept(self, unit: Tensor, keys: Tensor) -> tuple[Tensor, Tensor]:
        """The samples in ascending key order, the first ``max_samples`` of them if capped."""
        order = torch.sort(keys, stable=True).indices[: self.max_samples]
        return unit[order], keys[order]

    def compute(self) -> Tensor:
        """Uniformity (float64, 0-dim)."""
        empty = isinstance(self.embeddings, list) and not self.embeddings
        unit = None if empty else dim_zero_cat(self.embeddings)
        if unit is None or unit.shape[0] < 2:
            raise ValueError(
                "Uniformity needs at least 2 samples in total before `compute()`, got "
                f"{0 if unit is None else unit.shape[0]}: call `update(features)` first."
            )
        if int(self.num_non_finite) > 0:
            raise ValueError(
                f"Uniformity: {int(self.num_non_finite)} NaN or Inf value(s) reached `update`. "
                "Create the metric with `validate_args=True` to have `update` name the bad batch."
            )
        unit, _ = self._kept(unit, dim_zero_cat(self.keys))
        return pairwise_log_mean_exp(unit, self.t)

    def set_dtype(self, dst_type: str | torch.dtype) -> "Uniformity":
        """Keep the float64 embeddings: a lower precision would only lose digits. No-op."""
        return self
