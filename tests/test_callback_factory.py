"""Zero-code metrics: Lightning's callbacks_factory entry points and REQ_PLUGINS_METRICS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from req_plugins.callback_factory import ENV_VAR, metrics_callbacks

# A user's script that knows nothing of req_plugins: Trainers of `namespace` fit a tiny
# backbone + projection head for two epochs, first without, then with REQ_PLUGINS_METRICS
# set (Lightning reads the factories whenever a Trainer is created).
SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset
    pl = __import__(sys.argv[1], fromlist=["Trainer"])

    class Model(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.backbone = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU())
            self.projection_head = nn.Linear(32, 16)

        def training_step(self, batch, batch_idx):
            z = self.projection_head(self.backbone(batch[0]))
            return (z.T @ z / len(z) - torch.eye(16)).square().sum()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    def fit():
        torch.manual_seed(0)
        data = TensorDataset(torch.randn(96, 1, 8, 8))
        trainer = pl.Trainer(max_epochs=2, accelerator="cpu", logger=False,
                             enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False)
        trainer.fit(Model(), DataLoader(data, batch_size=32))
        return {
            "callbacks": [type(c).__name__ for c in trainer.callbacks],
            "metrics": {k: float(v) for k, v in trainer.callback_metrics.items()},
            "req_plugins_loaded": "req_plugins.callbacks" in sys.modules,
        }

    off = fit()
    os.environ["REQ_PLUGINS_METRICS"] = sys.argv[2]
    print(json.dumps({"off": off, "on": fit()}))
    """
)


def _run(namespace: str, env_value: str, tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    env["OMP_NUM_THREADS"] = "1"
    # Run outside the checkout, so the installed distribution's entry points are the ones read.
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, namespace, env_value],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("namespace", ["lightning.pytorch", "pytorch_lightning"])
def test_a_plain_lightning_script_logs_metrics_only_when_opted_in(namespace, tmp_path):
    runs = _run(namespace, "alpha,effective_rank", tmp_path)
    off, on = runs["off"], runs["on"]
    assert "OnlineRepresentationMetrics" not in off["callbacks"]
    assert off["metrics"] == {} and not off["req_plugins_loaded"]

    assert "OnlineRepresentationMetrics" in on["callbacks"]
    keys = {
        f"repr_train/{space}_{name}"
        for space in ("backbone", "embedding")
        for name in ("alpha", "effective_rank")
    }
    assert set(on["metrics"]) == keys
    assert 1.0 <= on["metrics"]["repr_train/embedding_effective_rank"] <= 16.0


def test_the_factory_reads_the_environment_variable(monkeypatch):
    from req_plugins.callbacks import OnlineRepresentationMetrics

    monkeypatch.delenv(ENV_VAR, raising=False)
    assert metrics_callbacks() == []
    monkeypatch.setenv(ENV_VAR, " ")
    assert metrics_callbacks() == []
    monkeypatch.setenv(ENV_VAR, "alpha, mutual_information")
    (callback,) = metrics_callbacks()
    assert isinstance(callback, OnlineRepresentationMetrics)
    assert [entry.name for entry in callback.entries] == ["alpha", "mutual_information"]
    monkeypatch.setenv(ENV_VAR, "alpha,rankme")
    with pytest.raises(ValueError, match="REQ_PLUGINS_METRICS='alpha,rankme'.*unknown metric"):
        metrics_callbacks()
