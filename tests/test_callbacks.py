"""RepresentationMetrics / SpectrumTracker in both Lightning namespaces, and their plots."""

from __future__ import annotations

import csv
import importlib

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from req_plugins.callbacks import (
    RepresentationMetrics,
    SpectrumTracker,
    plot_eigenspectrum,
    plot_eigenvalue_trajectories,
    plot_metric_trajectories,
)
from req_plugins.callbacks.plots import _power_law_line
from req_plugins.functional import (
    alpha_from_eigenvalues,
    alpha_req,
    effective_rank,
    eigenspectrum,
    matrix_mutual_information,
)
from req_plugins.metrics import MatrixMutualInformation

NAMESPACES = ["lightning.pytorch", "pytorch_lightning"]
KEYS = [
    "repr/backbone_alpha",
    "repr/backbone_effective_rank",
    "repr/embedding_alpha",
    "repr/embedding_effective_rank",
    "repr/mutual_information",
]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _tiny_module(namespace: str):
    pl = importlib.import_module(namespace)

    class Tiny(pl.LightningModule):
        """Backbone + projection head trained to spread its embeddings (a toy SSL loss)."""

        def __init__(self) -> None:
            super().__init__()
            self.backbone = nn.Sequential(
                nn.Flatten(), nn.Linear(64, 48), nn.BatchNorm1d(48), nn.ReLU()
            )
            self.projection_head = nn.Linear(48, 24)

        def training_step(self, batch, batch_idx):
            z = self.projection_head(self.backbone(batch[0]))
            z = (z - z.mean(0)) / (z.std(0) + 1e-4)
            correlation = z.T @ z / z.shape[0]
            return (correlation - torch.eye(24)).square().sum()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    torch.manual_seed(0)
    return Tiny(), pl


def _loader(n: int, batch_size: int, seed: int) -> DataLoader:
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(n, 1, 8, 8, generator=generator)
    return DataLoader(
        TensorDataset(images, torch.zeros(n, dtype=torch.long)), batch_size=batch_size
    )


@torch.no_grad()
def _embed_all(module, loader, max_batches=None):
    module.eval()
    rs, zs = [], []
    for i, (images, _) in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        r = module.backbone(images)
        rs.append(r)
        zs.append(module.projection_head(r))
    module.train()
    return rs, zs


def _read_csv(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_callbacks_log_in_both_namespaces_and_match_direct_computation(namespace, tmp_path):
    module, pl = _tiny_module(namespace)
    heldout = _loader(150, 50, seed=1)
    metrics = RepresentationMetrics(heldout, every_n_epochs=1)
    spectrum = SpectrumTracker(heldout, every_n_steps=2, top_k=5, max_batches=2)
    assert isinstance(metrics, pl.Callback) and isinstance(spectrum, pl.Callback)
    logger = importlib.import_module(f"{namespace}.loggers").CSVLogger(
        tmp_path, name="", version=""
    )
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=logger,
        callbacks=[metrics, spectrum],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
    )
    trainer.fit(module, DataLoader(_loader(128, 32, seed=0).dataset, batch_size=32))

    rs, zs = _embed_all(module, heldout)
    r, z = torch.cat(rs), torch.cat(zs)
    direct_mi = MatrixMutualInformation()
    for r_b, z_b in zip(rs, zs, strict=True):
        direct_mi.update(r_b, z_b)
    expected = {
        "repr/backbone_alpha": alpha_req(r).alpha,
        "repr/backbone_effective_rank": effective_rank(r),
        "repr/embedding_alpha": alpha_req(z).alpha,
        "repr/embedding_effective_rank": effective_rank(z),
        "repr/mutual_information": direct_mi.compute(),
    }
    for key in KEYS:
        logged = trainer.callback_metrics[key]
        torch.testing.assert_close(logged.double(), expected[key].double(), rtol=1e-5, atol=1e-6)
        assert metrics.history[-1][key] == pytest.approx(float(expected[key]), rel=1e-9)
    assert [entry["epoch"] for entry in metrics.history] == [0, 1]

    # 4 steps per epoch: measured before training and every 2 steps.
    assert [entry["step"] for entry in spectrum.history] == [0, 2, 4, 6, 8]
    top = eigenspectrum(torch.cat(zs[:2]), center=True, normalize=False)[:5]
    torch.testing.assert_close(
        torch.tensor(spectrum.history[-1]["eigenvalues"], dtype=torch.float64), top
    )

    rows = _read_csv(tmp_path / "metrics.csv")
    columns = set(rows[0])
    assert set(KEYS) <= columns and {"spectrum/eig_01", "spectrum/eig_05"} <= columns
    logged_eigs = [float(row["spectrum/eig_01"]) for row in rows if row["spectrum/eig_01"]]
    assert logged_eigs == pytest.approx([entry["eigenvalues"][0] for entry in spectrum.history])


