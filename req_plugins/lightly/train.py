"""Build and run a ``req-train`` job from a validated config.

Everything that can fail on bad input (method name and arguments, data path,
backbone, trainer settings, batch vs dataset, metrics vs projector width, resume
checkpoint, output folder) is built and checked in :func:`prepare_run` before
anything is written (:class:`ConfigError`); only then does :func:`train` lock the
output folder, train, evaluate and plot. A failure after that is a training failure
and propagates with its traceback.

Output folder (the run-folder contract is stated in docs/training.md)::

    .lock                held (flock) by the live run; names its pid
    config.yaml          the resolved config of the run
    logs/metrics.csv     CSV logger, appended (train loss, online classifier, repr/*, spectrum/*)
    logs/hparams.yaml    the method's hyperparameters
    tensorboard/         TensorBoard logger (logging.tensorboard=true), plots as images
    wandb/               W&B run (logging.wandb=true), plots as images
    checkpoints/         last.ckpt and the latest epoch checkpoint
    plots/*.png          eigenspectrum, metric and eigenvalue trajectories
    results.json         the final table

Every file is replaced atomically (temporary file + rename), so a kill at any
moment leaves the previous version.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning import Callback, Trainer, seed_everything
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities import rank_zero_only

from req_plugins.callbacks import (
    RepresentationMetrics,
    SpectrumTracker,
)
from req_plugins.callbacks.layers import resolve_layers
from req_plugins.lightly.backbones import build_backbone
from req_plugins.lightly.data.datamodule import SSLDataModule, build_data
from req_plugins.lightly.data.views import SmallCrops
from req_plugins.lightly.loggers import finish_loggers, run_loggers
from req_plugins.lightly.methods.base import SSLMethod
from req_plugins.lightly.report import evaluate_backbone, plot_run
from req_plugins.lightly.resume import (
    CHECKPOINT_DIR,
    RESULTS_FILE,
    check_fits_model,
    check_same_run,
    finished,
    finished_results,
    resume_checkpoint,
)
from req_plugins.lightly.run_folder import check_output_dir, check_writable, start_run_folder
from req_plugins.lightly.run_io import AtomicCheckpointIO, RunClock, StderrProgressBar
from req_plugins.lightly.schema import ConfigError, process_count
from req_plugins.modes import torch_threads
from req_plugins.rundir import RunLock, atomic_write_text

# Constructor arguments that req-train fills from the config's other sections.
_FILLED_BY_RUNNER = {
    "self",
    "backbone",
    "feature_dim",
    "num_classes",
    "num_views",
    "projection_hidden_dim",
    "projection_output_dim",
    "projection_num_layers",
}
_OPTIMIZER_ARGS = set(inspect.signature(SSLMethod.__init__).parameters) - _FILLED_BY_RUNNER


def method_arguments(method_cls: type) -> list[str]:
    """Names the ``method:`` config section may set for ``method_cls``."""
    parameters = inspect.signature(method_cls.__init__).parameters.values()
    return [
        p.name
        for p in parameters
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and p.name not in _FILLED_BY_RUNNER | _OPTIMIZER_ARGS
    ]


@dataclass
class Run:
    """A validated, fully built run that has not written anything yet."""

    config: DictConfig
    output_dir: Path
    module: SSLMethod
    datamodule: SSLDataModule
    trainer: Trainer
    representation_metrics: RepresentationMetrics
    spectrum_tracker: SpectrumTracker | None
    resume_from: str | None
    initial_backbone: torch.nn.Module | None
    clock: RunClock
    finished: bool = False  # resuming a run that already reached its end
    callbacks: tuple[Callback, ...] = ()  # the caller's callbacks


def _check_batch_fits_data(config: DictConfig, num_images: int) -> None:
    processes = max(1, process_count(config))
    if num_images // processes < config.data.batch_size // processes:
        raise ConfigError(
            f"`data.batch_size`={config.data.batch_size} is larger than the training set "
            f"({num_images} images at `data.fraction`={config.data.fraction}); no full batch "
            f"can be drawn: use a batch of at most {num_images // processes * processes}."
        )


def _check_layers(config: DictConfig, module) -> None:
    try:
        resolve_layers(module, list(config.metrics.layers))
    except ValueError as error:
        raise ConfigError(f"`metrics.layers`={list(config.metrics.layers)}: {error}") from error


def _check_metrics_fit(config: DictConfig, metrics: RepresentationMetrics, module) -> None:
    """The metrics can be computed on this model's outputs (e.g. a projector wide enough)."""
    try:
        metrics.check(module)
    except ValueError as error:
        raise ConfigError(
            f"`metrics.names`={list(config.metrics.names)} cannot be measured with "
            f"`projector.output_dim`={config.projector.output_dim} (embeddings) and this "
            f"backbone's features: {error}"
        ) from error


