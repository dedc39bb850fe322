"""NT-Xent / InfoNCE, the SimCLR contrastive loss (AdaDim's sample-uniformity term)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from req_plugins._validation import as_views, check_number
from req_plugins.distributed import all_gather, all_reduce_sum, rank, world_size
from req_plugins.losses._common import float32_statistics

__all__ = ["NTXentLoss"]


class NTXentLoss(nn.Module):
    r"""SimCLR's normalised-temperature cross-entropy (NT-Xent, InfoNCE) for two views.

    The 2N embeddings are L2-normalised; for every sample the positive is the
    other view of the same image and the negatives are the other 2N − 2
    embeddings of the batch:

    .. code-block:: text

        ℓ(i, j) = −log( exp(s_ij / τ) / Σ_{k≠i} exp(s_ik / τ) ),   s = cosine similarity
        L = (1 / 2N) Σ_i [ ℓ(a_i, b_i) + ℓ(b_i, a_i) ]

    Equal to lightly's ``NTXentLoss(temperature=τ)`` (without memory bank).

    No host-device synchronisation; statistics in float32 under mixed precision (see
    :mod:`req_plugins.losses`).

    Args:
        temperature: τ > 0 (0.5, lightly's default; AdaDim uses 0.1).
        gather_distributed: under ``torch.distributed``, use the embeddings of all
            processes as negatives (gathered with gradients); each process computes
            the rows of its own samples and the loss is averaged over processes, so
            every rank returns the loss of the concatenated batch.
        validate_args: also reject NaN / Inf in the embeddings (off by default: it
            synchronises; see :mod:`req_plugins.losses`).

    Example:
        >>> import torch
        >>> loss_fn = NTXentLoss(temperature=0.1)
        >>> z_a = torch.randn(16, 32)
        >>> # two nearly identical views give a lower loss than two unrelated ones
        >>> bool(loss_fn(z_a, z_a + 0.01 * torch.randn(16, 32)) < loss_fn(z_a, torch.randn(16, 32)))
        True
    """

    def __init__(
        self,
        temperature: float = 0.5,
        gather_distributed: bool = False,
        validate_args: bool = False,
    ):
        super().__init__()
        self.temperature = check_number(temperature, "temperature", min_value=0.0, strict_min=True)
        self.gather_distributed = gather_distributed
        self.validate_args = validate_args

    def forward(self, z_a: Tensor | Sequence[Tensor], z_b: Tensor | None = None) -> Tensor:
        """Loss of two views ``(z_a, z_b)`` (or a list of two), each ``(N, d)``, row i = image i."""
        views = as_views(z_a, z_b, max_views=2, check_values=self.validate_args)
        views, float32 = float32_statistics(views)
        with float32:
            return self._loss(*views)

    def _loss(self, z_a: Tensor, z_b: Tensor) -> Tensor:
        n = z_a.shape[0]
        queries = F.normalize(torch.cat([z_a, z_b]), dim=1)  # (2n, d): this process's rows
        z_a, z_b = queries[:n], queries[n:]
        if self.gather_distributed:
            n_global, offset = n * world_size(), n * rank()
            keys = torch.cat([all_gather(z_a), all_gather(z_b)])
        else:
            n_global, offset = n, 0
            keys = queries
        logits = queries @ keys.T / self.temperature  # (2n, 2·n_global)

        local = torch.arange(n, device=z_a.device) + offset
        self_index = torch.cat([local, local + n_global])
        positive_index = torch.cat([local + n_global, local])
        # a mask and a Python scalar: no host-to-device copy (which would synchronise)
        columns = torch.arange(2 * n_global, device=z_a.device)
        logits = logits.masked_fill(columns == self_index.unsqueeze(1), float("-inf"))
        loss = F.cross_entropy(logits, positive_index)
        if self.gather_distributed:
            loss = all_reduce_sum(loss) / world_size()
        return loss

    def extra_repr(self) -> str:
        return f"temperature={self.temperature:g}"
