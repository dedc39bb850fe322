"""The ``req-train`` config schema: every key with its type, default, allowed values, meaning.

ADDING A KEY is one line in its section's dataclass below, e.g. in :class:`DataConfig`::

    augment_on: str = key("cpu", "where views are augmented", choices=("device", "cpu"))

Nothing else needs to change: :func:`req_plugins.lightly.config.load_config` merges
YAML files and overrides onto these dataclasses (OmegaConf structured configs, which
check the types), :func:`check_values` then checks every key's rule and the
cross-field rules, ``req-train --show-config --describe`` prints
:func:`describe`, and ``model=True`` makes a key part of what a resume may not change.

Rules a key can carry: ``ge``/``gt``/``le``/``lt`` (numbers), ``choices`` (a tuple, or
``"module:NAME"`` naming the tuple that the module building the object owns), ``also``
(extra values allowed besides the rule, e.g. ``-1`` for "no limit"), ``model`` (the key
shapes the model or its optimizer state).
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import typing
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "TrainConfig",
    "ConfigError",
    "check_values",
    "describe",
    "key",
    "key_default",
    "model_keys",
]


class ConfigError(ValueError):
    """Bad input (config, paths, output folder): reported before anything is written."""


def key(
    default: Any,
    help: str = "",  # noqa: A002 - the word the table prints
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: tuple | str | None = None,
    also: tuple = (),
    model: bool = False,
) -> Any:
    """A schema field: its default, help text and rule (see the module docstring)."""
    rule = {"ge": ge, "gt": gt, "le": le, "lt": lt, "choices": choices, "also": also or None}
    metadata = {"help": help, "model": model, **{k: v for k, v in rule.items() if v is not None}}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class SmallCropsConfig:
    num: int = key(
        0, "SwAV multi-crop: small views per image, after the large ones", ge=0, model=True
    )
    size: int = key(32, "side of a small view in pixels", ge=1)
    scale: list[float] = key([0.05, 0.14], "[min, max] area fraction of a small crop's box")


@dataclass
class DataConfig:
    name: str = key(
        "digits", "dataset", choices="req_plugins.lightly.data.datasets:DATASETS", model=True
    )
    path: str | None = key(None, "local dataset folder (all but digits)")
    download: bool = key(False, "let torchvision download CIFAR / STL-10 into `path`")
    num_views: int = key(2, "views per image (m)", ge=2, model=True)
    fraction: float = key(1.0, "pretrain on this fixed fraction of the training images", gt=0, le=1)
    batch_size: int = key(256, "global batch, split over the processes", ge=1)
    num_workers: int = key(0, "data loader worker processes", ge=0)
    augmentation: dict[str, Any] = key({}, "arguments of lightly's SimCLRViewTransform")
    augment_on: str = key(
        "cpu", "where views are augmented", choices="req_plugins.lightly.data.datamodule:AUGMENT_ON"
    )
    small_crops: SmallCropsConfig = field(default_factory=SmallCropsConfig)


@dataclass
class BackboneConfig:
    name: str = key("resnet18", "", choices="req_plugins.lightly.backbones:BACKBONES", model=True)
    cifar_stem: bool = key(True, "ResNets: 3x3 stride-1 first conv, no max-pool", model=True)
    width: int = key(32, "small_cnn: channels of the first block (then 2x, 4x)", ge=1, model=True)


@dataclass
class ProjectorConfig:
    hidden_dim: int = key(2048, "projector hidden width", ge=1, model=True)
    output_dim: int = key(256, "d; beta (nu for VICReg) follows 1/d", ge=1, model=True)
    num_layers: int | None = key(
        None,
        "linear layers (null: the method's lightly head; 2 with hidden_dim = output_dim: "
        "the thesis's 2048 -> d -> d projector)",
        ge=1,
        model=True,
    )


@dataclass
class OptimizerConfig:
    name: str = key("adam", "", choices="req_plugins.lightly.methods.base:OPTIMIZERS", model=True)
    lr: float = key(1e-3, "learning rate", gt=0)
    weight_decay: float = key(1e-6, "", ge=0)
    momentum: float = key(0.9, "sgd / lars momentum", ge=0, lt=1)


@dataclass
class SchedulerConfig:
    name: str = key("cosine", "", choices="req_plugins.lightly.methods.base:SCHEDULERS")
    warmup_epochs: float = key(0.0, "linear warm-up length", ge=0)


@dataclass
class TrainerConfig:
    max_epochs: int = key(100, "training epochs", ge=1)
    max_steps: int = key(
        -1, "stop after this many optimizer steps (-1: no limit)", ge=1, also=(-1,)
    )
    accelerator: str = key("auto", "cpu, gpu, auto ...")
    devices: Any = key(1, "count (-1: all), list of ids, or auto")
    num_nodes: int = key(1, "", ge=1)
    strategy: str = key("auto", "e.g. ddp")
    precision: str = key("32-true", "e.g. 16-mixed, bf16-mixed")
    progress_bar: bool = key(True, "progress bar on stderr")
    log_every_n_steps: int = key(50, "", ge=1)
    check_val_every_n_epoch: int = key(1, "online linear classifier on the test split", ge=1)
    threads: int | None = key(
        None, "torch CPU threads (null: torch's default); figures can differ with it", ge=1
    )


@dataclass
class LoggingConfig:
    csv: bool = key(True, "logs/metrics.csv (appended on resume)")
    tensorboard: bool = key(False, "tensorboard/ event files, plots as images")
    wandb: bool = key(False, "W&B run in wandb/, plots as images (WANDB_MODE=offline: on disk)")
    wandb_project: str = key("req-plugins", "W&B project of the run")


@dataclass
class CheckpointConfig:
    enabled: bool = key(True, "checkpoints/last.ckpt and the latest epoch checkpoint")
    every_n_epochs: int = key(1, "", ge=1)
    resume: str | None = key(None, "'last' or a checkpoint path: continue that run")


@dataclass
class MetricsConfig:
    enabled: bool = key(True, "label-free metrics on the held-out split during training")
    every_n_epochs: int = key(5, "", ge=1)
    names: list[str] = key(["alpha", "effective_rank", "mutual_information"], "registered metrics")
    max_batches: int | None = key(None, "held-out batches per measurement (null: all)", ge=1)
    lidar_views: int = key(
        8,
        "views metrics (lidar): views per held-out image, the image and lidar_views - 1 "
        "seeded training augmentations",
        ge=2,
    )
    layers: list[str] = key(
        [],
        "intermediate modules (e.g. layer2, layer3 of a ResNet backbone) whose pooled outputs "
        "also get the single-representation metrics: repr/<layer>_alpha, ...",
    )


@dataclass
class SpectrumConfig:
    enabled: bool = key(True, "track the top eigenvalues of the embedding covariance")
    every_n_steps: int = key(50, "", ge=1)
    top_k: int = key(16, "eigenvalues tracked", ge=1)
    max_batches: int = key(4, "held-out batches per measurement", ge=1)


@dataclass
class EvalConfig:
    knn: bool = key(True, "kNN classifier on frozen backbone features")
    knn_k: int = key(20, "neighbours", ge=1)
    knn_t: float = key(0.1, "temperature", gt=0)
    linear: bool = key(True, "linear probe on frozen backbone features")
    protocol: str = key(
        "sgd",
        "linear-probe optimiser: sgd (momentum, cosine, standardised features) or thesis "
        "(Adam, wd 1e-6, constant lr, raw features; the thesis uses lr 1e-3, batch 512, "
        "200 epochs)",
        choices="req_plugins.lightly.evaluation:PROBE_PROTOCOLS",
    )
    linear_epochs: int = key(100, "", ge=1)
    linear_lr: float = key(0.1, "", gt=0)
    linear_batch_size: int = key(256, "", ge=1)
    random_init_reference: bool = key(False, "also evaluate the untrained backbone")


@dataclass
class TrainConfig:
    method: dict[str, Any] = key(
        {"name": "mv_barlow_twins"}, "name plus the method's own arguments", model=True
    )
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
    seed: int = key(0, "", ge=0)
    output_dir: str = key("runs/${method.name}", "the run folder")
    overwrite: bool = key(False, "replace a finished run folder (one req-train wrote)")
    plots: bool = key(True, "plots/*.png after training")


def _leaves(schema: type = TrainConfig, prefix: str = "") -> typing.Iterator[tuple[str, Any, Any]]:
    """``(dotted key, dataclass field, type)`` of every key, depth first."""
    hints = typing.get_type_hints(schema)
    for spec in dataclasses.fields(schema):
        dotted = f"{prefix}{spec.name}"
        if dataclasses.is_dataclass(hints[spec.name]):
            yield from _leaves(hints[spec.name], f"{dotted}.")
        else:
            yield dotted, spec, hints[spec.name]


def model_keys() -> list[str]:
    """Keys (or whole sections like ``method``) a resumed run must share with its checkpoint."""
    return [dotted for dotted, spec, _ in _leaves() if spec.metadata.get("model")]


def key_default(dotted: str) -> Any:
    """The schema's default of ``dotted`` (what a config written before the key existed meant)."""
    return _default(next(spec for name, spec, _ in _leaves() if name == dotted))


