"""``req-solo-pretrain``: solo-learn pretraining from a solo-learn YAML, for multi-view methods.

Usage (same arguments as solo-learn's ``main_pretrain.py``)::

    req-solo-pretrain --config-path recipes/solo/cifar --config-name mv_barlow_twins_4views.yaml
    python -m req_plugins.solo.pretrain --config-path ... --config-name ... [hydra overrides]

Any solo-learn pretraining YAML works, solo-learn's own methods included. The
differences from ``main_pretrain.py``:

* more than 2 large crops are allowed for methods that declare
  ``supports_many_large_crops`` (all ``req_plugins`` solo methods), besides
  solo-learn's own exceptions (wmse, mae);
* every method registered for the ``"solo"`` framework is selectable, whether
  or not the start-up hook ran (``REQ_PLUGINS_NO_SOLO_AUTOLOAD``);
* ``devices`` may be an integer (``devices: 1`` on CPU);
* the project's metric callbacks and a CSV logger can be enabled from the YAML::

      req_callbacks:                 # measured on the validation loader (data.val_path)
        representation_metrics:      # kwargs of req_plugins.callbacks.RepresentationMetrics
          every_n_epochs: 5
        spectrum_tracker:            # kwargs of req_plugins.callbacks.SpectrumTracker
          every_n_steps: 200
      csv_logger:
        enabled: True
        dir: "trained_models/logs"

* every run gets its own folder: solo-learn's checkpointer names the run's
  folder ``<checkpoint.dir>/<method>/<version>`` after the logger's version, and
  a CSV logger numbers its versions per run name, so two runs of one method
  (different names, or the same name in different ``csv_logger.dir``) would
  share ``<method>/0`` and overwrite each other's ``args.json`` and checkpoints.
  Here the version is ``<name>-<UTC time>-<random>``, claimed by creating the
  folder; a run resumed from a checkpoint in ``<checkpoint.dir>/<method>/<version>/``
  keeps that version (see :func:`run_version`).

The run itself (data pipelines, checkpointing, auto-resume, wandb) is
solo-learn's, through its public functions.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Sequence

import hydra
import torch
from lightning.pytorch import Trainer, seed_everything
from lightning.pytorch.callbacks import Callback, LearningRateMonitor
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.strategies.ddp import DDPStrategy
from omegaconf import DictConfig, OmegaConf
from solo.args.pretrain import parse_cfg
from solo.data.classification_dataloader import prepare_data as prepare_classification_data
from solo.data.pretrain_dataloader import (
    FullTransformPipeline,
    NCropAugmentation,
    build_transform_pipeline,
    prepare_dataloader,
    prepare_datasets,
)
from solo.methods import METHODS
from solo.utils.auto_resumer import AutoResumer
from solo.utils.checkpointer import Checkpointer
from solo.utils.misc import make_contiguous, omegaconf_select

from req_plugins.solo.registration import add_plugin_methods

#: solo-learn's own methods that main_pretrain.py lets train on other than 2 large crops.
SOLO_METHODS_WITH_ANY_LARGE_CROPS = ("wmse", "mae")


def method_class(name: str) -> type:
    """The solo-learn method class registered as ``name`` (plugin methods included)."""
    add_plugin_methods(METHODS)
    if name not in METHODS:
        raise ValueError(
            f"unknown solo-learn method `method: {name}`; valid methods: {', '.join(METHODS)}."
        )
    return METHODS[name]


def check_large_crops(cfg: DictConfig, method_cls: type) -> None:
    """Allow m != 2 large crops only for methods that train on any number of views."""
    num_large_crops = cfg.data.num_large_crops
    if num_large_crops == 2:
        return
    if cfg.method in SOLO_METHODS_WITH_ANY_LARGE_CROPS:
        return
    if getattr(method_cls, "supports_many_large_crops", False):
        if num_large_crops < 1:
            raise ValueError("`augmentations` must produce at least one large crop.")
        return
    raise ValueError(
        f"method {cfg.method!r} trains on exactly 2 large crops, but `augmentations` gives "
        f"data.num_large_crops = {num_large_crops} (crops of the first pipeline's crop_size). "
        "Use a multi-view method (e.g. mv_barlow_twins, mv_vicreg) or add small crops instead."
    )


def parse_solo_cfg(cfg: DictConfig) -> DictConfig:
    """solo-learn's ``parse_cfg`` (defaults, crop counts, lr scaling), accepting ``devices: N``."""
    OmegaConf.set_struct(cfg, False)
    devices = omegaconf_select(cfg, "devices", 1)
    if isinstance(devices, int):
        # parse_cfg scales the lr by len(devices); Lightning wants an int on CPU.
        cfg.devices = list(range(devices))
        cfg = parse_cfg(cfg)
        cfg.devices = devices
        return cfg
    return parse_cfg(cfg)


