"""A tiny, fast ``req-train`` configuration for tests (digits, 4-channel CNN, few steps)."""

from __future__ import annotations

from pathlib import Path

from pytorch_lightning import Callback

from req_plugins.lightly.config import load_config

TINY = [
    "data.name=digits",
    "data.batch_size=64",
    "backbone.name=small_cnn",
    "backbone.width=4",
    "projector.hidden_dim=32",
    "projector.output_dim=16",
    "trainer.max_epochs=1",
    "trainer.accelerator=cpu",
    "trainer.progress_bar=false",
    "trainer.check_val_every_n_epoch=1000",
    "trainer.log_every_n_steps=1",
    "metrics.enabled=false",
    "spectrum.enabled=false",
    "checkpoint.enabled=false",
    "logging.csv=false",
    "eval.linear_epochs=2",
    "plots=false",
]


def tiny_config(output_dir: Path, *overrides: str):
    return load_config(None, [*TINY, f"output_dir={output_dir}", *overrides])


class LossRecorder(Callback):
    """Keeps the training loss of every step (what `training_step` returned)."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))
