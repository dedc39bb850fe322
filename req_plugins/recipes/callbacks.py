"""Callbacks that add what the recipes need to a req-train run (``train(config, callbacks=...)``):

* :class:`EpochProgress` — training wall time and mean SSL loss per epoch, and a
  held-out accuracy curve (kNN or linear probe on frozen backbone features);
* :class:`DataFraction` — pretrain on a fixed random fraction of the unlabelled
  images (thesis Table 3). req-train has no such option, so this adapter
  replaces the dataset behind the multi-view training set before the loaders
  are built; probes still use the full labelled split, as in the paper;
* :class:`AlphaTiming` — α-ReQ Table 1: time α against a linear probe on the
  same features once training ends.

:func:`recipe_callbacks` builds those a run of a recipe's scale needs.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch
from torch.utils.data import Subset

from req_plugins._validation import check_choice, check_int
from req_plugins.callbacks import DualCallback
from req_plugins.recipes.recipe import Scale

PROGRESS_METRICS = ("knn", "linear", "none")


class EpochProgress(DualCallback):
    """Per-epoch training wall time, mean SSL loss and (optionally) held-out accuracy.

    Training time is measured from the start to the end of each training epoch
    (data loading included, evaluation excluded). Accuracy is kNN (the run's
    ``eval.knn_k``/``knn_t``) or a linear probe on frozen backbone features of
    the labelled train/test splits, every ``every_n_epochs`` epochs and at the
    last epoch. The history is saved in checkpoints, so a resumed run keeps it.
    """

    #: Values a method logs that the recipes report at every epoch (AdaDim's α_t).
    LOGGED = ("adadim_alpha",)

    def __init__(
        self,
        *,
        metric: str = "knn",
        every_n_epochs: int = 1,
        knn_k: int = 20,
        knn_t: float = 0.1,
        linear_epochs: int = 100,
        linear_lr: float = 0.1,
        linear_batch_size: int = 256,
        linear_protocol: str = "sgd",
        seed: int = 0,
    ) -> None:
        check_choice(metric, "progress.metric", PROGRESS_METRICS)
        check_int(every_n_epochs, "progress.every_n_epochs", min_value=1)
        self.metric = metric
        self.every_n_epochs = every_n_epochs
        self.knn = {"k": knn_k, "temperature": knn_t}
        self.linear = {
            "epochs": linear_epochs,
            "lr": linear_lr,
            "batch_size": linear_batch_size,
            "protocol": linear_protocol,
            "seed": seed,
        }
        self.history: list[dict[str, float]] = []
        self._losses: list[float] = []
        self._start = 0.0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._losses = []
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = trainer.callback_metrics.get("train_loss")
        if loss is not None:
            self._losses.append(float(loss))

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        elapsed = time.perf_counter() - self._start
        epoch = trainer.current_epoch + 1
        previous = self.history[-1]["time_s"] if self.history else 0.0
        entry = {
            "epoch": epoch,
            "time_s": previous + elapsed,
            "ssl_loss": statistics.fmean(self._losses) if self._losses else float("nan"),
        }
        for key in self.LOGGED:
            if key in trainer.callback_metrics:
                entry[key] = float(trainer.callback_metrics[key])
        stopped = 0 < trainer.max_steps <= trainer.global_step  # trainer.max_steps ends the run
        last = epoch >= trainer.max_epochs or stopped
        if self.metric != "none" and (epoch % self.every_n_epochs == 0 or last):
            entry["accuracy"] = self._accuracy(trainer, pl_module)
        self.history.append(entry)

    def _accuracy(self, trainer, pl_module) -> float:
        from req_plugins.lightly.evaluation import (
            extract_features,
            knn_accuracy,
            linear_probe_accuracy,
        )

        datamodule = trainer.datamodule
        train = extract_features(pl_module, datamodule.eval_dataloader("train"))
        test = extract_features(pl_module, datamodule.eval_dataloader("test"))
        num_classes = datamodule.data.info.num_classes
        if self.metric == "knn":
            return knn_accuracy(*train, *test, num_classes=num_classes, **self.knn)
        return linear_probe_accuracy(*train, *test, num_classes=num_classes, **self.linear)

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict["history"])


class DataFraction(DualCallback):
    """Pretrain on a fixed random ``fraction`` of the unlabelled images (same subset for every
    seed and number of views, so that 4 views × 50% and 8 views × 25% see nested subsets)."""

    def __init__(self, fraction: float) -> None:
        if not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
            raise ValueError(f"`recipe.data_fraction` must be in (0, 1], got {fraction!r}.")
        self.fraction = float(fraction)

    def setup(self, trainer, pl_module, stage: str) -> None:
        views = trainer.datamodule.data.train_views
        dataset = views.dataset
        count = max(1, round(self.fraction * len(dataset)))
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))
        views.dataset = Subset(dataset, sorted(order[:count].tolist()))


class AlphaTiming(DualCallback):
    """α-ReQ Table 1: wall time of α (one eigendecomposition of the held-out features'
    covariance) against a linear probe trained on the same model's features.

    Features are extracted once (timed separately); each of ``repeats`` rounds
    times ``alpha_req`` on the test features and ``linear_probe_accuracy`` on the
    train/test features.
    """

    def __init__(self, *, repeats: int = 3, linear_epochs: int = 200, linear_lr: float = 0.1):
        self.repeats = repeats
        self.linear_epochs = linear_epochs
        self.linear_lr = linear_lr
        self.timings: dict[str, Any] = {}

    def on_train_end(self, trainer, pl_module) -> None:
        from req_plugins.functional import alpha_req
        from req_plugins.lightly.evaluation import extract_features, linear_probe_accuracy

        datamodule = trainer.datamodule
        start = time.perf_counter()
        train = extract_features(pl_module, datamodule.eval_dataloader("train"))
        test = extract_features(pl_module, datamodule.eval_dataloader("test"))
        extraction = time.perf_counter() - start
        alpha_req(test[0])  # warm-up: the first call pays for lazy initialisation, not for α
        alpha_times, probe_times = [], []
        for repeat in range(self.repeats):
            start = time.perf_counter()
            alpha = float(alpha_req(test[0]).alpha)
            alpha_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            accuracy = linear_probe_accuracy(
                *train,
                *test,
                num_classes=datamodule.data.info.num_classes,
                epochs=self.linear_epochs,
                lr=self.linear_lr,
                seed=repeat,
            )
            probe_times.append(time.perf_counter() - start)
        self.timings = {
            "alpha_time_s": alpha_times,
            "probe_time_s": probe_times,
            "extraction_time_s": extraction,
            "alpha": alpha,
            "probe_accuracy": accuracy,
            "num_train": len(train[0]),
            "num_test": len(test[0]),
            "feature_dim": train[0].shape[1],
        }


def _progress_callback(scale: Scale, config) -> EpochProgress:
    progress = dict(scale.progress or {"metric": "none"})
    unknown = sorted(set(progress) - {"metric", "every_n_epochs", "linear_epochs"})
    if unknown:
        raise ValueError(
            f"unknown `progress` key(s) {unknown}; valid: metric, every_n_epochs, linear_epochs."
        )
    return EpochProgress(
        metric=progress.get("metric", "knn"),
        every_n_epochs=progress.get("every_n_epochs", 1),
        knn_k=config.eval.knn_k,
        knn_t=config.eval.knn_t,
        linear_epochs=progress.get("linear_epochs", config.eval.linear_epochs),
        linear_lr=config.eval.linear_lr,
        linear_batch_size=config.eval.linear_batch_size,
        linear_protocol=config.eval.protocol,
        seed=config.seed,
    )


def recipe_callbacks(
    scale: Scale, config, options: dict[str, Any]
) -> tuple[EpochProgress, AlphaTiming | None, list]:
    """``(accuracy curve, α timing or None, every callback)`` that a run of ``scale`` adds to
    req-train."""
    progress = _progress_callback(scale, config)
    callbacks: list = [progress]
    if "recipe.data_fraction" in options:
        callbacks.append(DataFraction(options["recipe.data_fraction"]))
    timing = None
    if scale.analysis.get("kind") == "alpha_timing":
        timing = AlphaTiming(
            repeats=scale.analysis.get("repeats", 3),
            linear_epochs=scale.analysis.get("linear_epochs", config.eval.linear_epochs),
            linear_lr=config.eval.linear_lr,
        )
        callbacks.append(timing)
    return progress, timing, callbacks
