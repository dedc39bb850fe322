"""req-train with `views` metrics (LiDAR): a seeded multi-view held-out loader."""

from __future__ import annotations

import csv

import pytest
import torch
from pytorch_lightning import Callback
from torch.utils.data import DataLoader

from req_plugins.functional import effective_rank, lidar, uniformity
from req_plugins.lightly.data.datamodule import build_data
from req_plugins.lightly.report import format_results
from req_plugins.lightly.train import prepare_run, train
from tests.lightly.tiny import tiny_config


def test_heldout_views_are_the_image_then_seeded_training_augmentations():
    data = build_data("digits", heldout_views=4, seed=7)
    views, target = data.test_views[3]
    image, test_target = data.test[3]
    assert len(views) == 4 and target == test_target
    assert all(view.shape == (1, 16, 16) for view in views)
    torch.testing.assert_close(views[0], image, rtol=0, atol=0)  # the un-augmented image
    assert not torch.equal(views[1], views[2])  # augmentations differ from one another
    again, _ = data.test_views[3]
    assert all(torch.equal(a, b) for a, b in zip(views, again, strict=True))
    other_seed, _ = build_data("digits", heldout_views=4, seed=8).test_views[3]
    assert not torch.equal(views[1], other_seed[1])
    assert build_data("digits").test_views is None


def test_req_train_builds_the_views_loader_only_for_views_metrics(tmp_path):
    plain = prepare_run(tiny_config(tmp_path / "a", "metrics.names=[effective_rank]"))
    assert plain.datamodule.data.test_views is None
    views = prepare_run(
        tiny_config(tmp_path / "b", "metrics.names=[effective_rank,lidar]", "metrics.lidar_views=3")
    )
    images, _ = next(iter(views.representation_metrics.dataloader))
    assert len(images) == 3 and images[0].shape == (64, 1, 16, 16)


class KeepModule(Callback):
    def on_train_end(self, trainer, pl_module) -> None:
        self.module = pl_module


def _embeddings(module, loader) -> tuple[torch.Tensor, torch.Tensor]:
    """(R, Z) of every view: (N, m, D_R) and (N, m, D_Z)."""
    module.eval()
    features, embeddings = [], []
    with torch.no_grad():
        for views, _ in loader:
            pairs = [module.embed(view) for view in views]
            features.append(torch.stack([r for r, _ in pairs], dim=1))
            embeddings.append(torch.stack([z for _, z in pairs], dim=1))
    return torch.cat(features).double(), torch.cat(embeddings).double()


def test_tiny_run_logs_lidar_and_uniformity_equal_to_the_functionals(tmp_path):
    keep = KeepModule()
    output_dir = tmp_path / "run"
    config = tiny_config(
        output_dir,
        "metrics.enabled=true",
        "metrics.every_n_epochs=1",
        "metrics.names=[effective_rank,lidar,uniformity]",
        "metrics.lidar_views=4",
        "logging.csv=true",
        "trainer.max_steps=3",
        "eval.knn=false",
        "eval.linear=false",
    )
    results = train(config, callbacks=[keep])
    loader = DataLoader(build_data("digits", heldout_views=4, seed=0).test_views, batch_size=64)
    features, embeddings = _embeddings(keep.module, loader)
    for space, x in (("backbone", features), ("embedding", embeddings)):
        expected = {
            "lidar": lidar(x),
            "uniformity": uniformity(x[:, 0]),
            "effective_rank": effective_rank(x[:, 0]),  # the un-augmented image, as without LiDAR
        }
        for name, value in expected.items():
            assert abs(results[f"repr/{space}_{name}"] - float(value)) <= 1e-4 * abs(float(value))
    assert results["repr/embedding_lidar"] > 1.0
    with open(output_dir / "logs" / "metrics.csv") as handle:
        logged = [row for row in csv.DictReader(handle) if row.get("repr/embedding_lidar")]
    for key in ("repr/embedding_lidar", "repr/backbone_uniformity"):  # logged as float32
        assert float(logged[-1][key]) == pytest.approx(results[key], rel=1e-6)
    table = format_results(results)
    assert "LiDAR, embeddings" in table and "uniformity, backbone" in table