def build_model(cfg: DictConfig, method_cls: type) -> torch.nn.Module:
    model = method_cls(cfg)
    make_contiguous(model)
    if not cfg.performance.disable_channel_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def build_val_loader(cfg: DictConfig):
    """solo-learn's validation loader, or None when the config has no validation data."""
    if cfg.data.val_path is None and cfg.data.dataset in ("custom", "imagenet100", "imagenet"):
        return None
    if cfg.data.dataset == "custom" and cfg.data.no_labels:
        return None
    _, val_loader = prepare_classification_data(
        cfg.data.dataset,
        train_data_path=cfg.data.train_path,
        val_data_path=cfg.data.val_path,
        data_format="image_folder" if cfg.data.format == "dali" else cfg.data.format,
        batch_size=cfg.optimizer.batch_size,
        num_workers=cfg.data.num_workers,
    )
    return val_loader


def build_train_data(cfg: DictConfig, val_loader):
    """The crops pipeline: a DataLoader, or solo-learn's DALI data module for ``format: dali``."""
    if cfg.data.format == "dali":
        from solo.data.dali_dataloader import PretrainDALIDataModule, build_transform_pipeline_dali

        transform = FullTransformPipeline(
            [
                NCropAugmentation(
                    build_transform_pipeline_dali(
                        cfg.data.dataset, aug, dali_device=cfg.dali.device
                    ),
                    aug.num_crops,
                )
                for aug in cfg.augmentations
            ]
        )
        datamodule = PretrainDALIDataModule(
            dataset=cfg.data.dataset,
            train_data_path=cfg.data.train_path,
            transforms=transform,
            num_large_crops=cfg.data.num_large_crops,
            num_small_crops=cfg.data.num_small_crops,
            num_workers=cfg.data.num_workers,
            batch_size=cfg.optimizer.batch_size,
            no_labels=cfg.data.no_labels,
            data_fraction=cfg.data.fraction,
            dali_device=cfg.dali.device,
            encode_indexes_into_labels=cfg.dali.encode_indexes_into_labels,
        )
        datamodule.val_dataloader = lambda: val_loader
        return datamodule

    transform = FullTransformPipeline(
        [
            NCropAugmentation(build_transform_pipeline(cfg.data.dataset, aug), aug.num_crops)
            for aug in cfg.augmentations
        ]
    )
    if cfg.debug_augmentations:
        print("Transforms:", transform, sep="\n")
    train_dataset = prepare_datasets(
        cfg.data.dataset,
        transform,
        train_data_path=cfg.data.train_path,
        data_format=cfg.data.format,
        no_labels=cfg.data.no_labels,
        data_fraction=cfg.data.fraction,
    )
    return prepare_dataloader(
        train_dataset, batch_size=cfg.optimizer.batch_size, num_workers=cfg.data.num_workers
    )