def test_single_batch_mutual_information_equals_the_functional():
    module, _ = _tiny_module("pytorch_lightning")
    loader = _loader(60, 60, seed=2)
    values = RepresentationMetrics(loader, metrics=["mutual_information"]).compute(module)
    (r,), (z,) = _embed_all(module, loader)
    assert values == {
        "repr/mutual_information": pytest.approx(float(matrix_mutual_information(r, z)))
    }


def test_compute_leaves_the_model_untouched():
    module, _ = _tiny_module("pytorch_lightning")
    module.train()
    module.backbone[2].eval()  # a submodule deliberately in eval mode stays so
    before = {k: v.clone() for k, v in module.state_dict().items()}
    RepresentationMetrics(_loader(60, 30, seed=3)).compute(module)
    SpectrumTracker(_loader(60, 30, seed=3)).compute(module)
    assert module.training and not module.backbone[2].training and module.backbone[1].training
    for key, value in module.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_max_batches_and_custom_embed_fn():
    module, _ = _tiny_module("pytorch_lightning")
    loader = _loader(90, 30, seed=4)
    calls = []

    def embed(pl_module, images):
        calls.append(images.shape[0])
        r = pl_module.backbone(images)
        return r, r[:, :16]

    values = RepresentationMetrics(loader, max_batches=2, embed_fn=embed).compute(module)
    assert calls == [30, 30]
    rs, _ = _embed_all(module, loader, max_batches=2)
    expected = effective_rank(torch.cat(rs)[:, :16])
    assert values["repr/embedding_effective_rank"] == pytest.approx(float(expected))


def test_history_is_checkpointed():
    metrics = RepresentationMetrics(_loader(10, 5, seed=0))
    metrics.history = [{"epoch": 0, "step": 4, "repr/backbone_alpha": 1.2}]
    restored = RepresentationMetrics(_loader(10, 5, seed=0))
    restored.load_state_dict(metrics.state_dict())
    assert restored.history == metrics.history
    tracker = SpectrumTracker(_loader(10, 5, seed=0))
    tracker.history = [{"step": 0, "eigenvalues": [3.0, 1.0]}]
    restored_tracker = SpectrumTracker(_loader(10, 5, seed=0))
    restored_tracker.load_state_dict(tracker.state_dict())
    assert restored_tracker.history == tracker.history
    assert metrics.state_key != SpectrumTracker(_loader(10, 5, seed=0)).state_key


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"every_n_epochs": 0}, "`every_n_epochs` must be >= 1"),
        ({"max_batches": 0}, "`max_batches` must be >= 1"),
        ({"metrics": ["alpha", "nope"]}, "unknown metric 'nope'; valid metrics: alpha"),
        ({"metrics": []}, "at least one registered metric"),
    ],
)
def test_representation_metrics_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RepresentationMetrics(_loader(10, 5, seed=0), **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"every_n_steps": 0}, "`every_n_steps` must be >= 1"),
        ({"top_k": -1}, "`top_k` must be >= 1"),
        ({"space": "pixels"}, "`space` must be one of"),
        ({"max_batches": 0}, "`max_batches` must be >= 1"),
    ],
)
def test_spectrum_tracker_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SpectrumTracker(_loader(10, 5, seed=0), **kwargs)


