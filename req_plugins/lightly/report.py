"""What a finished ``req-train`` run reports: evaluation, plots and the results table.

:func:`evaluate_backbone` runs kNN and the linear probe on frozen features,
:func:`plot_run` writes ``plots/*.png`` (each atomically), :func:`format_results`
prints the table ``req-train`` shows on stdout.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from req_plugins.callbacks import (
    plot_eigenspectrum,
    plot_eigenvalue_trajectories,
    plot_metric_trajectories,
)
from req_plugins.functional import eigenspectrum
from req_plugins.lightly.evaluation import extract_features, knn_accuracy, linear_probe_accuracy
from req_plugins.modes import eval_mode


def evaluate_backbone(run, backbone: torch.nn.Module) -> dict[str, float]:
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
            protocol=config.eval.protocol,
        )
    return results


def plot_run(run) -> list[Path]:
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
        save_plot(
            plot_eigenspectrum, spectra, plots / "eigenspectrum.png", title="Held-out eigenspectrum"
        )
    ]
    if run.representation_metrics.history:
        written.append(
            save_plot(
                plot_metric_trajectories, run.representation_metrics.history, plots / "metrics.png"
            )
        )
    if run.spectrum_tracker is not None and run.spectrum_tracker.history:
        written.append(
            save_plot(
                plot_eigenvalue_trajectories,
                run.spectrum_tracker.history,
                plots / "eigenvalue_trajectories.png",
            )
        )
    return written


def save_plot(plot, data, path: Path, **kwargs) -> Path:
    """``plot(data, path)`` through a temporary file renamed over ``path`` (atomic)."""
    temporary = path.with_name(f".{path.stem}.tmp{path.suffix}")  # the suffix sets the format
    plot(data, temporary, **kwargs)
    os.replace(temporary, path)
    return path


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
        "repr/backbone_lidar": "LiDAR, backbone",
        "repr/embedding_lidar": "LiDAR, embeddings",
        "repr/backbone_uniformity": "uniformity, backbone",
        "repr/embedding_uniformity": "uniformity, embeddings",
        "train_time_s": "training wall time (s)",
        "total_time_s": "total wall time (s)",
    }
    small = f" + {results['small_crops']} small crops" if results.get("small_crops") else ""
    rows = [
        (
            "method",
            f"{results['method']} ({results['num_views']} views{small}, "
            f"projector d={results['projector_dim']}, {results['epochs']} epochs)",
        )
    ]
    for key, value in results.items():
        if key in ("method", "num_views", "small_crops", "projector_dim", "epochs", "plots"):
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
