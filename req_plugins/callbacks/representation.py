"""Label-free representation metrics of a model during training, on a held-out loader."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics import MetricCollection

from req_plugins import distributed
from req_plugins._validation import check_int
from req_plugins.callbacks._base import DualCallback, broadcast_buffers, default_embed
from req_plugins.callbacks.layers import LayerOutputs, layer_key
from req_plugins.modes import eval_mode

EmbedFn = Callable[[Any, Tensor], tuple[Tensor, Tensor]]
SPACES = ("backbone", "embedding")
VIEWS_SUFFIX = "_views"  # collection key of a space's `views` metrics, e.g. "embedding_views"


class RepresentationMetrics(DualCallback):
    """Log α, effective rank, I(R;Z), LiDAR, uniformity… of a model's representations.

    At the end of every ``every_n_epochs``-th training epoch (and of the last one)
    the model embeds ``dataloader`` in eval mode, without gradients, and the
    registered metrics are computed on the backbone features ``R`` and the
    projector embeddings ``Z``:

    * per space (``features`` metrics): ``{prefix}backbone_alpha``,
      ``{prefix}embedding_effective_rank``, …
    * per pair (``pair`` metrics): ``{prefix}mutual_information`` = I(R;Z).
    * per space over m views of each image (``views`` metrics): ``{prefix}embedding_lidar``, …
    * per named intermediate module in ``layers`` (``features`` metrics, e.g. α across the
      layers, thesis Part II): ``{prefix}layer3_alpha``, … — the module's output of the
      first view, captured by a forward hook, global-average-pooled if it is a feature map
      (:mod:`req_plugins.callbacks.layers`).

    A loader may yield m augmented views per image, ``(views, ...)`` batches with ``views``
    a list of m image tensors (as ``lightly``'s ``MultiViewTransform`` gives). ``views``
    metrics (LiDAR) need such a loader and get the ``(B, m, D)`` embeddings of all views;
    every other metric sees the first view only, so its value is the one a loader of the
    first views would give. With a single-view loader, a ``views`` metric fails at fit start.

    Values are logged with ``pl_module.log`` (so they reach the Trainer's loggers,
    ``trainer.callback_metrics`` and checkpoint monitors) and kept in
    :attr:`history` (saved in checkpoints). Works in ``lightning.pytorch`` and
    ``pytorch_lightning`` Trainers.

    Under DDP, process ``r`` embeds batches ``r, r + W, …`` of the loader (no
    sampler needed) and the metrics' sum-reduced states are combined, so the
    values equal a single process's on the same data and model. The loader must
    then yield at least ``W`` batches.

    Args:
        dataloader: held-out images; batches are ``images`` or ``(images, ...)``.
        every_n_epochs: measuring period in epochs.
        metrics: names from the metric registry (``req_plugins.plugins``), e.g. ``alpha``,
            ``effective_rank``, ``mutual_information``, ``lidar``, ``uniformity``.
        embed_fn: ``(pl_module, images) -> (R, Z)``; default: ``pl_module.embed``, or
            ``backbone`` + ``projection_head``/``projector``.
        max_batches: use only the first ``max_batches`` batches.
        prefix: prefix of the logged keys.
        registry: metric registry (default: the process-wide one).
        layers: names of intermediate modules (of the module, else of its ``backbone``, e.g.
            ``["layer2", "layer3", "layer4"]`` of a ResNet) whose outputs also get the
            ``features`` metrics; dots become underscores in the keys.

    Example:
        >>> from torch.utils.data import DataLoader, TensorDataset
        >>> loader = DataLoader(TensorDataset(torch.randn(512, 3, 16, 16)), batch_size=128)
        >>> callback = RepresentationMetrics(loader, every_n_epochs=5)
        >>> # pytorch_lightning.Trainer(callbacks=[callback]) or lightning.pytorch.Trainer(...)
    """

    def __init__(
        self,
        dataloader: Iterable,
        *,
        every_n_epochs: int = 5,
        metrics: Sequence[str] = ("alpha", "effective_rank", "mutual_information"),
        embed_fn: EmbedFn | None = None,
        max_batches: int | None = None,
        prefix: str = "repr/",
        registry=None,
        layers: Sequence[str] = (),
    ) -> None:
        check_int(every_n_epochs, "every_n_epochs", min_value=1)
        if max_batches is not None:
            check_int(max_batches, "max_batches", min_value=1)
        if registry is None:
            from req_plugins.plugins import get_registry

            registry = get_registry()
        self.entries = [registry.get_metric(name) for name in metrics]
        if not self.entries:
            raise ValueError("`metrics` must name at least one registered metric.")
        self.layers = list(layers)
        if self.layers and not any(e.inputs == "features" for e in self.entries):
            raise ValueError(
                "`layers` needs a metric of single representations (e.g. alpha) in `metrics`."
            )
        self.dataloader = dataloader
        self.every_n_epochs = every_n_epochs
        self.embed_fn = embed_fn or default_embed
        self.max_batches = max_batches
        self.prefix = prefix
        self.history: list[dict[str, float]] = []

    @property
    def state_key(self) -> str:
        return self._generate_state_key(prefix=self.prefix)

    def _collections(self, device: torch.device, **kwargs) -> dict[str, MetricCollection]:
        feature_metrics = {e.name: e.load() for e in self.entries if e.inputs == "features"}
        view_metrics = {e.name: e.load() for e in self.entries if e.inputs == "views"}
        pair_metrics = {e.name: e.load() for e in self.entries if e.inputs == "pair"}
        collections = {}
        for space in SPACES if feature_metrics else ():
            collections[space] = MetricCollection(
                {name: cls(**kwargs) for name, cls in feature_metrics.items()},
                prefix=f"{self.prefix}{space}_",
            )
        for layer in self.layers if feature_metrics else ():
            collections[f"layer:{layer}"] = MetricCollection(
                {name: cls(**kwargs) for name, cls in feature_metrics.items()},
                prefix=f"{self.prefix}{layer_key(layer)}_",
            )
        for space in SPACES if view_metrics else ():
            collections[f"{space}{VIEWS_SUFFIX}"] = MetricCollection(
                {name: cls(**kwargs) for name, cls in view_metrics.items()},
                prefix=f"{self.prefix}{space}_",
            )
        if pair_metrics:
            collections["pair"] = MetricCollection(
                {name: cls(**kwargs) for name, cls in pair_metrics.items()}, prefix=self.prefix
            )
        return {key: collection.to(device) for key, collection in collections.items()}

    def _embed_and_update(self, pl_module, collections: dict[str, MetricCollection], batch):
        """Embed a batch's view(s) and update every collection; return the first view's (R, Z)."""
        images = batch[0] if isinstance(batch, (list, tuple)) else batch
        views = list(images) if isinstance(images, (list, tuple)) else [images]
        wants_views = any(key.endswith(VIEWS_SUFFIX) for key in collections)
        if wants_views and len(views) < 2:
            names = [e.name for e in self.entries if e.inputs == "views"]
            raise ValueError(
                f"RepresentationMetrics: {names} need m >= 2 augmented views per image, but "
                "the loader yields one image tensor per batch; give it a dataset whose samples "
                "are (views, ...) with views a list of m image tensors, or drop them from "
                "`metrics`."
            )
        with LayerOutputs(pl_module, self.layers) as layer_outputs:  # of the first view
            embedded = [self.embed_fn(pl_module, views[0].to(pl_module.device))]
        silent = [name for name in self.layers if name not in layer_outputs]
        if silent:
            raise ValueError(f"`layers` {silent} did not run in the forward pass of `embed`.")
        embedded += [
            self.embed_fn(pl_module, view.to(pl_module.device))
            for view in (views[1:] if wants_views else ())
        ]
        features, embeddings = embedded[0]
        inputs = {"backbone": features, "embedding": embeddings}
        inputs.update({f"layer:{name}": value for name, value in layer_outputs.items()})
        for key, collection in collections.items():
            if key == "pair":
                collection.update(features, embeddings)
            elif key.endswith(VIEWS_SUFFIX):
                index = SPACES.index(key.removesuffix(VIEWS_SUFFIX))
                collection.update(torch.stack([pair[index] for pair in embedded], dim=1))
            else:
                collection.update(inputs[key])
        return features, embeddings

    @torch.no_grad()
    def check(self, pl_module) -> None:
        """Compute every metric on the first batch; raise ``ValueError`` if one cannot be.

        Run at the start of fit, so that e.g. a projector too narrow for α's fit
        range fails before training rather than after the first epochs.
        """
        collections = self._collections(pl_module.device, sync_on_compute=False)
        with eval_mode(pl_module):
            features, embeddings = self._embed_and_update(
                pl_module, collections, next(iter(self.dataloader))
            )
        for key, collection in collections.items():
            for name, metric in collection.items(keep_base=True):
                try:
                    metric.compute()
                except ValueError as error:
                    space = key.removesuffix(VIEWS_SUFFIX).removeprefix("layer:")
                    where = f"the {space} space" if space in SPACES else "(R, Z)"
                    if key.startswith("layer:"):
                        where = f"the output of layer {space!r}"
                    raise ValueError(
                        f"RepresentationMetrics cannot compute {name!r} on {where} "
                        f"(features {tuple(features.shape)}, embeddings "
                        f"{tuple(embeddings.shape)}): {error} Drop it from `metrics` or "
                        "configure the metric."
                    ) from error

    def on_fit_start(self, trainer, pl_module) -> None:
        self.check(pl_module)

    @torch.no_grad()
    def compute(self, pl_module) -> dict[str, float]:
        """Measure the metrics of ``pl_module`` on the loader now (works without a Trainer too)."""
        world_size, rank = distributed.world_size(), distributed.rank()
        if world_size > 1:
            broadcast_buffers(pl_module)
        collections = self._collections(pl_module.device)
        seen = 0
        with eval_mode(pl_module):
            for batch_idx, batch in enumerate(self.dataloader):
                if self.max_batches is not None and batch_idx >= self.max_batches:
                    break
                seen += 1
                if batch_idx % world_size != rank:
                    continue
                self._embed_and_update(pl_module, collections, batch)
        if seen < world_size:
            raise ValueError(
                f"RepresentationMetrics: the loader gave {seen} batch(es) for {world_size} "
                "processes; every process needs at least one (use a smaller batch size)."
            )
        values: dict[str, float] = {}
        for collection in collections.values():
            values.update({key: float(value) for key, value in collection.compute().items()})
        return values

    def _should_measure(self, trainer) -> bool:
        epoch = trainer.current_epoch + 1
        last = trainer.max_epochs is not None and epoch >= trainer.max_epochs
        return epoch % self.every_n_epochs == 0 or last

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not self._should_measure(trainer):
            return
        values = self.compute(pl_module)
        for key, value in values.items():
            # Every process holds the same (already reduced) value; sync_dist keeps
            # Lightning from warning and averages identical numbers.
            pl_module.log(key, value, on_step=False, on_epoch=True, sync_dist=True)
        self.history.append({"epoch": trainer.current_epoch, "step": trainer.global_step, **values})

    def state_dict(self) -> dict[str, Any]:
        return {"history": list(self.history)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict["history"])
