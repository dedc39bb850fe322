"""Eigenvalues of the embedding covariance over training (the stepwise picture of SSL)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from req_plugins._validation import check_choice, check_int
from req_plugins.callbacks._base import DualCallback, broadcast_buffers, default_embed
from req_plugins.callbacks.representation import SPACES, EmbedFn
from req_plugins.distributed import world_size
from req_plugins.functional import eigenspectrum
from req_plugins.modes import eval_mode


class SpectrumTracker(DualCallback):
    """Record the top eigenvalues of the embedding covariance every few training steps.

    Simon et al.'s "stepwise" analysis of Barlow Twins (ICML 2023) shows the embedding's
    eigenvalues being learned one at a time, each with a sigmoidal jump; this
    callback records that picture for any model. Every ``every_n_steps``
    optimizer steps (and before the first one) the first ``max_batches``
    batches of ``dataloader`` are embedded in eval mode and the ``top_k``
    largest eigenvalues of the covariance of ``space`` ("embedding" = projector
    output ``Z``, or "backbone" = ``R``) are logged directly to the Trainer's
    loggers as ``{prefix}eig_01``, … at the current global step, and kept in
    :attr:`history` (saved in checkpoints). Every process computes the same
    values (rank 0's BatchNorm statistics are broadcast first under DDP).

    Args:
        dataloader: held-out images; batches are ``images`` or ``(images, ...)``.
        every_n_steps: period in optimizer steps.
        top_k: number of eigenvalues kept (fewer if the space is narrower).
        space: "embedding" or "backbone".
        max_batches: batches of the loader used per measurement.
        embed_fn: ``(pl_module, images) -> (R, Z)``, as in :class:`RepresentationMetrics`.
        prefix: prefix of the logged keys.
    """

    def __init__(
        self,
        dataloader: Iterable,
        *,
        every_n_steps: int = 50,
        top_k: int = 16,
        space: str = "embedding",
        max_batches: int = 4,
        embed_fn: EmbedFn | None = None,
        prefix: str = "spectrum/",
    ) -> None:
        for name, value in (
            ("every_n_steps", every_n_steps),
            ("top_k", top_k),
            ("max_batches", max_batches),
        ):
            check_int(value, name, min_value=1)
        check_choice(space, "space", SPACES)
        self.dataloader = dataloader
        self.every_n_steps = every_n_steps
        self.top_k = top_k
        self.space = space
        self.max_batches = max_batches
        self.embed_fn = embed_fn or default_embed
        self.prefix = prefix
        self.history: list[dict[str, Any]] = []

    @property
    def state_key(self) -> str:
        return self._generate_state_key(prefix=self.prefix, space=self.space)

    @torch.no_grad()
    def compute(self, pl_module) -> Tensor:
        """The ``top_k`` largest covariance eigenvalues (float64, descending) of the model now."""
        if world_size() > 1:
            broadcast_buffers(pl_module)
        outputs = []
        with eval_mode(pl_module):
            for batch_idx, batch in enumerate(self.dataloader):
                if batch_idx >= self.max_batches:
                    break
                images = batch[0] if isinstance(batch, (list, tuple)) else batch
                features, embeddings = self.embed_fn(pl_module, images.to(pl_module.device))
                outputs.append(embeddings if self.space == "embedding" else features)
        eigenvalues = eigenspectrum(torch.cat(outputs), center=True, normalize=False)
        return eigenvalues[: self.top_k].cpu()

    def _record(self, trainer, pl_module) -> None:
        step = trainer.global_step
        if self.history and self.history[-1]["step"] == step:
            return
        eigenvalues = self.compute(pl_module)
        self.history.append({"step": step, "eigenvalues": eigenvalues.tolist()})
        values = {f"{self.prefix}eig_{k + 1:02d}": float(v) for k, v in enumerate(eigenvalues)}
        for logger in trainer.loggers:
            logger.log_metrics(values, step=step)

    def on_train_start(self, trainer, pl_module) -> None:
        if trainer.global_step == 0:
            self._record(trainer, pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step % self.every_n_steps == 0:
            self._record(trainer, pl_module)

    def on_train_end(self, trainer, pl_module) -> None:
        self._record(trainer, pl_module)

    def state_dict(self) -> dict[str, Any]:
        return {"history": list(self.history)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict["history"])