def resume_checkpoint(cfg: DictConfig) -> tuple[str | None, str | None]:
    """``(checkpoint path, wandb run id)`` to resume from: explicit, auto-resumed, or none."""
    if cfg.resume_from_checkpoint is not None:
        ckpt_path = cfg.resume_from_checkpoint
        del cfg.resume_from_checkpoint
        return ckpt_path, None
    if cfg.auto_resume.enabled:
        resumer = AutoResumer(
            checkpoint_dir=os.path.join(cfg.checkpoint.dir, cfg.method),
            max_hours=cfg.auto_resume.max_hours,
        )
        ckpt_path, wandb_run_id = resumer.find_checkpoint(cfg)
        if ckpt_path is not None:
            print(f"Resuming from previous checkpoint that matches specifications: '{ckpt_path}'")
        return ckpt_path, wandb_run_id
    return None, None


def metric_callbacks(cfg: DictConfig, val_loader) -> list[Callback]:
    """The ``req_callbacks`` section: the project's metric callbacks on the validation loader."""
    section = omegaconf_select(cfg, "req_callbacks", None)
    if not section:
        return []
    from req_plugins.callbacks import RepresentationMetrics, SpectrumTracker

    classes = {"representation_metrics": RepresentationMetrics, "spectrum_tracker": SpectrumTracker}
    unknown = sorted(set(section) - set(classes))
    if unknown:
        raise ValueError(
            f"unknown entries in `req_callbacks`: {unknown}; valid entries: {sorted(classes)}."
        )
    if val_loader is None:
        raise ValueError(
            "`req_callbacks` measure the model on held-out images: set `data.val_path`."
        )
    return [
        classes[name](val_loader, **OmegaConf.to_container(kwargs or {}, resolve=True))
        for name, kwargs in section.items()
    ]


#: Environment variable carrying the run's version to the processes Lightning starts for DDP.
RUN_VERSION_ENV = "REQ_SOLO_RUN_VERSION"


def run_version(cfg: DictConfig, ckpt_path: str | None) -> str:
    """The run's version: its folder name under ``<checkpoint.dir>/<method>/`` and the CSV
    logger's version.

    A run resumed from ``<checkpoint.dir>/<method>/<version>/*.ckpt`` keeps ``<version>``;
    a new run gets ``<name>-<UTC time>-<random>``, claimed by creating its checkpoint folder
    (so two runs started at once cannot pick the same). Processes that Lightning starts for
    DDP take their parent's version from :data:`RUN_VERSION_ENV` (set by :func:`pretrain`
    for the duration of ``fit``).
    """
    import datetime
    import secrets
    from pathlib import Path

    from lightning.pytorch.utilities import rank_zero_only

    if os.environ.get(RUN_VERSION_ENV):
        return os.environ[RUN_VERSION_ENV]
    runs = Path(cfg.checkpoint.dir, cfg.method).resolve()
    version = None
    if ckpt_path is not None and Path(ckpt_path).resolve().parent.parent == runs:
        version = Path(ckpt_path).resolve().parent.name
    while version is None:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
        version = f"{cfg.name}-{stamp}-{secrets.token_hex(3)}"
        if rank_zero_only.rank == 0 and cfg.checkpoint.enabled:
            try:
                (runs / version).mkdir(parents=True)
            except FileExistsError:
                version = None
    return version


def build_callbacks_and_loggers(cfg: DictConfig, model, val_loader, wandb_run_id, version=None):
    callbacks: list[Callback] = []
    loggers = []
    if cfg.checkpoint.enabled:
        callbacks.append(
            Checkpointer(
                cfg,
                logdir=os.path.join(cfg.checkpoint.dir, cfg.method),
                frequency=cfg.checkpoint.frequency,
                keep_prev=cfg.checkpoint.keep_prev,
            )
        )
    if omegaconf_select(cfg, "auto_umap.enabled", False):
        from solo.utils.auto_umap import AutoUMAP

        callbacks.append(
            AutoUMAP(
                cfg.name,
                logdir=os.path.join(cfg.auto_umap.dir, cfg.method),
                frequency=cfg.auto_umap.frequency,
            )
        )
    callbacks += metric_callbacks(cfg, val_loader)

    if cfg.wandb.enabled:
        from lightning.pytorch.loggers.wandb import WandbLogger

        wandb_logger = WandbLogger(
            name=cfg.name,
            project=cfg.wandb.project,
            entity=cfg.wandb.entity,
            offline=cfg.wandb.offline,
            resume="allow" if wandb_run_id else None,
            id=wandb_run_id,
        )
        wandb_logger.watch(model, log="gradients", log_freq=100)
        wandb_logger.log_hyperparams(OmegaConf.to_container(cfg))
        loggers.append(wandb_logger)
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    if omegaconf_select(cfg, "csv_logger.enabled", False):
        csv_dir = omegaconf_select(cfg, "csv_logger.dir", "trained_models/logs")
        loggers.append(CSVLogger(csv_dir, cfg.name, version=version))
    return callbacks, loggers