def test_metrics_that_cannot_be_computed_fail_at_fit_start():
    module, pl = _tiny_module("pytorch_lightning")
    narrow = RepresentationMetrics(
        _loader(60, 30, seed=0), embed_fn=lambda m, x: (m.backbone(x), m.backbone(x)[:, :8])
    )
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_progress_bar=False, callbacks=[narrow])
    with pytest.raises(ValueError, match="cannot compute 'alpha' on the embedding space"):
        trainer.fit(module, _loader(64, 32, seed=1))
    assert trainer.global_step == 0


def test_module_without_a_head_needs_an_embed_fn():
    module = nn.Module()
    module.backbone = nn.Flatten()
    module.device = torch.device("cpu")
    with pytest.raises(ValueError, match="pass `embed_fn="):
        RepresentationMetrics(_loader(10, 5, seed=0)).compute(module)


def _is_png(path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 1000


def test_fitted_line_of_an_exact_power_law_lies_on_the_spectrum():
    eigenvalues = 3.0 * torch.arange(1, 201, dtype=torch.float64) ** -1.3
    fit = alpha_from_eigenvalues(eigenvalues)
    ranks, line = _power_law_line(eigenvalues, fit.alpha, (10, 100))
    assert ranks[0] == 11 and ranks[-1] == 100
    torch.testing.assert_close(line, eigenvalues[10:100])


def test_plots_are_written(tmp_path):
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(400, 128, generator=generator) * torch.arange(1, 129) ** -0.6
    path = plot_eigenspectrum(
        {"backbone": eigenspectrum(features), "embedding": eigenspectrum(features[:, :32])},
        tmp_path / "plots" / "spectrum.png",
    )
    assert _is_png(path)
    history = [{"epoch": e, "step": 5 * e, "repr/a": 1.0 + e, "repr/b": 2.0} for e in range(3)]
    assert _is_png(plot_metric_trajectories(history, tmp_path / "metrics.png"))
    spectra = [{"step": s, "eigenvalues": [3.0 / (s + 1), 2.0, 1.0]} for s in range(4)]
    assert _is_png(plot_eigenvalue_trajectories(spectra, tmp_path / "eigs.png"))
    with pytest.raises(ValueError, match="empty"):
        plot_metric_trajectories([], tmp_path / "x.png")
    with pytest.raises(ValueError, match="empty"):
        plot_eigenvalue_trajectories([], tmp_path / "x.png")


# -- OnlineRepresentationMetrics: the training step's own embeddings --------------------------


class _Seen:
    """Keeps what ``Tiny.training_step`` computed, without a hook: (R, Z) per step."""

    def __init__(self, module) -> None:
        self.pairs: list[tuple[torch.Tensor, torch.Tensor]] = []
        backbone, head = module.backbone, module.projection_head
        self.calls = 0

        def step(batch, batch_idx):
            r = backbone(batch[0])
            z = head(r)
            self.pairs.append((r.detach().clone(), z.detach().clone()))
            z = (z - z.mean(0)) / (z.std(0) + 1e-4)
            return (z.T @ z / z.shape[0] - torch.eye(24)).square().sum()

        module.training_step = step

        def count(*_):
            self.calls += 1

        head.register_forward_hook(count)


def _fit(pl, module, callbacks, *, epochs=2, logger=False):
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=logger,
        callbacks=callbacks,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
    )
    trainer.fit(module, DataLoader(_loader(128, 32, seed=0).dataset, batch_size=32))
    return trainer


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_online_metrics_equal_the_metrics_of_the_training_embeddings(namespace, tmp_path):
    from req_plugins.callbacks import OnlineRepresentationMetrics

    module, pl = _tiny_module(namespace)
    seen = _Seen(module)
    online = OnlineRepresentationMetrics(
        metrics=("alpha", "effective_rank", "mutual_information"), every_n_steps=1
    )
    # A held-out callback in the same Trainer: its eval-mode passes must not count.
    heldout = RepresentationMetrics(_loader(100, 50, seed=1), every_n_epochs=1)
    logger = importlib.import_module(f"{namespace}.loggers").CSVLogger(
        tmp_path, name="", version=""
    )
    trainer = _fit(pl, module, [online, heldout], logger=logger)

    assert len(seen.pairs) == 8  # 4 steps per epoch, 2 epochs
    training_calls = 8
    assert seen.calls > training_calls  # the held-out passes also ran the head (eval mode)
    assert [entry["epoch"] for entry in online.history] == [0, 1]
    for epoch, entry in enumerate(online.history):
        pairs = seen.pairs[4 * epoch : 4 * epoch + 4]
        r = torch.cat([p[0] for p in pairs])
        z = torch.cat([p[1] for p in pairs])
        mi = MatrixMutualInformation()
        for r_b, z_b in pairs:
            mi.update(r_b, z_b)
        expected = {
            "repr_train/backbone_alpha": alpha_req(r).alpha,
            "repr_train/backbone_effective_rank": effective_rank(r),
            "repr_train/embedding_alpha": alpha_req(z).alpha,
            "repr_train/embedding_effective_rank": effective_rank(z),
            "repr_train/mutual_information": mi.compute(),
        }
        for key, value in expected.items():
            assert entry[key] == pytest.approx(float(value), rel=1e-9), key
    last = online.history[-1]
    for key in last:
        if key.startswith("repr_train/"):
            assert float(trainer.callback_metrics[key]) == pytest.approx(last[key], rel=1e-6)
    rows = [row for row in _read_csv(tmp_path / "metrics.csv") if row["repr_train/embedding_alpha"]]
    assert [int(row["epoch"]) for row in rows] == [0, 1]  # one value per epoch


