"""`trainer.threads`: the run (training and evaluation) uses that many torch CPU threads, and
the caller's thread count is back afterwards, also when the run fails."""

from __future__ import annotations

import pytest
import torch
from pytorch_lightning import Callback

from req_plugins.lightly.train import train

from .tiny import tiny_config


class ThreadRecorder(Callback):
    def __init__(self, fail: bool = False) -> None:
        self.seen: set[int] = set()
        self.fail = fail

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.seen.add(torch.get_num_threads())
        if self.fail:
            raise RuntimeError("boom")


@pytest.mark.parametrize("fail", [False, True])
def test_a_run_uses_its_thread_count_and_restores_the_callers(tmp_path, fail):
    torch.set_num_threads(3)  # the caller's count (the autouse fixture restores its own)
    recorder = ThreadRecorder(fail)
    config = tiny_config(tmp_path / "run", "trainer.threads=2", "trainer.max_steps=2")
    if fail:
        with pytest.raises(RuntimeError, match="boom"):
            train(config, callbacks=[recorder])
    else:
        train(config, callbacks=[recorder])
    assert recorder.seen == {2}
    assert torch.get_num_threads() == 3
