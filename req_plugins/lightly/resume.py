"""Resuming a ``req-train`` run: which checkpoint, whether it is intact, whether it is this run.

Everything here only reads; it runs before a resumed run writes anything, so a
refused resume leaves the folder exactly as it was.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from req_plugins.lightly.run_io import RunClock
from req_plugins.lightly.schema import ConfigError, key_default, model_keys

CONFIG_FILE = "config.yaml"
CHECKPOINT_DIR = "checkpoints"
RESULTS_FILE = "results.json"


def _reason(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint at ``path``, loaded with ``weights_only=True`` (no code runs).

    Raises ``ValueError`` (with the reason) if it cannot be read or is not a Lightning
    checkpoint.
    """
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises many types for a bad file
        raise ValueError(_reason(error)) from error
    missing = {"state_dict", "epoch", "global_step"} - set(checkpoint or {})
    if not isinstance(checkpoint, dict) or missing:
        raise ValueError(f"not a Lightning checkpoint (no {', '.join(sorted(missing))})")
    return checkpoint


def intact_checkpoints(folder: Path, *, besides: Path | None = None) -> list[str]:
    """Names of the checkpoints in ``folder`` that load (a slow scan: for error messages)."""
    intact = []
    for path in sorted(folder.glob("*.ckpt")) if folder.is_dir() else []:
        if besides is not None and path.resolve() == besides.resolve():
            continue
        try:
            read_checkpoint(path)
        except ValueError:
            continue
        intact.append(str(path))
    return intact


def _hint(folder: Path, broken: Path) -> str:
    intact = intact_checkpoints(folder, besides=broken)
    if not intact:
        return f"no intact checkpoint in {str(folder)!r}."
    return "intact: " + ", ".join(intact) + " (resume from one with checkpoint.resume=PATH)."


def resume_checkpoint(config: DictConfig, output_dir: Path) -> tuple[Path, dict] | None:
    """``(path, checkpoint)`` that ``checkpoint.resume`` asks for, checked; None if none."""
    resume = config.checkpoint.resume
    if resume is None:
        return None
    folder = output_dir / CHECKPOINT_DIR
    path = folder / "last.ckpt" if resume == "last" else Path(resume)
    if not path.is_file():
        raise ConfigError(
            f"`checkpoint.resume`={resume!r}: no checkpoint at {str(path)!r}; "
            + _hint(path.parent, path)
        )
    try:
        checkpoint = read_checkpoint(path)
    except ValueError as error:
        raise ConfigError(
            f"`checkpoint.resume`={resume!r}: {str(path)!r} is corrupt or truncated ({error}); "
            + _hint(path.parent, path)
        ) from error
    return path, checkpoint


def check_same_run(config: DictConfig, output_dir: Path) -> None:
    """Refuse a resume whose model-shaping keys differ from the run folder's ``config.yaml``."""
    saved_path = output_dir / CONFIG_FILE
    if not saved_path.is_file():
        return
    saved = OmegaConf.load(saved_path)
    changed = []
    for dotted in model_keys():
        # A key newer than the saved config takes its default (what the run had then).
        before = OmegaConf.select(saved, dotted, default=key_default(dotted))
        now = OmegaConf.select(config, dotted, default=None)
        before, now = (
            OmegaConf.to_container(v) if OmegaConf.is_config(v) else v for v in (before, now)
        )
        if before != now:
            changed.append(f"`{dotted}` {before!r} -> {now!r}")
    if changed:
        raise ConfigError(
            f"`checkpoint.resume`: the run in {str(output_dir)!r} was trained with other "
            f"settings: {', '.join(changed)}. These shape the model and cannot change on resume; "
            "use the run's values, or start a new run (another output_dir, or overwrite=true)."
        )


def check_fits_model(module: torch.nn.Module, path: Path, checkpoint: dict) -> None:
    """Refuse a checkpoint whose weights do not fit ``module`` (another architecture)."""

    def shapes(state: dict) -> dict[str, tuple]:  # tensors only (not e.g. `_extra_state`)
        return {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}

    expected, found = shapes(module.state_dict()), shapes(checkpoint["state_dict"])
    differ = sorted(k for k in expected.keys() & found.keys() if expected[k] != found[k])
    missing, extra = sorted(expected.keys() - found.keys()), sorted(found.keys() - expected.keys())
    if differ or missing or extra:
        details = [f"{k}: {found[k]} in the checkpoint, {expected[k]} here" for k in differ[:3]]
        details += [f"missing {k}" for k in missing[:3]] + [f"unexpected {k}" for k in extra[:3]]
        raise ConfigError(
            f"`checkpoint.resume`: {str(path)!r} was trained with another model "
            f"({'; '.join(details)}); set method, backbone and projector as in that run."
        )


def finished(config: DictConfig, checkpoint: dict) -> bool:
    """Whether ``checkpoint`` ends the training that ``config`` asks for."""
    clock = checkpoint.get("callbacks", {}).get(RunClock.__qualname__)
    if clock is None:
        return False
    max_steps = config.trainer.max_steps
    return clock["epochs_completed"] >= config.trainer.max_epochs or (
        max_steps > 0 and checkpoint["global_step"] >= max_steps
    )


def restore_callback_states(callbacks, checkpoint: dict) -> None:
    """Load what ``checkpoint`` saved for each callback (a run that is not trained again)."""
    states = checkpoint.get("callbacks", {})
    for callback in callbacks:
        if callback.state_key in states:
            callback.load_state_dict(states[callback.state_key])


def finished_results(run) -> dict[str, Any] | None:
    """A finished run's results.json (None if it was not written), with callbacks restored."""
    path = run.output_dir / RESULTS_FILE
    if not path.is_file():
        return None
    checkpoint = torch.load(run.resume_from, map_location="cpu", weights_only=True)
    restore_callback_states(run.callbacks, checkpoint)
    print(
        f"req-train: {str(run.output_dir)!r} already finished its {run.config.trainer.max_epochs} "
        "epoch(s); nothing to do (raise trainer.max_epochs to train further).",
        file=sys.stderr,
    )
    return json.loads(path.read_text())
