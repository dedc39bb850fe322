"""Run a recipe's sweep through the training layer (:func:`req_plugins.lightly.train.train`).

Layout of an output folder (``--out``, default ``recipe_runs/<recipe>/<scale>``)::

    runs/<run_id>/seed<k>.yaml     the req-train config of the run
    runs/<run_id>/seed<k>/         the req-train run folder (config.yaml, checkpoints/, logs/ ...)
    runs/<run_id>/seed<k>.json     the finished run's record (results, accuracy curve, timings)
    results.csv, curves.csv, report.md, plots/*.png   (written by req_plugins.recipes.report)

A sweep resumes where it stopped: finished runs (record present, same config)
are read back, an interrupted run restarts from its ``last.ckpt`` (its accuracy
curve is part of the checkpoint), anything else is run from scratch.

Three small callbacks add what the recipes need to a req-train run, through
``train(config, callbacks=...)``:

* :class:`EpochProgress` — training wall time and mean SSL loss per epoch, and a
  held-out accuracy curve (kNN or linear probe on frozen backbone features);
* :class:`DataFraction` — pretrain on a fixed random fraction of the unlabelled
  images (thesis Table 3). req-train has no such option, so this adapter
  replaces the dataset behind the multi-view training set before the loaders
  are built; probes still use the full labelled split, as in the paper;
* :class:`AlphaTiming` — α-ReQ Table 1: time α against a linear probe on the
  same features once training ends.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import statistics
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from torch.utils.data import Subset

from req_plugins._validation import check_choice
from req_plugins.callbacks import DualCallback
from req_plugins.recipes.recipe import Recipe, RunSpec, Scale

PROGRESS_METRICS = ("knn", "linear", "none")


@dataclass
class RunRecord:
    """What one finished run contributes to the report."""

    run_id: str
    labels: dict[str, Any]
    values: dict[str, Any]
    seed: int
    results: dict[str, Any]
    curve: list[dict[str, float]]
    extra: dict[str, Any]
    run_dir: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


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
        seed: int = 0,
    ) -> None:
        check_choice(metric, "progress.metric", PROGRESS_METRICS)
        if not isinstance(every_n_epochs, int) or every_n_epochs < 1:
            raise ValueError(
                f"`progress.every_n_epochs` must be an integer >= 1, got {every_n_epochs!r}."
            )
        self.metric = metric
        self.every_n_epochs = every_n_epochs
        self.knn = {"k": knn_k, "temperature": knn_t}
        self.linear = {"epochs": linear_epochs, "lr": linear_lr, "seed": seed}
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
        last = epoch >= trainer.max_epochs
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


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        node = nested
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"config key {key!r} conflicts with a value set at {part!r}.")
        node[leaf] = value
    return nested


def _flat(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def run_config(
    recipe: Recipe, spec: RunSpec, run_dir: Path, data_path: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(req-train config as a nested dict, runner options)`` of one run."""
    flat = _flat(recipe.train)
    flat.update(spec.overrides)
    options = {k: flat.pop(k) for k in list(flat) if k.startswith("recipe.")}
    unknown = sorted(set(options) - {"recipe.data_fraction"})
    if unknown:
        raise ValueError(
            f"recipe {recipe.name!r}: unknown runner option(s) {unknown}; "
            "valid: recipe.data_fraction."
        )
    if data_path is not None:
        flat["data.path"] = data_path
    flat.update(
        {
            "seed": spec.seed,
            "output_dir": str(run_dir),
            "overwrite": True,
            "checkpoint.resume": None,
        }
    )
    flat.setdefault("trainer.progress_bar", False)
    return _nest(flat), options


@contextlib.contextmanager
def quiet_lightning(verbose: bool = False) -> Iterator[None]:
    """Silence Lightning's per-run banners and warnings unless ``verbose``."""
    if verbose:
        yield
        return
    loggers = [
        logging.getLogger(name) for name in ("pytorch_lightning", "lightning", "lightning.pytorch")
    ]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


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
        seed=config.seed,
    )


def _run_one(
    recipe: Recipe, scale: Scale, spec: RunSpec, out_dir: Path, data_path: str | None
) -> tuple[RunRecord, bool]:
    """Train (or read back) one run; return its record and whether it was read back."""
    from req_plugins.lightly.config import load_config
    from req_plugins.lightly.train import train

    base = out_dir / "runs" / spec.run_id
    run_dir = base / f"seed{spec.seed}"
    config_path = base / f"seed{spec.seed}.yaml"
    record_path = base / f"seed{spec.seed}.json"
    config_dict, options = run_config(recipe, spec, run_dir, data_path)
    # What else shapes the record (runner options, what is measured during and after training)
    # rides along as a comment: the file is req-train's config as it stands, and a change to
    # either means the run is not the same run.
    measured = dict(options)
    if scale.progress:
        measured["progress"] = scale.progress
    if scale.analysis.get("kind") == "alpha_timing":
        measured["alpha_timing"] = {k: scale.analysis.get(k) for k in ("repeats", "linear_epochs")}
    text = f"# recipe options: {json.dumps(measured, sort_keys=True)}\n" + yaml.safe_dump(
        config_dict, sort_keys=True
    )
    same_run = config_path.is_file() and config_path.read_text() == text
    if same_run and record_path.is_file():
        return RunRecord(**json.loads(record_path.read_text())), True

    resume = same_run and (run_dir / "checkpoints" / "last.ckpt").is_file()
    if not resume:
        record_path.unlink(missing_ok=True)
        if run_dir.exists():
            shutil.rmtree(run_dir)
    base.mkdir(parents=True, exist_ok=True)
    config_path.write_text(text)
    # Loading the file goes through req-train's own validation (unknown keys, types).
    config = load_config(config_path, ["checkpoint.resume=last"] if resume else [])
    progress = _progress_callback(scale, config)
    callbacks = [progress]
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
    results = train(config, callbacks=callbacks)
    results.pop("plots", None)
    extra = {"data_fraction": options.get("recipe.data_fraction", 1.0)}
    if timing is not None:
        extra.update(timing.timings)
    record = RunRecord(
        run_id=spec.run_id,
        labels=spec.labels,
        values=spec.values,
        seed=spec.seed,
        results=results,
        curve=progress.history,
        extra=extra,
        run_dir=str(run_dir),
    )
    for checkpoint in (run_dir / "checkpoints").glob("*.ckpt"):
        if checkpoint.name != "last.ckpt":  # keep last.ckpt for req-select, drop duplicates
            checkpoint.unlink()
    record_path.write_text(json.dumps(record.to_json(), indent=2, default=float))
    return record, False


def run_sweep(
    recipe: Recipe,
    scale: Scale,
    out_dir: Path,
    *,
    data_path: str | None = None,
    verbose: bool = False,
    log=print,
) -> list[RunRecord]:
    """Run (or resume) every run of ``scale``; return their records in sweep order."""
    specs = recipe.runs(scale)
    records = []
    with _torch_threads(scale.torch_threads), quiet_lightning(verbose):
        for index, spec in enumerate(specs, 1):
            start = time.perf_counter()
            name = ", ".join(f"{k}={v}" for k, v in spec.labels.items())
            record, reused = _run_one(recipe, scale, spec, out_dir, data_path)
            note = "read back" if reused else f"{time.perf_counter() - start:.1f} s"
            accuracy = record.results.get("linear_top1")
            shown = f", linear {100 * accuracy:.1f}%" if accuracy is not None else ""
            log(f"[{index}/{len(specs)}] {name}, seed {spec.seed}: {note}{shown}")
            records.append(record)
    return records