def build_trainer(cfg: DictConfig, callbacks: list[Callback], loggers: list) -> Trainer:
    """A Trainer from the config's Lightning arguments (other keys are solo-learn's or ours)."""
    settings = OmegaConf.to_container(cfg)
    valid = inspect.signature(Trainer.__init__).parameters
    kwargs = {name: settings[name] for name in valid if name in settings}
    strategy = cfg.strategy
    if strategy == "ddp":
        strategy = DDPStrategy(find_unused_parameters=False)
    kwargs.update(
        logger=loggers or None,
        callbacks=callbacks,
        enable_checkpointing=False,
        strategy=strategy if strategy is not None else "auto",
    )
    return Trainer(**kwargs)


def pretrain(cfg: DictConfig) -> Trainer:
    """Run solo-learn pretraining for ``cfg`` (a composed solo-learn YAML); returns the Trainer."""
    cfg = parse_solo_cfg(cfg)
    method_cls = method_class(cfg.method)
    check_large_crops(cfg, method_cls)
    seed_everything(cfg.seed)

    model = build_model(cfg, method_cls)
    val_loader = build_val_loader(cfg)
    train_data = build_train_data(cfg, val_loader)
    ckpt_path, wandb_run_id = resume_checkpoint(cfg)
    # wandb names runs uniquely itself; without any logger solo-learn picks a random folder.
    csv_only = omegaconf_select(cfg, "csv_logger.enabled", False) and not cfg.wandb.enabled
    version = run_version(cfg, ckpt_path) if csv_only else None
    callbacks, loggers = build_callbacks_and_loggers(cfg, model, val_loader, wandb_run_id, version)
    trainer = build_trainer(cfg, callbacks, loggers)

    inherited = os.environ.get(RUN_VERSION_ENV)
    if version is not None:
        os.environ[RUN_VERSION_ENV] = version  # for the processes Lightning starts for DDP
    try:
        if cfg.data.format == "dali":
            trainer.fit(model, ckpt_path=ckpt_path, datamodule=train_data)
        else:
            trainer.fit(model, train_data, val_loader, ckpt_path=ckpt_path)
    finally:
        if inherited is None:
            os.environ.pop(RUN_VERSION_ENV, None)
    return trainer


def absolute_config_path(argv: Sequence[str]) -> list[str]:
    """Make ``--config-path``/``-cp`` relative to the working directory, as users expect.

    Hydra resolves a relative config path against the file that declares the
    entry point, which for an installed console script is inside site-packages.
    """
    argv = list(argv)
    for index, arg in enumerate(argv):
        for flag in ("--config-path", "-cp"):
            if arg == flag and index + 1 < len(argv):
                argv[index + 1] = os.path.abspath(argv[index + 1])
            elif arg.startswith(flag + "="):
                argv[index] = f"{flag}={os.path.abspath(arg.split('=', 1)[1])}"
    return argv


@hydra.main(version_base="1.2", config_path=None, config_name=None)
def _hydra_main(cfg: DictConfig) -> None:
    pretrain(cfg)


def main() -> None:
    """Console entry point of ``req-solo-pretrain``."""
    sys.argv = absolute_config_path(sys.argv)
    _hydra_main()


if __name__ == "__main__":
    main()
