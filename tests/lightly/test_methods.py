"""The lightly-style methods train, handle m views, match lightly at m = 2, and resume exactly."""

from __future__ import annotations

import pytest
import torch
from pytorch_lightning import Callback, Trainer, seed_everything

from req_plugins.lightly.backbones import build_backbone
from req_plugins.lightly.data.datamodule import SSLDataModule, build_data
from req_plugins.plugins import get_registry
from tests.lightly.tiny import LossRecorder, tiny_config


def _fit(
    method: str, num_views: int, *, epochs: int, seed: int = 0, lr: float = 1e-2, **method_kwargs
):
    """Train ``method`` on 128 digits (batch 64) and return (module, per-step losses)."""
    data = build_data("digits", num_views=num_views, fraction=128 / 1347)
    datamodule = SSLDataModule(data, batch_size=64, seed=seed)
    seed_everything(seed, verbose=False)
    backbone, feature_dim = build_backbone("small_cnn", in_channels=1, width=8)
    method_cls = get_registry().get_method(method, "lightning").load()
    module = method_cls(
        backbone,
        feature_dim,
        10,
        num_views=num_views,
        projection_hidden_dim=64,
        projection_output_dim=32,
        lr=lr,
        scheduler="none",
        **method_kwargs,
    )
    recorder = LossRecorder()
    trainer = Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        use_distributed_sampler=False,
        callbacks=[recorder],
    )
    trainer.fit(module, datamodule=datamodule)
    return module, recorder.losses


@pytest.mark.parametrize(
    ("method", "num_views", "kwargs"),
    [
        ("barlow_twins", 2, {}),
        ("vicreg", 2, {}),
        ("simclr", 2, {}),
        ("mv_barlow_twins", 2, {}),
        ("mv_barlow_twins", 4, {}),
        ("mv_vicreg", 3, {}),
        ("adadim", 2, {"alpha_every_n_epochs": 4, "alpha_num_batches": 2}),
    ],
)
def test_loss_decreases(method, num_views, kwargs):
    module, losses = _fit(method, num_views, epochs=10, **kwargs)
    assert len(losses) == 20 and all(torch.isfinite(torch.tensor(losses)))
    first, last = sum(losses[:4]) / 4, sum(losses[-4:]) / 4
    assert last < 0.95 * first, losses
    if method == "adadim":  # α was measured at the start of epochs 4 and 8
        assert module.controller.measured_epoch == 8
        assert 0.0 < module.controller.alpha() <= 1.0


@pytest.mark.parametrize("method", ["barlow_twins", "vicreg", "simclr", "adadim"])
def test_two_view_methods_refuse_other_view_counts(method):
    method_cls = get_registry().get_method(method, "lightning").load()
    backbone, feature_dim = build_backbone("small_cnn", in_channels=1, width=4)
    with pytest.raises(ValueError, match="`data.num_views` must be 2"):
        method_cls(backbone, feature_dim, 10, num_views=3)


def test_multi_view_barlow_twins_at_two_views_trains_like_lightly_barlow_twins():
    """Same seed, data, backbone and head: the lightly-loss module and ours take the same steps."""
    beta = 0.02
    _, ours = _fit("mv_barlow_twins", 2, epochs=2, beta=beta)
    _, lightly = _fit("barlow_twins", 2, epochs=2, lambda_param=beta)
    torch.testing.assert_close(torch.tensor(ours), torch.tensor(lightly), rtol=1e-4, atol=1e-5)


def test_bad_method_arguments_raise():
    method_cls = get_registry().get_method("mv_barlow_twins", "lightning").load()
    backbone, feature_dim = build_backbone("small_cnn", in_channels=1, width=4)
    with pytest.raises(ValueError, match="optimizer.name"):
        method_cls(backbone, feature_dim, 10, optimizer="rmsprop")
    with pytest.raises(ValueError, match="num_views"):
        method_cls(backbone, feature_dim, 10, num_views=1)
    with pytest.raises(ValueError, match="optimizer.lr"):
        method_cls(backbone, feature_dim, 10, lr=-1.0)


class StopAfter(Callback):
    """Simulates an interrupted run: stop at the end of epoch ``epochs``."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch + 1 == self.epochs:
            trainer.should_stop = True


@pytest.mark.parametrize(
    ("method", "epochs", "stop", "extra"),
    [
        ("mv_barlow_twins", 2, 1, ["data.num_views=3", "optimizer.name=lars", "optimizer.lr=0.1"]),
        # α measured at the start of epoch 2; epoch 3 runs on the α restored from the checkpoint.
        (
            "adadim",
            4,
            3,
            ["method.alpha_every_n_epochs=2", "method.alpha_num_batches=2", "optimizer.name=sgd"],
        ),
    ],
)
def test_resume_reproduces_the_next_steps_exactly(tmp_path, method, epochs, stop, extra):
    from req_plugins.lightly.train import train

    common = [
        f"method.name={method}",
        "data.fraction=0.2",
        f"trainer.max_epochs={epochs}",
        "checkpoint.enabled=true",
        "eval.knn=false",
        "eval.linear=false",
        *extra,
    ]
    full = LossRecorder()
    train(tiny_config(tmp_path / "full", *common), callbacks=[full])

    first = LossRecorder()
    train(tiny_config(tmp_path / "resumed", *common), callbacks=[first, StopAfter(stop)])
    checkpoint = torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", weights_only=False)
    second = LossRecorder()
    train(tiny_config(tmp_path / "resumed", *common, "checkpoint.resume=last"), callbacks=[second])

    steps_per_epoch = len(full.losses) // epochs
    assert len(first.losses) == stop * steps_per_epoch
    assert first.losses == full.losses[: len(first.losses)]
    assert second.losses == full.losses[len(first.losses) :]  # exact, not approximate
    if method == "adadim":
        state = checkpoint["state_dict"]["controller._extra_state"]
        assert state["measured_epoch"] == 2 and 0.0 < state["measured_alpha"] <= 1.0