def _projector_layers(config: DictConfig, method_cls: type) -> dict[str, int]:
    """``projection_num_layers`` if ``projector.num_layers`` is set (the method must take it)."""
    if config.projector.num_layers is None:
        return {}
    if "projection_num_layers" not in inspect.signature(method_cls.__init__).parameters:
        raise ConfigError(
            f"`projector.num_layers`={config.projector.num_layers}: method "
            f"{config.method.name!r} builds its own projector and does not take it; "
            "leave it null."
        )
    return {"projection_num_layers": config.projector.num_layers}


def _heldout_views(config: DictConfig, registry) -> int:
    """Views per held-out image: ``metrics.lidar_views`` if a ``views`` metric is named, else 0."""
    entries = [registry.get_metric(name) for name in config.metrics.names]
    return config.metrics.lidar_views if any(e.inputs == "views" for e in entries) else 0


def prepare_run(config: DictConfig, *, registry=None, callbacks: list[Callback] = ()) -> Run:
    """Build every object of the run from ``config``; raise ``ValueError`` on bad input.

    Reads only: nothing is written to disk here.
    """
    if registry is None:
        from req_plugins.plugins import get_registry

        registry = get_registry()
    method_cls = registry.get_method(config.method.name, "lightning").load()
    method_kwargs = OmegaConf.to_container(config.method)
    del method_kwargs["name"]
    valid = method_arguments(method_cls)
    unknown = sorted(set(method_kwargs) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown key(s) {unknown} in `method` for {config.method.name!r}; valid keys: "
            f"name, {', '.join(valid)} (projector, optimizer and scheduler have their own "
            "sections)."
        )
    output_dir = Path(config.output_dir)
    check_writable(output_dir)
    resume = resume_checkpoint(config, output_dir)
    if resume is not None:
        check_same_run(config, output_dir)
    if rank_zero_only.rank == 0:  # DDP children re-run the command while rank 0 trains
        check_output_dir(config, output_dir, resume is not None)

    small_crops = SmallCrops(**OmegaConf.to_container(config.data.small_crops))
    data = build_data(
        config.data.name,
        config.data.path,
        num_views=config.data.num_views,
        augmentation=OmegaConf.to_container(config.data.augmentation),
        augment_on=config.data.augment_on,
        download=config.data.download,
        fraction=config.data.fraction,
        small_crops=small_crops,
        heldout_views=_heldout_views(config, registry),
        seed=config.seed,
    )
    datamodule = SSLDataModule(
        data,
        batch_size=config.data.batch_size,
        num_workers=config.data.num_workers,
        seed=config.seed,
    )
    seed_everything(config.seed, workers=True, verbose=False)
    backbone, feature_dim = build_backbone(
        config.backbone.name,
        in_channels=data.info.in_channels,
        cifar_stem=config.backbone.cifar_stem,
        width=config.backbone.width,
    )
    head = _projector_layers(config, method_cls)
    module = method_cls(
        backbone,
        feature_dim,
        data.info.num_classes,
        num_views=config.data.num_views + small_crops.num,  # every crop is a view
        projection_hidden_dim=config.projector.hidden_dim,
        projection_output_dim=config.projector.output_dim,
        optimizer=config.optimizer.name,
        lr=config.optimizer.lr,
        weight_decay=config.optimizer.weight_decay,
        momentum=config.optimizer.momentum,
        scheduler=config.scheduler.name,
        warmup_epochs=config.scheduler.warmup_epochs,
        **head,
        **method_kwargs,
    )
    if resume is not None:
        check_fits_model(module, *resume)
    _check_batch_fits_data(config, len(data.train_views))
    initial_backbone = copy.deepcopy(backbone) if config.eval.random_init_reference else None

    heldout = datamodule.eval_dataloader("test")
    representation_metrics = RepresentationMetrics(
        heldout if data.test_views is None else datamodule.eval_dataloader("test_views"),
        every_n_epochs=config.metrics.every_n_epochs,
        metrics=list(config.metrics.names),
        max_batches=config.metrics.max_batches,
        registry=registry,
        layers=list(config.metrics.layers),
    )
    clock = RunClock()
    run_callbacks = [*callbacks, clock]
    if config.metrics.enabled:
        _check_layers(config, module)
        _check_metrics_fit(config, representation_metrics, module)
        run_callbacks.append(representation_metrics)
    spectrum_tracker = None
    if config.spectrum.enabled:
        spectrum_tracker = SpectrumTracker(
            heldout,
            every_n_steps=config.spectrum.every_n_steps,
            top_k=config.spectrum.top_k,
            max_batches=config.spectrum.max_batches,
        )
        run_callbacks.append(spectrum_tracker)
    if config.checkpoint.enabled:
        run_callbacks.append(
            ModelCheckpoint(
                dirpath=str(output_dir / CHECKPOINT_DIR),
                every_n_epochs=config.checkpoint.every_n_epochs,
                save_last=True,
            )
        )
    if config.trainer.progress_bar:
        run_callbacks.append(StderrProgressBar())
    devices = config.trainer.devices
    devices = OmegaConf.to_container(devices) if OmegaConf.is_config(devices) else devices
    # A resumed log keeps what was logged up to the checkpoint.
    keep_until = (resume[1]["epoch"], resume[1]["global_step"]) if resume is not None else None
    try:
        trainer = Trainer(
            max_epochs=config.trainer.max_epochs,
            max_steps=config.trainer.max_steps,
            accelerator=config.trainer.accelerator,
            devices=devices,
            num_nodes=config.trainer.num_nodes,
            strategy=config.trainer.strategy,
            precision=config.trainer.precision,
            logger=run_loggers(config, output_dir, keep_until) or False,
            plugins=[AtomicCheckpointIO()],
            callbacks=run_callbacks,
            enable_checkpointing=config.checkpoint.enabled,
            enable_progress_bar=config.trainer.progress_bar,
            enable_model_summary=False,
            log_every_n_steps=config.trainer.log_every_n_steps,
            check_val_every_n_epoch=config.trainer.check_val_every_n_epoch,
            num_sanity_val_steps=0,
            use_distributed_sampler=False,  # the datamodule shards with EpochSampler itself
            default_root_dir=str(output_dir),
        )
    except (
        ValueError,
        TypeError,
        RuntimeError,
    ) as error:  # Lightning's MisconfigurationException too
        raise ConfigError(f"invalid `trainer` settings: {error}") from error
    return Run(
        config,
        output_dir,
        module,
        datamodule,
        trainer,
        representation_metrics,
        spectrum_tracker,
        str(resume[0]) if resume is not None else None,
        initial_backbone,
        clock,
        finished=resume is not None and finished(config, resume[1]),
        callbacks=tuple(callbacks),
    )


