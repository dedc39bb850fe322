"""Build and run a ``req-train`` job from a validated config.

Everything that can fail on bad input (method name and arguments, data path,
backbone, trainer settings, resume checkpoint, output folder) is built and
checked in :func:`prepare_run` before anything is written; only then does
:func:`train` create the output folder, train, evaluate and plot.

Output folder::

    config.yaml          the resolved config of the run
    logs/metrics.csv     CSV logger (train loss, online classifier, repr/*, spectrum/*)
    tensorboard/         TensorBoard logger (logging.tensorboard=true)
    checkpoints/         last.ckpt and the latest epoch checkpoint
    plots/*.png          eigenspectrum, metric and eigenvalue trajectories
    results.json         the final table
"""

from __future__ import annotations

import copy
import inspect
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning import Callback, Trainer, seed_everything
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger
from pytorch_lightning.utilities import rank_zero_only

from req_plugins.callbacks import (
    RepresentationMetrics,
    SpectrumTracker,
    plot_eigenspectrum,
    plot_eigenvalue_trajectories,
    plot_metric_trajectories,
)
from req_plugins.callbacks._base import eval_mode
from req_plugins.functional import eigenspectrum
from req_plugins.lightly.backbones import build_backbone
from req_plugins.lightly.data import SSLDataModule, build_data
from req_plugins.lightly.evaluation import extract_features, knn_accuracy, linear_probe_accuracy
from req_plugins.lightly.methods.base import SSLMethod