def test_online_metrics_add_no_forward_pass_and_respect_every_n_steps():
    from req_plugins.callbacks import OnlineRepresentationMetrics

    module, pl = _tiny_module("lightning.pytorch")
    seen = _Seen(module)
    online = OnlineRepresentationMetrics(every_n_steps=2, spaces=("embedding",))
    _fit(pl, module, [online], epochs=1)
    assert seen.calls == len(seen.pairs) == 4  # the callback ran no forward pass itself
    z = torch.cat([seen.pairs[0][1], seen.pairs[2][1]])  # batches 0 and 2
    assert online.history[0]["repr_train/embedding_alpha"] == pytest.approx(
        float(alpha_req(z).alpha), rel=1e-9
    )
    assert not any(key.startswith("repr_train/backbone") for key in online.history[0])
    # Only _Seen's hook is left: the callback removed its own at fit end.
    assert len(module.projection_head._forward_hooks) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"every_n_steps": 0}, "every_n_steps"),
        ({"spaces": ("features",)}, "spaces"),
        ({"every_n_epochs": 0}, "every_n_epochs"),
        ({"metrics": ("no_such_metric",)}, "no_such_metric"),
    ],
)
def test_online_metrics_bad_arguments(kwargs, message):
    from req_plugins.callbacks import OnlineRepresentationMetrics

    with pytest.raises(ValueError, match=message):
        OnlineRepresentationMetrics(**kwargs)