def _default(spec: dataclasses.Field) -> Any:
    return spec.default if spec.default_factory is dataclasses.MISSING else spec.default_factory()


def _choices(rule: tuple | str) -> tuple:
    if isinstance(rule, str):  # owned by the module that builds the object: imported lazily
        module, name = rule.split(":")
        return tuple(getattr(importlib.import_module(module), name))
    return rule


def _rule_text(metadata: dict) -> str:
    parts = []
    if "choices" in metadata:
        parts.append("one of " + ", ".join(map(str, _choices(metadata["choices"]))))
    bounds = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    parts += [f"{bounds[k]} {metadata[k]}" for k in bounds if k in metadata]
    text = " and ".join(parts)
    if metadata.get("also"):
        text += " (or " + ", ".join(map(repr, metadata["also"])) + ")"
    return text


def _type_text(hint: Any) -> str:
    text = getattr(hint, "__name__", None) if not typing.get_args(hint) else None
    return text or str(hint).replace("typing.", "")


def _broken_rule(value: Any, metadata: dict) -> bool:
    if value is None or value in metadata.get("also", ()):
        return False
    if "choices" in metadata and value not in _choices(metadata["choices"]):
        return True
    checks = {
        "ge": lambda b: value >= b,
        "gt": lambda b: value > b,
        "le": lambda b: value <= b,
        "lt": lambda b: value < b,
    }
    return any(k in metadata and not ok(metadata[k]) for k, ok in checks.items())


