r"""AdaDim: adaptive mix of VICReg and InfoNCE driven by the backbone's effective rank.

Kokilepersaud et al. 2025, *AdaDim: Dimensionality Adaptation for SSL Representational
Dynamics*, §4 and App. A:

.. code-block:: text

    α_t = clip( mean_{k batches} erank(R_b) / min(N_b, d_R), 0, 1 )   every E epochs
    L   = (1 − α_t)·VICReg(Z₁, Z₂) + α_t·InfoNCE(Z₁, Z₂) + β·γ_t·I(R; Z)
    γ_t = α_t ("adaptive"), a constant, or 0 ("off")

Two pieces, both framework-agnostic ``nn.Module``\ s:

* :class:`AdaDimController` owns α_t: it measures the normalised effective rank of the
  backbone representations on ``num_batches`` random training batches every
  ``every_n_epochs`` epochs (or follows a fixed / linear / cosine schedule) and keeps
  α and the epoch of its last measurement in its ``state_dict``.
* :class:`AdaDimLoss` computes L for a given α.

Driving them from a training loop (a Lightning module, a solo-learn method) takes a few
lines; the controller is a submodule, so checkpoints carry its state::

    # at the start of every epoch (epoch = number of completed epochs)
    if controller.should_measure(epoch):
        with torch.no_grad():
            controller.measure((backbone(x) for x in shuffled_train_images), epoch)
    # in every training step
    loss = criterion(z_a, z_b, r=(r_a, r_b), alpha=controller.alpha(epoch, max_epochs))
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence

import torch
import torch.distributed as dist
from torch import Tensor, nn

from req_plugins._validation import check_choice, check_int, check_number, check_tensor
from req_plugins.distributed import all_reduce_sum, is_distributed, world_size
from req_plugins.functional import effective_rank, matrix_mutual_information
from req_plugins.losses.ntxent import NTXentLoss
from req_plugins.losses.vicreg import MultiViewVICRegLoss

__all__ = ["ALPHA_MODES", "AdaDimController", "AdaDimLoss"]

#: How the controller sets α_t.
ALPHA_MODES = ("adaptive", "fixed", "linear", "cosine")
_GAMMA_MODES = ("adaptive", "off")


class AdaDimController(nn.Module):
    r"""Sets AdaDim's α_t: adaptive (effective rank of the backbone), fixed, linear or cosine.

    * ``"adaptive"`` (the paper's): α = 0 until the first measurement **(reading)**; at the
      start of epochs ``E, 2E, …`` (``E = every_n_epochs``, counting completed epochs, i.e.
      after every E epochs of training) :meth:`measure` sets
      ``α = clip(mean_b erank(R_b) / min(N_b, d_R), 0, 1)``, the effective rank
      (singular values of the uncentred features, ε = 1e-7,
      :func:`~req_plugins.functional.effective_rank`) averaged over ``num_batches``
      batches (and over processes under ``torch.distributed``); α stays there until the
      next measurement.
    * ``"fixed"``: α = ``alpha`` throughout (the paper's ablations use 0, 0.2, …, 1).
    * ``"linear"`` / ``"cosine"``: ``p = clip(epoch / max_epochs, 0, 1)`` and α = p or
      α = (1 − cos πp) / 2, from 0 at the start to 1 at the end of training **(reading)**;
      pass a fractional epoch (``epoch + step / steps_per_epoch``) for per-step schedules.

    The state (the measured α and the epoch of the last measurement) is exact Python
    numbers kept in ``state_dict()`` (module extra state: no device moves, no GPU sync to
    read α), so a restored controller continues the same schedule.

    Args:
        mode: one of ``"adaptive"``, ``"fixed"``, ``"linear"``, ``"cosine"``.
        alpha: α for ``mode="fixed"`` (in [0, 1]); must be ``None`` otherwise.
        num_batches: batches (k) :meth:`measure` averages over.
        every_n_epochs: epochs (E) between measurements.

    Example:
        >>> import torch
        >>> controller = AdaDimController(every_n_epochs=20)
        >>> controller.should_measure(0), controller.alpha()  # α = 0 before measuring
        (False, 0.0)
        >>> controller.should_measure(20)
        True
        >>> full_rank = [torch.linalg.qr(torch.randn(64, 64))[0] for _ in range(10)]
        >>> round(controller.measure(full_rank, epoch=20), 3)  # orthogonal: erank = 64
        1.0
        >>> controller.state_dict()["_extra_state"]["measured_epoch"]
        20
        >>> cosine = AdaDimController("cosine")
        >>> [round(cosine.alpha(epoch, max_epochs=100), 3) for epoch in (0, 25, 50, 100)]
        [0.0, 0.146, 0.5, 1.0]
    """

    def __init__(
        self,
        mode: str = "adaptive",
        alpha: float | None = None,
        num_batches: int = 10,
        every_n_epochs: int = 20,
    ):
        super().__init__()
        check_choice(mode, "mode", ALPHA_MODES)
        if mode == "fixed":
            if alpha is None:
                raise ValueError("`alpha` is required with mode='fixed' (a value in [0, 1]).")
            alpha = check_number(alpha, "alpha", min_value=0.0, max_value=1.0)
        elif alpha is not None:
            raise ValueError(f"`alpha` is only used with mode='fixed', got mode={mode!r}.")
        self.mode = mode
        self.fixed_alpha = alpha
        self.num_batches = check_int(num_batches, "num_batches", min_value=1)
        self.every_n_epochs = check_int(every_n_epochs, "every_n_epochs", min_value=1)
        self.measured_alpha = 0.0
        self.measured_epoch = -1  # -1: not measured yet

    def should_measure(self, epoch: int) -> bool:
        """Whether :meth:`measure` is due at the start of ``epoch`` (= completed epochs)."""
        check_int(epoch, "epoch", min_value=0)
        if self.mode != "adaptive":
            return False
        return epoch >= max(self.measured_epoch, 0) + self.every_n_epochs

    @torch.no_grad()
    def measure(self, features: Iterable[Tensor], epoch: int) -> float:
        """Set α from the backbone features of (up to) ``num_batches`` batches; return it.

        ``features`` is any iterable of ``(N_b, d_R)`` tensors — a generator over a
        shuffled training loader is consumed lazily, only for ``num_batches`` batches, and
        then closed.
        Under ``torch.distributed`` the mean is taken over the batches of all processes,
        so every rank gets the same α.
        """
        check_int(epoch, "epoch", min_value=0)
        batches = iter(features)
        ranks = []
        try:
            for b, batch in enumerate(itertools.islice(batches, self.num_batches)):
                check_tensor(batch, f"features[{b}]")
                ranks.append(effective_rank(batch, normalized=True))
        finally:
            # a generator is closed now, not when collected, so its clean-up (e.g.
            # restoring the backbone's train mode) runs before training resumes
            if hasattr(batches, "close"):
                batches.close()
        if not ranks:
            raise ValueError("`features` yielded no batch: need at least one to measure α.")
        total = torch.stack(ranks).sum()
        count = torch.tensor(float(len(ranks)), dtype=total.dtype, device=total.device)
        if is_distributed():
            sums = torch.stack([total, count])
            dist.all_reduce(sums)
            total, count = sums[0], sums[1]
        self.measured_alpha = min(max(float(total / count), 0.0), 1.0)
        self.measured_epoch = epoch
        return self.measured_alpha

    def alpha(self, epoch: float | None = None, max_epochs: int | None = None) -> float:
        """α_t at ``epoch`` (needed by the linear and cosine schedules only)."""
        if self.mode == "adaptive":
            return self.measured_alpha
        if self.mode == "fixed":
            return self.fixed_alpha
        if epoch is None or max_epochs is None:
            raise ValueError(f"mode={self.mode!r} needs `epoch` and `max_epochs`.")
        check_number(epoch, "epoch", min_value=0.0)
        check_int(max_epochs, "max_epochs", min_value=1)
        progress = min(epoch / max_epochs, 1.0)
        if self.mode == "linear":
            return progress
        return 0.5 * (1.0 - math.cos(math.pi * progress))

    def get_extra_state(self) -> dict:
        return {"measured_alpha": self.measured_alpha, "measured_epoch": self.measured_epoch}

    def set_extra_state(self, state: dict) -> None:
        if not isinstance(state, dict) or set(state) != {"measured_alpha", "measured_epoch"}:
            raise ValueError(
                "AdaDimController state must be a dict with keys 'measured_alpha' and "
                f"'measured_epoch', got {state!r}."
            )
        self.measured_alpha = check_number(
            state["measured_alpha"], "measured_alpha", min_value=0.0, max_value=1.0
        )
        self.measured_epoch = check_int(state["measured_epoch"], "measured_epoch", min_value=-1)

    def extra_repr(self) -> str:
        if self.mode == "fixed":
            return f"mode='fixed', alpha={self.fixed_alpha:g}"
        if self.mode != "adaptive":
            return f"mode={self.mode!r}"
        return (
            f"mode='adaptive', num_batches={self.num_batches}, "
            f"every_n_epochs={self.every_n_epochs}, measured_alpha={self.measured_alpha:.4f}, "
            f"measured_epoch={self.measured_epoch}"
        )


class AdaDimLoss(nn.Module):
    r"""AdaDim loss ``(1 − α)·VICReg(Z₁,Z₂) + α·InfoNCE(Z₁,Z₂) + β·γ·I(R;Z)`` for a given α.

    * VICReg is :class:`~req_plugins.losses.MultiViewVICRegLoss` (λ = μ = 25, ν = 1) and
      InfoNCE is :class:`~req_plugins.losses.NTXentLoss` (τ = 0.1), the paper's defaults.
    * ``I(R;Z)`` is :func:`~req_plugins.functional.matrix_mutual_information` (order-2
      matrix Rényi MI) between the backbone representations R and the embeddings Z of
      the batch, the rows of both views stacked: ``R = [R₁; R₂]``, ``Z = [Z₁; Z₂]``
      (2N samples) **(reading)**. It depends on the batch size; under
      ``torch.distributed`` it is computed on each process's batch and averaged.
    * γ = α with ``gamma="adaptive"`` (the paper's best), a constant with
      ``gamma=<float>``, 0 with ``gamma="off"``.

    Terms whose weight is 0 are not computed, so α = 0 (with γ = 0) is exactly VICReg and
    α = 1 with ``gamma="off"`` exactly InfoNCE.

    Args:
        lambda_param: VICReg invariance weight λ ≥ 0 (the paper's 25).
        mu_param: VICReg variance weight μ ≥ 0 (25); the variance hinge is averaged over
            the two views, as in the official VICReg.
        nu_param: VICReg covariance weight ν ≥ 0 (1).
        temperature: InfoNCE temperature τ > 0 (the paper's 0.1).
        beta: weight β ≥ 0 of the mutual-information term (1e-4).
        gamma: ``"adaptive"`` (γ = α, the paper's best), ``"off"`` (γ = 0) or a
            constant γ ≥ 0.
        mi_max_samples: cap (≥ 2) on the samples in the MI's O(N²) joint term
            (``None``: all).
        gather_distributed: VICReg and InfoNCE over the global batch (see their docs).
        validate_args: also reject NaN / Inf in ``z_a``, ``z_b`` and ``r`` (off by
            default: it synchronises; see :mod:`req_plugins.losses`).

    No host-device synchronisation for a Python-number ``alpha`` (a tensor ``alpha`` is read
    with one sync); compiles with ``torch.compile(fullgraph=True)``, which specialises on
    ``alpha``'s value. Mixed precision as in the VICReg and InfoNCE losses; the MI term is
    computed in float64 and returned in float32 (or the embeddings' float64).

    Example:
        >>> import torch
        >>> criterion = AdaDimLoss()
        >>> r_a, r_b = torch.randn(32, 128), torch.randn(32, 128)  # backbone features
        >>> z_a, z_b = torch.randn(32, 64), torch.randn(32, 64)  # projector outputs
        >>> loss = criterion(z_a, z_b, r=(r_a, r_b), alpha=0.4)
        >>> bool(criterion(z_a, z_b, alpha=0.0) == MultiViewVICRegLoss()(z_a, z_b))
        True
    """

    def __init__(
        self,
        lambda_param: float = 25.0,
        mu_param: float = 25.0,
        nu_param: float = 1.0,
        temperature: float = 0.1,
        beta: float = 1e-4,
        gamma: str | float = "adaptive",
        mi_max_samples: int | None = None,
        gather_distributed: bool = False,
        validate_args: bool = False,
    ):
        super().__init__()
        self.vicreg = MultiViewVICRegLoss(
            lambda_param,
            mu_param,
            nu_param,
            gather_distributed=gather_distributed,
            validate_args=validate_args,
        )
        self.infonce = NTXentLoss(
            temperature=temperature,
            gather_distributed=gather_distributed,
            validate_args=validate_args,
        )
        self.beta = check_number(beta, "beta", min_value=0.0)
        if isinstance(gamma, str):
            check_choice(gamma, "gamma", _GAMMA_MODES)
        else:
            gamma = check_number(gamma, "gamma", min_value=0.0)
        self.gamma = gamma
        if mi_max_samples is not None:
            check_int(mi_max_samples, "mi_max_samples", min_value=2)
        self.mi_max_samples = mi_max_samples
        self.gather_distributed = gather_distributed
        self.validate_args = validate_args

    def gamma_at(self, alpha: float) -> float:
        """γ for a given α."""
        if self.gamma == "adaptive":
            return alpha
        if self.gamma == "off":
            return 0.0
        return self.gamma

    def forward(
        self,
        z_a: Tensor,
        z_b: Tensor,
        r: Tensor | Sequence[Tensor] | None = None,
        *,
        alpha: float,
    ) -> Tensor:
        """Loss of the embeddings ``z_a``, ``z_b`` ``(N, d)`` at mixing weight ``alpha``.

        ``r``: backbone representations of both views, ``(r_a, r_b)`` each ``(N, d_R)`` or
        one ``(2N, d_R)`` tensor (view a first); needed when ``β·γ > 0``.
        """
        if isinstance(alpha, Tensor):
            alpha = float(alpha)
        alpha = check_number(alpha, "alpha", min_value=0.0, max_value=1.0)
        # a term of weight 0 is skipped (and 1.0 · x == x), so α ∈ {0, 1} is exactly one loss
        terms = []
        if alpha < 1.0:
            terms.append((1.0 - alpha) * self.vicreg(z_a, z_b))
        if alpha > 0.0:
            terms.append(alpha * self.infonce(z_a, z_b))
        mi_weight = self.beta * self.gamma_at(alpha)
        if mi_weight > 0.0:
            terms.append(mi_weight * self._mutual_information(z_a, z_b, r))
        return sum(terms[1:], terms[0])

    def _mutual_information(self, z_a: Tensor, z_b: Tensor, r) -> Tensor:
        if r is None:
            raise ValueError(
                "`r` (the backbone representations of both views) is required when the "
                f"mutual-information term is on (beta={self.beta:g}, gamma={self.gamma!r})."
            )
        if isinstance(r, (list, tuple)):
            if len(r) != 2:
                raise ValueError(f"`r` must be (r_a, r_b), got a sequence of {len(r)}.")
            r = torch.cat([check_tensor(r[0], "r[0]"), check_tensor(r[1], "r[1]")])
        r = check_tensor(r, "r")
        z = torch.cat([z_a, z_b])
        if r.shape[0] != z.shape[0]:
            raise ValueError(
                f"`r` must hold the {z.shape[0]} representations of both views "
                f"(2 × {z_a.shape[0]}), got {r.shape[0]}."
            )
        mi = matrix_mutual_information(
            r, z, max_samples=self.mi_max_samples, validate_args=self.validate_args
        )
        # float64 inside; returned in the precision of the other terms (float32 under AMP)
        mi = mi.to(torch.promote_types(z.dtype, torch.float32))
        if self.gather_distributed and is_distributed():
            mi = all_reduce_sum(mi) / world_size()
        return mi

    def extra_repr(self) -> str:
        return f"beta={self.beta:g}, gamma={self.gamma!r}, mi_max_samples={self.mi_max_samples}"