CONFIG_FILE = "config.yaml"
# Constructor arguments that req-train fills from the config's other sections.
_FILLED_BY_RUNNER = {
    "self",
    "backbone",
    "feature_dim",
    "num_classes",
    "num_views",
    "projection_hidden_dim",
    "projection_output_dim",
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


def _check_output_dir(config: DictConfig, output_dir: Path, resuming: bool) -> None:
    if resuming or not output_dir.exists() or not any(output_dir.iterdir()):
        return
    if not config.overwrite:
        raise ValueError(
            f"`output_dir` {str(output_dir)!r} already holds files; choose another folder, "
            "resume with checkpoint.resume=last, or set overwrite=true."
        )
    if not (output_dir / CONFIG_FILE).is_file():
        raise ValueError(
            f"`output_dir` {str(output_dir)!r} is not a req-train run folder (no {CONFIG_FILE}); "
            "overwrite=true only replaces run folders."
        )


def _resume_path(config: DictConfig, output_dir: Path) -> str | None:
    resume = config.checkpoint.resume
    if resume is None:
        return None
    path = output_dir / "checkpoints" / "last.ckpt" if resume == "last" else Path(resume)
    if not path.is_file():
        raise ValueError(f"`checkpoint.resume`: no checkpoint at {str(path)!r}.")
    return str(path)


def _loggers(config: DictConfig, output_dir: Path) -> list:
    loggers = []
    if config.logging.csv:
        loggers.append(CSVLogger(save_dir=str(output_dir), name="logs", version=""))
    if config.logging.tensorboard:
        try:
            loggers.append(
                TensorBoardLogger(save_dir=str(output_dir), name="tensorboard", version="")
            )
        except ModuleNotFoundError as error:
            raise ValueError(
                f"`logging.tensorboard=true` needs the tensorboard package ({error}); "
                "pip install tensorboard."
            ) from error
    return loggers


def prepare_run(config: DictConfig, *, registry=None, callbacks: list[Callback] = ()) -> Run:
    """Build every object of the run from ``config``; raise ``ValueError`` on bad input."""
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
    resume_from = _resume_path(config, output_dir)
    if rank_zero_only.rank == 0:  # DDP children re-run the command while rank 0 trains
        _check_output_dir(config, output_dir, resume_from is not None)

    data = build_data(
        config.data.name,
        config.data.path,
        num_views=config.data.num_views,
        augmentation=OmegaConf.to_container(config.data.augmentation),
        download=config.data.download,
        fraction=config.data.fraction,
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
    module = method_cls(
        backbone,
        feature_dim,
        data.info.num_classes,
        num_views=config.data.num_views,
        projection_hidden_dim=config.projector.hidden_dim,
        projection_output_dim=config.projector.output_dim,
        optimizer=config.optimizer.name,
        lr=config.optimizer.lr,
        weight_decay=config.optimizer.weight_decay,
        momentum=config.optimizer.momentum,
        scheduler=config.scheduler.name,
        warmup_epochs=config.scheduler.warmup_epochs,
        **method_kwargs,
    )
    initial_backbone = copy.deepcopy(backbone) if config.eval.random_init_reference else None

    heldout = datamodule.eval_dataloader("test")
    representation_metrics = RepresentationMetrics(
        heldout,
        every_n_epochs=config.metrics.every_n_epochs,
        metrics=list(config.metrics.names),
        max_batches=config.metrics.max_batches,
        registry=registry,
    )
    run_callbacks = list(callbacks)
    if config.metrics.enabled:
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
                dirpath=str(output_dir / "checkpoints"),
                every_n_epochs=config.checkpoint.every_n_epochs,
                save_last=True,
            )
        )
    devices = config.trainer.devices
    devices = OmegaConf.to_container(devices) if OmegaConf.is_config(devices) else devices
    try:
        trainer = Trainer(
            max_epochs=config.trainer.max_epochs,
            max_steps=config.trainer.max_steps,
            accelerator=config.trainer.accelerator,
            devices=devices,
            num_nodes=config.trainer.num_nodes,
            strategy=config.trainer.strategy,
            precision=config.trainer.precision,
            logger=_loggers(config, output_dir) or False,
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
        raise ValueError(f"invalid `trainer` settings: {error}") from error
    return Run(
        config,
        output_dir,
        module,
        datamodule,
        trainer,
        representation_metrics,
        spectrum_tracker,
        resume_from,
        initial_backbone,
    )


def _evaluate_backbone(run: Run, backbone: torch.nn.Module) -> dict[str, float]:
    config, datamodule = run.config, run.datamodule
    train = extract_features(backbone, datamodule.eval_dataloader("train"))
    test = extract_features(backbone, datamodule.eval_dataloader("test"))
    num_classes = datamodule.data.info.num_classes
    results = {}
    if config.eval.knn:
        results["knn_top1"] = knn_accuracy(
            *train,
            *test,
            num_classes=num_classes,
            k=config.eval.knn_k,
            temperature=config.eval.knn_t,
        )
    if config.eval.linear:
        results["linear_top1"] = linear_probe_accuracy(
            *train,
            *test,
            num_classes=num_classes,
            epochs=config.eval.linear_epochs,
            lr=config.eval.linear_lr,
            batch_size=config.eval.linear_batch_size,
            seed=config.seed,
        )
    return results


def _plot(run: Run) -> list[Path]:
    plots = run.output_dir / "plots"
    module = run.module
    device = next(module.parameters()).device
    outputs = {"backbone": [], "embedding": []}
    with torch.no_grad(), eval_mode(module):
        for images, _ in run.datamodule.eval_dataloader("test"):
            features, embeddings = module.embed(images.to(device))
            outputs["backbone"].append(features.cpu())
            outputs["embedding"].append(embeddings.cpu())
    spectra = {
        f"{space} ({torch.cat(values).shape[1]}-d)": eigenspectrum(torch.cat(values))
        for space, values in outputs.items()
    }
    written = [
        plot_eigenspectrum(spectra, plots / "eigenspectrum.png", title="Held-out eigenspectrum")
    ]
    if run.representation_metrics.history:
        written.append(
            plot_metric_trajectories(run.representation_metrics.history, plots / "metrics.png")
        )
    if run.spectrum_tracker is not None and run.spectrum_tracker.history:
        written.append(
            plot_eigenvalue_trajectories(
                run.spectrum_tracker.history, plots / "eigenvalue_trajectories.png"
            )
        )
    return written


def train(config: DictConfig, *, registry=None, callbacks: list[Callback] = ()) -> dict[str, Any]:
    """Train, evaluate and plot; return the results table (empty dict on non-zero ranks)."""
    start = time.perf_counter()
    run = prepare_run(config, registry=registry, callbacks=callbacks)
    if run.trainer.is_global_zero:
        if run.output_dir.exists() and config.overwrite and run.resume_from is None:
            shutil.rmtree(run.output_dir)
        run.output_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(config, run.output_dir / CONFIG_FILE)
    fit_start = time.perf_counter()
    run.trainer.fit(run.module, datamodule=run.datamodule, ckpt_path=run.resume_from)
    train_time = time.perf_counter() - fit_start
    if not run.trainer.is_global_zero:
        return {}

    results: dict[str, Any] = {
        "method": config.method.name,
        "num_views": config.data.num_views,
        "projector_dim": config.projector.output_dim,
        "epochs": run.trainer.current_epoch,
    }
    results.update(_evaluate_backbone(run, run.module.backbone))
    history = run.representation_metrics.history
    final_epoch = run.trainer.current_epoch - 1
    if config.metrics.enabled and history and history[-1]["epoch"] == final_epoch:
        final = {k: v for k, v in history[-1].items() if k not in ("epoch", "step")}
    else:
        final = run.representation_metrics.compute(run.module)
    results.update(final)
    if run.initial_backbone is not None:
        reference = _evaluate_backbone(run, run.initial_backbone.to(run.module.device))
        results.update({f"random_init_{key}": value for key, value in reference.items()})
    if config.plots:
        results["plots"] = [str(path) for path in _plot(run)]
    results["train_time_s"] = train_time
    results["total_time_s"] = time.perf_counter() - start
    (run.output_dir / "results.json").write_text(json.dumps(results, indent=2))
    return results


def format_results(results: dict[str, Any]) -> str:
    """The results as an aligned two-column table."""
    names = {
        "knn_top1": "kNN top-1 (test)",
        "linear_top1": "linear probe top-1 (test)",
        "random_init_knn_top1": "  same, random-init backbone: kNN",
        "random_init_linear_top1": "  same, random-init backbone: linear",
        "repr/backbone_alpha": "alpha, backbone features",
        "repr/embedding_alpha": "alpha, embeddings",
        "repr/backbone_effective_rank": "effective rank, backbone",
        "repr/embedding_effective_rank": "effective rank, embeddings",
        "repr/mutual_information": "I(R;Z)",
        "train_time_s": "training wall time (s)",
        "total_time_s": "total wall time (s)",
    }
    rows = [
        (
            "method",
            f"{results['method']} ({results['num_views']} views, "
            f"projector d={results['projector_dim']}, {results['epochs']} epochs)",
        )
    ]
    for key, value in results.items():
        if key in ("method", "num_views", "projector_dim", "epochs", "plots"):
            continue
        text = (
            f"{value:.4f}"
            if isinstance(value, float) and not key.endswith("_s")
            else (f"{value:.1f}" if isinstance(value, float) else str(value))
        )
        rows.append((names.get(key, key), text))
    if "plots" in results:
        rows.append(("plots", ", ".join(results["plots"])))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)
