"""Configuration of ``req-train``: defaults, YAML + ``key=value`` overrides, validation.

A run is described by one YAML file whose sections mirror :class:`TrainConfig`;
command-line overrides use OmegaConf/hydra dot-list syntax
(``optimizer.lr=0.002 data.num_views=4``). Every key is checked against the
schema before anything is built; an unknown key raises ``ValueError`` naming it
and listing the valid keys of its section. ``method`` holds the method's name
plus its own arguments (checked against the registered class's signature when
the run is built).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

CONFIG_DIR = Path(__file__).parent / "configs"


@dataclass
class DataConfig:
    name: str = "digits"  # digits | cifar10 | cifar100 | stl10 | imagefolder
    path: str | None = None  # local folder (all but digits)
    download: bool = False  # let torchvision download CIFAR / STL-10 into `path`
    num_views: int = 2
    fraction: float = 1.0  # pretrain on this fraction of the training images (fixed subset)
    batch_size: int = 256  # global batch, split over the processes
    num_workers: int = 0
    # Arguments of lightly's SimCLRViewTransform overriding the dataset's defaults.
    augmentation: dict[str, Any] = field(default_factory=dict)


@dataclass
class BackboneConfig:
    name: str = "resnet18"  # small_cnn | resnet18 | resnet50
    cifar_stem: bool = True  # ResNets: 3×3 stride-1 first conv, no max-pool (small images)
    width: int = 32  # small_cnn: channels of the first block (then 2×, 4×)


@dataclass
class ProjectorConfig:
    hidden_dim: int = 2048
    output_dim: int = 256  # d; β (ν for VICReg) follows 1/d unless the method sets it


@dataclass
class OptimizerConfig:
    name: str = "adam"  # adam | sgd | lars
    lr: float = 1e-3
    weight_decay: float = 1e-6
    momentum: float = 0.9


@dataclass
class SchedulerConfig:
    name: str = "cosine"  # cosine | none
    warmup_epochs: float = 0.0


@dataclass
class TrainerConfig:
    max_epochs: int = 100
    max_steps: int = -1  # stop after this many optimizer steps (-1: no limit)
    accelerator: str = "auto"
    devices: Any = 1  # int, list or "auto"
    num_nodes: int = 1
    strategy: str = "auto"  # e.g. ddp
    precision: str = "32-true"
    progress_bar: bool = True
    log_every_n_steps: int = 50
    check_val_every_n_epoch: int = 1  # online linear classifier on the test split


@dataclass
class LoggingConfig:
    csv: bool = True
    tensorboard: bool = False


@dataclass
class CheckpointConfig:
    enabled: bool = True
    every_n_epochs: int = 1
    # A checkpoint path, or "last" for <output_dir>/checkpoints/last.ckpt.
    resume: str | None = None


@dataclass
class MetricsConfig:
    enabled: bool = True
    every_n_epochs: int = 5
    names: list[str] = field(
        default_factory=lambda: ["alpha", "effective_rank", "mutual_information"]
    )
    max_batches: int | None = None


@dataclass
class SpectrumConfig:
    enabled: bool = True
    every_n_steps: int = 50
    top_k: int = 16
    max_batches: int = 4


@dataclass
class EvalConfig:
    knn: bool = True
    knn_k: int = 20
    knn_t: float = 0.1
    linear: bool = True
    linear_epochs: int = 100
    linear_lr: float = 0.1
    linear_batch_size: int = 256
    random_init_reference: bool = False  # also evaluate the untrained backbone


@dataclass
class TrainConfig:
    method: dict[str, Any] = field(default_factory=lambda: {"name": "mv_barlow_twins"})
    data: DataConfig = field(default_factory=DataConfig)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    projector: ProjectorConfig = field(default_factory=ProjectorConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    spectrum: SpectrumConfig = field(default_factory=SpectrumConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    seed: int = 0
    output_dir: str = "runs/${method.name}"
    overwrite: bool = False  # replace an existing run folder (only one written by req-train)
    plots: bool = True


def _check_keys(user: Any, schema: type, section: str) -> None:
    """Raise on keys of ``user`` that the dataclass ``schema`` does not define (recursively)."""
    if not isinstance(user, (dict, DictConfig)):
        raise ValueError(f"`{section}` must be a mapping, got {user!r}.")
    fields = typing.get_type_hints(schema)
    for key in user:
        path = f"{section}.{key}" if section else str(key)
        if key not in fields:
            raise ValueError(
                f"unknown config key {path!r}; valid keys in "
                f"{section or 'the top level'!r}: {', '.join(fields)}."
            )
        if dataclasses.is_dataclass(fields[key]):
            _check_keys(user[key], fields[key], path)


def load_config(
    path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> DictConfig:
    """Defaults ← YAML file ``path`` ← ``key=value`` overrides, validated and resolved.

    Raises ``ValueError`` for a missing file, an unknown key, or a value of the wrong type.
    """
    layers = []
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"config file {str(path)!r} does not exist.")
        try:
            layers.append(OmegaConf.load(path))
        except Exception as error:  # noqa: BLE001 - any YAML syntax error
            raise ValueError(f"cannot parse config file {str(path)!r}: {error}") from error
    for override in overrides:
        if "=" not in override:
            raise ValueError(f"override {override!r} must look like key=value (e.g. seed=1).")
    if overrides:
        try:
            layers.append(OmegaConf.from_dotlist(list(overrides)))
        except OmegaConfBaseException as error:
            raise ValueError(f"cannot parse overrides {list(overrides)}: {error}") from error
    for layer in layers:
        if isinstance(layer, ListConfig):
            raise ValueError("the config must be a mapping of sections, not a list.")
        _check_keys(layer, TrainConfig, "")
    try:
        config = OmegaConf.merge(OmegaConf.structured(TrainConfig), *layers)
        OmegaConf.resolve(config)
    except OmegaConfBaseException as error:
        raise ValueError(f"invalid config value: {error}") from error
    if "name" not in config.method:
        raise ValueError("`method.name` is required (e.g. method.name=mv_barlow_twins).")
    return config


def bundled_config(name: str) -> Path:
    """Path of a config shipped with the package (``req_plugins/lightly/configs/<name>.yaml``)."""
    path = CONFIG_DIR / f"{name}.yaml"
    if not path.is_file():
        available = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
        raise ValueError(f"no bundled config {name!r}; available: {', '.join(available)}.")
    return path
