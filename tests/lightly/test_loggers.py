"""req-train's W&B (offline) and TensorBoard loggers, and the metric callbacks' logging.

A W&B offline run is read back from its ``run-*.wandb`` file (W&B's record log: a
LevelDB-style log of ``wandb_internal_pb2.Record`` protobufs); TensorBoard event files
with TensorBoard's own ``EventAccumulator``.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import pytest
import torch

from req_plugins.callbacks import RepresentationMetrics, SpectrumTracker
from req_plugins.lightly.cli import main
from req_plugins.lightly.train import train
from tests.lightly.tiny import TINY, tiny_config

PLOTS = ("eigenspectrum", "metrics", "eigenvalue_trajectories")
_BLOCK = 32768  # W&B's record log: 32 KiB blocks, 7-byte chunk headers, after a 7-byte header


@pytest.fixture
def wandb_offline(monkeypatch, tmp_path):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(name, str(tmp_path / "wandb-home"))


def _wandb_records(run_dir: Path) -> list:
    from wandb.proto import wandb_internal_pb2

    (log,) = run_dir.glob("run-*.wandb")
    data = log.read_bytes()
    assert data[:4] == b":W&B"
    records, pos, pending = [], 7, b""
    while pos + 7 <= len(data):
        room = _BLOCK - pos % _BLOCK
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if room < 7 or (length == 0 and kind == 0):  # block padding
            pos += room
            continue
        pending += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL or LAST chunk: a whole record
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def _wandb_history_and_summary(run_dir: Path) -> tuple[list[dict], dict]:
    history, summary = [], {}
    for record in _wandb_records(run_dir):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            history.append(
                {
                    i.key or "/".join(i.nested_key): json.loads(i.value_json)
                    for i in record.history.item
                }
            )
        elif kind == "summary":
            for item in record.summary.update:
                summary[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
    return history, summary


def _offline_run(save_dir: Path) -> Path:
    (run_dir,) = (save_dir / "wandb").glob("offline-run-*")
    return run_dir


def test_req_train_logs_metrics_and_plots_to_wandb_and_tensorboard(wandb_offline, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    output_dir = tmp_path / "run"
    config = tiny_config(
        output_dir,
        "logging.wandb=true",
        "logging.wandb_project=req-plugins-tests",
        "logging.tensorboard=true",
        "metrics.enabled=true",
        "metrics.every_n_epochs=1",
        "metrics.names=[alpha,effective_rank]",
        "spectrum.enabled=true",
        "spectrum.every_n_steps=5",
        "spectrum.top_k=4",
        "plots=true",
        "eval.linear=false",
    )
    results = train(config)
    assert sorted(Path(p).stem for p in results["plots"]) == sorted(PLOTS)

    run_dir = _offline_run(output_dir)
    history, summary = _wandb_history_and_summary(run_dir)
    logged = set().union(*history)
    assert {"train_loss", "repr/embedding_alpha", "repr/backbone_effective_rank"} <= logged
    assert {"spectrum/eig_01", "spectrum/eig_04"} <= logged
    alphas = [row["repr/embedding_alpha"] for row in history if "repr/embedding_alpha" in row]
    assert alphas[-1] == pytest.approx(results["repr/embedding_alpha"])
    for name in PLOTS:
        (row,) = [row for row in history if f"plots/{name}/filenames" in row]
        assert row[f"plots/{name}/format"] == "png"
        (image,) = row[f"plots/{name}/filenames"]
        assert (run_dir / "files" / image).stat().st_size > 1000
    assert summary["final/knn_top1"] == pytest.approx(results["knn_top1"])
    assert summary["final/repr/embedding_alpha"] == pytest.approx(results["repr/embedding_alpha"])

    events = EventAccumulator(str(output_dir / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    assert {f"plots/{name}" for name in PLOTS} <= set(events.Tags()["images"])
    eigenspectrum = events.Images("plots/eigenspectrum")[-1]
    assert eigenspectrum.width > 100 and eigenspectrum.height > 100
    scalars = set(events.Tags()["scalars"])
    assert {"train_loss", "repr/embedding_alpha", "spectrum/eig_01"} <= scalars
    assert events.Scalars("final/knn_top1")[-1].value == pytest.approx(results["knn_top1"])


def test_wandb_missing_is_a_config_error_before_writing(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` raises ImportError
    config_file = tmp_path / "run.yaml"
    config_file.write_text("method:\n  name: mv_barlow_twins\n")
    output_dir = tmp_path / "run"
    assert main([str(config_file), *TINY, f"output_dir={output_dir}", "logging.wandb=true"]) == 2
    err = capsys.readouterr().err
    assert "`logging.wandb=true` needs the wandb package" in err
    assert "pip install wandb" in err
    assert not output_dir.exists()


def test_callbacks_log_to_the_trainers_loggers(wandb_offline, tmp_path):
    """solo-learn's loggers (its `wandb` and `csv_logger` settings) get the callbacks' metrics."""
    lightning = pytest.importorskip("lightning.pytorch")
    from lightning.pytorch.loggers import CSVLogger, WandbLogger

    class Module(lightning.LightningModule):
        def __init__(self):
            super().__init__()
            self.backbone = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU())
            self.projector = torch.nn.Linear(16, 12)

        def training_step(self, batch, batch_idx):
            z = self.projector(self.backbone(batch[0]))
            return (z - z.mean(0)).square().mean() + (z.std(0) - 1).square().mean()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    generator = torch.Generator().manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(256, 8, generator=generator))
    train_loader = torch.utils.data.DataLoader(data, batch_size=32)
    heldout = torch.utils.data.DataLoader(data, batch_size=64)
    loggers = [
        WandbLogger(save_dir=str(tmp_path), project="req-plugins-tests", offline=True),
        CSVLogger(str(tmp_path), name="csv", version=""),
    ]
    callbacks = [
        RepresentationMetrics(heldout, every_n_epochs=1, metrics=["effective_rank"]),
        SpectrumTracker(heldout, every_n_steps=4, top_k=3),
    ]
    trainer = lightning.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=loggers,
        callbacks=callbacks,
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    trainer.fit(Module(), train_dataloaders=train_loader)
    loggers[0].experiment.finish()

    expected = {"repr/embedding_effective_rank", "repr/backbone_effective_rank", "spectrum/eig_03"}
    history, _ = _wandb_history_and_summary(_offline_run(tmp_path))
    assert expected <= set().union(*history)
    erank = [
        row["repr/embedding_effective_rank"]
        for row in history
        if "repr/embedding_effective_rank" in row
    ]
    assert len(erank) == 2  # once per epoch
    assert erank[-1] == pytest.approx(callbacks[0].history[-1]["repr/embedding_effective_rank"])
    header = (tmp_path / "csv" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert expected <= set(header)
