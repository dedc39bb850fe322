"""``req-train``'s experiment loggers: CSV, TensorBoard and Weights & Biases.

``logging.csv`` (on by default) writes ``logs/metrics.csv``; ``logging.tensorboard``
writes event files to ``tensorboard/``; ``logging.wandb`` (:func:`wandb_loggers`)
starts a W&B run in ``wandb/`` under the run folder (project ``logging.wandb_project``,
named after the run folder, with the resolved config as the run's config).
``WANDB_MODE=offline`` keeps the W&B run on disk (``wandb sync`` uploads it later).

Every logger receives the training metrics (``train_loss``, the online classifier,
``repr/*`` from :class:`~req_plugins.callbacks.RepresentationMetrics`, ``spectrum/*``
from :class:`~req_plugins.callbacks.SpectrumTracker`). After training,
:func:`finish_loggers` sends the final results (``final/*``) to the loggers that keep
a summary and the PNG plots (eigenspectrum, metric and eigenvalue trajectories) as
images to those that show images — W&B (``WandbLogger.log_image``) and TensorBoard
(``SummaryWriter.add_image``) — under ``plots/<file name>``, then closes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import Logger, TensorBoardLogger, WandbLogger

from req_plugins.lightly.run_io import RunCSVLogger
from req_plugins.lightly.schema import ConfigError

__all__ = ["finish_loggers", "run_loggers", "wandb_loggers"]


def run_loggers(
    config: DictConfig, output_dir: Path, keep_until: tuple[int, int] | None
) -> list[Logger]:
    """The loggers ``config.logging`` asks for; ``keep_until`` = (epoch, step) of a resume.

    A resumed CSV log keeps what was logged up to the checkpoint. Raises
    :class:`ConfigError` naming the key when a logger's package is missing.
    """
    loggers = []
    if config.logging.csv:
        loggers.append(RunCSVLogger(output_dir, keep_until))
    if config.logging.tensorboard:
        try:
            loggers.append(
                TensorBoardLogger(save_dir=str(output_dir), name="tensorboard", version="")
            )
        except ModuleNotFoundError as error:
            raise ConfigError(
                f"`logging.tensorboard=true` needs the tensorboard package ({error}); "
                "pip install tensorboard."
            ) from error
    return loggers + wandb_loggers(config, output_dir)


def wandb_loggers(config: DictConfig, output_dir: Path) -> list[Logger]:
    """``[WandbLogger]`` when ``logging.wandb`` is on, else ``[]``; nothing is written yet.

    Raises ``ValueError`` naming the key when the wandb package is missing.
    """
    if not config.logging.wandb:
        return []
    try:
        import wandb  # noqa: F401 - WandbLogger itself only fails when the run starts
    except ImportError as error:
        raise ValueError(
            f"`logging.wandb=true` needs the wandb package ({error}); "
            "pip install wandb (or pip install 'req-plugins[loggers]')."
        ) from error
    return [
        WandbLogger(
            save_dir=str(output_dir),
            project=config.logging.wandb_project,
            name=Path(output_dir).name,
            config=OmegaConf.to_container(config, resolve=True),
        )
    ]


def _read_png(path: Path):
    import matplotlib.image

    image = matplotlib.image.imread(str(path))  # float RGB(A) in [0, 1], HWC
    return image[..., :3]


def finish_loggers(
    loggers: Iterable[Logger],
    results: dict[str, Any],
    plots: Sequence[str | Path],
    step: int,
) -> None:
    """Log the final numeric ``results`` and the ``plots`` (PNG files), then close the loggers.

    Called once on the global-zero process after training and evaluation.
    """
    numbers = {
        f"final/{key}": float(value)
        for key, value in results.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }
    images = {f"plots/{Path(path).stem}": Path(path) for path in plots}
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            writer = logger.experiment
            for tag, path in images.items():
                writer.add_image(tag, _read_png(path), global_step=step, dataformats="HWC")
            for key, value in numbers.items():
                writer.add_scalar(key, value, global_step=step)
            writer.flush()
            writer.close()
        elif isinstance(logger, WandbLogger):
            for tag, path in images.items():
                logger.log_image(key=tag, images=[str(path)], step=step)
            logger.experiment.summary.update(numbers)
            logger.experiment.finish()