def devices_count(devices: Any) -> int | None:
    """Processes per node that ``trainer.devices`` asks for (None: decided by Lightning)."""
    if isinstance(devices, bool):
        return None
    if isinstance(devices, int):
        return devices if devices >= 1 else None
    if isinstance(devices, (list, tuple)):
        return len(devices)
    if isinstance(devices, str) and devices.strip().isdigit():
        return int(devices)
    if isinstance(devices, str) and "," in devices:
        return len([d for d in devices.split(",") if d.strip()])
    return None


def process_count(config: Any) -> int:
    """Processes of a run: ``trainer.devices`` per node (1 if Lightning decides) × nodes."""
    devices = config.trainer.devices
    if hasattr(devices, "_content"):  # a ListConfig
        devices = list(devices)
    return (devices_count(devices) or 1) * config.trainer.num_nodes


def _cross_field_errors(config: Any) -> list[str]:
    errors = []
    devices = config.trainer.devices
    if hasattr(devices, "_content"):  # a ListConfig
        devices = list(devices)
    ok_devices = (
        devices == "auto"
        or (isinstance(devices, int) and not isinstance(devices, bool) and devices >= -1)
        or devices_count(devices)
    )
    if not ok_devices or devices == 0:
        errors.append(
            f"`trainer.devices`={devices!r}: must be a count >= 1 (-1: all), a list of "
            "device ids, or 'auto'."
        )
    processes = process_count(config)
    if processes > 1 and config.data.batch_size % processes:
        errors.append(
            f"`data.batch_size`={config.data.batch_size} must be divisible by the number of "
            f"processes, {processes} (`trainer.devices`={devices!r} x `trainer.num_nodes`="
            f"{config.trainer.num_nodes})."
        )
    scale = list(config.data.small_crops.scale)
    if len(scale) != 2 or not 0 < scale[0] <= scale[1] <= 1:
        errors.append(
            f"`data.small_crops.scale`={scale!r}: must be [min, max] with 0 < min <= max <= 1."
        )
    if config.metrics.enabled and not config.metrics.names:
        errors.append("`metrics.names`=[]: name at least one metric, or metrics.enabled=false.")
    if "name" not in config.method:
        errors.append("`method.name` is required (e.g. method.name=mv_barlow_twins).")
    return errors


def check_values(config: Any) -> None:
    """Raise :class:`ConfigError` listing every key whose value breaks its rule.

    ``config`` is a merged, typed config (types are OmegaConf's job); each message names
    the dotted key, the value and what is allowed.
    """
    from omegaconf import OmegaConf

    errors = []
    for dotted, spec, _ in _leaves():
        value = OmegaConf.select(config, dotted, throw_on_missing=True)
        if _broken_rule(value, spec.metadata):
            errors.append(f"`{dotted}`={value!r}: must be {_rule_text(spec.metadata)}.")
    errors += _cross_field_errors(config)
    if errors:
        raise ConfigError("\n  ".join(errors))


def describe() -> str:
    """Every key as a Markdown table: key, type, default, allowed values, meaning."""
    rows = [("key", "type", "default", "allowed", "meaning"), ("---",) * 5]
    for dotted, spec, hint in _leaves():
        default = _default(spec)
        meaning = spec.metadata.get("help", "")
        if spec.metadata.get("model"):
            meaning = (meaning + "; " if meaning else "") + "fixed for a resume"
        rows.append(
            (
                f"`{dotted}`",
                _type_text(hint),
                f"`{default!r}`",
                _rule_text(spec.metadata),
                meaning,
            )
        )
    return "\n".join(
        "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows
    )