def train(config: DictConfig, *, registry=None, callbacks: list[Callback] = ()) -> dict[str, Any]:
    """Train, evaluate and plot; return the results table (empty dict on non-zero ranks).

    Bad input raises :class:`ConfigError` before anything is written; another live run
    in the folder raises :class:`req_plugins.rundir.RunLockedError`. Resuming a finished
    run returns its results without training or writing anything.
    """
    start = time.perf_counter()
    try:
        run = prepare_run(config, registry=registry, callbacks=callbacks)
    except ConfigError:
        raise
    except ValueError as error:  # the modules building the run name the key
        raise ConfigError(str(error)) from error
    # DDP: only rank 0 writes; its children re-run the command and must not lock.
    lock = RunLock(run.output_dir) if run.trainer.is_global_zero else None
    try:
        lock is None or lock.acquire()
    except OSError as error:
        raise ConfigError(f"`output_dir` {str(run.output_dir)!r}: {error}") from error
    with lock or contextlib.nullcontext(), torch_threads(run.config.trainer.threads):
        if lock is not None:
            start_run_folder(run, lock)
        if run.finished and (results := finished_results(run)) is not None:
            return results
        return _fit_and_evaluate(run, start)


def _fit_and_evaluate(run: Run, start: float) -> dict[str, Any]:
    config = run.config
    try:
        run.trainer.fit(
            run.module, datamodule=run.datamodule, ckpt_path=run.resume_from, weights_only=True
        )
    except (KeyboardInterrupt, SystemExit):  # Lightning turns Ctrl+C into exit(1)
        if run.trainer.is_global_zero and config.checkpoint.enabled:
            print(
                "req-train: interrupted; continue with checkpoint.resume=last "
                f"(output_dir={config.output_dir}).",
                file=sys.stderr,
            )
        raise
    if not run.trainer.is_global_zero:
        return {}

    results: dict[str, Any] = {
        "method": config.method.name,
        "num_views": config.data.num_views,
        "projector_dim": config.projector.output_dim,
        "epochs": run.trainer.current_epoch,
    }
    if config.data.small_crops.num:
        results["small_crops"] = config.data.small_crops.num
    results.update(evaluate_backbone(run, run.module.backbone))
    history = run.representation_metrics.history
    final_epoch = run.trainer.current_epoch - 1
    if config.metrics.enabled and history and history[-1]["epoch"] == final_epoch:
        final = {k: v for k, v in history[-1].items() if k not in ("epoch", "step")}
    else:
        final = run.representation_metrics.compute(run.module)
    results.update(final)
    if run.initial_backbone is not None:
        reference = evaluate_backbone(run, run.initial_backbone.to(run.module.device))
        results.update({f"random_init_{key}": value for key, value in reference.items()})
    if config.plots:
        results["plots"] = [str(path) for path in plot_run(run)]
    results["train_time_s"] = run.clock.train_seconds  # every session's epochs, not this one's
    results["total_time_s"] = time.perf_counter() - start
    atomic_write_text(run.output_dir / RESULTS_FILE, json.dumps(results, indent=2))
    finish_loggers(run.trainer.loggers, results, results.get("plots", ()), run.trainer.global_step)
    return results
