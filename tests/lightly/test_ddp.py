"""A real 2-process CPU DDP run (strategy="ddp", gloo) with the metrics callback."""

from __future__ import annotations

import os

import pytest
import torch
from pytorch_lightning import Callback

from tests.ddp import run_distributed
from tests.lightly.tiny import LossRecorder, tiny_config

pytestmark = [pytest.mark.slow, pytest.mark.distributed]

SETTINGS = [
    "method.name=mv_barlow_twins",
    "data.num_views=3",
    "data.fraction=0.2",
    "trainer.max_epochs=2",
    "metrics.enabled=true",
    "metrics.every_n_epochs=1",
    "spectrum.enabled=true",
    "spectrum.every_n_steps=2",
    "checkpoint.enabled=true",
    "logging.csv=true",
    "eval.linear=false",
]


class CallbackMetrics(Callback):
    """Keeps what each process's Trainer holds in `callback_metrics` at the end of training."""

    def on_train_end(self, trainer, pl_module) -> None:
        self.values = {k: float(v) for k, v in trainer.callback_metrics.items() if "repr/" in k}
        self.world = (trainer.world_size, trainer.global_rank, type(trainer.strategy).__name__)


def _ddp_worker(rank: int, world_size: int, output_dir: str):
    # What a launcher does before starting a Lightning script: Lightning then joins the
    # process group that tests.ddp already initialised instead of spawning processes.
    os.environ.update(LOCAL_RANK=str(rank), RANK=str(rank), NODE_RANK="0")
    os.environ["WORLD_SIZE"] = str(world_size)
    from pytorch_lightning.utilities import rank_zero_only

    rank_zero_only.rank = rank
    from req_plugins.lightly.train import train

    config = tiny_config(
        output_dir,
        *SETTINGS,
        "trainer.strategy=ddp",
        f"trainer.devices={world_size}",
    )
    metrics, losses = CallbackMetrics(), LossRecorder()
    results = train(config, callbacks=[metrics, losses])
    return {
        "results": results,
        "logged": metrics.values,
        "losses": losses.losses,
        "world": metrics.world,
    }


def test_ddp_run_logs_the_metrics_of_one_process(tmp_path):
    from req_plugins.lightly.train import prepare_run

    output_dir = tmp_path / "ddp"
    ranks = run_distributed(_ddp_worker, 2, str(output_dir))

    # Both processes trained in step (DDP) and logged identical metric values.
    assert [r["world"] for r in ranks] == [(2, 0, "DDPStrategy"), (2, 1, "DDPStrategy")]
    assert ranks[0]["losses"] and len(ranks[0]["losses"]) == len(ranks[1]["losses"])
    assert ranks[0]["logged"].keys() == ranks[1]["logged"].keys()
    assert len(ranks[0]["logged"]) == 5
    assert ranks[0]["logged"] == ranks[1]["logged"]
    assert ranks[1]["results"] == {} and ranks[0]["results"]["knn_top1"] > 0.1

    # One process, the DDP run's final weights (checkpointed right after the last
    # measurement), the same held-out data: the same values.
    run = prepare_run(tiny_config(tmp_path / "single", *SETTINGS))
    checkpoint = torch.load(output_dir / "checkpoints" / "last.ckpt", weights_only=False)
    run.module.load_state_dict(checkpoint["state_dict"])
    single = run.representation_metrics.compute(run.module)
    assert single.keys() == ranks[0]["logged"].keys()
    for key, value in single.items():
        assert ranks[0]["logged"][key] == pytest.approx(value, rel=1e-5), key
        # float64 sums added in another order (two shards): alpha's fit over small eigenvalues
        # amplifies the last-bit differences to a few 1e-9.
        assert ranks[0]["results"][key] == pytest.approx(value, rel=1e-7), key
    assert (output_dir / "logs" / "metrics.csv").is_file()
    assert not (tmp_path / "single").exists()
