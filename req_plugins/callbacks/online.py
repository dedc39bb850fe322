"""Representation metrics of the embeddings the training step already computes (no extra pass)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics import MetricCollection

from req_plugins._validation import check_int
from req_plugins.callbacks.representation import SPACES, RepresentationMetrics

HEADS = ("projection_head", "projector")  # lightly's and solo-learn's name of the projector


def find_head(pl_module: nn.Module, head: str | None = None) -> nn.Module:
    """The projector of ``pl_module``: the submodule ``head``, else the first of :data:`HEADS`."""
    names = (head,) if head is not None else HEADS
    for name in names:
        module = getattr(pl_module, name, None)
        if isinstance(module, nn.Module):
            return module
    raise ValueError(
        f"{type(pl_module).__name__} has no projector submodule named "
        f"{' or '.join(repr(n) for n in names)}; pass `head=` the attribute name of the "
        "module that maps backbone features to embeddings."
    )


class OnlineRepresentationMetrics(RepresentationMetrics):
    """α, effective rank, … of the training embeddings, accumulated as training runs.

    Unlike :class:`RepresentationMetrics` (an extra pass over a held-out loader), this
    callback reads the backbone features ``R`` and embeddings ``Z`` that the training
    step computes anyway: a forward hook on the projector (``projection_head`` in lightly
    and ``req-train``, ``projector`` in solo-learn) keeps the detached input and output of
    every training-mode call during a training batch, and ``on_train_batch_end`` adds
    them to the metrics' streaming states (``n, Σf, Σffᵀ``) on the device. Nothing is
    copied to the host and nothing waits for the device until the end of a measured
    epoch (except once at the epoch's first update, where torchmetrics compares the
    metrics' states to share them), when the values are computed, logged with
    ``pl_module.log`` (per epoch) and appended to :attr:`history`; the states are then
    reset.

    Every view of every training image counts as a sample (the projector sees all
    views); the values describe the embeddings of the epoch's training steps, which
    move as the model trains, so they lag behind a held-out measurement of the final
    model of the epoch. Under DDP the states are summed over processes at compute time.

    Args:
        metrics: names of registered ``features`` or ``pair`` metrics (``views`` metrics
            such as LiDAR need the views of each image grouped: use
            :class:`RepresentationMetrics`).
        every_n_epochs: measure during every ``every_n_epochs``-th epoch (and the last).
        every_n_steps: update on every ``every_n_steps``-th training batch of a measured
            epoch (1: all of them). The default, 20, keeps the float64 ``Σffᵀ`` update
            under 1 % of the step time even where float64 is slow (CPUs, consumer GPUs)
            while a CIFAR-sized epoch still contributes thousands of samples.
        spaces: ``"backbone"`` (projector input) and/or ``"embedding"`` (its output).
        head: attribute name of the projector (default: ``projection_head`` or ``projector``).
        prefix: prefix of the logged keys, e.g. ``repr_train/embedding_alpha``.
        registry: metric registry (default: the process-wide one).

    Example:
        >>> callback = OnlineRepresentationMetrics(metrics=("alpha", "effective_rank"))
        >>> # pytorch_lightning.Trainer(callbacks=[callback]) or lightning.pytorch.Trainer(...)
    """

    def __init__(
        self,
        *,
        metrics: Sequence[str] = ("alpha", "effective_rank"),
        every_n_epochs: int = 1,
        every_n_steps: int = 20,
        spaces: Sequence[str] = SPACES,
        head: str | None = None,
        prefix: str = "repr_train/",
        registry=None,
    ) -> None:
        super().__init__(
            None, every_n_epochs=every_n_epochs, metrics=metrics, prefix=prefix, registry=registry
        )
        unsupported = [e.name for e in self.entries if e.inputs not in ("features", "pair")]
        if unsupported:
            raise ValueError(
                f"OnlineRepresentationMetrics cannot measure {unsupported} (they need the "
                "views of each image grouped); use RepresentationMetrics on a held-out "
                "multi-view loader for them."
            )
        check_int(every_n_steps, "every_n_steps", min_value=1)
        spaces = tuple(spaces)
        if not spaces or any(space not in SPACES for space in spaces):
            raise ValueError(f"`spaces` must be a non-empty subset of {SPACES}, got {spaces!r}.")
        self.every_n_steps = every_n_steps
        self.spaces = spaces
        self.head = head
        self._handle = None
        self._capturing = False
        self._captured: list[tuple[Tensor, Tensor]] = []
        self._measuring = False
        self._collections_: dict[str, MetricCollection] | None = None

    # -- the hot path: hook + update, no host sync --------------------------------------
    def attach(self, pl_module: nn.Module) -> None:
        """Hook the projector of ``pl_module`` (done at fit start; idempotent)."""
        self.detach()
        self._handle = find_head(pl_module, self.head).register_forward_hook(self._keep)

    def detach(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def _keep(self, module: nn.Module, inputs: tuple, output: Any) -> None:
        if self._capturing and module.training and isinstance(output, Tensor):
            self._captured.append((inputs[0].detach(), output.detach()))

    def begin_epoch(self, measure: bool = True) -> None:
        """Start accumulating afresh (``measure=False``: this epoch is not measured)."""
        self._measuring = measure
        self._collections_ = None

    def start_batch(self, batch_idx: int) -> None:
        """Capture the projector's calls of this batch if it is one to measure."""
        self._captured.clear()
        self._capturing = self._measuring and batch_idx % self.every_n_steps == 0

    @torch.no_grad()
    def end_batch(self) -> None:
        """Add the captured ``(R, Z)`` of the batch to the metric states (on their device)."""
        self._capturing = False
        if not self._captured:
            return
        features = torch.cat([r.flatten(start_dim=1) for r, _ in self._captured])
        embeddings = torch.cat([z.flatten(start_dim=1) for _, z in self._captured])
        self._captured.clear()
        if self._collections_ is None:
            self._collections_ = {
                key: collection
                for key, collection in self._collections(embeddings.device).items()
                if key == "pair" or key in self.spaces
            }
        inputs = {"backbone": features, "embedding": embeddings}
        for key, collection in self._collections_.items():
            if key == "pair":
                collection.update(features, embeddings)
            else:
                collection.update(inputs[key])

    # -- Lightning hooks ------------------------------------------------------------------
    def on_fit_start(self, trainer, pl_module) -> None:
        self.attach(pl_module)

    def on_fit_end(self, trainer, pl_module) -> None:
        self.detach()

    def on_exception(self, trainer, pl_module, exception) -> None:
        self.detach()

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.begin_epoch(self._should_measure(trainer))

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.start_batch(batch_idx)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.end_batch()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self._measuring and self._collections_ is not None:
            super().on_train_epoch_end(trainer, pl_module)
        self._measuring = False
        self._collections_ = None

    def check(self, pl_module) -> None:
        """Nothing to check before training: the first measured epoch computes the metrics."""
        find_head(pl_module, self.head)

    def compute(self, pl_module=None) -> dict[str, float]:
        """The values of the states accumulated since the measured epoch started."""
        if self._collections_ is None:
            raise ValueError(
                "OnlineRepresentationMetrics has no embeddings yet: it measures during "
                "training (fit), from the projector's training-mode calls."
            )
        values: dict[str, float] = {}
        for collection in self._collections_.values():
            values.update({key: float(value) for key, value in collection.compute().items()})
        return values