def test_online_metrics_need_a_projector():
    from req_plugins.callbacks import OnlineRepresentationMetrics

    module, pl = _tiny_module("lightning.pytorch")
    with pytest.raises(ValueError, match="no projector submodule named 'proj'"):
        _fit(pl, module, [OnlineRepresentationMetrics(head="proj")], epochs=1)
    online = OnlineRepresentationMetrics()
    with pytest.raises(ValueError, match="no embeddings yet"):
        online.compute(module)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_online_metrics_steps_do_not_synchronise_the_host():
    from req_plugins.callbacks import OnlineRepresentationMetrics

    module, _ = _tiny_module("lightning.pytorch")
    module = module.cuda()
    online = OnlineRepresentationMetrics(
        metrics=("alpha", "effective_rank", "mutual_information"), every_n_steps=1
    )
    online.attach(module)
    online.begin_epoch()
    images = torch.randn(64, 1, 8, 8, device="cuda")
    # An epoch's first update also lets torchmetrics find the compute groups (one sync).
    online.start_batch(0)
    module.projection_head(module.backbone(images))
    online.end_batch()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for step in range(3):
            online.start_batch(step)
            module.projection_head(module.backbone(images)).sum().backward()
            online.end_batch()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert online.compute()["repr_train/embedding_effective_rank"] > 1


# ------------------------------------------------- views metrics (LiDAR) and uniformity


class _MultiViewImages(torch.utils.data.Dataset):
    """Samples ``([view_1, ..., view_m], label)``, as lightly's MultiViewTransform gives."""

    def __init__(self, n: int, num_views: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.images = torch.randn(n, 1, 8, 8, generator=generator)
        self.noise = 0.3 * torch.randn(n, num_views, 1, 8, 8, generator=generator)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index):
        return list(self.images[index] + self.noise[index]), 0


def test_lidar_and_uniformity_from_a_multi_view_loader_match_the_functionals():
    from req_plugins.functional import lidar, uniformity

    module, _ = _tiny_module("pytorch_lightning")
    dataset = _MultiViewImages(150, num_views=3, seed=7)
    loader = DataLoader(dataset, batch_size=50)
    callback = RepresentationMetrics(loader, metrics=["alpha", "lidar", "uniformity"])
    callback.check(module)
    values = callback.compute(module)

    module.eval()
    with torch.no_grad():
        views = dataset.images[:, None] + dataset.noise  # (N, m, 1, 8, 8)
        r = torch.stack([module.backbone(views[:, v]) for v in range(3)], dim=1)
        z = module.projection_head(r)
    expected = {
        "repr/backbone_lidar": lidar(r),
        "repr/embedding_lidar": lidar(z),
        # Every other metric sees the first view, as on a single-view loader.
        "repr/backbone_uniformity": uniformity(r[:, 0]),
        "repr/embedding_uniformity": uniformity(z[:, 0]),
        "repr/backbone_alpha": alpha_req(r[:, 0]).alpha,
        "repr/embedding_alpha": alpha_req(z[:, 0]).alpha,
    }
    assert values.keys() == expected.keys()
    for key, value in expected.items():
        assert values[key] == pytest.approx(float(value), rel=1e-6), key


def test_uniformity_on_a_single_view_loader_and_views_metrics_need_views():
    from req_plugins.functional import uniformity

    module, pl = _tiny_module("pytorch_lightning")
    loader = _loader(60, 30, seed=5)
    values = RepresentationMetrics(loader, metrics=["uniformity"]).compute(module)
    rs, zs = _embed_all(module, loader)
    assert values == {
        "repr/backbone_uniformity": pytest.approx(float(uniformity(torch.cat(rs)))),
        "repr/embedding_uniformity": pytest.approx(float(uniformity(torch.cat(zs)))),
    }
    callback = RepresentationMetrics(loader, metrics=["lidar"])
    trainer = pl.Trainer(
        max_epochs=1, logger=False, enable_progress_bar=False, callbacks=[callback]
    )
    with pytest.raises(ValueError, match=r"\['lidar'\] need m >= 2 augmented views per image"):
        trainer.fit(module, _loader(64, 32, seed=1))
    assert trainer.global_step == 0
