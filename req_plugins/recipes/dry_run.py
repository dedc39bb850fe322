"""``req-recipes run NAME --scale S --dry-run``: build every arm of a scale and train it briefly.

Each arm (first seed: seeds change no shape) is built from the same req-train
config as a real run of that scale, through the same :func:`~req_plugins.lightly.train.train`
and the same recipe callbacks (accuracy curve, data fraction, α timing), so the
architecture, projector, optimizer and scheduler, views and the whole evaluation
(kNN, linear probe, representation metrics) run as they would. What differs:

* the dataset is its synthetic stand-in (``synthetic_cifar10`` for ``cifar10`` …,
  :data:`req_plugins.lightly.data.datasets.SYNTHETIC`): random images of the same size,
  channels and classes with the same splits, 16 labelled images per split (enough for α-ReQ's fit);
* training stops after :data:`STEPS` optimizer steps (``trainer.max_steps``; the
  schedule is still the full run's), with the batch capped at :data:`CPU_BATCH`
  when no GPU is available;
* the representation metrics are the cheap ``uniformity`` (measured once, after
  training): α and the effective rank of 16 images say nothing, and those of an
  8192-d projector cost minutes of eigendecomposition on a CPU;
* no loader worker processes, no checkpoint files, no plots; everything goes to
  a temporary folder that is deleted afterwards (nothing is added to ``--out``);
* arms that differ only in a loss weight (a float under ``method``, e.g. β or λ)
  train the same networks through the same code: each such group trains once,
  the other arms of the group are built (model, data, trainer) without training.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from req_plugins.recipes.dotted import flatten, nest
from req_plugins.recipes.recipe import Recipe, Scale

STEPS = 2
CPU_BATCH = 4


@dataclass
class DryRunResult:
    run: str
    model: str
    steps: int
    results: dict[str, Any]
    seconds: float


def dry_run_overrides(config: dict[str, Any]) -> dict[str, Any]:
    """The flat req-train overrides that turn a run's config into its dry run."""
    from req_plugins.lightly.data.datasets import SYNTHETIC

    data = config.get("data", {})
    name = data.get("name", "digits")
    stand_in = {real: synthetic for synthetic, real in SYNTHETIC.items()}
    if name in ("imagefolder",):  # the recipes' ImageFolder tree is ImageNet-100
        stand_in[name] = "synthetic_imagenet100"
    overrides = {
        "data.name": stand_in.get(name, name),
        "data.path": None,
        "data.download": False,
        "data.num_workers": 0,
        "trainer.max_steps": STEPS,
        "checkpoint.enabled": False,
        "plots": False,
        # α and the effective rank of a 16-image split say nothing, and of an 8192-d projector
        # cost an 8192² eigendecomposition (minutes on a CPU): the cheap uniformity metric
        # stands in for them, measured once after training through the same code path.
        "metrics.enabled": False,
        "metrics.names": ["uniformity"],
    }
    if not torch.cuda.is_available():
        overrides["data.batch_size"] = min(int(data.get("batch_size", 256)), CPU_BATCH)
    return overrides


def _describe(config: Any, module: torch.nn.Module) -> str:
    parameters = sum(p.numel() for p in module.parameters()) / 1e6
    return (
        f"{config.backbone.name} + projector {config.projector.hidden_dim}→"
        f"{config.projector.output_dim} ({parameters:.1f}M parameters), "
        f"{config.method.name}, {config.optimizer.name}, {config.data.num_views} views, "
        f"batch {config.data.batch_size}"
    )


def dry_run_sweep(recipe: Recipe, scale: Scale, *, log=print) -> list[DryRunResult]:
    """Build and briefly train every arm of ``scale``; return one result per arm."""
    from pytorch_lightning import Callback

    from req_plugins.lightly.config import load_config
    from req_plugins.lightly.train import prepare_run, train
    from req_plugins.modes import torch_threads
    from req_plugins.recipes import runner
    from req_plugins.recipes.callbacks import recipe_callbacks
    from req_plugins.recipes.identity import config_text
    from req_plugins.recipes.run_context import quiet_lightning

    class _Describe(Callback):
        def on_fit_start(self, trainer, pl_module):
            self.text = _describe(config, pl_module)
            self.steps_at_start = trainer.global_step

        def on_train_end(self, trainer, pl_module):
            self.steps = trainer.global_step - self.steps_at_start

    specs = [spec for spec in recipe.runs(scale) if spec.seed == 0]
    trained: dict[str, str] = {}  # build signature → the arm that trained it
    outcomes = []
    with torch_threads(scale.torch_threads), quiet_lightning(False):
        for index, spec in enumerate(specs, 1):
            start = time.perf_counter()
            with tempfile.TemporaryDirectory(prefix="req-dry-run-") as folder:
                nested, options = runner.run_config(recipe, spec, Path(folder) / "run", None)
                flat = {**flatten(nested), **dry_run_overrides(nested)}
                config_path = Path(folder) / "config.yaml"
                config_path.write_text(config_text(nest(flat), {}))
                config = load_config(config_path)
                signature = _signature(flat, options)
                if signature in trained:
                    run = prepare_run(config)
                    outcome = DryRunResult(spec.run_id, _describe(config, run.module), 0, {}, 0.0)
                    note = f"built; trains as {trained[signature]}"
                else:
                    describe = _Describe()
                    callbacks = recipe_callbacks(scale, config, options)[2] + [describe]
                    results = train(config, callbacks=callbacks)
                    trained[signature] = spec.run_id
                    outcome = DryRunResult(spec.run_id, describe.text, describe.steps, results, 0.0)
                    shown = ", ".join(
                        f"{key} {results[key]:.3f}"
                        for key in ("knn_top1", "linear_top1", "repr/embedding_uniformity")
                        if key in results
                    )
                    note = f"{outcome.steps} steps, {shown}"
            outcome.seconds = time.perf_counter() - start
            log(
                f"[{index}/{len(specs)}] {spec.run_id}: {outcome.model}: {note}, "
                f"{outcome.seconds:.1f} s"
            )
            outcomes.append(outcome)
    return outcomes


def _signature(flat: dict[str, Any], options: dict[str, Any]) -> str:
    """What an arm builds and runs, loss weights (floats under ``method``) left out."""
    kept = {
        key: value
        for key, value in flat.items()
        if not (key.startswith("method.") and isinstance(value, float))
        and key not in ("output_dir", "seed")
    }
    return json.dumps([kept, options], sort_keys=True, default=str)
